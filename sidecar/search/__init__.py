"""Full-text search over conversation titles and message content (CONTRACT §5 ``/search``).

A derived SQLite FTS5 index in ``DATA_DIR/search/``, kept up to date from the store's change
feed and reconciled with the store at every start. See ``docs/decisions.md`` ("Search").
"""

from .config import SearchConfig
from .index import SearchIndex

__all__ = ["SearchConfig", "SearchIndex"]
