"""The turn engine: the sidecar, not the webview, runs every chat turn (CONTRACT §4).

A client only dispatches actions (``send_message``, ``approve_tools``, ``cancel``, ``retry``) and
renders what the store announces. The engine drives each turn through its states and persists
every transition itself — in one journal record with the messages it touches — before the event
is published and before the action is answered. Streaming growth goes through
:class:`~sidecar.service.streaming.ContentWriter` (durable within one fsync). So a reply keeps
being written while windows reload, and a crash loses nothing acknowledged: on the next start an
unfinished turn is ``interrupted`` with its partial content kept, and ``retry`` writes it anew.

Concurrency: actions on one conversation are serialised by the engine's per-conversation lock.
While a turn runs, one *driver* task (:mod:`.turn_driver`) owns its transitions; the only thing an action may do to a
running turn is stop it (cancel, or shutdown), by cancelling the driver's current *work* (the
provider stream, the tool calls) — never a transition, so a write is never half-made.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Final

from ..providers import Provider
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
from ..tools import ToolRegistry
from .turn_driver import INTERRUPTED, TurnConfig, TurnDriver, new_attempt

#: The engine and the settings it is built with (defined next to the driver that reads them).
__all__ = ["TurnConfig", "TurnEngine"]

log = logging.getLogger(__name__)

Doc = dict[str, Any]

#: States that need a live process; found at start, they mean the last one died mid-turn.
LIVE: Final = ("streaming", "executing_tools", "transient_failure")
RETRYABLE: Final = ("permanent_failure", "interrupted", "cancelled")


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
        self._driver = TurnDriver(store, provider, tools, self.config)
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
                    await self._driver.finish(
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
        runs = list(self._driver.runs.values())
        for run in runs:
            run.halt("interrupted")
        drivers = [run.driver for run in runs if run.driver is not None]
        if drivers:
            await asyncio.wait(drivers, timeout=timeout_s)

    @property
    def running(self) -> int:
        return len(self._driver.runs)

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
            "attempts": [new_attempt(1)],
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
            self._driver.launch(conversation_id, step.turn, self._driver.reply)
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
                self._driver.launch(conversation_id, step.turn, self._driver.run_tools)
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
            run = self._driver.runs.get(checked_turn_id)
            if run is not None and run.driver is not None:
                run.halt("cancelled")
                await asyncio.wait([run.driver])
                turn = await self.store.get_turn(conversation_id, checked_turn_id)
                if turn["state"] != "cancelled":
                    raise _conflict_state(turn, "cancel")
                return await self._remember(conversation_id, turn, request)
            return await self._driver.finish(conversation_id, turn, "cancelled", request=request)

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
            attempts.append(new_attempt(len(attempts) + 1))
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
            self._driver.launch(conversation_id, step.turn, self._driver.reply)
            return step.turn

    async def submit_tool_results(self, turn_id: object, results: object) -> Doc:
        """Results of tools the extension host ran (``turns.submitToolResults``).

        Accepted as soon as the turn is ``executing_tools``, even before the engine starts
        waiting for them; each call takes one result.
        """
        checked_turn_id = check_id(turn_id, "turn_id")
        run = self._driver.runs.get(checked_turn_id)
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
            future = self._driver.result_of(run, result["tool_call_id"])
            if result["tool_call_id"] not in waiting or future.done():
                raise ValidationFailed(
                    f"results[{index}].tool_call_id",
                    f"tool call '{result['tool_call_id']}' is not waiting for a result",
                )
            accepted.append((future, result))
        for future, result in accepted:
            future.set_result(result)
        return run.turn

    async def _remember(self, conversation_id: str, turn: Doc, request: Request | None) -> Doc:
        """Tie a ``request_id`` to a turn whose transition another task wrote."""
        if request is None:
            return turn
        step = await self.store.write_turn(conversation_id, turn, request=request)
        assert step.turn is not None
        return step.turn


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
