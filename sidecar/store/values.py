"""The values the store's API takes and returns (besides plain documents).

Kept apart from the code that uses them so the aggregates (conversations, messages, turns, ...)
and the layers above share one definition without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from .digest import fingerprint
from .model import Doc


class Unset:
    """The type of :data:`UNSET`: "not given", where ``None`` is a meaningful value."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = Unset()
MAX_MESSAGE_PAGE = 1000


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """Tuning knobs. The server builds this from its settings table."""

    cache_size: int = 64
    checkpoint_bytes: int = 8 * 1024 * 1024
    checkpoint_interval: float = 30.0
    storage: str = "checksummed"
    #: A batch of one small record is written and synced on the event loop itself, without
    #: the journal thread's two hand-offs, when the thread is idle and the last sync took less
    #: than this (seconds); 0: always on the thread. See :mod:`.journal`.
    inline_sync_s: float = 0.001


@dataclass(frozen=True, slots=True)
class Page:
    """A consistent read: the conversation, some of its messages, and the seq they reflect."""

    conversation: Doc
    messages: list[Doc]
    has_more: bool
    event_seq: int


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message that a turn step adds; the caller picks its id (the turn names it first)."""

    id: str
    role: str
    content: str = ""
    status: str = "complete"
    turn_id: str | None = None
    tool_calls: tuple[Doc, ...] = ()
    tool_call_id: str | None = None
    metadata: Doc = field(default_factory=dict)
    client_message_id: str | None = None

    def document(self, conversation_id: str, parent_id: str | None, now: str) -> Doc:
        return {
            "id": self.id,
            "conversation_id": conversation_id,
            "parent_id": parent_id,
            "role": self.role,
            "content": self.content,
            "status": self.status,
            "created_at": now,
            "updated_at": now,
            "client_message_id": self.client_message_id,
            "turn_id": self.turn_id,
            "tool_calls": [dict(call) for call in self.tool_calls],
            "tool_call_id": self.tool_call_id,
            "metadata": dict(self.metadata),
            "source": None,
        }

    def fingerprint(self, parent_id: str | Unset | None, branch: str | None) -> str:
        """What a retry under the same ``client_message_id`` must repeat to count as the same."""
        return fingerprint(
            {
                "role": self.role,
                "content": self.content,
                "parent_id": None if isinstance(parent_id, Unset) else parent_id,
                "branch": branch,
            }
        )


@dataclass(frozen=True, slots=True)
class TurnStep:
    """What :meth:`Store.write_turn` did: the turn as stored, the messages added, and whether
    anything was written (``False``: a retry answered from what was stored)."""

    turn: Doc | None
    messages: list[Doc]
    created: bool
