"""Engine settings for a closed network and a small machine, applied before any engine is imported."""

from __future__ import annotations

import os
import re
import warnings

_SKLEARN_DELAYED = "`sklearn.utils.parallel.delayed` should be used with"

ENGINE_DEFAULTS = {
    # No analytics: the network is closed and Prefect logs an ERROR when they fail.
    "DO_NOT_TRACK": "true",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "GX_ANALYTICS_ENABLED": "false",
    # The temporary Prefect server can take more than its default 20 s on a busy 2-core machine.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "PREFECT_LOGGING_LOG_PRINTS": "true",
    "GIT_PYTHON_REFRESH": "quiet",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    # scikit-learn 1.9 warns once per tree when a forest predicts from a Prefect worker thread
    # (15,850 lines in one demo retrain); the predictions are unaffected. Inherited by workers.
    "PYTHONWARNINGS": f"ignore:{_SKLEARN_DELAYED}:UserWarning",
}


def configure_engines() -> None:
    """Set each default unless the user has set it already."""
    for key, value in ENGINE_DEFAULTS.items():
        os.environ.setdefault(key, value)
    warnings.filterwarnings("ignore", message=re.escape(_SKLEARN_DELAYED), category=UserWarning)


def exit_on_sigterm() -> None:
    """Turn SIGTERM into ``SystemExit(143)`` so a killed command unwinds like Ctrl-C: its MLflow
    run is marked FAILED with the signal, Prefect records the crash, and the temporary Prefect
    server it started is stopped (Python's default would leave that server running, orphaned)."""
    import signal
    import sys

    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
