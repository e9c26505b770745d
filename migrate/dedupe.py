"""``dedupe``: duplicate conversations already in the store, found and merged by the §4 rules.

A conversation whose main-branch (role, content) sequence has at least 3 messages and equals or
is a prefix of exactly one other's is a copy of it: the other one already holds every message, so
merging records the copy's identity in the survivor's ``metadata.migration.aliases`` (and takes
the copy's title and flags when it was updated later) and moves the copy to the trash, from
which it can be restored. Shorter or ambiguous matches are only listed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .model import Conversation
from .rules import find_cross_app
from .stored import from_store
from .target import Target


@dataclass(slots=True)
class DedupeMerge:
    source: Conversation
    target: Conversation
    identity: str
    changes: dict[str, Any]

    def line(self) -> str:
        return (
            f"merge {self.source.store_id} ({self.identity}, {len(self.source.messages)} messages)"
            f" into {self.target.store_id}"
        )


@dataclass(slots=True)
class DedupePlan:
    merges: list[DedupeMerge] = field(default_factory=list)
    possible: list[str] = field(default_factory=list)
    scanned: int = 0


def _copies(a: Conversation, b: Conversation) -> bool:
    """Pairs ``dedupe`` compares: two apps' copies, or two stored twins of one legacy identity."""
    return a.app != b.app or a.identity == b.identity


async def plan_dedupe(
    target: Target, *, advance: Callable[[int], None] | None = None
) -> DedupePlan:
    summaries = [s for s in await target.summaries() if s.get("deleted_at") is None]
    conversations: list[Conversation] = []
    for summary in summaries:
        document = await target.export(str(summary["id"]))
        if advance is not None:
            advance(1)
        if document is None:
            continue
        conversations.append(from_store(document))
    plan = DedupePlan(scanned=len(conversations))
    cross = find_cross_app(conversations, _copies)
    for index, into in cross.merges:
        source, survivor = conversations[index], conversations[into]
        for alias in [source.identity, *source.aliases]:
            if alias not in survivor.aliases and alias != survivor.identity:
                survivor.aliases.append(alias)
        metadata = dict(survivor.metadata)
        migration = {**(metadata.get("migration") or {}), "aliases": list(survivor.aliases)}
        metadata["migration"] = migration
        changes: dict[str, Any] = {"metadata": metadata}
        if source.updated_ms > survivor.updated_ms:
            changes.update(
                title=source.title,
                starred=source.starred,
                pinned=source.pinned,
                archived=source.archived,
            )
        plan.merges.append(DedupeMerge(source, survivor, source.identity, changes))
    for index, others in cross.possible:
        shown = ", ".join(conversations[o].store_id for o in others[:5])
        plan.possible.append(
            f"{conversations[index].store_id} may be a duplicate of {shown} "
            "(too short or ambiguous to merge)"
        )
    return plan


async def apply_dedupe(plan: DedupePlan, target: Target) -> None:
    for merge in plan.merges:
        await target.update(merge.target.store_id, merge.changes)
        await target.trash(merge.source.store_id)
