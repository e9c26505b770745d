"""The ``external`` provider: an extension host claims the turn and writes the reply.

The RPC face (``turns.claim`` ...) is a thin layer over the broker used here; these tests drive the
broker as that layer does, against the real engine, store and HTTP app.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from sidecar.store import Conflict
from tests.turns.conftest import Sidecar, SidecarFactory

Announcements = asyncio.Queue[dict[str, Any]]


async def external(make_sidecar: SidecarFactory, **settings: Any) -> tuple[Sidecar, Announcements]:
    sidecar = await make_sidecar(provider="external", **settings)
    announced: Announcements = asyncio.Queue()
    assert sidecar.engine.broker is not None
    sidecar.engine.broker.on_request(announced.put_nowait)
    return sidecar, announced


async def announcement(announced: Announcements) -> dict[str, Any]:
    return await asyncio.wait_for(announced.get(), 5)


async def test_a_claimed_turn_is_written_by_the_client(make_sidecar: SidecarFactory) -> None:
    sidecar, announced = await external(make_sidecar)
    broker = sidecar.engine.broker
    assert broker is not None
    cid = await sidecar.conversation()
    sent = await sidecar.send(cid, "write me a haiku")
    request = await announcement(announced)
    assert request["turn_id"] == sent["turn"]["id"]
    assert [(m["role"], m["content"]) for m in request["messages"]] == [
        ("user", "write me a haiku")
    ]
    broker.claim(request["turn_id"], "host-1")
    with pytest.raises(Conflict):
        broker.claim(request["turn_id"], "host-2")
    for piece in ("old pond, ", "a frog jumps ", "in"):
        broker.push_delta(request["turn_id"], "host-1", piece)
    broker.complete(request["turn_id"], "host-1")
    await sidecar.wait_state(cid, sent["turn"]["id"], "completed")
    reply = (await sidecar.get(cid))["messages"][-1]
    assert (reply["content"], reply["status"]) == ("old pond, a frog jumps in", "complete")


async def test_an_unclaimed_turn_fails_transiently_then_permanently(
    make_sidecar: SidecarFactory,
) -> None:
    sidecar, announced = await external(make_sidecar, external_claim_timeout=0.05, retry_attempts=2)
    cid = await sidecar.conversation()
    sent = await sidecar.send(cid, "anyone?")
    turn = await sidecar.wait_state(cid, sent["turn"]["id"], "permanent_failure")
    assert [a["outcome"] for a in turn["attempts"]] == ["transient_failure", "permanent_failure"]
    assert "no client claimed" in turn["error"]["message"]
    assert announced.qsize() == 2


async def test_a_claimer_that_disconnects_fails_the_attempt_and_another_can_finish(
    make_sidecar: SidecarFactory,
) -> None:
    sidecar, announced = await external(make_sidecar)
    broker = sidecar.engine.broker
    assert broker is not None
    cid = await sidecar.conversation()
    sent = await sidecar.send(cid, "hello")
    first = await announcement(announced)
    broker.claim(first["turn_id"], "window-1")
    broker.push_delta(first["turn_id"], "window-1", "half a rep")
    broker.client_gone("window-1")
    second = await announcement(announced)
    broker.claim(second["turn_id"], "window-2")
    broker.push_delta(second["turn_id"], "window-2", "a whole reply")
    broker.complete(second["turn_id"], "window-2")
    turn = await sidecar.wait_state(cid, sent["turn"]["id"], "completed")
    assert [a["outcome"] for a in turn["attempts"]] == ["transient_failure", "completed"]
    assert (await sidecar.get(cid))["messages"][-1]["content"] == "a whole reply"


async def test_tools_the_extension_host_runs_come_back_as_results(
    make_sidecar: SidecarFactory,
) -> None:
    sidecar, announced = await external(make_sidecar)
    broker = sidecar.engine.broker
    assert broker is not None
    sidecar.engine.tools.register("host", [{"name": "editor.open"}])
    cid = await sidecar.conversation()
    sent = await sidecar.send(cid, "open the readme")
    request = await announcement(announced)
    broker.claim(request["turn_id"], "host")
    broker.propose_tools(
        request["turn_id"],
        "host",
        [{"id": "call_1", "name": "editor.open", "arguments": {"path": "README.md"}}],
    )
    turn_id = sent["turn"]["id"]
    await sidecar.wait_state(cid, turn_id, "awaiting_tool_approval")
    await sidecar.action(
        cid,
        "approve_tools",
        {"turn_id": turn_id, "decisions": [{"tool_call_id": "call_1", "approved": True}]},
    )
    await sidecar.wait_state(cid, turn_id, "executing_tools")
    await sidecar.engine.submit_tool_results(
        turn_id, [{"tool_call_id": "call_1", "result": {"opened": True}}]
    )
    follow_up = await announcement(announced)
    assert [m["role"] for m in follow_up["messages"]] == ["user", "assistant", "tool"]
    assert follow_up["messages"][2]["content"] == '{"opened":true}'
    broker.claim(follow_up["turn_id"], "host")
    broker.push_delta(follow_up["turn_id"], "host", "Opened README.md.")
    broker.complete(follow_up["turn_id"], "host")
    await sidecar.wait_state(cid, turn_id, "completed")
    messages = (await sidecar.get(cid))["messages"]
    assert messages[1]["tool_calls"][0]["status"] == "succeeded"
    assert messages[-1]["content"] == "Opened README.md."
