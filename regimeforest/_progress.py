"""What a command is doing while it works: one transient line on stderr, in a terminal only.

Piped or captured output (scripts, CI, tests) gets nothing from here, so what a command prints
stays the same wherever it runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console


@contextmanager
def progress(console: Console) -> Iterator[Callable[[str], None]]:
    """Yield ``step(description)``, which shows a spinner, the current step and the time so far.

    The line disappears when the block ends; messages printed to ``console`` meanwhile appear
    above it.
    """
    if not console.is_terminal:
        yield lambda description: None
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task("starting", total=None)
        yield lambda description: bar.update(task, description=description)
