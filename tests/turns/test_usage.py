"""Usage (CONTRACT §4): each assistant message's ``metadata.usage`` where the provider reports
it, and every Conversation object's ``usage`` totals, kept incrementally and across restarts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from aiohttp.test_utils import TestServer

from tests.turns.conftest import SidecarFactory
from tests.turns.fake_openai import FakeOpenAI, Step

ZERO = {"input_tokens": 0, "output_tokens": 0}


@pytest.fixture
async def fake(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> FakeOpenAI:
    model = FakeOpenAI()
    server = await aiohttp_server(model.app())
    model.base_url = str(server.make_url("/v1"))
    return model


async def test_echo_counts_words_and_the_conversation_sums_them(
    make_sidecar: SidecarFactory,
) -> None:
    sidecar = await make_sidecar()
    cid = await sidecar.conversation()
    assert (await sidecar.get(cid))["usage"] == ZERO
    first = await sidecar.send(cid, "one two three")
    await sidecar.wait_state(cid, first["turn"]["id"], "completed")
    second = await sidecar.send(cid, "four five")
    await sidecar.wait_state(cid, second["turn"]["id"], "completed")
    messages = (await sidecar.get(cid))["messages"]
    # Input: the words of every message sent to the provider; output: the reply's words.
    assert messages[1]["metadata"]["usage"] == {
        "model": "echo",
        "input_tokens": 3,
        "output_tokens": 3,
    }
    assert messages[3]["metadata"]["usage"] == {
        "model": "echo",
        "input_tokens": 8,
        "output_tokens": 2,
    }
    assert "usage" not in messages[0]["metadata"]
    totals = {"input_tokens": 11, "output_tokens": 5}
    assert (await sidecar.get(cid))["usage"] == totals
    listed = await sidecar.call("GET", "/api/v1/conversations", status=200)
    assert [c["usage"] for c in listed["items"]] == [totals]

    # Kept in the shard's meta and the catalog: the same after a restart.
    await sidecar.client.close()
    again = await make_sidecar()
    assert (await again.get(cid))["usage"] == totals
    listed = await again.call("GET", "/api/v1/conversations", status=200)
    assert listed["items"][0]["usage"] == totals


async def test_a_tool_proposal_and_the_reply_after_it_are_both_counted(
    make_sidecar: SidecarFactory,
) -> None:
    sidecar = await make_sidecar(tool_auto_approve=("*",))
    cid = await sidecar.conversation()
    sent = await sidecar.send(cid, '/tool calculator {"expression": "1+1"}')
    await sidecar.wait_state(cid, sent["turn"]["id"], "completed")
    messages = (await sidecar.get(cid))["messages"]
    proposer, reply = messages[1], messages[3]
    # The proposal "calculator {"expression":"1+1"}" is two words; the user's message four.
    assert proposer["metadata"]["usage"] == {"model": "echo", "input_tokens": 4, "output_tokens": 2}
    assert reply["metadata"]["usage"]["output_tokens"] == len(reply["content"].split())
    summary = (await sidecar.get(cid))["usage"]
    assert summary == {
        "input_tokens": 4 + reply["metadata"]["usage"]["input_tokens"],
        "output_tokens": 2 + reply["metadata"]["usage"]["output_tokens"],
    }


async def test_a_cancelled_reply_records_no_usage(make_sidecar: SidecarFactory) -> None:
    sidecar = await make_sidecar(echo_delay_ms=50.0)
    cid = await sidecar.conversation()
    sent = await sidecar.send(cid, "a long enough message to cancel midway " * 3)
    await sidecar.wait_content(cid, sent["turn"]["assistant_message_id"], 8)
    await sidecar.action(cid, "cancel", {"turn_id": sent["turn"]["id"]})
    reply = (await sidecar.get(cid))["messages"][-1]
    assert reply["status"] == "cancelled" and "usage" not in reply["metadata"]
    assert (await sidecar.get(cid))["usage"] == ZERO


async def test_openai_asks_for_usage_and_records_it(
    make_sidecar: SidecarFactory, fake: FakeOpenAI
) -> None:
    fake.script += [
        Step(
            "text",
            "Hello.",
            usage={"model": "gpt-test-2026", "prompt_tokens": 12, "completion_tokens": 3},
        ),
        Step("text", "No usage from this one."),
    ]
    sidecar = await make_sidecar(
        provider="openai",
        openai_base_url=fake.base_url,
        openai_model="test-model",
        openai_api_key="sk-test",
    )
    cid = await sidecar.conversation()
    first = await sidecar.send(cid, "hi")
    await sidecar.wait_state(cid, first["turn"]["id"], "completed")
    assert fake.requests[-1]["stream_options"] == {"include_usage": True}
    second = await sidecar.send(cid, "again")
    await sidecar.wait_state(cid, second["turn"]["id"], "completed")
    messages = (await sidecar.get(cid))["messages"]
    assert messages[1]["metadata"]["usage"] == {
        "model": "gpt-test-2026",
        "input_tokens": 12,
        "output_tokens": 3,
    }
    assert "usage" not in messages[3]["metadata"]
    assert (await sidecar.get(cid))["usage"] == {"input_tokens": 12, "output_tokens": 3}


async def test_totals_count_every_branch_not_only_the_active_one(
    make_sidecar: SidecarFactory,
) -> None:
    sidecar = await make_sidecar()
    cid = await sidecar.conversation()
    first = await sidecar.send(cid, "one two")
    await sidecar.wait_state(cid, first["turn"]["id"], "completed")
    # Edit and resend: a new branch from the root; the first exchange stays on "main".
    edited = await sidecar.send(cid, "three", parent_id=None)
    await sidecar.wait_state(cid, edited["turn"]["id"], "completed")
    page = await sidecar.get(cid)
    assert page["message_count"] == 2 and page["active_branch"] != "main"
    assert page["usage"] == {"input_tokens": 2 + 1, "output_tokens": 2 + 1}
