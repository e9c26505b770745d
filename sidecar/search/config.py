"""The search index's tuning (defaults suit a million messages)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SearchConfig:
    """Tuning knobs (defaults suit a million messages; tests shrink the common-word ones)."""

    #: A bare word in more than this share of all indexed messages is dropped from a query that
    #: has other words: it would match nearly everything, add almost nothing to bm25, and cost
    #: a scan of its whole posting list.
    common_fraction: float = 0.2
    #: ... but only once the index holds this many messages (small indexes stay exact).
    common_min_rows: int = 5000
    #: The query's last bare word is also a prefix (the word being typed) unless, as a whole
    #: word, it is in more than this share of the messages (same minimum): then the user has
    #: plenty of hits already, and expanding a frequent word's prefix costs many posting lists.
    typed_exact_fraction: float = 0.01
    #: At most this many messages per transaction.
    batch_weight: int = 2000
    #: Once a change is queued, the writer waits this long for more before it starts the
    #: transaction (a query, ``idle()`` or closing cuts the wait short). Each transaction
    #: writes new FTS5 segments that must later be merged, so one per journal batch made
    #: indexing cost a third of a one-writer append's CPU; lingering turns a burst of
    #: appends into one transaction. The index is derived, so nothing durable waits on it.
    linger: float = 0.05
    #: Reindexing waits while more than this many messages are queued for the writer.
    backlog_weight: int = 20_000
    fresh_wait: float = 0.25
    readers: int = 2
