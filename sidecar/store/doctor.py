"""``chat-sidecar doctor``: check a data dir end to end and repair what needs no judgement.

Opening the store already replays the journal, re-derives stale catalog entries and quarantines
unreadable shards. The doctor adds a full read of every conversation file (checksums included) and
the tree invariants, and can rebuild the catalog from scratch on request.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .catalog import ListQuery
from .errors import NotFound
from .layout import Layout
from .store import Store
from .values import StoreConfig


@dataclass
class DoctorReport:
    data_dir: Path
    conversations: int = 0
    messages: int = 0
    replayed_records: int = 0
    index_rebuilt: bool = False
    newly_quarantined: list[dict[str, Any]] = field(default_factory=list)
    quarantined: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.problems and not self.quarantined

    def to_json(self) -> dict[str, Any]:
        return {
            "data_dir": str(self.data_dir),
            "healthy": self.healthy,
            "conversations": self.conversations,
            "messages": self.messages,
            "replayed_records": self.replayed_records,
            "index_rebuilt": self.index_rebuilt,
            "newly_quarantined": self.newly_quarantined,
            "quarantined": self.quarantined,
            "problems": self.problems,
        }

    def lines(self) -> list[str]:
        out = [
            f"data dir: {self.data_dir}",
            f"conversations: {self.conversations}, messages: {self.messages}",
            f"journal records replayed: {self.replayed_records}",
        ]
        if self.index_rebuilt:
            out.append("conversation list index: rebuilt from the conversation files")
        for item in self.quarantined:
            out.append(f"quarantined: {item['conversation_id']}: {item['reason']} ({item['path']})")
        out.extend(f"problem: {problem}" for problem in self.problems)
        out.append("healthy" if self.healthy else "problems found")
        return out


async def run_doctor(data_dir: Path, config: StoreConfig, *, rebuild_index: bool) -> DoctorReport:
    layout = Layout(await asyncio.to_thread(data_dir.resolve))
    report = DoctorReport(layout.root)
    if rebuild_index:
        await asyncio.to_thread(layout.catalog.unlink, missing_ok=True)
        report.index_rebuilt = True
    store = await Store.open(layout.root, config)
    try:
        before = {item.path for item in store.quarantined}
        report.replayed_records = store.replayed_records
        for summary in _all_conversations(store):
            try:
                report.problems.extend(await store.verify(summary["id"]))
            except NotFound:
                continue
        report.quarantined = [item.to_json() for item in store.quarantined]
        report.newly_quarantined = [q for q in report.quarantined if q["path"] not in before]
        stats = store.stats()
        report.conversations = stats["conversations"]
        report.messages = stats["messages"]
    finally:
        await store.close()
    return report


def _all_conversations(store: Store) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        page = store.list_conversations(
            ListQuery(limit=500, cursor=cursor, archived=None, deleted=None)
        )
        items.extend(page.items)
        if page.next_cursor is None:
            return items
        cursor = page.next_cursor
