"""What adapters produce (raw legacy records) and what the rules turn them into.

A :class:`RawConversation` holds the legacy values untouched (roles, timestamps and content as the
app wrote them); :func:`migrate.normalize.normalise` makes a :class:`Conversation` of it, whose
messages are ready to become export-format messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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


class Message:
    """A normalised message. ``id`` is the store id (deterministic, see :mod:`migrate.identity`).

    ``synced``: a message read back from the store that no migration wrote (the legacy app
    synced it through the sidecar's API, or it was written in the sidecar), so it has no legacy
    id and its id and time are the store's own (see :mod:`migrate.alignment`).

    Memory (LEGACY_FORMATS §5): a huge export plans hundreds of thousands of these, nearly all
    without metadata or tool calls, so the empty dict and list (120 bytes a message, a fifth of
    a planned message) are only made when something reads or writes them; until then the slots
    hold ``None``. :meth:`metadata_view` and :meth:`tool_calls_view` read without making them.
    """

    __slots__ = (
        "_metadata",
        "_tool_calls",
        "content",
        "created_ms",
        "id",
        "legacy_id",
        "role",
        "status",
        "synced",
        "tool_call_id",
    )

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
        self._metadata = metadata or None
        self.synced = synced
        #: CONTRACT §4 ``tool_calls`` of an assistant message (other tools' histories have them).
        self._tool_calls = tool_calls or None
        #: The call a ``tool`` message answers.
        self.tool_call_id = tool_call_id
        #: CONTRACT §4 message status: a reply another tool cancelled or lost is not ``complete``.
        self.status = status

    @property
    def metadata(self) -> dict[str, Any]:
        """The message's metadata, made (empty) on first use so that it can be written to."""
        if self._metadata is None:
            self._metadata = {}
        return self._metadata

    @metadata.setter
    def metadata(self, value: dict[str, Any]) -> None:
        self._metadata = value

    @property
    def tool_calls(self) -> list[dict[str, Any]]:
        """The message's tool calls, made (empty) on first use so that it can be written to."""
        if self._tool_calls is None:
            self._tool_calls = []
        return self._tool_calls

    @tool_calls.setter
    def tool_calls(self, value: list[dict[str, Any]]) -> None:
        self._tool_calls = value

    def metadata_view(self) -> dict[str, Any]:
        """The metadata to read or copy out; a fresh empty dict when there is none (not kept)."""
        return self._metadata if self._metadata is not None else {}

    def tool_calls_view(self) -> list[dict[str, Any]]:
        """The tool calls to read or copy out; a fresh empty list when there are none (not kept)."""
        return self._tool_calls if self._tool_calls is not None else []

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


def identity_key(app: str, legacy_id: str) -> str:
    """``app:legacy_id``, the readable form of a conversation's identity (used in reports)."""
    return f"{app}:{legacy_id}"
