"""Progress bars for long work: on a terminal only, never with ``--quiet`` or ``--json``."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class Bar:
    """One task of a progress display (a no-op when progress is off)."""

    def __init__(self, progress: Progress | None, description: str, total: int | None) -> None:
        self._progress = progress
        self._task = progress.add_task(description, total=total) if progress else None

    def advance(self, amount: int = 1) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, amount)

    def describe(self, description: str) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, description=description)


class Reporter:
    """Makes bars while a :meth:`live` block is open; everything is silent when disabled."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stdout.isatty() and sys.stderr.isatty()
        self._progress: Progress | None = None

    @contextmanager
    def live(self) -> Iterator[Reporter]:
        if not self.enabled:
            yield self
            return
        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._progress = progress
        with progress:
            yield self
        self._progress = None

    def bar(self, description: str, total: int | None = None) -> Bar:
        return Bar(self._progress, description, total)
