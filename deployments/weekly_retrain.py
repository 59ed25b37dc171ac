"""The weekly retrain schedule (Sundays 00:00 UTC by default), served by a long-running process.

Schedules need a real Prefect server (an ephemeral one refuses them)::

    prefect server start --host 127.0.0.1 --port 4200          # terminal 1
    export PREFECT_API_URL=http://127.0.0.1:4200/api           # terminal 2
    python -m deployments.weekly_retrain --config configs/demo.yaml

Manual runs of the same deployment (a backfill, a rerun): ``prefect deployment run
'weekly-retrain/weekly-retrain-demo'`` or the Prefect UI's "Quick run".
"""

from __future__ import annotations

import argparse

from prefect.schedules import Cron

from flows.weekly_retrain import DEFAULT_CONFIG, weekly_retrain
from ml_core.config import load_config


def build_deployment(config_path: str = DEFAULT_CONFIG):
    """The deployment object for a profile: its name, cron schedule and parameters."""
    config = load_config(config_path)
    return weekly_retrain.to_deployment(
        name=f"weekly-retrain-{config.profile}",
        schedules=[Cron(config.schedule.cron, timezone=config.schedule.timezone)],
        parameters={"config_path": config_path},
        description=f"Weekly retrain of the {config.profile} profile ({config.schedule.cron}, "
                    f"{config.schedule.timezone})",
        tags=["regimeforest", config.profile],
    )


def main() -> None:
    from prefect import serve

    from regimeforest._env import configure_engines

    configure_engines()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", action="append", default=None,
                        help="profile YAML; repeat to serve several profiles")
    args = parser.parse_args()
    serve(*(build_deployment(path) for path in (args.config or [DEFAULT_CONFIG])))


if __name__ == "__main__":
    main()
