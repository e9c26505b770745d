"""What the adapters of other tools' histories (LEGACY_FORMATS §7) share.

Unlike the localStorage apps, these tools keep their own structure: trees of messages (ChatGPT,
Open WebUI), tool calls paired with their results, times that must be made up (Continue). So an
adapter builds a :class:`Thread` — the tool's messages as they are meant, each with the tool's own
id — and :func:`finish` turns it into the rules' :class:`Conversation`: store ids derived from
(format, the tool's ids) exactly as for the legacy apps (:mod:`migrate.identity`), missing times
filled in, the other leaves kept as ``import-<n>`` branches, big binary parts replaced by a note.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sidecar.store.model import TITLE_MAX

from ..identity import MessageIds, conversation_id
from ..model import Branch, Conversation, Message
from ..normalize import TITLE_CHARS, normalise_role, parse_timestamp, title_from
from ..problems import Problems
from ..rules import BRANCH_PREFIX

#: Binary parts (images as base64) up to this size stay in ``metadata.legacy``; bigger ones are
#: replaced by a note of their size (LEGACY_FORMATS §7).
LARGE_PART_BYTES = 1024 * 1024
BASE64_HEAD = re.compile(r"[A-Za-z0-9+/=\s]*")
DATA_URL = re.compile(r"data:[\w.+-]+/[\w.+-]+(;[\w=.+-]+)*;base64,")
LINE_BREAK = re.compile(r"\r\n?|\n")


@dataclass(slots=True)
class PeerMessage:
    """One message as the tool meant it. ``key`` is the tool's own id for it (or a stable
    position within the tool's record when the tool gives none): the store id is derived from it."""

    key: str
    role: str
    content: str
    time_ms: int | None = None
    legacy: dict[str, Any] = field(default_factory=dict)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    tool_call_id: str | None = None
    status: str = "complete"


@dataclass(slots=True)
class Thread:
    """One conversation of another tool: the main path and every other leaf's whole path."""

    format: str
    legacy_id: str
    file: str
    title: str | None = None
    created_ms: int | None = None
    updated_ms: int | None = None
    starred: bool = False
    pinned: bool = False
    archived: bool = False
    main: list[PeerMessage] = field(default_factory=list)
    #: Each other leaf's path from the first message (shared messages repeated: same keys).
    others: list[list[PeerMessage]] = field(default_factory=list)
    legacy: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    hidden: int = 0


@dataclass(slots=True)
class Tally:
    """What a reading counted, for the input's report line and the run's report."""

    conversations: int = 0
    messages: int = 0
    hidden_skipped: int = 0
    large_parts_replaced: int = 0
    newest_ms: int | None = None


class PeerAdapter(Protocol):
    """One other tool. Adding a tool is one module with one of these, listed in ``PEER_ADAPTERS``."""

    name: str

    def units(self, path: Path) -> list[Path]:
        """The histories a given PATH holds (a file, the tool's folder, an archive), each one
        read on its own so that one bad unit is reported and skipped."""
        ...

    def read(self, unit: Path, problems: Problems) -> Iterator[Thread]:
        """The unit's conversations; :class:`migrate.problems.BadInput` when the unit as a whole
        cannot be read (one bad conversation inside is a problem, and skipped)."""
        ...


def shrink(value: Any, tally: Tally) -> Any:
    """``value`` with every binary string over 1 MiB replaced by a note of its size."""
    if isinstance(value, str):
        if len(value) > LARGE_PART_BYTES and _is_binary(value):
            tally.large_parts_replaced += 1
            head = DATA_URL.match(value)
            kind = head.group(0)[5:].split(";")[0] if head else "base64"
            return f"[{kind} part of {len(value):,} bytes not kept: over 1 MiB]"
        return value
    if isinstance(value, dict):
        return {k: shrink(v, tally) for k, v in value.items()}
    if isinstance(value, list):
        return [shrink(v, tally) for v in value]
    return value


def _is_binary(text: str) -> bool:
    if DATA_URL.match(text):
        return True
    sample = text[:4096]
    match = BASE64_HEAD.match(sample)
    return match is not None and match.end() == len(sample)


def as_object(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one (tools' files are often partial)."""
    return value if isinstance(value, dict) else {}


def as_array(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def first_line(text: str) -> str | None:
    """The first non-empty line, cut to 80 characters (the tools' own title rule)."""
    for line in LINE_BREAK.split(text):
        if line.strip():
            return line.strip()[:TITLE_CHARS]
    return None


def role_of(value: Any) -> str:
    return normalise_role(value) or "system"


def time_of(value: Any) -> int | None:
    return parse_timestamp(value)


def json_arguments(value: Any) -> dict[str, Any]:
    """CONTRACT §4 ``arguments`` are an object: JSON text is parsed; anything else is wrapped."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        import orjson

        try:
            parsed = orjson.loads(value)
        except orjson.JSONDecodeError:
            return {"input": value} if value else {}
        return parsed if isinstance(parsed, dict) else {"input": parsed}
    return {} if value is None else {"input": value}


def tool_call(
    call_id: str,
    name: str,
    arguments: Any,
    *,
    status: str = "succeeded",
    result: Any = None,
    error: Any = None,
) -> dict[str, Any]:
    return {
        "id": call_id,
        "name": name,
        "arguments": json_arguments(arguments),
        "status": status,
        "result": result,
        "error": error,
    }


def answer_calls(messages: list[PeerMessage]) -> None:
    """Pair tool calls with the ``tool`` messages that answer them (by ``tool_call_id``): the
    call's ``result`` is the answer's content, its status ``failed`` when the answer is an error
    (``legacy.is_error``), else ``succeeded``."""
    calls: dict[str, dict[str, Any]] = {}
    for message in messages:
        for call in message.tool_calls:
            calls[call["id"]] = call
        if message.role == "tool" and message.tool_call_id in calls:
            call = calls[message.tool_call_id]
            call["result"] = message.content
            if message.legacy.get("is_error") is True:
                call["status"], call["error"] = "failed", message.content
            elif call["status"] not in ("denied", "failed"):
                call["status"] = "succeeded"


class _Ids:
    """Store ids of one conversation's messages: one per tool key, however many paths hold it."""

    def __init__(self, store_id: str) -> None:
        self._ids = MessageIds(store_id)
        self._known: dict[str, str] = {}

    def __call__(self, message: PeerMessage) -> str:
        found = self._known.get(message.key)
        if found is None:
            found = self._ids.next(message.key, message.role, message.content, 0)
            self._known[message.key] = found
        return found


def finish(thread: Thread, problems: Problems, tally: Tally) -> Conversation:
    """The thread as the rules' conversation (see the module docstring)."""
    store_id = conversation_id(thread.format, thread.legacy_id)
    ids = _Ids(store_id)
    created = thread.created_ms
    if created is None:
        created = next((m.time_ms for m in thread.main if m.time_ms is not None), None)
    if created is None:
        created = thread.updated_ms or 0
    made: dict[str, Message] = {}
    missing = 0

    def convert(path: list[PeerMessage]) -> list[Message]:
        nonlocal missing
        out: list[Message] = []
        previous = created
        for peer in path:
            message = made.get(peer.key)
            if message is None:
                millis = peer.time_ms
                if millis is None:
                    missing += 1
                    millis = previous
                metadata: dict[str, Any] = {}
                if peer.legacy:
                    metadata["legacy"] = shrink(peer.legacy, tally)
                message = Message(
                    ids(peer),
                    peer.key,
                    peer.role,
                    peer.content,
                    millis,
                    metadata,
                    tool_calls=shrink(peer.tool_calls, tally),
                    tool_call_id=peer.tool_call_id,
                    status=peer.status,
                )
                made[peer.key] = message
            previous = message.created_ms
            out.append(message)
        return out

    main = convert(thread.main)
    branches: list[Branch] = []
    for number, path in enumerate(thread.others, start=1):
        before = set(made)
        messages = convert(path)
        shared = 0
        while shared < len(path) and path[shared].key in before:
            shared += 1
        tail = messages[shared:]
        if not tail:
            continue  # a leaf that is on another path already (a duplicate in the tool's data)
        parent = messages[shared - 1].id if shared else None
        branches.append(Branch(f"{BRANCH_PREFIX}{number}", parent, tail))
    if missing:
        problems.warning(
            thread.legacy_id,
            f"{missing} message(s) without a time took the previous message's time",
        )
    updated = thread.updated_ms
    every = [*main, *(m for b in branches for m in b.messages)]
    if updated is None:
        updated = max([created, *(m.created_ms for m in every)])
    title = (thread.title or "").strip() or title_from(main)
    metadata: dict[str, Any] = {"migration": {"app": thread.format, "legacy_id": thread.legacy_id}}
    if thread.legacy:
        metadata["legacy"] = shrink(thread.legacy, tally)
    tally.conversations += 1
    tally.messages += len(every)
    tally.hidden_skipped += thread.hidden
    newest = max([updated, *(m.created_ms for m in every)])
    tally.newest_ms = newest if tally.newest_ms is None else max(tally.newest_ms, newest)
    return Conversation(
        app=thread.format,
        legacy_id=thread.legacy_id,
        store_id=store_id,
        title=title[:TITLE_MAX] if title else None,
        created_ms=created,
        updated_ms=updated,
        starred=thread.starred,
        pinned=thread.pinned,
        archived=thread.archived,
        messages=main,
        metadata=metadata,
        branches=branches,
        files=[thread.file],
        tags=list(thread.tags),
    )
