"""The importer: the one writer of every import path (REST, JSON-RPC, ``chat-migrate``).

Rules (docs/export-format.md): the whole document is validated before anything is written, and a
problem is reported with its JSON path (``conversations[3].messages[7].role``); every
conversation is then written as one journal record (:meth:`Store.rewrite`), so a crash leaves each
one fully imported or untouched and running the import again finishes the job. Identity is by
id: a new id is created exactly as given, a known one is merged (``import_merge.plan_import``),
and the same document twice changes nothing.

Migration runs: with a ``run_id``, what the import creates or adds carries ``source.run_id``, and
each conversation it changed remembers, in the same record, its revision right after the import
and what the merge changed (the internal ``_imports`` field, never exported). That is what
``import_runs.rollback_run`` undoes, and how it tells "changed since the run" apart. The run's
list of touched conversations is written to ``DATA_DIR/migrations/<run_id>/imported.json``
before the first write, so a rollback finds them even after a crash mid-import.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, TypeVar

from ..store import Conflict, NotFound, Store, Unavailable, ValidationFailed
from ..store.ids import check_id
from ..store.model import (
    DEFAULT_BRANCH,
    MESSAGE_FIELDS,
    TURN_STATES,
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
from .exporter import EXPORTED_FIELDS, FORMAT, VERSION
from .import_merge import UNFINISHED_STATES, plan_import
from .import_runs import add_to_run_record

TOP_FIELDS: Final = frozenset({"format", "version", "exported_at", "run_id", "conversations"})
CONVERSATION_KEYS: Final = frozenset({*EXPORTED_FIELDS, "branches", "messages", "turns"})
MESSAGE_KEYS: Final = frozenset(MESSAGE_FIELDS)
BRANCH_KEYS: Final = frozenset({"name", "head_message_id"})
TIMESTAMP: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z")
#: What a write decides for a conversation the dry run left alone but the run now changes (a
#: write landed in between): nothing yet; it goes into the run's record, then the write again.
UNRECORDED: Final = "unrecorded"
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


async def import_document(
    store: Store, document: object, *, run_id: str | None = None
) -> ImportResult:
    """Validate ``document`` whole, then import each conversation atomically.

    ``run_id`` (or the document's own ``run_id``; both given must agree) marks everything the
    import creates or adds, for ``import_runs.rollback_run``. Raises :class:`ValidationFailed` (nothing
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
        await _record(store, run, touched)
    gate = asyncio.Semaphore(WRITERS)
    recorded = set(touched)

    async def write(entry: Doc) -> str:
        def decide(image: Image | None) -> tuple[Rewrite | None, str]:
            rewrite, outcome = plan_import(image, entry, run)
            if rewrite is not None and run is not None and entry["id"] not in recorded:
                return None, UNRECORDED  # changed since the dry run: into the record first
            return rewrite, outcome

        async with gate:
            while True:
                try:
                    done = await store.rewrite(entry["id"], decide)
                except Conflict as exc:
                    if exc.details.get("reason") not in ("purged", "quarantined"):
                        raise
                    return f"skipped:{exc.details['reason']}"
                except NotFound:
                    return "skipped:quarantined"
                if done != UNRECORDED:
                    return done
                assert run is not None
                await _record(store, run, [entry["id"]])
                recorded.add(entry["id"])

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
    return result


async def _record(store: Store, run: str, conversation_ids: list[str]) -> None:
    """Add conversations to the run's record (before any of them is written)."""
    try:
        await asyncio.to_thread(add_to_run_record, store.data_dir, run, conversation_ids)
    except OSError as exc:
        raise Unavailable(f"cannot record migration run '{run}': {exc.strerror}") from None
