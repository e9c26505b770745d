"""Which words are too common to be worth their posting lists: a cached probe of the index."""

from __future__ import annotations

import sqlite3

from . import database
from .config import SearchConfig
from .query import Part


class CommonWords:
    """Which words are in more than ``common_fraction`` of the indexed messages (a probe that
    stops at that many), cached; the cache is dropped when the index grew or shrank by a fifth.
    Safe to share between reader threads (a lost race only repeats a probe)."""

    def __init__(self, config: SearchConfig, fraction: float | None = None) -> None:
        self.config = config
        self.fraction = config.common_fraction if fraction is None else fraction
        self._known: dict[str, bool] = {}
        self._rows = 0

    def check(self, conn: sqlite3.Connection, part: Part, rows: int) -> bool:
        threshold = max(self.config.common_min_rows, int(rows * self.fraction))
        if rows <= threshold:
            return False
        if abs(rows - self._rows) > self._rows // 5:
            self._known = {}
            self._rows = rows
        key = part.fts().casefold()
        known = self._known.get(key)
        if known is None:
            known = self._known[key] = database.is_common(conn, part, threshold)
        return known
