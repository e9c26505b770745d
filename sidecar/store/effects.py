"""What a committed record changed, as types: the store's announcements to its listeners.

Every observable consequence of a commit is one effect with a seq of its own (the event layer's
id); a :class:`Change` carries a record's effects in seq order. The effects are a closed union of
frozen dataclasses, so a consumer dispatches with ``match`` / ``isinstance`` and mypy checks both
the fields it reads and (with ``assert_never``) that it handles every kind.

Before a record is journalled, the write path knows what it will announce: a :class:`Draft`
lists that (so the record's width in seqs is known up front), and :meth:`Draft.effects` turns it
into effects once the record is durable and applied. Nothing here is ever written to disk: the
journal holds operations, not effects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias

from .model import Doc, public_message


@dataclass(frozen=True, slots=True)
class ConversationEffect:
    """The conversation changed. ``reason``: ``created``, ``updated``, ``deleted``, ``restored``,
    ``purged`` (``conversation`` is then ``None``), or what caused an update (``messages``,
    ``text``, ``noop``); ``conversation`` is its summary after the change."""

    seq: int
    reason: str
    conversation: Doc | None


@dataclass(frozen=True, slots=True)
class MessageEffect:
    """A message was added (``created``) or changed; ``message`` is its public form."""

    seq: int
    created: bool
    message: Doc


@dataclass(frozen=True, slots=True)
class TextEffect:
    """A streaming message grew: its content is now ``content[:offset] + text``."""

    seq: int
    message_id: str
    turn_id: str | None
    offset: int
    text: str


@dataclass(frozen=True, slots=True)
class TurnEffect:
    """A turn was stored; ``previous`` is its state before (``None`` for a new turn)."""

    seq: int
    turn: Doc
    previous: str | None


@dataclass(frozen=True, slots=True)
class ApprovalEffect:
    """Tool calls of a turn wait for the user's decision."""

    seq: int
    turn_id: str
    tool_calls: list[Doc]


@dataclass(frozen=True, slots=True)
class ExternalEffect:
    """Conversations to read again: files changed by another program (the change's
    ``conversation_id`` is ``""``), or one conversation rewritten whole by an import or a
    rollback (in that conversation's change)."""

    seq: int
    conversation_ids: tuple[str, ...]


Effect: TypeAlias = (
    ConversationEffect | MessageEffect | TextEffect | TurnEffect | ApprovalEffect | ExternalEffect
)


@dataclass(frozen=True, slots=True)
class Change:
    """What one committed record changed, published to listeners in seq order."""

    conversation_id: str
    effects: tuple[Effect, ...]

    @property
    def last_seq(self) -> int:
        return self.effects[-1].seq


# ---------------------------------------------------------------------- drafts


@dataclass(frozen=True, slots=True)
class MessageChange:
    """A stored message a record adds (``created``) or replaces; announced in public form."""

    created: bool
    doc: Doc


@dataclass(frozen=True, slots=True)
class TextChange:
    """Streaming growth of one message."""

    message_id: str
    turn_id: str | None
    offset: int
    text: str


@dataclass(frozen=True, slots=True)
class TurnChange:
    """A turn a record stores, and its state before (``None``: a new turn)."""

    previous: str | None
    turn: Doc


@dataclass(frozen=True, slots=True)
class Approval:
    """Tool calls that wait for the user's decision."""

    turn_id: str
    tool_calls: list[Doc]


@dataclass(slots=True)
class Draft:
    """The effects a record will have, known before it is journalled (so its width is too)."""

    reason: str
    messages: list[MessageChange] = field(default_factory=list)
    text: list[TextChange] = field(default_factory=list)
    turns: list[TurnChange] = field(default_factory=list)
    approvals: list[Approval] = field(default_factory=list)
    conversation: bool = True
    #: A whole-conversation rewrite (import, rollback): listeners should read it again, as
    #: an ``external`` effect naming it says (messages may have appeared or gone).
    reread: bool = False

    @property
    def width(self) -> int:
        own = len(self.messages) + len(self.text) + len(self.turns) + len(self.approvals)
        return max(1, own + (1 if self.conversation else 0) + (1 if self.reread else 0))

    def effects(self, seq: int, conversation_id: str, summary: Doc | None) -> tuple[Effect, ...]:
        """The effects, numbered from ``seq``, once the record is applied (``summary``: the
        conversation after it, ``None`` once purged)."""
        effects: list[Effect] = []
        if self.conversation:
            effects.append(ConversationEffect(seq, self.reason, summary))
        for message in self.messages:
            effects.append(
                MessageEffect(seq + len(effects), message.created, public_message(message.doc))
            )
        for text in self.text:
            effects.append(
                TextEffect(
                    seq + len(effects), text.message_id, text.turn_id, text.offset, text.text
                )
            )
        for turn in self.turns:
            effects.append(TurnEffect(seq + len(effects), turn.turn, turn.previous))
        for approval in self.approvals:
            effects.append(
                ApprovalEffect(seq + len(effects), approval.turn_id, approval.tool_calls)
            )
        if self.reread:
            effects.append(ExternalEffect(seq + len(effects), (conversation_id,)))
        return tuple(effects)
