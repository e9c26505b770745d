"""``dedupe``: duplicate conversations already in the store, found and merged by the §4 rules.

A conversation whose main-branch (role, content) sequence has at least 3 messages and equals or
is a prefix of exactly one other's is a copy of it: the other one already holds every message, so
merging records the copy's identity in the survivor's ``metadata.migration.aliases`` (and takes
the copy's title and flags when it was updated later) and moves the copy to the trash, from
which it can be restored. Shorter or ambiguous matches are only listed.

Each ``dedupe`` that merges something is a run, like an import: both changes go through the one
importer under a run id (the survivor's new fields, and the copy's ``deleted_at``, as a merge of
a later copy of each), so ``chat-migrate rollback RUN_ID`` puts the survivor's fields back and
the copy back from the trash, and refuses what changed since. The run's folder keeps its
``report.json`` like an import's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .model import Conversation
from .normalize import format_ms, parse_store_time
from .rules import find_cross_app
from .stored import from_store
from .target import Target, TargetError


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


def _later_copy(document: dict[str, Any], changes: dict[str, Any], now_ms: int) -> dict[str, Any]:
    """The stored conversation with ``changes``, updated after the stored one, so the importer
    takes its fields (and remembers, for the run, what they were before)."""
    updated = max(now_ms, parse_store_time(document.get("updated_at")) + 1)
    return {**document, **changes, "updated_at": format_ms(updated)}


async def apply_dedupe(plan: DedupePlan, target: Target, run_id: str, now_ms: int) -> list[str]:
    """Carry out the merges as run ``run_id``; the ids of the conversations it changed."""
    changed: list[str] = []
    for merge in plan.merges:
        survivor = await target.export(merge.target.store_id)
        copy = await target.export(merge.source.store_id)
        if survivor is None or copy is None:
            raise TargetError(f"{merge.line()}: one of them is gone from the store")
        now = format_ms(now_ms)
        documents = [
            _later_copy(survivor, merge.changes, now_ms),
            _later_copy(copy, {"deleted_at": now}, now_ms),
        ]
        result = await target.import_conversations(documents, run_id)
        changed.extend(result.get("merged") or [])
    return changed
