"""Migration runs: the record of what a run touched, and its rollback.

An import with a ``run_id`` lists the conversations it will change in
``DATA_DIR/migrations/<run_id>/imported.json`` before its first write (so a rollback finds them
even after a crash mid-import), and each conversation remembers in its ``_imports`` field what
the run changed there; :func:`rollback_run` undoes exactly that, and refuses a conversation
changed since.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import orjson

from ..store import Conflict, ListQuery, NotFound, Store, ValidationFailed
from ..store.catalog import MAX_PAGE
from ..store.durable import atomic_write, make_dirs
from ..store.ids import check_id, path_name
from ..store.model import DEFAULT_BRANCH
from ..store.rewrite import Image, Rewrite
from ..store.safe_read import read_regular
from ..store.timeutil import now_iso
from .import_merge import UNFINISHED_STATES, descends, latest_state

RUNS_FOLDER: Final = "migrations"
RUN_RECORD: Final = "imported.json"


def run_folder(data_dir: Path, run_id: str) -> Path:
    """``DATA_DIR/migrations/<run_id>/`` (the id encoded like a conversation's folder name, so
    ids differing only in case stay apart on case-insensitive file systems)."""
    return data_dir / RUNS_FOLDER / path_name(run_id)


_run_record_lock = threading.Lock()


def _read_run_record(data_dir: Path, run_id: str) -> list[str] | None:
    try:
        raw = read_regular(run_folder(data_dir, run_id) / RUN_RECORD)
    except FileNotFoundError:
        return None
    except OSError as exc:  # no permission, a FIFO (never opened, so never a hang), a link
        raise Conflict(
            f"the record of migration run '{run_id}' ({RUN_RECORD}) cannot be read: {exc.strerror}"
        ) from None
    try:
        ids = orjson.loads(raw)["conversations"]
        return [check_id(value, "conversation_id") for value in ids]
    except (orjson.JSONDecodeError, KeyError, TypeError, ValidationFailed):
        raise Conflict(
            f"the record of migration run '{run_id}' ({RUN_RECORD}) is damaged"
        ) from None


def add_to_run_record(data_dir: Path, run_id: str, conversation_ids: list[str]) -> None:
    """Union ``conversation_ids`` into the run's record, atomically (one import at a time)."""
    with _run_record_lock:
        known = _read_run_record(data_dir, run_id) or []
        merged = sorted({*known, *conversation_ids})
        body = {"run_id": run_id, "conversations": merged, "updated_at": now_iso()}
        folder = run_folder(data_dir, run_id)
        make_dirs(folder)
        atomic_write(folder / RUN_RECORD, orjson.dumps(body, option=orjson.OPT_INDENT_2))


@dataclass(slots=True)
class RollbackResult:
    """``removed``: conversations the run created, deleted again (their ids stay usable);
    ``reverted``: conversations whose run-added messages (and their replies) were removed and
    whose merged-in fields were put back; ``refused``: conversations changed since the run (or
    with a turn in progress), left alone."""

    run_id: str
    removed: list[str] = field(default_factory=list)
    reverted: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "removed": list(self.removed),
            "reverted": list(self.reverted),
            "refused": list(self.refused),
        }


def _surviving(head: str | None, removed: set[str], parents: dict[str, str | None]) -> str | None:
    while head is not None and head in removed:
        head = parents.get(head)
    return head


def plan_rollback(
    image: Image | None, run_id: str, force: bool
) -> tuple[Rewrite | None, str | None]:
    """How to undo ``run_id`` in one conversation: ``removed`` (drop what it created),
    ``reverted`` (remove what it added), ``refused`` or ``None`` (the run did not change it).

    "Changed since the run": its revision is not the one the run left. ``force`` undoes such a
    conversation anyway (replies to removed messages go with them); a conversation with a turn
    in progress is always refused.
    """
    if image is None:
        return None, None
    conversation = image.conversation
    entry = (conversation.get("_imports") or {}).get(run_id)
    if entry is None:
        return None, None
    changed = conversation.get("revision") != entry["revision"]
    if (changed and not force) or conversation.get("state") in UNFINISHED_STATES:
        return None, "refused"
    if entry.get("created"):
        return Rewrite("drop"), "removed"
    parents = {m["id"]: m.get("parent_id") for m in image.messages}
    removed: set[str] = set()
    for message in image.messages:
        if (message.get("source") or {}).get("run_id") == run_id or message.get(
            "parent_id"
        ) in removed:
            removed.add(message["id"])
    kept = [m for m in image.messages if m["id"] not in removed]
    moved: dict[str, list[str | None]] = entry.get("moved", {})
    added = set(entry.get("added", []))
    branches: dict[str, str | None] = {}
    for name, head in image.branches.items():
        if name in added and name != DEFAULT_BRANCH:
            continue
        if name in moved and head == moved[name][1]:
            head = moved[name][0]
        branches[name] = _surviving(head, removed, parents)
    for name in added & (image.branches.keys() - branches.keys()):
        # A branch the run added goes, unless it is the only way to reach what it ends at.
        head = _surviving(image.branches[name], removed, parents)
        if head is not None and not any(descends(h, head, parents) for h in branches.values()):
            branches[name] = head
    restored = dict(conversation)
    for name, (before, after) in entry.get("fields", {}).items():
        if restored.get(name) == after:
            restored[name] = before
    if restored.get("active_branch") not in branches:
        restored["active_branch"] = DEFAULT_BRANCH
    imports = {k: v for k, v in (conversation.get("_imports") or {}).items() if k != run_id}
    restored["_imports"] = imports
    restored["revision"] = int(conversation.get("revision", 0)) + 1
    turns = [
        turn
        for turn in image.turns
        if turn.get("user_message_id") not in removed
        and turn.get("assistant_message_id") not in removed
    ]
    restored["state"] = latest_state(turns)
    return Rewrite("replace", restored, branches, kept, turns), "reverted"


def _created_by(store: Store, run_id: str) -> list[str]:
    """Conversations whose own ``source`` names the run (found through the catalog)."""
    found: list[str] = []
    cursor: str | None = None
    while True:
        page = store.list_conversations(
            ListQuery(limit=MAX_PAGE, cursor=cursor, archived=None, deleted=None)
        )
        found += [
            str(doc["id"])
            for doc in page.items
            if (doc.get("source") or {}).get("run_id") == run_id
        ]
        if page.next_cursor is None:
            return found
        cursor = page.next_cursor


async def rollback_run(store: Store, run_id: str, *, force: bool = False) -> RollbackResult:
    """Undo what migration run ``run_id`` imported (see :func:`plan_rollback`).

    Conversations changed since the run are refused (unless ``force``) and the rest are still
    rolled back; the caller reports the refusals (REST: 409 listing them). Rolling back twice
    is harmless. Raises :class:`NotFound` for a run this store has no trace of.
    """
    check_id(run_id, "run_id")
    recorded = await asyncio.to_thread(_read_run_record, store.data_dir, run_id)
    candidates = sorted({*(recorded or []), *_created_by(store, run_id)})
    if recorded is None and not candidates:
        raise NotFound(f"migration run '{run_id}' imported nothing into this store")
    result = RollbackResult(run_id)

    def decide(image: Image | None) -> tuple[Rewrite | None, str | None]:
        return plan_rollback(image, run_id, force)

    for conversation_id in candidates:
        if store.id_state(conversation_id) != "exists":
            continue
        try:
            outcome = await store.rewrite(conversation_id, decide)
        except NotFound:
            continue  # damaged and quarantined on the way: nothing of the run is left to undo
        if outcome is not None:
            getattr(result, outcome).append(conversation_id)
    return result
