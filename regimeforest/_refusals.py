"""Keep expected refusals out of Prefect's console log while ``retrain`` runs a flow.

When the data is refused, Prefect's console handler would print the exception with its traceback
twice (task and flow), the failed state's message, and the gate's report a second time, about 60
lines around the one line that matters. ``retrain`` prints the report and one error line itself,
so this filter drops those records from the console only: the log records sent to the Prefect
server (and shown in its UI) keep everything.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

# tasks.quality logs a gate report with this attribute set (``extra=``); retrain prints it itself.
REPORT_ATTRIBUTE = "quality_report"


class RefusalFilter(logging.Filter):
    """Drop console records about an exception of the ``refusals`` types, and failed reports."""

    def __init__(self, refusals: tuple[type[BaseException], ...]) -> None:
        super().__init__()
        self.refusals = refusals
        self._names = tuple(f"{cls.__name__}{sep}" for cls in refusals for sep in "(:")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], self.refusals):
            return False
        if getattr(record, REPORT_ATTRIBUTE, None) is False:  # a failed gate report
            return False
        if record.levelno >= logging.ERROR or str(record.msg).startswith("Finished in state"):
            return not any(name in record.getMessage() for name in self._names)
        return True


@contextmanager
def quiet_refusals(refusals: tuple[type[BaseException], ...]) -> Iterator[None]:
    """Attach a :class:`RefusalFilter` to Prefect's console handlers for the block."""
    from prefect.logging.configuration import ensure_logging_setup
    from prefect.logging.handlers import PrefectConsoleHandler

    ensure_logging_setup()
    handlers = [h for name in (None, "prefect") for h in logging.getLogger(name).handlers
                if isinstance(h, PrefectConsoleHandler)]
    quiet = RefusalFilter(refusals)
    for handler in handlers:
        handler.addFilter(quiet)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(quiet)
