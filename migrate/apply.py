"""Aligning a plan with the store and carrying it out, one run at a time.

A planned conversation whose id is already in the store (a re-import, a later export, or a
``backendConversationId`` naming an existing conversation) is merged with the store's copy by
the same rule as two exports; the store's copy is the base, so its message ids are kept and the
importer (which merges by id) adds only what is new. A conversation an earlier run merged into
another one as a cross-app copy is found through that one's ``metadata.migration.aliases``.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson

from sidecar.store.ids import path_name

from .document import conversation_document
from .inputs import STDIN, Input, as_input
from .model import Conversation
from .normalize import format_ms
from .plan import Plan
from .rules import merge
from .shelf import Planned, Shelved, loaded, weight
from .storecopies import stored_copies
from .stored import branch_names, from_store, stored_paths
from .target import DIRECT_BATCH_MESSAGES, Refused, Target

ActionKind = Literal["create", "merge", "unchanged"]
MIGRATIONS = "migrations"
REPORT = "report.json"


@dataclass(slots=True)
class Action:
    """What the run does with one planned conversation."""

    kind: ActionKind
    target_id: str
    identity: str
    messages: int
    note: str = ""
    conversation: Planned | None = None
    source: dict[str, Any] | None = None
    document: dict[str, Any] | None = None

    def build(self, run_id: str | None) -> dict[str, Any] | None:
        """The export-format conversation to import (built only when it is sent)."""
        if self.document is not None:
            return self.document
        if self.conversation is None:
            return None
        return conversation_document(loaded(self.conversation), run_id, source=self.source)

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.kind,
            "id": self.target_id,
            "identity": self.identity,
            "messages": self.messages,
            "note": self.note,
        }


@dataclass(slots=True)
class Outcome:
    created: list[str] = field(default_factory=list)
    merged: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    imported_messages: int = 0


def new_run_id() -> str:
    return f"run-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(3)}"


def _is_pair_prefix(short: Conversation, long: Conversation) -> bool:
    return len(short.messages) <= len(long.messages) and all(
        a.pair == b.pair for a, b in zip(short.messages, long.messages, strict=False)
    )


def aliases_of(summaries: list[dict[str, Any]]) -> dict[str, str]:
    found: dict[str, str] = {}
    for summary in summaries:
        metadata = summary.get("metadata")
        migration = metadata.get("migration") if isinstance(metadata, dict) else None
        if isinstance(migration, dict):
            for alias in migration.get("aliases") or []:
                found.setdefault(str(alias), str(summary["id"]))
    return found


def _flags(conversation: Conversation) -> tuple[Any, ...]:
    return (conversation.title, conversation.starred, conversation.pinned, conversation.archived)


async def plan_actions(
    plan: Plan,
    target: Target,
    run_id: str | None,
    *,
    advance: Callable[[int], None] | None = None,
) -> list[Action]:
    """One action per planned conversation (and per chat-sidecar conversation), store-aware.

    The plan's conversations move into the actions (the plan keeps none), so that each one can
    be let go of as soon as it has been imported: a huge import never holds them all twice. A
    shelved one is loaded only to be compared with the store's copy; what its action holds is
    shelved again (:mod:`migrate.shelf`), so that no more than one is in memory at a time.
    """
    summaries = await target.summaries()
    existing = {str(s["id"]) for s in summaries}
    aliases = aliases_of(summaries)
    actions: list[Action] = []
    pending = plan.conversations
    plan.conversations = []
    pending.reverse()
    while pending:
        planned = pending.pop()
        action = await _action(loaded(planned), target, run_id, existing, aliases)
        if isinstance(planned, Shelved) and isinstance(action.conversation, Conversation):
            action.conversation = (
                planned.rehead(action.conversation)  # its messages as planned
                if action.kind == "create"
                else planned.shelf.keep(action.conversation)  # merged with the store's copy
            )
        actions.append(action)
        if advance is not None:
            advance(1)
    creating = [a.conversation for a in actions if a.kind == "create" and a.conversation]
    copies = await stored_copies(target, summaries, creating)
    for number, action in enumerate(actions):
        if action.conversation is not None and id(action.conversation) in copies:
            into = copies[id(action.conversation)]
            note = f"a copy of {into}, which an earlier run imported from another app"
            actions[number] = Action("unchanged", into, action.identity, 0, note)
    for document in plan.documents:
        kind: ActionKind = "merge" if document["id"] in existing else "create"
        count = len(document.get("messages") or [])
        actions.append(Action(kind, document["id"], "chat-sidecar", count, document=document))
    return actions


async def _action(
    conversation: Conversation,
    target: Target,
    run_id: str | None,
    existing: set[str],
    aliases: dict[str, str],
) -> Action:
    identity = conversation.identity
    size = len(conversation.messages) + sum(len(b.messages) for b in conversation.branches)
    into = aliases.get(identity)
    if conversation.store_id not in existing and into is not None and into in existing:
        stored_doc = await target.export(into)
        if stored_doc is not None and _is_pair_prefix(conversation, from_store(stored_doc)):
            return Action("unchanged", into, identity, 0, f"merged earlier into {into}")
        conversation.store_id = into
    if conversation.store_id not in existing:
        return Action("create", conversation.store_id, identity, size, conversation=conversation)
    stored_doc = await target.export(conversation.store_id)
    if stored_doc is None:
        return Action("create", conversation.store_id, identity, size, conversation=conversation)
    stored = from_store(stored_doc)
    before = _flags(stored)
    paths = stored_paths(stored_doc)
    outcome = merge(stored, conversation, taken=branch_names(stored_doc), paths=paths)
    new_aliases = [a for a in conversation.aliases if a not in stored.aliases]
    if new_aliases:
        stored.aliases.extend(new_aliases)
        migration = dict(stored.metadata.get("migration") or {})
        migration["aliases"] = list(stored.aliases)
        stored.metadata["migration"] = migration
    stored.app, stored.legacy_id = conversation.app, conversation.legacy_id
    changed = (
        outcome.added > 0
        or outcome.activated is not None
        or _flags(stored) != before
        or bool(new_aliases)
    )
    note = f"kept the diverging tail on branch {outcome.branch}" if outcome.branch else ""
    if outcome.activated is not None:
        note = f"this later copy is already on branch {outcome.activated}: made it active"
    return Action(
        "merge" if changed else "unchanged",
        stored.store_id,
        identity,
        outcome.added,
        note,
        conversation=stored,
        source=stored_doc.get("source"),
    )


def _weight(action: Action) -> int:
    if action.document is not None:
        return len(action.document.get("messages") or []) + 1
    if action.conversation is not None:
        return weight(action.conversation) + 1
    return 0


def _batches(actions: list[Action]) -> list[list[Action]]:
    batches: list[list[Action]] = []
    current: list[Action] = []
    weight = 0
    for action in actions:
        size = _weight(action)
        if not size:
            continue
        if current and weight + size > DIRECT_BATCH_MESSAGES:
            batches.append(current)
            current, weight = [], 0
        current.append(action)
        weight += size
    if current:
        batches.append(current)
    return batches


async def execute(
    actions: list[Action],
    target: Target,
    run_id: str,
    *,
    advance: Callable[[int], None] | None = None,
    outcome: Outcome | None = None,
) -> Outcome:
    """Send the documents to the importer in batches; its answer is what the run reports.

    Up to ``target.concurrency`` batches are in flight at once, each on different
    conversations, so their journal records share fsyncs. Documents are built only when their
    batch is sent and dropped right after. ``outcome`` (filled as batches are answered) lets a
    caller report what was done before a batch failed.
    """
    outcome = outcome if outcome is not None else Outcome()
    counts = {a.target_id: a.messages for a in actions}
    for action in actions:
        if not _weight(action):
            outcome.unchanged.append(action.target_id)
    pending = _batches(actions)
    pending.reverse()

    def record(result: dict[str, Any]) -> None:
        outcome.created.extend(result.get("created") or [])
        outcome.merged.extend(result.get("merged") or [])
        outcome.unchanged.extend(result.get("unchanged") or [])
        outcome.skipped.extend(result.get("skipped") or [])

    async def worker() -> None:
        while pending:
            batch = pending.pop()
            documents = [d for d in (a.build(run_id) for a in batch) if d is not None]
            try:
                record(await target.import_conversations(documents, run_id))
            except Refused:
                # The batch changed nothing: import its conversations one by one, so one that
                # the store refuses is reported and the others still get in.
                for document in documents:
                    try:
                        record(await target.import_conversations([document], run_id))
                    except Refused as exc:
                        outcome.failed.append({"id": document["id"], "reason": str(exc)})
            del documents
            for action in batch:
                action.document = action.conversation = None
            if advance is not None:
                advance(len(batch))

    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(max(1, target.concurrency)):
                group.create_task(worker())
    except ExceptionGroup as failed:
        raise failed.exceptions[0] from None  # the first refusal, as a one-line reason
    finally:
        outcome.imported_messages = sum(
            counts.get(i, 0) for i in [*outcome.created, *outcome.merged]
        )
    return outcome


def run_folder(data_dir: Path, run_id: str) -> Path:
    """``DATA_DIR/migrations/<run_id>/``, the folder the importer keeps its run record in too."""
    return data_dir / MIGRATIONS / path_name(run_id)


def copy_inputs(folder: Path, paths: Sequence[Path | Input]) -> list[str]:
    """Copy every input into the run's folder (numbered, so equal names do not clash; named
    after what the user gave: a spooled pipe is named after the pipe)."""
    inputs = folder / "inputs"
    inputs.mkdir(parents=True, exist_ok=True)
    folder.parent.chmod(0o700)
    copies: list[str] = []
    for number, item in enumerate(paths, start=1):
        source = as_input(item)
        shown = "stdin" if source.label == STDIN else Path(source.label).name
        name = f"{number:03d}-{shown or 'input'}"
        if source.path.is_dir():  # a tool's history kept as a folder (a Cline task)
            shutil.copytree(source.path, inputs / name)
        else:
            shutil.copyfile(source.path, inputs / name)
        copies.append(f"inputs/{name}")
    return copies


def build_report(
    *,
    run_id: str,
    plan: Plan,
    actions: list[Action],
    outcome: Outcome,
    path: str,
    data_dir: Path | None,
    started_ms: int,
    copies: list[str],
    error: str | None = None,
) -> dict[str, Any]:
    return {
        "error": error,
        "run_id": run_id,
        "started_at": format_ms(started_ms),
        "finished_at": format_ms(int(time.time() * 1000)),
        "write_path": path,
        "data_dir": str(data_dir) if data_dir else None,
        "inputs": [
            {**i.to_json(), "copy": copy} for i, copy in zip(plan.inputs, copies, strict=False)
        ],
        "conversations": {
            "created": outcome.created,
            "merged": outcome.merged,
            "unchanged": outcome.unchanged,
            "skipped": outcome.skipped,
            "failed": outcome.failed,
        },
        "messages": {
            "imported": outcome.imported_messages,
            "dropped_as_duplicates": plan.dropped,
            "same_in_another_copy": plan.shared,
        },
        "hidden_skipped": plan.hidden_skipped,
        "large_parts_replaced": plan.large_parts_replaced,
        "actions": [a.to_json() for a in actions],
        "problems": [p.to_json() for p in plan.problems],
    }


def write_report(folder: Path, report: dict[str, Any]) -> Path:
    destination = folder / REPORT
    destination.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    return destination
