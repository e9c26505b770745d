"""The importer: the one writer of every import path (REST, JSON-RPC, ``chat-migrate``).

Rules (docs/export-format.md): the whole document is validated before anything is written, and a
problem is reported with its JSON path (``conversations[3].messages[7].role``); every
conversation is then written as one journal record (:meth:`Store.rewrite`), so a crash leaves each
one fully imported or untouched and running the import again finishes the job. Identity is by
id: a new id is created exactly as given, a known one is merged (:func:`plan_import`), and the
same document twice changes nothing.

Migration runs: with a ``run_id``, what the import creates or adds carries ``source.run_id``, and
each conversation it changed remembers, in the same record, its revision right after the import
and what the merge changed (the internal ``_imports`` field, never exported). That is what
:func:`rollback_run` undoes, and how it tells "changed since the run" apart. The run's list of
touched conversations is written to ``DATA_DIR/migrations/<run_id>/imported.json`` before the
first write, so a rollback finds them even after a crash mid-import.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final, TypeVar

import orjson

from ..store import Conflict, ListQuery, NotFound, Store, Unavailable, ValidationFailed
from ..store.catalog import MAX_PAGE
from ..store.durable import atomic_write, make_dirs
from ..store.ids import check_id, path_name
from ..store.model import (
    DEFAULT_BRANCH,
    MESSAGE_FIELDS,
    TURN_STATES,
    UNFINISHED_TURN_STATES,
    Doc,
    check_bool,
    check_content,
    check_metadata,
    check_optional_str,
    check_role,
    check_source,
    check_status,
    check_tags,
    check_title,
    check_tool_calls,
)
from ..store.nesting import MAX_NESTING, nesting
from ..store.rewrite import Image, Rewrite
from ..store.safe_read import read_regular
from ..store.timeutil import now_iso
from .exporter import EXPORTED_FIELDS, FORMAT, VERSION

TOP_FIELDS: Final = frozenset({"format", "version", "exported_at", "run_id", "conversations"})
CONVERSATION_KEYS: Final = frozenset({*EXPORTED_FIELDS, "branches", "messages", "turns"})
MESSAGE_KEYS: Final = frozenset(MESSAGE_FIELDS)
BRANCH_KEYS: Final = frozenset({"name", "head_message_id"})
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
TIMESTAMP: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z")
RUNS_FOLDER: Final = "migrations"
RUN_RECORD: Final = "imported.json"
IMPORT_BRANCH_PREFIX: Final = "import-"
#: Conversations written at once by one import (each is its own record; they share fsyncs).
WRITERS: Final = 16

T = TypeVar("T")

# ---------------------------------------------------------------------------- validation


def _fail(path: str, message: str) -> ValidationFailed:
    return ValidationFailed(path, f"{path}: {message}")


def _checked(path: str, check: Callable[[Any], T], value: Any) -> T:
    """Run one of the store's field checks, naming the field by its path in the document."""
    try:
        return check(value)
    except ValidationFailed as exc:
        raise _fail(path, exc.message) from None


def _object(value: object, path: str, allowed: frozenset[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(path, "must be a JSON object")
    for key in value:
        if key not in allowed:
            raise _fail(f"{path}.{key}", "is not a field of the export format")
    return value


def _list(value: object, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise _fail(path, "must be a list")
    return value


def _timestamp(value: object, path: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if isinstance(value, str) and TIMESTAMP.fullmatch(value):
        try:
            # The pattern fixed the shape; this checks the calendar (no 30 February, no second
            # 60). fromisoformat is C code: ~10x cheaper than strptime, once per message.
            datetime.fromisoformat(value[:-1])
        except ValueError:
            pass
        else:
            return value
    raise _fail(path, "must be an RFC 3339 UTC time with milliseconds (2026-11-21T13:45:00.123Z)")


def _shallow(value: Any, path: str) -> Any:
    """Refuse JSON nested deeper than the store can journal (the HTTP bodies' limit too)."""
    if nesting(value) > MAX_NESTING:
        raise _fail(path, f"is nested more than {MAX_NESTING} levels deep")
    return value


def _source(value: object, path: str) -> dict[str, Any] | None:
    source = _checked(path, check_source, _shallow(value, path))
    if source is not None and source.get("run_id") is not None:
        _checked(f"{path}.run_id", lambda v: check_id(v, "run_id"), source["run_id"])
    return source


def _optional_id(value: object, path: str) -> str | None:
    return None if value is None else _checked(path, check_id, value)


def _message(
    raw: object, path: str, conversation_id: str, seen: dict[str, Doc], outside: dict[str, str]
) -> Doc:
    body = _object(raw, path, MESSAGE_KEYS)
    for required in ("id", "role", "content", "created_at"):
        if required not in body:
            raise _fail(f"{path}.{required}", "is required")
    message_id = _checked(f"{path}.id", check_id, body["id"])
    if message_id in seen:
        raise _fail(f"{path}.id", f"message '{message_id}' appears twice in the conversation")
    if body.get("conversation_id", conversation_id) != conversation_id:
        raise _fail(f"{path}.conversation_id", "does not name the conversation it is in")
    parent_id = _optional_id(body.get("parent_id"), f"{path}.parent_id")
    if parent_id is not None and parent_id not in seen:
        # Only a message already stored in this conversation (checked by plan_import): a
        # conversation too big for one request is sent in parts, each continuing the last.
        outside.setdefault(parent_id, f"{path}.parent_id")
    created_at = _timestamp(body["created_at"], f"{path}.created_at")
    status = _checked(f"{path}.status", check_status, body.get("status", "complete"))
    return {
        "id": message_id,
        "conversation_id": conversation_id,
        "parent_id": parent_id,
        "role": _checked(f"{path}.role", check_role, body["role"]),
        "content": _checked(f"{path}.content", check_content, body["content"]),
        # Nobody is writing this reply in the copy being imported: it stopped where it is.
        "status": "interrupted" if status == "streaming" else status,
        "created_at": created_at,
        "updated_at": _timestamp(body.get("updated_at", created_at), f"{path}.updated_at"),
        "client_message_id": _optional_id(
            body.get("client_message_id"), f"{path}.client_message_id"
        ),
        "turn_id": _optional_id(body.get("turn_id"), f"{path}.turn_id"),
        "tool_calls": _checked(
            f"{path}.tool_calls",
            check_tool_calls,
            _shallow(body.get("tool_calls"), f"{path}.tool_calls"),
        ),
        "tool_call_id": _checked(
            f"{path}.tool_call_id",
            lambda v: check_optional_str(v, "tool_call_id", 256),
            body.get("tool_call_id"),
        ),
        "metadata": _checked(
            f"{path}.metadata", check_metadata, _shallow(body.get("metadata"), f"{path}.metadata")
        ),
        "source": _source(body.get("source"), f"{path}.source"),
    }


def _turn(
    raw: object,
    path: str,
    conversation_id: str,
    messages: dict[str, Doc],
    outside: dict[str, str],
) -> Doc:
    """Turns are kept as given (the turn engine may add fields); the ones the store relies on
    are checked. An unfinished turn is imported as ``interrupted``, as nobody runs it here."""
    if not isinstance(raw, dict):
        raise _fail(path, "must be a JSON object")
    _shallow(raw, path)
    for key in raw:
        if not isinstance(key, str) or key.startswith("_"):
            raise _fail(f"{path}.{key}", "names starting with '_' are the store's own")
    _checked(f"{path}.id", check_id, raw.get("id"))
    if raw.get("state") not in TURN_STATES:
        raise _fail(f"{path}.state", f"must be one of {', '.join(TURN_STATES)}")
    if raw.get("conversation_id", conversation_id) != conversation_id:
        raise _fail(f"{path}.conversation_id", "does not name the conversation it is in")
    for name in ("user_message_id", "assistant_message_id"):
        message_id = _optional_id(raw.get(name), f"{path}.{name}")
        if message_id is not None and message_id not in messages:
            outside.setdefault(message_id, f"{path}.{name}")  # stored, like a parent
    for name in ("created_at", "updated_at"):
        if name in raw:
            _timestamp(raw[name], f"{path}.{name}")
    turn = {**raw, "conversation_id": conversation_id}
    if turn["state"] in UNFINISHED_STATES:
        turn["state"] = "interrupted"
    return turn


def _branches(
    raw: object, path: str, messages: list[Doc], outside: dict[str, str]
) -> dict[str, str | None]:
    if raw is None:
        return {DEFAULT_BRANCH: messages[-1]["id"] if messages else None}
    known = {m["id"] for m in messages}
    branches: dict[str, str | None] = {}
    for number, item in enumerate(_list(raw, path)):
        where = f"{path}[{number}]"
        body = _object(item, where, BRANCH_KEYS)
        name = _checked(f"{where}.name", check_id, body.get("name"))
        if name in branches:
            raise _fail(f"{where}.name", f"branch '{name}' appears twice")
        head = _optional_id(body.get("head_message_id"), f"{where}.head_message_id")
        if head is not None and head not in known:
            outside.setdefault(head, f"{where}.head_message_id")  # stored, like a parent
        branches[name] = head
    if DEFAULT_BRANCH not in branches:  # every conversation has one (it may stay empty)
        branches = {DEFAULT_BRANCH: None, **branches}
    return branches


def _conversation(raw: object, path: str) -> Doc:
    body = _object(raw, path, CONVERSATION_KEYS)
    for required in ("id", "created_at", "updated_at"):
        if required not in body:
            raise _fail(f"{path}.{required}", "is required")
    conversation_id = _checked(f"{path}.id", check_id, body["id"])
    revision = body.get("revision", 1)
    if not isinstance(revision, int) or isinstance(revision, bool) or revision < 1:
        raise _fail(f"{path}.revision", "must be an integer of at least 1")
    messages: dict[str, Doc] = {}
    outside: dict[str, str] = {}
    client_ids: set[str] = set()
    for number, item in enumerate(_list(body.get("messages", []), f"{path}.messages")):
        where = f"{path}.messages[{number}]"
        message = _message(item, where, conversation_id, messages, outside)
        client_id = message["client_message_id"]
        if client_id is not None:
            if client_id in client_ids:
                raise _fail(f"{where}.client_message_id", f"'{client_id}' is used twice")
            client_ids.add(client_id)
        messages[message["id"]] = message
    for parent_id, where in outside.items():
        if parent_id in messages:
            raise _fail(where, f"message '{parent_id}' is not listed before it")
    branches = _branches(body.get("branches"), f"{path}.branches", list(messages.values()), outside)
    active = _checked(f"{path}.active_branch", check_id, body.get("active_branch", DEFAULT_BRANCH))
    if active not in branches:
        raise _fail(f"{path}.active_branch", f"branch '{active}' is not in branches")
    turns: list[Doc] = []
    turn_ids: set[str] = set()
    for number, item in enumerate(_list(body.get("turns", []), f"{path}.turns")):
        turn = _turn(item, f"{path}.turns[{number}]", conversation_id, messages, outside)
        if turn["id"] in turn_ids:
            raise _fail(f"{path}.turns[{number}].id", f"turn '{turn['id']}' appears twice")
        turn_ids.add(turn["id"])
        turns.append(turn)
    return {
        "id": conversation_id,
        "title": _checked(f"{path}.title", check_title, body.get("title")),
        "created_at": _timestamp(body["created_at"], f"{path}.created_at"),
        "updated_at": _timestamp(body["updated_at"], f"{path}.updated_at"),
        "starred": _checked(
            f"{path}.starred", lambda v: check_bool(v, "starred"), body.get("starred", False)
        ),
        "pinned": _checked(
            f"{path}.pinned", lambda v: check_bool(v, "pinned"), body.get("pinned", False)
        ),
        "archived": _checked(
            f"{path}.archived", lambda v: check_bool(v, "archived"), body.get("archived", False)
        ),
        "deleted_at": _timestamp(body.get("deleted_at"), f"{path}.deleted_at", optional=True),
        "workspace": _checked(
            f"{path}.workspace",
            lambda v: check_optional_str(v, "workspace"),
            body.get("workspace"),
        ),
        "tags": _checked(f"{path}.tags", check_tags, body.get("tags")),
        "metadata": _checked(
            f"{path}.metadata", check_metadata, _shallow(body.get("metadata"), f"{path}.metadata")
        ),
        "active_branch": active,
        "revision": revision,
        "source": _source(body.get("source"), f"{path}.source"),
        "branches": branches,
        "messages": list(messages.values()),
        "turns": turns,
        "outside": outside,
    }


@dataclass(frozen=True, slots=True)
class ImportDocument:
    """A validated document: its ``run_id`` and its conversations, every default filled in."""

    run_id: str | None
    conversations: list[Doc]


def parse_document(document: object) -> ImportDocument:
    """Validate a whole export document and return it normalised; raise at the first problem."""
    if not isinstance(document, dict):
        raise _fail("document", "must be a JSON object")
    for key in document:
        if key not in TOP_FIELDS:
            raise _fail(key, "is not a field of the export format")
    body: dict[str, Any] = document
    if body.get("format") != FORMAT:
        raise _fail("format", f"must be '{FORMAT}'")
    version = body.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _fail("version", f"must be an integer (this sidecar reads version {VERSION})")
    if version > VERSION:
        raise _fail("version", f"{version} is newer than this sidecar reads ({VERSION})")
    if "exported_at" in body:
        _timestamp(body["exported_at"], "exported_at", optional=True)
    run_id = _optional_id(body.get("run_id"), "run_id")
    if "conversations" not in body:
        raise _fail("conversations", "is required")
    conversations: list[Doc] = []
    seen: set[str] = set()
    for number, item in enumerate(_list(body["conversations"], "conversations")):
        conversation = _conversation(item, f"conversations[{number}]")
        if conversation["id"] in seen:
            raise _fail(
                f"conversations[{number}].id",
                f"conversation '{conversation['id']}' appears twice in the document",
            )
        seen.add(conversation["id"])
        conversations.append(conversation)
    return ImportDocument(run_id, conversations)


def validate_document(document: object) -> None:
    """Raise :class:`ValidationFailed` (``field`` = the JSON path) unless ``document`` is a
    valid export document that this sidecar can import into any store: whole, so every parent
    and branch head is in it (:func:`import_document` also takes a part of a conversation whose
    earlier messages are stored)."""
    for entry in parse_document(document).conversations:
        if entry["outside"]:
            raise _outside(entry, list(entry["outside"]))


# ---------------------------------------------------------------------------- planning


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


def _descends(message_id: str | None, ancestor: str, parents: dict[str, str | None]) -> bool:
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


def _outside(entry: Doc, missing: list[str]) -> ValidationFailed:
    """A parent or branch head that is neither in the document nor stored in the conversation."""
    return _fail(
        entry["outside"][missing[0]],
        f"message '{missing[0]}' is neither in the document nor stored in the conversation",
    )


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
            raise _outside(entry, list(entry["outside"]))
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
        raise _outside(entry, missing)
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
        if current is None or _descends(head, current, parents):
            moved[name] = [current, head]
            branches[name] = puts[name] = head
        elif not _descends(current, head, parents):
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


# ---------------------------------------------------------------------------- importing


@dataclass(slots=True)
class ImportResult:
    """What an import did, by conversation id. ``skipped``: ids that cannot be imported, with
    the reason (``purged``: the id of a conversation deleted for good stays reserved;
    ``quarantined``: the stored copy is damaged and was moved aside)."""

    created: list[str] = field(default_factory=list)
    merged: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "created": list(self.created),
            "merged": list(self.merged),
            "unchanged": list(self.unchanged),
            "skipped": [dict(item) for item in self.skipped],
        }


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


def _add_to_run_record(data_dir: Path, run_id: str, conversation_ids: list[str]) -> None:
    """Union ``conversation_ids`` into the run's record, atomically (one import at a time)."""
    with _run_record_lock:
        known = _read_run_record(data_dir, run_id) or []
        merged = sorted({*known, *conversation_ids})
        body = {"run_id": run_id, "conversations": merged, "updated_at": now_iso()}
        folder = run_folder(data_dir, run_id)
        make_dirs(folder)
        atomic_write(folder / RUN_RECORD, orjson.dumps(body, option=orjson.OPT_INDENT_2))


async def import_document(
    store: Store, document: object, *, run_id: str | None = None
) -> ImportResult:
    """Validate ``document`` whole, then import each conversation atomically.

    ``run_id`` (or the document's own ``run_id``; both given must agree) marks everything the
    import creates or adds, for :func:`rollback_run`. Raises :class:`ValidationFailed` (nothing
    written) for a bad document and :class:`Conflict` (nothing written) when a conversation
    cannot be merged; ids that are purged or quarantined are reported in ``skipped``.
    """
    parsed = parse_document(document)
    if run_id is not None:
        check_id(run_id, "run_id")
        if parsed.run_id is not None and parsed.run_id != run_id:
            raise _fail("run_id", f"the document names run '{parsed.run_id}', not '{run_id}'")
    run = run_id or parsed.run_id
    # Dry run first, so a conflict in the tenth conversation leaves the first nine unwritten.
    touched: list[str] = []
    for entry in parsed.conversations:
        conversation_id = entry["id"]
        state = store.id_state(conversation_id)
        if state in ("reserved", "quarantined"):
            continue
        try:
            image = await store.read_image(conversation_id) if state == "exists" else None
        except NotFound:
            continue  # found damaged just now (and quarantined): reported as skipped below
        _, outcome = plan_import(image, entry, run)
        if outcome != "unchanged":
            touched.append(conversation_id)
    if run is not None:
        try:
            await asyncio.to_thread(_add_to_run_record, store.data_dir, run, touched)
        except OSError as exc:
            raise Unavailable(f"cannot record migration run '{run}': {exc.strerror}") from None
    gate = asyncio.Semaphore(WRITERS)

    async def write(entry: Doc) -> str:
        def decide(image: Image | None) -> tuple[Rewrite | None, str]:
            return plan_import(image, entry, run)

        async with gate:
            try:
                return await store.rewrite(entry["id"], decide)
            except Conflict as exc:
                if exc.details.get("reason") not in ("purged", "quarantined"):
                    raise
                return f"skipped:{exc.details['reason']}"
            except NotFound:
                return "skipped:quarantined"

    # Conversations are independent records: writing several at once lets them share fsyncs.
    # Every write finishes (each is atomic) before a failure is reported; re-running finishes.
    outcomes = await asyncio.gather(
        *(write(entry) for entry in parsed.conversations), return_exceptions=True
    )
    for failed in outcomes:
        if isinstance(failed, BaseException):
            raise failed
    result = ImportResult()
    for entry, done in zip(parsed.conversations, outcomes, strict=True):
        assert isinstance(done, str)
        kind, _, reason = done.partition(":")
        if kind == "skipped":
            result.skipped.append({"id": entry["id"], "reason": reason})
        else:
            getattr(result, kind).append(entry["id"])
    late = sorted({*result.created, *result.merged} - set(touched))
    if run is not None and late:  # changed between the dry run and the write (a race)
        await asyncio.to_thread(_add_to_run_record, store.data_dir, run, late)
    return result


# ---------------------------------------------------------------------------- rollback


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
        if head is not None and not any(_descends(h, head, parents) for h in branches.values()):
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
