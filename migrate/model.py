"""What adapters produce (raw legacy records) and what the rules turn them into.

A :class:`RawConversation` holds the legacy values untouched (roles, timestamps and content as the
app wrote them); :func:`migrate.normalize.normalise` makes a :class:`Conversation` of it, whose
messages are ready to become export-format messages.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

#: Bytes of one message's fingerprint (:func:`fingerprints`).
PRINT_SIZE = 16


@dataclass(slots=True)
class RawMessage:
    legacy_id: str | None
    role: Any
    content: Any
    timestamp: Any
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class RawConversation:
    app: str
    legacy_id: str
    file: str
    key: str
    title: Any = None
    created_at: Any = None
    updated_at: Any = None
    starred: Any = None
    pinned: Any = None
    archived: Any = None
    backend_id: Any = None
    messages: list[RawMessage] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


class _Rare:
    """The fields of a message that are nearly always at their default, kept apart (see
    :class:`Message`)."""

    __slots__ = ("metadata", "status", "synced", "tool_call_id", "tool_calls")

    def __init__(self) -> None:
        self.metadata: dict[str, Any] | None = None
        self.synced = False
        self.tool_calls: list[dict[str, Any]] | None = None
        self.tool_call_id: str | None = None
        self.status = "complete"


class Message:
    """A normalised message. ``id`` is the store id (deterministic, see :mod:`migrate.identity`).

    ``synced``: a message read back from the store that no migration wrote (the legacy app
    synced it through the sidecar's API, or it was written in the sidecar), so it has no legacy
    id and its id and time are the store's own (see :mod:`migrate.alignment`).
    ``tool_calls``: CONTRACT §4 ``tool_calls`` of an assistant message (other tools' histories
    have them); ``tool_call_id``: the call a ``tool`` message answers; ``status``: CONTRACT §4
    message status (a reply another tool cancelled or lost is not ``complete``).

    Memory (LEGACY_FORMATS §5): a huge export plans hundreds of thousands of these, nearly all
    without metadata, tool calls or another status. Those fields live in one ``_Rare`` object
    made only when one of them is set or written to (an empty dict and list per message were
    120 bytes, and each slot is 8 more, of ~660 a planned message): until then, reading gives the
    default. :meth:`metadata_view` and :meth:`tool_calls_view` read without making anything.
    """

    __slots__ = ("_rare", "content", "created_ms", "id", "legacy_id", "role")

    def __init__(
        self,
        id: str,
        legacy_id: str | None,
        role: str,
        content: str,
        created_ms: int,
        metadata: dict[str, Any] | None = None,
        synced: bool = False,
        tool_calls: list[dict[str, Any]] | None = None,
        tool_call_id: str | None = None,
        status: str = "complete",
    ) -> None:
        self.id = id
        self.legacy_id = legacy_id
        self.role = role
        self.content = content
        self.created_ms = created_ms
        self._rare: _Rare | None = None
        if metadata:
            self._made().metadata = metadata
        if synced:
            self._made().synced = synced
        if tool_calls:
            self._made().tool_calls = tool_calls
        if tool_call_id is not None:
            self._made().tool_call_id = tool_call_id
        if status != "complete":
            self._made().status = status

    def _made(self) -> _Rare:
        if self._rare is None:
            self._rare = _Rare()
        return self._rare

    @property
    def metadata(self) -> dict[str, Any]:
        """The message's metadata, made (empty) on first use so that it can be written to."""
        rare = self._made()
        if rare.metadata is None:
            rare.metadata = {}
        return rare.metadata

    @metadata.setter
    def metadata(self, value: dict[str, Any]) -> None:
        self._made().metadata = value

    @property
    def tool_calls(self) -> list[dict[str, Any]]:
        """The message's tool calls, made (empty) on first use so that it can be written to."""
        rare = self._made()
        if rare.tool_calls is None:
            rare.tool_calls = []
        return rare.tool_calls

    @tool_calls.setter
    def tool_calls(self, value: list[dict[str, Any]]) -> None:
        self._made().tool_calls = value

    @property
    def synced(self) -> bool:
        return self._rare is not None and self._rare.synced

    @synced.setter
    def synced(self, value: bool) -> None:
        if value or self._rare is not None:
            self._made().synced = value

    @property
    def tool_call_id(self) -> str | None:
        return None if self._rare is None else self._rare.tool_call_id

    @tool_call_id.setter
    def tool_call_id(self, value: str | None) -> None:
        if value is not None or self._rare is not None:
            self._made().tool_call_id = value

    @property
    def status(self) -> str:
        return "complete" if self._rare is None else self._rare.status

    @status.setter
    def status(self, value: str) -> None:
        if value != "complete" or self._rare is not None:
            self._made().status = value

    def metadata_view(self) -> dict[str, Any]:
        """The metadata to read or copy out; a fresh empty dict when there is none (not kept)."""
        rare = self._rare
        return rare.metadata if rare is not None and rare.metadata is not None else {}

    def tool_calls_view(self) -> list[dict[str, Any]]:
        """The tool calls to read or copy out; a fresh empty list when there are none (not kept)."""
        rare = self._rare
        return rare.tool_calls if rare is not None and rare.tool_calls is not None else []

    def _fields(self) -> tuple[Any, ...]:
        return (
            self.id,
            self.legacy_id,
            self.role,
            self.content,
            self.created_ms,
            self.metadata_view(),
            self.synced,
            self.tool_calls_view(),
            self.tool_call_id,
            self.status,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Message):
            return NotImplemented
        return self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]  # mutable, as the dataclass it replaces

    def __repr__(self) -> str:
        names = ("id", "legacy_id", "role", "content", "created_ms", "metadata", "synced",
                 "tool_calls", "tool_call_id", "status")  # fmt: skip
        shown = ", ".join(f"{n}={v!r}" for n, v in zip(names, self._fields(), strict=True))
        return f"Message({shown})"

    @property
    def pair(self) -> tuple[str, str]:
        return (self.role, self.content)


@dataclass(slots=True)
class Branch:
    """A tail kept off the main branch: it starts after ``parent_id`` (``None``: a new root)."""

    name: str
    parent_id: str | None
    messages: list[Message]


@dataclass(slots=True)
class Conversation:
    app: str
    legacy_id: str
    store_id: str
    title: str | None
    created_ms: int
    updated_ms: int
    starred: bool
    pinned: bool
    archived: bool
    messages: list[Message]
    backend_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    branches: list[Branch] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    dropped: int = 0
    shared: int = 0
    #: The branch ``messages`` are on: ``main`` for an export; a stored copy's active branch.
    main_branch: str = "main"
    #: The store's ``tags`` (a tool with tags of its own, e.g. Open WebUI, gives them).
    tags: list[str] = field(default_factory=list)

    @property
    def identity(self) -> str:
        return identity_key(self.app, self.legacy_id)

    @property
    def prints(self) -> bytes:
        """The main branch's :func:`fingerprints` (computed on each use: messages change)."""
        return fingerprints(self.messages)


def fingerprints(messages: Sequence[Message]) -> bytes:
    """Each message's (role, content) as ``PRINT_SIZE`` bytes (BLAKE2b), one after the other.

    What the cross-app rule (LEGACY_FORMATS §4) compares: a conversation's sequence equals or
    is a prefix of another's exactly when its fingerprints are a prefix of the other's (two
    different messages share a fingerprint with a chance of 2^-128). A planned conversation keeps
    these, ~16 bytes a message, instead of its content (:mod:`migrate.shelf`).
    """
    return b"".join(
        hashlib.blake2b(
            f"{len(m.role)}:{m.role}{m.content}".encode(errors="surrogatepass"),
            digest_size=PRINT_SIZE,
        ).digest()
        for m in messages
    )


def identity_key(app: str, legacy_id: str) -> str:
    """``app:legacy_id``, the readable form of a conversation's identity (used in reports)."""
    return f"{app}:{legacy_id}"
