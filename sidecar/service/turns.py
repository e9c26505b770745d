"""The turn engine: the sidecar, not the webview, runs every chat turn (CONTRACT §4).

A client only dispatches actions (``send_message``, ``approve_tools``, ``cancel``, ``retry``) and
renders what the store announces. The engine drives each turn through its states and persists
every transition itself — in one journal record with the messages it touches — before the event
is published and before the action is answered. Streaming growth goes through
:class:`~sidecar.service.streaming.ContentWriter` (durable within one fsync). So a reply keeps
being written while windows reload, and a crash loses nothing acknowledged: on the next start an
unfinished turn is ``interrupted`` with its partial content kept, and ``retry`` writes it anew.

Concurrency: actions on one conversation are serialised by the engine's per-conversation lock.
While a turn runs, one *driver* task owns its transitions; the only thing an action may do to a
running turn is stop it (cancel, or shutdown), by cancelling the driver's current *work* (the
provider stream, the tool calls) — never a transition, so a write is never half-made.
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
from ..providers.external import ExternalBroker
from ..store import (
    UNSET,
    Conflict,
    NewMessage,
    NotFound,
    Request,
    Store,
    Unset,
    ValidationFailed,
)
from ..store.ids import check_id, new_id
from ..store.model import UNFINISHED_TURN_STATES, check_branch_name, check_content
from ..store.timeutil import now_iso
from ..tools import ToolError, ToolRegistry
from .streaming import ContentWriter

log = logging.getLogger(__name__)

Doc = dict[str, Any]

#: States that need a live process; found at start, they mean the last one died mid-turn.
LIVE: Final = ("streaming", "executing_tools", "transient_failure")
RETRYABLE: Final = ("permanent_failure", "interrupted", "cancelled")
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
class _Run:
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
Phase = Callable[[_Run], Awaitable[None]]


def _attempt(number: int) -> Doc:
    return {"number": number, "started_at": now_iso(), "ended_at": None, "outcome": None}


def _end_attempt(turn: Doc, outcome: str, error: Doc | None = None) -> list[Doc]:
    attempts = [dict(a) for a in turn.get("attempts") or []]
    if attempts and attempts[-1].get("ended_at") is None:
        attempts[-1].update(ended_at=now_iso(), outcome=outcome)
        if error is not None:
            attempts[-1]["error"] = error
    return attempts


def _conflict_state(turn: Doc, action: str) -> Conflict:
    state = turn["state"]
    return Conflict(
        f"cannot {action} turn '{turn['id']}': it is {state}",
        details={"state": state, "turn": turn},
    )


class TurnEngine:
    def __init__(
        self,
        store: Store,
        provider: Provider,
        tools: ToolRegistry,
        config: TurnConfig | None = None,
        *,
        broker: ExternalBroker | None = None,
    ) -> None:
        self.store = store
        self.provider = provider
        self.tools = tools
        self.config = config or TurnConfig()
        self.broker = broker
        self._runs: dict[str, _Run] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> list[str]:
        """Mark turns a previous process left running as ``interrupted`` (partial content kept).

        Returns the ids of the turns marked. ``awaiting_tool_approval`` survives a restart: it
        waits for the user, not for this process.
        """
        marked: list[str] = []
        for conversation_id in self.store.conversations_in_state(LIVE):
            try:
                turns = await self.store.list_turns(conversation_id)
            except NotFound:
                continue
            for turn in turns:
                if turn["state"] in LIVE:
                    await self._finish(
                        conversation_id,
                        turn,
                        "interrupted",
                        error=dict(INTERRUPTED),
                    )
                    marked.append(turn["id"])
        if marked:
            log.info("marked %d unfinished turn(s) as interrupted", len(marked))
        return marked

    async def close(self, timeout_s: float = 5.0) -> None:
        """Stop every running turn as ``interrupted``, persisted before the store closes."""
        runs = list(self._runs.values())
        for run in runs:
            run.halt("interrupted")
        drivers = [run.driver for run in runs if run.driver is not None]
        if drivers:
            await asyncio.wait(drivers, timeout=timeout_s)

    @property
    def running(self) -> int:
        return len(self._runs)

    def _lock(self, conversation_id: str) -> asyncio.Lock:
        return self._locks.setdefault(conversation_id, asyncio.Lock())

    # ------------------------------------------------------------------ actions

    async def send_message(
        self,
        conversation_id: str,
        *,
        content: object,
        client_message_id: object = None,
        parent_id: str | Unset | None = UNSET,
        branch: object = None,
    ) -> tuple[Doc, bool]:
        """Add the user's message and start the turn; ``({message, turn}, created)``.

        A repeated ``client_message_id`` with the same fields answers with the first message
        and its turn, never a second turn.
        """
        text = check_content(content)
        cmid = (
            None if client_message_id is None else check_id(client_message_id, "client_message_id")
        )
        if branch is not None:
            branch = check_branch_name(branch)
        turn_id, user_id, assistant_id = new_id(), new_id(), new_id()
        now = now_iso()
        turn: Doc = {
            "id": turn_id,
            "conversation_id": conversation_id,
            "user_message_id": user_id,
            "assistant_message_id": assistant_id,
            "state": "streaming",
            "attempts": [_attempt(1)],
            "error": None,
            "created_at": now,
            "updated_at": now,
        }

        def one_at_a_time(conversation: Doc) -> None:
            if conversation.get("state") in UNFINISHED_TURN_STATES:
                raise Conflict(
                    f"conversation '{conversation_id}' has a turn that is {conversation['state']}",
                    details={"state": conversation["state"]},
                )

        async with self._lock(conversation_id):
            step = await self.store.write_turn(
                conversation_id,
                turn,
                add=[
                    NewMessage(user_id, "user", text, turn_id=turn_id, client_message_id=cmid),
                    NewMessage(assistant_id, "assistant", "", "streaming", turn_id=turn_id),
                ],
                parent_id=parent_id,
                branch=branch,
                guard=one_at_a_time,
            )
            message = step.messages[0]
            if not step.created:
                return {"message": message, "turn": step.turn}, False
            assert step.turn is not None
            self._launch(conversation_id, step.turn, self._reply)
            return {"message": message, "turn": step.turn}, True

    async def approve_tools(
        self,
        conversation_id: str,
        turn_id: object,
        decisions: object,
        *,
        request_id: object = None,
    ) -> Doc:
        """Record the user's decision on each proposed tool call; run them once all are decided."""
        checked_turn_id = check_id(turn_id, "turn_id")
        parsed = _parse_decisions(decisions)
        request = Request.of(
            request_id, "approve_tools", {"turn_id": checked_turn_id, "decisions": parsed}
        )
        async with self._lock(conversation_id):
            if (answer := await self.store.recall(conversation_id, request)) is not None:
                return answer
            turn = await self.store.get_turn(conversation_id, checked_turn_id)
            if turn["state"] != "awaiting_tool_approval":
                raise _conflict_state(turn, "approve tools of")
            message = await self.store.get_message(conversation_id, turn["assistant_message_id"])
            calls = [dict(call) for call in message.get("tool_calls") or []]
            by_id = {call["id"]: call for call in calls}
            for index, decision in enumerate(parsed):
                call = by_id.get(decision["tool_call_id"])
                if call is None:
                    raise ValidationFailed(
                        f"decisions[{index}].tool_call_id",
                        f"turn '{checked_turn_id}' has no tool call '{decision['tool_call_id']}'",
                    )
                if call["status"] != "pending":
                    raise Conflict(
                        f"tool call '{call['id']}' was already {call['status']}",
                        details={"tool_call": call},
                    )
                if decision["approved"]:
                    call["status"] = "approved"
                else:
                    call["status"] = "denied"
                    call["error"] = decision.get("reason") or "denied by the user"
            decided = all(call["status"] != "pending" for call in calls)
            if decided:
                for call in calls:
                    if call["status"] == "approved":
                        call["status"] = "running"
            new_turn = {**turn, "state": "executing_tools" if decided else turn["state"]}
            step = await self.store.write_turn(
                conversation_id,
                new_turn,
                update=[{"id": message["id"], "tool_calls": calls}],
                request=request,
            )
            assert step.turn is not None
            if decided:
                self._launch(conversation_id, step.turn, self._run_tools)
            return step.turn

    async def cancel(
        self, conversation_id: str, turn_id: object, *, request_id: object = None
    ) -> Doc:
        """Stop the turn (within 100 ms for a streaming reply); partial content kept, ``cancelled``."""
        checked_turn_id = check_id(turn_id, "turn_id")
        request = Request.of(request_id, "cancel", {"turn_id": checked_turn_id})
        async with self._lock(conversation_id):
            if (answer := await self.store.recall(conversation_id, request)) is not None:
                return answer
            turn = await self.store.get_turn(conversation_id, checked_turn_id)
            if turn["state"] not in UNFINISHED_TURN_STATES:
                raise _conflict_state(turn, "cancel")
            run = self._runs.get(checked_turn_id)
            if run is not None and run.driver is not None:
                run.halt("cancelled")
                await asyncio.wait([run.driver])
                turn = await self.store.get_turn(conversation_id, checked_turn_id)
                if turn["state"] != "cancelled":
                    raise _conflict_state(turn, "cancel")
                return await self._remember(conversation_id, turn, request)
            return await self._finish(conversation_id, turn, "cancelled", request=request)

    async def retry(
        self, conversation_id: str, turn_id: object, *, request_id: object = None
    ) -> Doc:
        """Write the reply anew: a new assistant message takes the failed one's place on the
        active branch, and the failed one is kept, unchanged, on a new branch."""
        checked_turn_id = check_id(turn_id, "turn_id")
        request = Request.of(request_id, "retry", {"turn_id": checked_turn_id})
        async with self._lock(conversation_id):
            if (answer := await self.store.recall(conversation_id, request)) is not None:
                return answer
            turn = await self.store.get_turn(conversation_id, checked_turn_id)
            if turn["state"] not in RETRYABLE:
                raise _conflict_state(turn, "retry")
            assistant_id = new_id()
            attempts = [dict(a) for a in turn.get("attempts") or []]
            attempts.append(_attempt(len(attempts) + 1))
            new_turn = {
                **turn,
                "state": "streaming",
                "assistant_message_id": assistant_id,
                "attempts": attempts,
                "error": None,
            }
            step = await self.store.write_turn(
                conversation_id,
                new_turn,
                add=[NewMessage(assistant_id, "assistant", "", "streaming", turn_id=turn["id"])],
                retire_head=turn["assistant_message_id"],
                request=request,
            )
            assert step.turn is not None
            self._launch(conversation_id, step.turn, self._reply)
            return step.turn

    async def submit_tool_results(self, turn_id: object, results: object) -> Doc:
        """Results of tools the extension host ran (``turns.submitToolResults``).

        Accepted as soon as the turn is ``executing_tools``, even before the engine starts
        waiting for them; each call takes one result.
        """
        checked_turn_id = check_id(turn_id, "turn_id")
        run = self._runs.get(checked_turn_id)
        if run is None or run.turn["state"] != "executing_tools":
            raise NotFound(f"turn '{checked_turn_id}' is not waiting for tool results")
        if not isinstance(results, list) or not results:
            raise ValidationFailed("results", "results must be a non-empty list")
        proposer = await self.store.get_message(
            run.conversation_id, run.turn["assistant_message_id"]
        )
        waiting = {
            call["id"]
            for call in proposer.get("tool_calls") or []
            if call["status"] == "running" and self.tools.get(call["name"]) is None
        }
        accepted = []
        for index, result in enumerate(results):
            if not isinstance(result, dict) or not isinstance(result.get("tool_call_id"), str):
                raise ValidationFailed(f"results[{index}].tool_call_id", "needs a tool_call_id")
            future = self._result_of(run, result["tool_call_id"])
            if result["tool_call_id"] not in waiting or future.done():
                raise ValidationFailed(
                    f"results[{index}].tool_call_id",
                    f"tool call '{result['tool_call_id']}' is not waiting for a result",
                )
            accepted.append((future, result))
        for future, result in accepted:
            future.set_result(result)
        return run.turn

    @staticmethod
    def _result_of(run: _Run, call_id: str) -> asyncio.Future[Doc]:
        """Where the extension host's result for a call lands (made by whoever comes first)."""
        if call_id not in run.tool_results:
            run.tool_results[call_id] = asyncio.get_running_loop().create_future()
        return run.tool_results[call_id]

    # ------------------------------------------------------------------ the driver

    def _launch(self, conversation_id: str, turn: Doc, phase: Phase) -> None:
        run = _Run(conversation_id, turn)
        self._runs[turn["id"]] = run
        run.driver = asyncio.create_task(self._drive(run, phase), name=f"turn-{turn['id']}")

    async def _drive(self, run: _Run, phase: Phase) -> None:
        try:
            await phase(run)
            while run.turn["state"] == "streaming":
                await self._reply(run)
        except Exception:
            # The store refused a write (disk full) or a bug: the turn stays in its last durable
            # state, and the next start marks it interrupted. Never a half-written transition.
            log.exception("turn %s stopped unexpectedly", run.turn["id"])
        finally:
            self._runs.pop(run.turn["id"], None)

    async def _step(self, run: _Run, turn: Doc, **changes: Any) -> None:
        step = await self.store.write_turn(run.conversation_id, turn, **changes)
        assert step.turn is not None
        run.turn = step.turn

    async def _reply(self, run: _Run) -> None:
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
                    {**turn, "state": "completed", "attempts": _end_attempt(turn, "completed")},
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

    async def _failed(self, run: _Run, assistant_id: str, error: ProviderError) -> None:
        turn = run.turn
        if error.transient and run.call_attempts < self.config.retry_attempts:
            await self._step(
                run,
                {
                    **turn,
                    "state": "transient_failure",
                    "error": error.to_json(),
                    "attempts": _end_attempt(turn, "transient_failure", error.to_json()),
                },
                update=[{"id": assistant_id, "content": ""}],
            )
            delay = min(
                self.config.retry_max_delay_s,
                self.config.retry_base_delay_s * 2 ** (run.call_attempts - 1),
            ) * random.uniform(0.5, 1.5)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(run.stopped.wait(), delay)
            if run.stop is not None:
                await self._stopped(run)
                return
            run.call_attempts += 1
            turn = run.turn
            attempts = [*turn["attempts"], _attempt(len(turn["attempts"]) + 1)]
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
                "attempts": _end_attempt(turn, "permanent_failure", error.to_json()),
            },
            update=[{"id": assistant_id, "status": "failed"}],
        )

    async def _stopped(self, run: _Run) -> None:
        reason = run.stop or "interrupted"
        error = dict(INTERRUPTED) if reason == "interrupted" else None
        run.turn = await self._finish(run.conversation_id, run.turn, reason, error=error)

    async def _finish(
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
            {**turn, "state": state, "error": error, "attempts": _end_attempt(turn, state)},
            update=update,
            request=request,
        )
        assert step.turn is not None
        return step.turn

    async def _remember(self, conversation_id: str, turn: Doc, request: Request | None) -> Doc:
        """Tie a ``request_id`` to a turn whose transition another task wrote."""
        if request is None:
            return turn
        step = await self.store.write_turn(conversation_id, turn, request=request)
        assert step.turn is not None
        return step.turn

    # ------------------------------------------------------------------ tools

    async def _propose(
        self, run: _Run, assistant_id: str, proposal: ToolProposal, cost: Doc
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
                "attempts": _end_attempt(turn, "tool_calls"),
            },
            update=[{"id": assistant_id, "status": "complete", "tool_calls": calls, **cost}],
            approval=None if automatic else asking,
        )
        if automatic:
            await self._run_tools(run)

    async def _run_tools(self, run: _Run) -> None:
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
        attempts = [*turn["attempts"], _attempt(len(turn["attempts"]) + 1)]
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

    async def _execute(self, run: _Run, calls: list[Doc]) -> None:
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

    async def _call_tool(self, run: _Run, call: Doc) -> Any:
        tool = self.tools.get(call["name"])
        if tool is not None:
            return await tool.run(call.get("arguments") or {})
        # Not ours: the extension host runs it and answers with turns.submitToolResults.
        answer = await asyncio.shield(self._result_of(run, call["id"]))
        if answer.get("error"):
            raise ToolError(str(answer["error"]))
        return answer.get("result")


def _usage_update(message: Doc, usage: Usage | None) -> Doc:
    """The message change that records a model call's cost (``metadata.usage``), if reported."""
    if usage is None:
        return {}
    return {"metadata": {**(message.get("metadata") or {}), "usage": usage.to_json()}}


def _parse_decisions(decisions: object) -> list[Doc]:
    if not isinstance(decisions, list) or not decisions:
        raise ValidationFailed("decisions", "decisions must be a non-empty list")
    parsed = []
    for index, decision in enumerate(decisions):
        where = f"decisions[{index}]"
        if not isinstance(decision, dict):
            raise ValidationFailed(where, "each decision must be an object")
        unknown = sorted(set(decision) - {"tool_call_id", "approved", "reason"})
        if unknown:
            raise ValidationFailed(f"{where}.{unknown[0]}", f"unknown field '{unknown[0]}'")
        call_id = decision.get("tool_call_id")
        if not isinstance(call_id, str) or not 1 <= len(call_id) <= 256:
            raise ValidationFailed(f"{where}.tool_call_id", "tool_call_id must be a string")
        if not isinstance(decision.get("approved"), bool):
            raise ValidationFailed(f"{where}.approved", "approved must be true or false")
        reason = decision.get("reason")
        if reason is not None and (not isinstance(reason, str) or len(reason) > 1000):
            raise ValidationFailed(f"{where}.reason", "reason must be a string of at most 1000")
        parsed.append({"tool_call_id": call_id, "approved": decision["approved"], "reason": reason})
    return parsed


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
