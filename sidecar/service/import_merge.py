"""Planning an import into one stored conversation: create it, merge into it, or leave it be.

Pure functions of the stored image and a validated entry (:func:`~.importer.parse_document`),
so that the importer can run them once as a dry run, to refuse a conflict before anything is
written, and again inside the store's write, on the image as it is then (docs/export-format.md).
"""

from __future__ import annotations

from typing import Any, Final

from ..store import Conflict, ValidationFailed
from ..store.model import UNFINISHED_TURN_STATES, Doc
from ..store.rewrite import Image, Rewrite
from .exporter import EXPORTED_FIELDS

#: Turn states that mean "a provider is working on it": nobody is, in an imported copy.
UNFINISHED_STATES: Final = frozenset(UNFINISHED_TURN_STATES)
#: Conversation fields a merge takes from whichever copy has the later ``updated_at``.
MERGED_FIELDS: Final = (
    "title",
    "starred",
    "pinned",
    "archived",
    "deleted_at",
    "workspace",
    "tags",
    "metadata",
)
IMPORT_BRANCH_PREFIX: Final = "import-"


def with_run(source: Doc | None, run_id: str | None) -> Doc | None:
    """``source`` marked as written by ``run_id`` (a plain import gets ``kind: import``)."""
    if run_id is None:
        return source
    return {**(source or {"kind": "import"}), "run_id": run_id}


def latest_state(turns: list[Doc]) -> str:
    """The conversation's state: its latest turn's (by ``created_at``), or ``idle``."""
    if not turns:
        return "idle"
    latest = max(enumerate(turns), key=lambda pair: (str(pair[1].get("created_at") or ""), pair[0]))
    return str(latest[1]["state"])


def descends(message_id: str | None, ancestor: str, parents: dict[str, str | None]) -> bool:
    """Whether ``ancestor`` lies on the path from the root to ``message_id`` (or is it)."""
    while message_id is not None:
        if message_id == ancestor:
            return True
        message_id = parents.get(message_id)
    return False


def _free_import_branch(branches: dict[str, str | None]) -> str:
    number = 1
    while f"{IMPORT_BRANCH_PREFIX}{number}" in branches:
        number += 1
    return f"{IMPORT_BRANCH_PREFIX}{number}"


def outside_error(entry: Doc, missing: list[str]) -> ValidationFailed:
    """A parent or branch head that is neither in the document nor stored in the conversation."""
    path = entry["outside"][missing[0]]
    message = f"message '{missing[0]}' is neither in the document nor stored in the conversation"
    return ValidationFailed(path, f"{path}: {message}")  # worded as the importer's own checks


def _plan_create(entry: Doc, run_id: str | None) -> tuple[Rewrite, str]:
    conversation = {name: entry[name] for name in EXPORTED_FIELDS}
    conversation["state"] = latest_state(entry["turns"])
    conversation["source"] = with_run(entry["source"], run_id)
    if run_id is not None:
        conversation["_imports"] = {run_id: {"revision": entry["revision"], "created": True}}
    messages = [{**m, "source": with_run(m["source"], run_id)} for m in entry["messages"]]
    rewrite = Rewrite("create", conversation, dict(entry["branches"]), messages, entry["turns"])
    return rewrite, "created"


def plan_import(image: Image | None, entry: Doc, run_id: str | None) -> tuple[Rewrite | None, str]:
    """What importing one (validated) conversation entry does to the stored one.

    Returns the rewrite (``None``: nothing to write) and ``created``, ``merged`` or
    ``unchanged``. Merging: messages whose ids are missing are added; a branch whose imported
    head extends the stored head moves forward; a diverging head is kept on a new branch
    ``import-<n>`` (unless some branch already ends there, which makes a second import a no-op);
    title, flags, tags, metadata, workspace and the active branch come from the copy with the
    later ``updated_at``. Raises :class:`Conflict` when the stored conversation has a turn in
    progress or an added message reuses a ``client_message_id`` of another message.
    """
    if image is None:
        if entry["outside"]:
            raise outside_error(entry, list(entry["outside"]))
        return _plan_create(entry, run_id)
    stored = image.conversation
    conversation_id = entry["id"]
    if stored.get("state") in UNFINISHED_STATES:
        raise Conflict(
            f"conversation '{conversation_id}' has a turn in progress ({stored.get('state')});"
            " import it once the turn has finished",
            details={"conversation_id": conversation_id, "state": stored.get("state")},
        )
    parents: dict[str, str | None] = {m["id"]: m.get("parent_id") for m in image.messages}
    if missing := [m for m in entry["outside"] if m not in parents]:
        raise outside_error(entry, missing)
    client_ids = {
        m["client_message_id"]: m["id"] for m in image.messages if m.get("client_message_id")
    }
    added: list[Doc] = []
    for message in entry["messages"]:
        if message["id"] in parents:
            continue
        client_id = message["client_message_id"]
        if client_id is not None and client_ids.get(client_id, message["id"]) != message["id"]:
            raise Conflict(
                f"message '{message['id']}' reuses client_message_id '{client_id}' of message"
                f" '{client_ids[client_id]}' in conversation '{conversation_id}'",
                details={"conversation_id": conversation_id, "message_id": message["id"]},
            )
        parents[message["id"]] = message["parent_id"]
        added.append({**message, "source": with_run(message["source"], run_id)})

    branches = dict(image.branches)
    puts: dict[str, str | None] = {}
    new_branches: list[str] = []
    moved: dict[str, list[str | None]] = {}
    renamed: dict[str, str] = {}
    for name, head in entry["branches"].items():
        if name not in branches:
            branches[name] = puts[name] = head
            new_branches.append(name)
            continue
        current = branches[name]
        if head is None or head == current:
            continue
        if current is None or descends(head, current, parents):
            moved[name] = [current, head]
            branches[name] = puts[name] = head
        elif not descends(current, head, parents):
            holder = next((n for n, h in branches.items() if h == head), None)
            if holder is None:
                holder = _free_import_branch(branches)
                branches[holder] = puts[holder] = head
                new_branches.append(holder)
            renamed[name] = holder

    changes: dict[str, Any] = {}
    if entry["updated_at"] > stored.get("updated_at", ""):
        for name in MERGED_FIELDS:
            if entry[name] != stored.get(name):
                changes[name] = entry[name]
        active = renamed.get(entry["active_branch"], entry["active_branch"])
        if active in branches and active != stored.get("active_branch"):
            changes["active_branch"] = active
    stored_turns = {turn["id"] for turn in image.turns}
    turns = [turn for turn in entry["turns"] if turn["id"] not in stored_turns]
    if not (added or puts or turns or changes):
        return None, "unchanged"
    if entry["updated_at"] > stored.get("updated_at", ""):
        changes["updated_at"] = entry["updated_at"]
    conversation = {**stored, **changes, "revision": int(stored.get("revision", 0)) + 1}
    if turns:
        conversation["state"] = latest_state([*image.turns, *turns])
    if run_id is not None:
        conversation["_imports"] = _remember_merge(
            stored, run_id, conversation["revision"], changes, new_branches, moved
        )
    return Rewrite("extend", conversation, puts, added, turns), "merged"


def _remember_merge(
    stored: Doc,
    run_id: str,
    revision: int,
    changes: dict[str, Any],
    new_branches: list[str],
    moved: dict[str, list[str | None]],
) -> dict[str, Any]:
    """The conversation's ``_imports`` with this run's undo information (a second import in
    the same run keeps the values from before the first)."""
    imports: dict[str, Any] = dict(stored.get("_imports") or {})
    prior: Doc = imports.get(run_id) or {"created": False, "fields": {}, "added": [], "moved": {}}
    fields = dict(prior.get("fields", {}))
    for name, value in changes.items():
        before = fields[name][0] if name in fields else stored.get(name)
        fields[name] = [before, value]
    moves = dict(prior.get("moved", {}))
    for name, (before, after) in moved.items():
        moves[name] = [moves[name][0] if name in moves else before, after]
    imports[run_id] = {
        "revision": revision,
        "created": bool(prior.get("created")),
        "fields": fields,
        "added": [*prior.get("added", []), *new_branches],
        "moved": moves,
    }
    return imports
