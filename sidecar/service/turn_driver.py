"""The driver of a chat turn: model calls, automatic retries and tool calls, one task per turn.

It persists every transition itself (one journal record with the messages it touches) and streams
a reply through :class:`~sidecar.service.streaming.ContentWriter`, so what it wrote survives a
crash; :class:`~sidecar.service.turns.TurnEngine` decides when a run starts and asks it to stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from ..providers import (
    Provider,
    ProviderError,
    ProviderOutput,
    ReplyRequest,
    TextDelta,
    ToolProposal,
    Usage,
)
from ..store import NewMessage, NotFound, Request, Store
from ..store.ids import new_id
from ..store.timeutil import now_iso
from ..tools import ToolError, ToolRegistry
from .streaming import ContentWriter

log = logging.getLogger(__name__)

Doc = dict[str, Any]

#: The error of a turn that a stopping (or dead) sidecar left unfinished.
INTERRUPTED: Final[Doc] = {"code": "interrupted", "message": "the sidecar stopped mid-turn"}


@dataclass(frozen=True, slots=True)
class TurnConfig:
    """The engine's share of the settings table."""

    retry_attempts: int = 3
    retry_base_delay_s: float = 0.5
    retry_max_delay_s: float = 30.0
    tool_timeout_s: float = 60.0
    history_limit: int = 200


@dataclass(slots=True)
class Run:
    """A turn this process is driving: its latest stored state and what can stop it."""

    conversation_id: str
    turn: Doc
    driver: asyncio.Task[None] | None = None
    work: asyncio.Task[Any] | None = None
    stop: str | None = None  # "cancelled" or "interrupted" once asked to stop
    stopped: asyncio.Event = field(default_factory=asyncio.Event)
    call_attempts: int = 1  # attempts of the current model call (resets after tools)
    tool_results: dict[str, asyncio.Future[Doc]] = field(default_factory=dict)

    def halt(self, reason: str) -> None:
        if self.stop is None:
            self.stop = reason
        self.stopped.set()
        if self.work is not None:
            self.work.cancel()


#: What a driver does first: stream a reply, or run the approved tools (then stream the next).
Phase = Callable[[Run], Awaitable[None]]


def new_attempt(number: int) -> Doc:
    """A turn's next model call, as its ``attempts`` list records it."""
    return {"number": number, "started_at": now_iso(), "ended_at": None, "outcome": None}


def end_attempt(turn: Doc, outcome: str, error: Doc | None = None) -> list[Doc]:
    """The turn's attempts with the open one closed as ``outcome`` (a copy: turns are values)."""
    attempts = [dict(a) for a in turn.get("attempts") or []]
    if attempts and attempts[-1].get("ended_at") is None:
        attempts[-1].update(ended_at=now_iso(), outcome=outcome)
        if error is not None:
            attempts[-1]["error"] = error
    return attempts


class TurnDriver:
    """Runs the turns this process drives: one task per turn owns all of its transitions.

    The engine launches a run after the transition that starts it (a new or retried reply, or
    approved tools) and stops one through :meth:`Run.halt`; everything in between, model calls,
    automatic retries and tool calls, happens here.
    """

    def __init__(
        self, store: Store, provider: Provider, tools: ToolRegistry, config: TurnConfig
    ) -> None:
        self.store = store
        self.provider = provider
        self.tools = tools
        self.config = config
        #: The runs in progress, by turn id.
        self.runs: dict[str, Run] = {}

    @staticmethod
    def result_of(run: Run, call_id: str) -> asyncio.Future[Doc]:
        """Where the extension host's result for a call lands (made by whoever comes first)."""
        if call_id not in run.tool_results:
            run.tool_results[call_id] = asyncio.get_running_loop().create_future()
        return run.tool_results[call_id]

    def launch(self, conversation_id: str, turn: Doc, phase: Phase) -> None:
        run = Run(conversation_id, turn)
        self.runs[turn["id"]] = run
        run.driver = asyncio.create_task(self._drive(run, phase), name=f"turn-{turn['id']}")

    async def _drive(self, run: Run, phase: Phase) -> None:
        try:
            await phase(run)
            while run.turn["state"] == "streaming":
                await self.reply(run)
        except Exception:
            # The store refused a write (disk full) or a bug: the turn stays in its last durable
            # state, and the next start marks it interrupted. Never a half-written transition.
            log.exception("turn %s stopped unexpectedly", run.turn["id"])
        finally:
            self.runs.pop(run.turn["id"], None)

    async def _step(self, run: Run, turn: Doc, **changes: Any) -> None:
        step = await self.store.write_turn(run.conversation_id, turn, **changes)
        assert step.turn is not None
        run.turn = step.turn

    async def reply(self, run: Run) -> None:
        """One model call: stream into the assistant message, then one transition."""
        turn = run.turn
        conversation_id = run.conversation_id
        assistant = await self.store.get_message(conversation_id, turn["assistant_message_id"])
        history = await self.store.path_to(
            conversation_id, str(assistant["parent_id"]), self.config.history_limit
        )
        request = ReplyRequest(conversation_id, turn["id"], history, self.tools.specs())
        writer = ContentWriter(self.store, conversation_id, assistant["id"])
        run.work = asyncio.create_task(self._pump(self.provider.stream(request), writer))
        await asyncio.wait([run.work])
        work, run.work = run.work, None
        await writer.drain()
        if run.stop is not None:
            await self._stopped(run)
            return
        failure = None if work.cancelled() else work.exception()
        if failure is None and not work.cancelled():
            proposal, usage = work.result()
            cost = _usage_update(assistant, usage)
            if proposal is None:
                await self._step(
                    run,
                    {**turn, "state": "completed", "attempts": end_attempt(turn, "completed")},
                    update=[{"id": assistant["id"], "status": "complete", **cost}],
                )
            else:
                await self._propose(run, assistant["id"], proposal, cost)
            return
        error = (
            failure
            if isinstance(failure, ProviderError)
            else ProviderError("the reply could not be written", transient=False)
        )
        if not isinstance(failure, ProviderError):
            log.error("provider %s failed: %r", self.provider.name, failure)
        await self._failed(run, assistant["id"], error)

    @staticmethod
    async def _pump(
        stream: AsyncIterator[ProviderOutput], writer: ContentWriter
    ) -> tuple[ToolProposal | None, Usage | None]:
        proposal: ToolProposal | None = None
        usage: Usage | None = None
        try:
            async for output in stream:
                if isinstance(output, TextDelta):
                    writer.push(output.text)
                elif isinstance(output, Usage):
                    usage = output
                else:
                    proposal = output
        finally:
            close = getattr(stream, "aclose", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    await close()
        return proposal, usage

    async def _failed(self, run: Run, assistant_id: str, error: ProviderError) -> None:
        turn = run.turn
        if error.transient and run.call_attempts < self.config.retry_attempts:
            await self._step(
                run,
                {
                    **turn,
                    "state": "transient_failure",
                    "error": error.to_json(),
                    "attempts": end_attempt(turn, "transient_failure", error.to_json()),
                },
                update=[{"id": assistant_id, "content": ""}],
            )
            delay = min(
                self.config.retry_max_delay_s,
                self.config.retry_base_delay_s * 2 ** (run.call_attempts - 1),
            ) * random.uniform(0.5, 1.5)
            with contextlib.suppress(TimeoutError):  # not wait_for: it can eat a cancel (3.11)
                async with asyncio.timeout(delay):
                    await run.stopped.wait()
            if run.stop is not None:
                await self._stopped(run)
                return
            run.call_attempts += 1
            turn = run.turn
            attempts = [*turn["attempts"], new_attempt(len(turn["attempts"]) + 1)]
            await self._step(
                run, {**turn, "state": "streaming", "attempts": attempts, "error": None}
            )
            return
        await self._step(
            run,
            {
                **turn,
                "state": "permanent_failure",
                "error": error.to_json(),
                "attempts": end_attempt(turn, "permanent_failure", error.to_json()),
            },
            update=[{"id": assistant_id, "status": "failed"}],
        )

    async def _stopped(self, run: Run) -> None:
        reason = run.stop or "interrupted"
        error = dict(INTERRUPTED) if reason == "interrupted" else None
        run.turn = await self.finish(run.conversation_id, run.turn, reason, error=error)

    async def finish(
        self,
        conversation_id: str,
        turn: Doc,
        state: str,
        *,
        error: Doc | None = None,
        request: Request | None = None,
    ) -> Doc:
        """End a turn as cancelled or interrupted; a reply being written keeps its content."""
        update = []
        with contextlib.suppress(NotFound):
            message = await self.store.get_message(conversation_id, turn["assistant_message_id"])
            if message["status"] == "streaming":
                update.append({"id": message["id"], "status": state})
        step = await self.store.write_turn(
            conversation_id,
            {**turn, "state": state, "error": error, "attempts": end_attempt(turn, state)},
            update=update,
            request=request,
        )
        assert step.turn is not None
        return step.turn

    # ------------------------------------------------------------------ tools

    async def _propose(
        self, run: Run, assistant_id: str, proposal: ToolProposal, cost: Doc
    ) -> None:
        calls: list[Doc] = [
            {
                "id": str(call.get("id") or f"call_{new_id()}"),
                "name": str(call["name"]),
                "arguments": call.get("arguments") or {},
                "status": "pending",
                "result": None,
                "error": None,
            }
            for call in proposal.calls
        ]
        for call in calls:
            if not self.tools.known(call["name"]):
                # Nobody can run it: fail now rather than ask the user, then wait for a timeout.
                call.update(status="failed", error=f"unknown tool '{call['name']}'")
        asking = [call for call in calls if call["status"] == "pending"]
        automatic = all(self.tools.auto_approved(call["name"]) for call in asking)
        if automatic:
            for call in asking:
                call["status"] = "running"
        turn = run.turn
        await self._step(
            run,
            {
                **turn,
                "state": "executing_tools" if automatic else "awaiting_tool_approval",
                "attempts": end_attempt(turn, "tool_calls"),
            },
            update=[{"id": assistant_id, "status": "complete", "tool_calls": calls, **cost}],
            approval=None if automatic else asking,
        )
        if automatic:
            await self.run_tools(run)

    async def run_tools(self, run: Run) -> None:
        """Run the approved calls, then hand every result (denials too) back to the model."""
        turn = run.turn
        conversation_id = run.conversation_id
        proposer = await self.store.get_message(conversation_id, turn["assistant_message_id"])
        calls = [dict(call) for call in proposer.get("tool_calls") or []]
        run.work = asyncio.create_task(self._execute(run, calls))
        await asyncio.wait([run.work])
        work, run.work = run.work, None
        if run.stop is not None or work.cancelled():
            await self._stopped(run)
            return
        work.result()
        results = [
            NewMessage(
                new_id(),
                "tool",
                _tool_content(call),
                turn_id=turn["id"],
                tool_call_id=call["id"],
                metadata=_tool_metadata(call),
            )
            for call in calls
        ]
        assistant_id = new_id()
        attempts = [*turn["attempts"], new_attempt(len(turn["attempts"]) + 1)]
        run.call_attempts = 1
        await self._step(
            run,
            {
                **turn,
                "state": "streaming",
                "assistant_message_id": assistant_id,
                "attempts": attempts,
            },
            update=[{"id": proposer["id"], "tool_calls": calls}],
            add=[
                *results,
                NewMessage(assistant_id, "assistant", "", "streaming", turn_id=turn["id"]),
            ],
            parent_id=proposer["id"],
        )

    async def _execute(self, run: Run, calls: list[Doc]) -> None:
        for call in calls:
            if call["status"] != "running":
                continue
            try:
                result = await asyncio.wait_for(
                    self._call_tool(run, call), self.config.tool_timeout_s
                )
                call.update(status="succeeded", result=result, error=None)
            except ToolError as exc:
                call.update(status="failed", error=str(exc))
            except TimeoutError:
                call.update(
                    status="failed", error=f"no result within {self.config.tool_timeout_s:g} s"
                )

    async def _call_tool(self, run: Run, call: Doc) -> Any:
        tool = self.tools.get(call["name"])
        if tool is not None:
            return await tool.run(call.get("arguments") or {})
        # Not ours: the extension host runs it and answers with turns.submitToolResults.
        answer = await asyncio.shield(self.result_of(run, call["id"]))
        if answer.get("error"):
            raise ToolError(str(answer["error"]))
        return answer.get("result")


def _usage_update(message: Doc, usage: Usage | None) -> Doc:
    """The message change that records a model call's cost (``metadata.usage``), if reported."""
    if usage is None:
        return {}
    return {"metadata": {**(message.get("metadata") or {}), "usage": usage.to_json()}}


def _tool_content(call: Doc) -> str:
    if call["status"] == "denied":
        return orjson.dumps({"denied": True, "reason": call.get("error")}).decode()
    if call["status"] == "failed":
        return orjson.dumps({"error": call.get("error")}).decode()
    return orjson.dumps(call.get("result")).decode()


def _tool_metadata(call: Doc) -> Doc:
    metadata: Doc = {"tool_name": call["name"]}
    if call["status"] == "denied":
        metadata.update(denied=True, reason=call.get("error"))
    elif call["status"] == "failed":
        metadata["failed"] = True
    return metadata
