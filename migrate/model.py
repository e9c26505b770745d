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


@dataclass(slots=True)
class Message:
    """A normalised message. ``id`` is the store id (deterministic, see :mod:`migrate.identity`).

    ``synced``: a message read back from the store that no migration wrote (the legacy app
    synced it through the sidecar's API, or it was written in the sidecar), so it has no legacy
    id and its id and time are the store's own (see :mod:`migrate.alignment`).
    """

    id: str
    legacy_id: str | None
    role: str
    content: str
    created_ms: int
    metadata: dict[str, Any] = field(default_factory=dict)
    synced: bool = False
    #: CONTRACT §4 ``tool_calls`` of an assistant message (other tools' histories have them).
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    #: The call a ``tool`` message answers.
    tool_call_id: str | None = None
    #: CONTRACT §4 message status: a reply another tool cancelled or lost is not ``complete``.
    status: str = "complete"

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
