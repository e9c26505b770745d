"""What every adapter is: a name, how it recognises its keys, and how it reads them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..model import RawConversation, RawMessage
from ..problems import Problems
from ..reading import parse_text, report_broken


@dataclass(slots=True)
class Extraction:
    """Where an adapter puts what it reads: legacy conversations go to ``sink`` one at a time
    (so each is normalised, and its raw records dropped, before the next is read); chat-sidecar
    export conversations are kept as they are."""

    sink: Callable[[RawConversation], None]
    documents: list[dict[str, Any]] = field(default_factory=list)
    conversations: int = 0
    messages: int = 0

    def add(self, conversation: RawConversation) -> None:
        self.conversations += 1
        self.messages += len(conversation.messages)
        self.sink(conversation)

    def add_all(self, conversations: list[RawConversation]) -> None:
        for conversation in conversations:
            self.add(conversation)


class Adapter(Protocol):
    """One legacy app. Adding an app is one module with one of these, listed in ``ADAPTERS``."""

    name: str

    def claims_key(self, key: str) -> bool:
        """Whether the key's name alone says it is this app's (no parsing needed)."""
        ...

    def claims_value(self, key: str, value: Any) -> bool:
        """Whether an otherwise unknown key's parsed value has this app's shape."""
        ...

    def extract(
        self, entries: dict[str, Any], file: str, problems: Problems, out: Extraction
    ) -> None:
        """Read the claimed entries (values raw, or parsed when claimed by value) into ``out``."""
        ...


def parsed(key: str, value: Any, problems: Problems) -> Any | None:
    """The entry's parsed value, or ``None`` after reporting why it is unusable (broken
    characters repaired on the way are reported too)."""
    try:
        result, broken = parse_text(value)
    except ValueError as exc:
        problems.error(key, str(exc))
        return None
    if broken:
        report_broken(problems, key, broken)
    return result


def text_id(value: Any) -> str | None:
    """A legacy id as text (numbers happen), or ``None`` when there is none."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        return value if value else None
    if isinstance(value, int | float):
        return str(value)
    return None


def raw_messages(
    items: Any, key: str, owner: str, problems: Problems, time_field: str
) -> list[RawMessage]:
    """A legacy message array; entries that are not objects are reported and skipped."""
    if not isinstance(items, list):
        problems.error(key, f"{owner}: messages are a JSON {type(items).__name__}, not an array")
        return []
    messages: list[RawMessage] = []
    skipped = 0
    for item in items:
        if not isinstance(item, dict):
            skipped += 1
            continue
        extra = {k: v for k, v in item.items() if k not in ("id", "role", "content", time_field)}
        messages.append(
            RawMessage(
                text_id(item.get("id")),
                item.get("role"),
                item.get("content"),
                item.get(time_field),
                extra,
            )
        )
    if skipped:
        problems.error(
            key, f"{owner}: {skipped} message entr(ies) are not objects and were skipped"
        )
    return messages


def session_conversation(
    app: str,
    legacy_id: str,
    record: dict[str, Any],
    messages: Any,
    *,
    file: str,
    key: str,
    problems: Problems,
    known: tuple[str, ...],
) -> RawConversation:
    """A conversation from a session or chat object with the camelCase fields these apps share
    (``title``, ``createdAt``, ``updatedAt``, flags, ``backendConversationId``); every field not
    in ``known`` is kept for ``metadata.legacy``."""
    return RawConversation(
        app=app,
        legacy_id=legacy_id,
        file=file,
        key=key,
        title=record.get("title"),
        created_at=record.get("createdAt"),
        updated_at=record.get("updatedAt"),
        starred=record.get("starred"),
        pinned=record.get("pinned"),
        archived=record.get("archived"),
        backend_id=record.get("backendConversationId"),
        messages=raw_messages(messages, key, legacy_id, problems, "createdAt"),
        extra={k: v for k, v in record.items() if k not in known},
    )
