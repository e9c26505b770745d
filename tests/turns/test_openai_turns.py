"""The ``openai`` provider against a scripted OpenAI-compatible server (real HTTP streaming)."""

from __future__ import annotations

import resource
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from tests.turns.conftest import Sidecar, SidecarFactory, until
from tests.turns.fake_openai import FakeOpenAI, Step


@pytest.fixture
async def fake(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> FakeOpenAI:
    model = FakeOpenAI()
    server = await aiohttp_server(model.app())
    model.base_url = str(server.make_url("/v1"))
    return model


async def openai_sidecar(
    make_sidecar: SidecarFactory, fake: FakeOpenAI, **settings: Any
) -> Sidecar:
    return await make_sidecar(
        provider="openai",
        openai_base_url=fake.base_url,
        openai_model="test-model",
        openai_api_key="sk-test",
        **settings,
    )


async def test_a_streamed_reply_is_persisted_and_the_history_is_sent(
    make_sidecar: SidecarFactory, fake: FakeOpenAI
) -> None:
    fake.script += [Step("text", "Hello there, human."), Step("text", "Second answer.")]
    sidecar = await openai_sidecar(make_sidecar, fake)
    cid = await sidecar.conversation()
    first = await sidecar.send(cid, "hi")
    await sidecar.wait_state(cid, first["turn"]["id"], "completed")
    second = await sidecar.send(cid, "and again")
    await sidecar.wait_state(cid, second["turn"]["id"], "completed")
    messages = (await sidecar.get(cid))["messages"]
    assert [m["content"] for m in messages] == [
        "hi",
        "Hello there, human.",
        "and again",
        "Second answer.",
    ]
    last = fake.requests[-1]
    assert last["model"] == "test-model" and last["stream"] is True
    assert [(m["role"], m["content"]) for m in last["messages"]] == [
        ("user", "hi"),
        ("assistant", "Hello there, human."),
        ("user", "and again"),
    ]
    assert {t["function"]["name"] for t in last["tools"]} == {"clock", "calculator"}
    assert fake.headers[-1]["Authorization"] == "Bearer sk-test"


async def test_a_tool_call_in_the_api_format_round_trips(
    make_sidecar: SidecarFactory, fake: FakeOpenAI
) -> None:
    call = {"id": "call_abc", "name": "calculator", "arguments": {"expression": "2+3"}}
    fake.script += [Step("tool", "Let me compute.", tool=call), Step("text", "It is 5.")]
    sidecar = await openai_sidecar(make_sidecar, fake)
    cid = await sidecar.conversation()
    sent = await sidecar.send(cid, "what is 2+3?")
    turn = await sidecar.wait_state(cid, sent["turn"]["id"], "awaiting_tool_approval")
    proposer = (await sidecar.get(cid))["messages"][-1]
    assert proposer["content"] == "Let me compute."
    assert proposer["tool_calls"][0]["id"] == "call_abc"
    assert proposer["tool_calls"][0]["arguments"] == {"expression": "2+3"}
    await sidecar.action(
        cid,
        "approve_tools",
        {"turn_id": turn["id"], "decisions": [{"tool_call_id": "call_abc", "approved": True}]},
    )
    await sidecar.wait_state(cid, turn["id"], "completed")
    history = fake.requests[-1]["messages"]
    assert history[1]["tool_calls"][0]["function"] == {
        "name": "calculator",
        "arguments": '{"expression":"2+3"}',
    }
    assert history[2]["role"] == "tool" and history[2]["tool_call_id"] == "call_abc"
    assert '"value":5' in history[2]["content"]
    assert (await sidecar.get(cid))["messages"][-1]["content"] == "It is 5."


async def test_a_500_is_transient_and_retried_with_every_attempt_recorded(
    make_sidecar: SidecarFactory, fake: FakeOpenAI
) -> None:
    fake.script += [Step("status", status=500), Step("text", "recovered")]
    sidecar = await openai_sidecar(make_sidecar, fake)
    cid = await sidecar.conversation()
    stream = await sidecar.stream()
    sent = await sidecar.send(cid, "hi")
    turn = await sidecar.wait_state(cid, sent["turn"]["id"], "completed")
    assert [a["outcome"] for a in turn["attempts"]] == ["transient_failure", "completed"]
    assert turn["attempts"][0]["error"]["status"] == 500
    assert turn["error"] is None, "a turn that recovered carries no error"
    assert (await sidecar.get(cid))["messages"][-1]["content"] == "recovered"
    seen = await until(stream, "turn.state", state="completed")
    states = [e["data"]["state"] for e in seen if e["event"] == "turn.state"]
    assert states == ["streaming", "transient_failure", "streaming", "completed"]


async def test_a_cut_mid_stream_is_retried_from_a_clean_reply(
    make_sidecar: SidecarFactory, fake: FakeOpenAI
) -> None:
    fake.script += [Step("cut", "partial words that"), Step("text", "whole answer")]
    sidecar = await openai_sidecar(make_sidecar, fake)
    cid = await sidecar.conversation()
    sent = await sidecar.send(cid, "hi")
    turn = await sidecar.wait_state(cid, sent["turn"]["id"], "completed")
    assert [a["outcome"] for a in turn["attempts"]] == ["transient_failure", "completed"]
    reply = (await sidecar.get(cid))["messages"][-1]
    assert reply["content"] == "whole answer"


async def test_a_timeout_is_transient_and_spent_retries_are_permanent(
    make_sidecar: SidecarFactory, fake: FakeOpenAI
) -> None:
    fake.script += [Step("hang"), Step("status", status=429), Step("status", status=503)]
    sidecar = await openai_sidecar(make_sidecar, fake, provider_timeout=0.3, retry_attempts=3)
    cid = await sidecar.conversation()
    sent = await sidecar.send(cid, "hi")
    turn = await sidecar.wait_state(cid, sent["turn"]["id"], "permanent_failure")
    assert [a["outcome"] for a in turn["attempts"]] == ["transient_failure"] * 2 + [
        "permanent_failure"
    ]
    assert "did not answer in time" in turn["attempts"][0]["error"]["message"]
    assert turn["error"]["status"] == 503
    reply = (await sidecar.get(cid))["messages"][-1]
    assert reply["status"] == "failed"
    assert len(fake.requests) == 3


async def test_a_401_is_permanent_at_once_and_retry_by_hand_recovers(
    make_sidecar: SidecarFactory, fake: FakeOpenAI
) -> None:
    fake.script += [Step("status", status=401), Step("text", "now it works")]
    sidecar = await openai_sidecar(make_sidecar, fake)
    cid = await sidecar.conversation()
    sent = await sidecar.send(cid, "hi")
    turn = await sidecar.wait_state(cid, sent["turn"]["id"], "permanent_failure")
    assert len(turn["attempts"]) == 1 and turn["error"]["status"] == 401
    assert turn["error"]["transient"] is False
    failed_id = turn["assistant_message_id"]
    await sidecar.action(cid, "retry", {"turn_id": turn["id"]})
    done = await sidecar.wait_state(cid, turn["id"], "completed")
    assert done["error"] is None
    messages = (await sidecar.get(cid))["messages"]
    assert [m["content"] for m in messages] == ["hi", "now it works"]
    failed = await sidecar.store.get_message(cid, failed_id)
    assert failed["status"] == "failed"


async def test_a_gzip_bomb_error_body_is_read_only_in_part(
    make_sidecar: SidecarFactory, fake: FakeOpenAI
) -> None:
    """An endpoint that answers 401 with 1 GiB of zeros (1 MiB gzip'd) fails the turn at once,
    without the sidecar inflating the body whole (its peak memory would grow by a gigabyte)."""
    fake.script += [Step("bomb", status=401)]
    sidecar = await openai_sidecar(make_sidecar, fake)
    cid = await sidecar.conversation()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    sent = await sidecar.send(cid, "hi")
    turn = await sidecar.wait_state(cid, sent["turn"]["id"], "permanent_failure")
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert turn["error"]["status"] == 401 and turn["error"]["transient"] is False
    assert grown_mib < 100, f"peak memory grew by {grown_mib:.0f} MiB reading an error body"
