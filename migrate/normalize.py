"""LEGACY_FORMATS §3 and §4 within one conversation: roles, timestamps, content, titles, repeats.

Problems are counted per conversation (one line saying "3 messages had no timestamp"), not per
message, so a huge export with a systematic gap gives a readable report.
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import orjson

from sidecar.store.ids import ID_PATTERN
from sidecar.store.model import TITLE_MAX
from sidecar.store.nesting import MAX_NESTING, nesting

from .identity import MessageIds, conversation_id
from .model import Conversation, Message, RawConversation, RawMessage
from .problems import Problems

ROLES: dict[str, str] = {
    "user": "user",
    "human": "user",
    "assistant": "assistant",
    "ai": "assistant",
    "bot": "assistant",
    "system": "system",
    "tool": "tool",
    "function": "tool",
}
SECONDS_BELOW = 10**11
#: 9999-12-31T23:59:59.999Z: later times (nanoseconds, garbage) are unreadable, not year 50000.
LATEST_MS = 253_402_300_799_999
TITLE_CHARS = 80
#: The store refuses JSON nested deeper than MAX_NESTING; ``metadata.legacy`` sits 2 levels in.
MAX_LEGACY_NESTING = MAX_NESTING - 4
LINE_BREAK = re.compile(r"\r\n?|\n")
DEFAULT_DUP_WINDOW_MS = 2000


def normalise_role(value: Any) -> str | None:
    """The store role for a legacy role, or ``None`` when it is not one we know."""
    if isinstance(value, str):
        return ROLES.get(value.strip().lower())
    return None


def parse_timestamp(value: Any) -> int | None:
    """Milliseconds since the epoch from ms, seconds (< 10^11), numeric text or ISO 8601.

    ISO text without a zone is UTC. ``None`` for anything missing or unreadable.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            number = float(text)
        except ValueError:
            return _parse_iso(text)
    else:
        return None
    if not math.isfinite(number) or number < 0:
        return None
    millis = round(number * 1000 if number < SECONDS_BELOW else number)
    return millis if millis <= LATEST_MS else None


def _parse_iso(text: str) -> int | None:
    try:
        moment = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    millis = (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000
    return millis if 0 <= millis <= LATEST_MS else None


def format_ms(millis: int) -> str:
    """RFC 3339 UTC with milliseconds, the store's timestamp format (0 <= millis <= LATEST_MS)."""
    seconds, rest = divmod(millis, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{rest:03d}Z"


def parse_store_time(text: Any) -> int:
    """A store timestamp (RFC 3339) as milliseconds; 0 when it is missing."""
    if not isinstance(text, str):
        return 0
    return parse_timestamp(text) or 0


def content_text(value: Any) -> tuple[str, Any]:
    """The message text and, when the content was not a plain string, the original to keep.

    An array of parts becomes its text parts joined with nothing between them (§2 zustand); the
    whole array is kept in ``metadata.legacy.content`` when it had anything else in it.
    """
    if isinstance(value, str):
        return value, None
    if value is None:
        return "", None
    if isinstance(value, list):
        texts: list[str] = []
        other = False
        for part in value:
            if isinstance(part, dict) and part.get("type") == "text":
                text = part.get("text")
                texts.append(text if isinstance(text, str) else "")
            elif isinstance(part, str):
                texts.append(part)
            else:
                other = True
        return "".join(texts), (value if other else None)
    return "", value


def title_from(messages: list[Message]) -> str | None:
    """The first line of the first user message, cut to 80 characters."""
    for message in messages:
        if message.role == "user":
            for line in LINE_BREAK.split(message.content):
                if line.strip():
                    return line.strip()[:TITLE_CHARS]
            return None
    return None


def _flag(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true") or value == 1


class _Counts:
    """How often each repair happened in one conversation, reported as one line each."""

    def __init__(self) -> None:
        self.roles: Counter[str] = Counter()
        self.no_time = 0
        self.bad_time = 0
        self.odd_content = 0
        self.deep = 0


def _message(raw: RawMessage, previous_ms: int, counts: _Counts) -> Message:
    role = normalise_role(raw.role)
    metadata: dict[str, Any] = {}
    legacy: dict[str, Any] = dict(raw.extra)
    if role is None:
        role = "system"
        metadata["legacy_role"] = raw.role
        counts.roles[str(raw.role)] += 1
    elif raw.role != role:
        legacy["role"] = raw.role
    content, original = content_text(raw.content)
    if original is not None:
        legacy["content"] = original
        if not isinstance(raw.content, list):
            counts.odd_content += 1
    millis = parse_timestamp(raw.timestamp)
    if millis is None:
        if raw.timestamp is None:
            counts.no_time += 1
        else:
            counts.bad_time += 1
            legacy["timestamp"] = raw.timestamp
        millis = previous_ms
    if legacy:
        metadata["legacy"] = _storable(legacy, counts)
    return Message("", raw.legacy_id, role, content, millis, metadata)


def _storable(legacy: dict[str, Any], counts: _Counts) -> dict[str, Any]:
    """Legacy data nested deeper than the store accepts is kept as its JSON text instead."""
    if nesting(legacy) <= MAX_LEGACY_NESTING:
        return legacy
    counts.deep += 1
    return {"json": orjson.dumps(legacy).decode()}


def is_repeat(previous: Message, message: Message, window_ms: int) -> bool:
    """§4: the same legacy id, or the same role and content at most ``window_ms`` apart."""
    if previous.legacy_id is not None and previous.legacy_id == message.legacy_id:
        return True
    return (
        previous.role == message.role
        and previous.content == message.content
        and abs(message.created_ms - previous.created_ms) <= window_ms
    )


def collapse_repeats(messages: list[Message], window_ms: int) -> tuple[list[Message], int]:
    """Collapse runs of re-saves: each is compared with the one just before it in the export.

    A run keeps the first save's id and time and the latest save's content; the other saves are
    listed in ``metadata.legacy.resaves``. Returns the kept messages and how many were dropped.
    """
    kept: list[Message] = []
    dropped = 0
    previous: Message | None = None
    for message in messages:
        if previous is not None and kept and is_repeat(previous, message, window_ms):
            head = kept[-1]
            head.content = message.content
            legacy = head.metadata.setdefault("legacy", {})
            legacy.setdefault("resaves", []).append(
                {"id": message.legacy_id, "created_ms": message.created_ms}
            )
            dropped += 1
        else:
            kept.append(message)
        previous = message
    return kept, dropped


def normalise(raw: RawConversation, problems: Problems, window_ms: int) -> Conversation:
    """One legacy conversation as the store will hold it (ids assigned, repeats collapsed)."""
    counts = _Counts()
    created = parse_timestamp(raw.created_at)
    first_ms = next(
        (t for t in (parse_timestamp(m.timestamp) for m in raw.messages) if t is not None), None
    )
    if created is None:
        if raw.created_at is not None:
            problems.warning(raw.key, f"{raw.legacy_id}: unreadable createdAt {raw.created_at!r}")
        created = first_ms if first_ms is not None else (parse_timestamp(raw.updated_at) or 0)
    messages: list[Message] = []
    previous_ms = created
    for item in raw.messages:
        message = _message(item, previous_ms, counts)
        previous_ms = message.created_ms
        messages.append(message)
    messages, dropped = collapse_repeats(messages, window_ms)
    store_id = conversation_id(raw.app, raw.legacy_id)
    backend = raw.backend_id if isinstance(raw.backend_id, str) and raw.backend_id else None
    target_id = store_id
    if backend is not None:
        if ID_PATTERN.fullmatch(backend):
            target_id = backend
        else:
            problems.warning(
                raw.key, f"{raw.legacy_id}: backendConversationId {backend!r} is not a valid id"
            )
    ids = MessageIds(target_id)
    for message in messages:
        message.id = ids.next(message.legacy_id, message.role, message.content, message.created_ms)
    updated = parse_timestamp(raw.updated_at)
    if updated is None:
        updated = max([created, *(m.created_ms for m in messages)])
    title = raw.title.strip() if isinstance(raw.title, str) else None
    legacy = dict(raw.extra)
    if raw.title is not None and not isinstance(raw.title, str):
        legacy["title"] = raw.title
    if not title:
        title = title_from(messages)
    elif len(title) > TITLE_MAX:
        legacy["title"] = raw.title
        title = title[:TITLE_MAX]
        problems.warning(raw.key, f"{raw.legacy_id}: title cut to {TITLE_MAX} characters")
    for role, count in sorted(counts.roles.items()):
        problems.warning(
            raw.key,
            f"{raw.legacy_id}: {count} message(s) with unknown role {role!r} kept as system",
        )
    if counts.no_time:
        problems.warning(
            raw.key,
            f"{raw.legacy_id}: {counts.no_time} message(s) without a timestamp took the "
            "previous message's time",
        )
    if counts.bad_time:
        problems.warning(
            raw.key,
            f"{raw.legacy_id}: {counts.bad_time} message(s) with an unreadable timestamp took "
            "the previous message's time",
        )
    if counts.odd_content:
        problems.warning(
            raw.key,
            f"{raw.legacy_id}: {counts.odd_content} message(s) with non-text content kept in "
            "metadata.legacy.content",
        )
    metadata: dict[str, Any] = {"migration": {"app": raw.app, "legacy_id": raw.legacy_id}}
    if backend is not None:
        metadata["migration"]["backend_conversation_id"] = backend
    if legacy:
        metadata["legacy"] = _storable(legacy, counts)
    if counts.deep:
        problems.warning(
            raw.key,
            f"{raw.legacy_id}: legacy data nested too deep kept as JSON text "
            f"({counts.deep} record(s), metadata.legacy.json)",
        )
    return Conversation(
        app=raw.app,
        legacy_id=raw.legacy_id,
        store_id=target_id,
        title=title,
        created_ms=created,
        updated_ms=updated,
        starred=_flag(raw.starred),
        pinned=_flag(raw.pinned),
        archived=_flag(raw.archived),
        messages=messages,
        backend_id=backend,
        metadata=metadata,
        files=[raw.file],
        dropped=dropped,
    )
