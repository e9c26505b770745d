"""Where things live inside a data dir. The one module that knows the folder names."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .ids import path_name


@dataclass(frozen=True, slots=True)
class Layout:
    root: Path

    @property
    def journal(self) -> Path:
        return self.root / "journal"

    @property
    def conversations(self) -> Path:
        return self.root / "conversations"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    @property
    def purging(self) -> Path:
        """Shard folders being purged are renamed here first, then removed."""
        return self.root / "purging"

    @property
    def catalog(self) -> Path:
        return self.root / "catalog.json"

    @property
    def reserved(self) -> Path:
        """Ids of purged conversations, which stay reserved (CONTRACT §4)."""
        return self.root / "reserved.json"

    def holds_store(self) -> bool:
        """Whether the folder holds a store at all (its journal, shards or catalog), so a
        checking tool can say "no store here" instead of creating one."""
        return any(path.exists() for path in (self.journal, self.conversations, self.catalog))

    def shard(self, conversation_id: str) -> Path:
        return self.conversations / path_name(conversation_id)
