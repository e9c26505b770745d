"""The one small interface every provider (who writes the assistant's reply) implements.

A provider turns a conversation's history into a stream of :class:`TextDelta` pieces, ending
either normally or with one :class:`ToolProposal`; where it knows what the call cost, it also
yields one :class:`Usage` (the engine records it in the message's ``metadata.usage``). It knows nothing about the store, turns or
retries: the turn engine persists what it yields, decides what an error means (``transient`` or
not, from :class:`ProviderError`), and retries. Cancelling the consuming task must stop the
stream promptly, so providers only await cancellable things (sleeps, sockets, queues).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

Doc = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool the model may call: its name, what it does, and a JSON schema of its arguments."""

    name: str
    description: str
    parameters: Doc = field(default_factory=lambda: {"type": "object", "properties": {}})


@dataclass(frozen=True, slots=True)
class ReplyRequest:
    """What a provider needs to write one assistant message.

    ``messages`` is the active path up to (not including) the message being written: public
    Message objects (CONTRACT §4), tool results included as ``tool`` messages.
    """

    conversation_id: str
    turn_id: str
    messages: list[Doc]
    tools: list[ToolSpec]


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ToolProposal:
    """The model wants these tools run: ``[{id, name, arguments}]`` (``arguments`` an object)."""

    calls: list[Doc]


@dataclass(frozen=True, slots=True)
class Usage:
    """What one model call cost, as the provider reports it (CONTRACT §4 ``metadata.usage``)."""

    model: str
    input_tokens: int
    output_tokens: int

    def to_json(self) -> Doc:
        return {
            "model": self.model,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
        }


ProviderOutput = TextDelta | ToolProposal | Usage


class ProviderError(Exception):
    """A failed model call. ``transient`` errors (timeouts, 5xx, 429, cuts) may pass on retry."""

    def __init__(self, message: str, *, transient: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.transient = transient
        self.status = status

    def to_json(self) -> Doc:
        return {
            "code": "provider_error",
            "message": self.message,
            "transient": self.transient,
            "status": self.status,
        }


class Provider(Protocol):
    name: str

    def stream(self, request: ReplyRequest) -> AsyncIterator[ProviderOutput]:
        """Yield the reply as it is written; raise :class:`ProviderError` when the call fails."""
        ...
