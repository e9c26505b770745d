"""The ``external`` provider: the extension host writes the reply (CONTRACT §7).

The sidecar announces a turn (``turn.requested {turn_id, conversation_id, messages}``) to
subscribed JSON-RPC clients; one answers ``turns.claim`` and then streams ``turns.pushDelta``,
optionally ``turns.proposeTools``, and ends with ``turns.complete`` or ``turns.fail``. The
:class:`ExternalBroker` is the meeting point: the RPC layer calls its methods and listens for
requests; :class:`ExternalProvider` turns what arrives into the same stream every provider yields,
so the turn engine treats it like any model. No claim within ``claim_timeout_s``, or a claimer
that disconnects, fails the attempt as transient (so it is retried, then can be retried by hand).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from ..store.errors import Conflict, NotFound, ValidationFailed
from .base import Doc, ProviderError, ProviderOutput, ReplyRequest, TextDelta, ToolProposal

_DONE = object()


@dataclass(slots=True)
class _ExternalTurn:
    request: ReplyRequest
    outputs: asyncio.Queue[ProviderOutput | ProviderError | object] = field(
        default_factory=asyncio.Queue
    )
    claimed: asyncio.Event = field(default_factory=asyncio.Event)
    claimer: str | None = None
    ended: bool = False


RequestListener = Callable[[Doc], object]


class ExternalBroker:
    """Open external turns by id, who claimed each, and who wants to hear of new ones."""

    def __init__(self, claim_timeout_s: float = 30.0) -> None:
        self.claim_timeout_s = claim_timeout_s
        self._turns: dict[str, _ExternalTurn] = {}
        self._listeners: list[RequestListener] = []

    def on_request(self, listener: RequestListener) -> Callable[[], None]:
        """``listener({turn_id, conversation_id, messages})`` for every turn that needs a writer."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def pending(self) -> list[Doc]:
        """Announcements of turns nobody has claimed yet (for a client that connects late)."""
        return [_announcement(t.request) for t in self._turns.values() if t.claimer is None]

    def open_turn(self, request: ReplyRequest) -> _ExternalTurn:
        turn = _ExternalTurn(request)
        self._turns[request.turn_id] = turn
        announcement = _announcement(request)
        for listener in list(self._listeners):
            listener(announcement)
        return turn

    def close_turn(self, turn_id: str) -> None:
        self._turns.pop(turn_id, None)

    def _owned(self, turn_id: str, client: str) -> _ExternalTurn:
        turn = self._turns.get(turn_id)
        if turn is None or turn.ended:
            raise NotFound(f"turn '{turn_id}' is not waiting for an external reply")
        if turn.claimer != client:
            raise Conflict(f"turn '{turn_id}' is not claimed by this client")
        return turn

    def claim(self, turn_id: str, client: str) -> Doc:
        turn = self._turns.get(turn_id)
        if turn is None or turn.ended:
            raise NotFound(f"turn '{turn_id}' is not waiting for an external reply")
        if turn.claimer not in (None, client):
            raise Conflict(f"turn '{turn_id}' is already claimed by another client")
        turn.claimer = client
        turn.claimed.set()
        return _announcement(turn.request)

    def push_delta(self, turn_id: str, client: str, text: object) -> None:
        if not isinstance(text, str):
            raise ValidationFailed("text", "text must be a string")
        self._owned(turn_id, client).outputs.put_nowait(TextDelta(text))

    def propose_tools(self, turn_id: str, client: str, tool_calls: object) -> None:
        if not isinstance(tool_calls, list) or not tool_calls:
            raise ValidationFailed("tool_calls", "tool_calls must be a non-empty list")
        calls = []
        for index, call in enumerate(tool_calls):
            if not (isinstance(call, dict) and isinstance(call.get("name"), str)):
                raise ValidationFailed(f"tool_calls[{index}]", "each tool call needs a name")
            arguments = call.get("arguments", {})
            if not isinstance(arguments, dict):
                raise ValidationFailed(f"tool_calls[{index}].arguments", "must be an object")
            calls.append({"id": call.get("id"), "name": call["name"], "arguments": arguments})
        turn = self._owned(turn_id, client)
        turn.outputs.put_nowait(ToolProposal(calls))
        turn.ended = True

    def complete(self, turn_id: str, client: str) -> None:
        turn = self._owned(turn_id, client)
        turn.outputs.put_nowait(_DONE)
        turn.ended = True

    def fail(self, turn_id: str, client: str, message: str, *, transient: bool) -> None:
        turn = self._owned(turn_id, client)
        turn.outputs.put_nowait(ProviderError(message, transient=transient))
        turn.ended = True

    def client_gone(self, client: str) -> None:
        """A claimer disconnected: its unfinished turns fail as transient."""
        for turn in self._turns.values():
            if turn.claimer == client and not turn.ended:
                turn.outputs.put_nowait(
                    ProviderError("the client writing the reply disconnected", transient=True)
                )
                turn.ended = True


def _announcement(request: ReplyRequest) -> Doc:
    return {
        "turn_id": request.turn_id,
        "conversation_id": request.conversation_id,
        "messages": request.messages,
        "tools": [
            {"name": t.name, "description": t.description, "parameters": t.parameters}
            for t in request.tools
        ],
    }


class ExternalProvider:
    name = "external"

    def __init__(self, broker: ExternalBroker) -> None:
        self.broker = broker

    async def stream(self, request: ReplyRequest) -> AsyncIterator[ProviderOutput]:
        turn = self.broker.open_turn(request)
        try:
            try:
                async with asyncio.timeout(self.broker.claim_timeout_s):  # keeps a cancel
                    await turn.claimed.wait()
            except TimeoutError:
                raise ProviderError(
                    f"no client claimed the turn within {self.broker.claim_timeout_s:g} s",
                    transient=True,
                ) from None
            while True:
                item = await turn.outputs.get()
                if item is _DONE:
                    return
                if isinstance(item, ProviderError):
                    raise item
                assert isinstance(item, TextDelta | ToolProposal)
                yield item
                if isinstance(item, ToolProposal):
                    return
        finally:
            self.broker.close_turn(request.turn_id)
