"""The weekly retrain deployments (Sundays 00:00 UTC by default), served: ``regimeforest serve``.

The deployments are declared in the project's ``prefect.yaml``; ``regimeforest serve`` (and this
module, kept for the command it used to be) starts a Prefect server when ``PREFECT_API_URL`` is
not set, deploys them to the ``regimeforest`` process work pool and runs a worker::

    python -m deployments.weekly_retrain --config configs/demo.yaml [--port 4200]

Manual runs: ``prefect deployment run weekly-retrain/weekly-retrain-demo`` or the Prefect UI's
"Quick run"; see the README's section on schedules.
"""

from __future__ import annotations

import argparse
import sys

from regimeforest._serve import (DEFAULT_CONFIGS, PROJECT_ROOT, ServeError, read_prefect_file,
                                 serve_command, weekly_retrain_entry)

__all__ = ["build_deployment", "main"]


def build_deployment(config_path: str = DEFAULT_CONFIGS[0]) -> dict:
    """The ``prefect.yaml`` entry of one profile's weekly retrain: name, cron, parameters.

    Parameters
    ----------
    config_path : str
        The profile YAML.

    Returns
    -------
    dict
        The entry, built from ``prefect.yaml``'s weekly retrain entry (see
        :func:`regimeforest._serve.weekly_retrain_entry`).
    """
    spec = read_prefect_file(PROJECT_ROOT / "prefect.yaml")
    (template, *_) = [e for e in spec["deployments"]
                      if e.get("entrypoint") == "flows/weekly_retrain.py:weekly_retrain"]
    return weekly_retrain_entry(template, config_path, PROJECT_ROOT)


def main(argv: list[str] | None = None) -> int:
    """``python -m deployments.weekly_retrain [--config P]... [--port N]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", action="append", default=None,
                        help="profile YAML; repeat to serve several profiles")
    parser.add_argument("--port", type=int, default=4200,
                        help="port of the local Prefect server (when PREFECT_API_URL is unset)")
    args = parser.parse_args(argv)
    try:
        return serve_command(args.config or list(DEFAULT_CONFIGS), args.port)
    except ServeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
