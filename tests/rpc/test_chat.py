"""``chat.*`` and ``turns.*`` over ``/rpc``: the same turn engine as REST, and the ``external``
provider written by an RPC client (CONTRACT §7)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sidecar.app import create_app
from sidecar.settings import ServerConfig
from tests.rpc_client import RpcCallError, RpcClient

from .conftest import AUTH, TOKEN


async def settled(rpc: RpcClient, subscription: str, turn_id: str, state: str) -> list[Any]:
    """Events of the subscription up to the turn reaching ``state``."""
    seen = []
    while True:
        event = await rpc.notification("event")
        assert event["subscription_id"] == subscription
        seen.append(event)
        data = event["data"]
        if event["type"] == "turn.state" and data["turn_id"] == turn_id and data["state"] == state:
            return seen


@pytest.fixture
def server_config(tmp_path: Path) -> ServerConfig:
    return ServerConfig(
        data_dir=tmp_path / "data",
        heartbeat_interval=0.2,
        checkpoint_interval=3600,
        echo_delay_ms=0,
    )


async def test_send_message_streams_the_reply_as_events(rpc: RpcClient) -> None:
    conversation = await rpc.request("conversations.create", {"title": "rpc"})
    cid = conversation["id"]
    subscribed = await rpc.request("events.subscribe", {"conversation_id": cid})
    sent = await rpc.request(
        "chat.sendMessage",
        {"conversation_id": cid, "content": "over rpc", "client_message_id": "m1"},
    )
    assert sent["turn"]["state"] == "streaming"
    seen = await settled(rpc, subscribed["subscription_id"], sent["turn"]["id"], "completed")
    text = "".join(e["data"]["text"] for e in seen if e["type"] == "message.delta")
    assert text == "over rpc"
    again = await rpc.request(
        "chat.sendMessage",
        {"conversation_id": cid, "content": "over rpc", "client_message_id": "m1"},
    )
    assert again["turn"]["id"] == sent["turn"]["id"]
    page = await rpc.request("conversations.get", {"conversation_id": cid})
    assert [m["content"] for m in page["messages"]] == ["over rpc", "over rpc"]


async def test_action_errors_carry_the_rest_codes(rpc: RpcClient) -> None:
    conversation = await rpc.request("conversations.create", {})
    cid = conversation["id"]
    with pytest.raises(RpcCallError) as missing:
        await rpc.request("chat.cancel", {"conversation_id": cid, "turn_id": "nope"})
    assert missing.value.rest_code == "not_found"
    sent = await rpc.request(
        "chat.sendMessage", {"conversation_id": cid, "content": "/tool clock {}"}
    )
    subscribed = await rpc.request("events.subscribe", {"conversation_id": cid, "since": 0})
    await settled(rpc, subscribed["subscription_id"], sent["turn"]["id"], "awaiting_tool_approval")
    with pytest.raises(RpcCallError) as busy:
        await rpc.request("chat.sendMessage", {"conversation_id": cid, "content": "again"})
    assert busy.value.rest_code == "conflict"
    assert busy.value.data["details"]["state"] == "awaiting_tool_approval"
    with pytest.raises(RpcCallError) as bad:
        await rpc.request(
            "chat.approveTools",
            {"conversation_id": cid, "turn_id": sent["turn"]["id"], "decisions": []},
        )
    assert bad.value.code == -32602 and bad.value.data["field"] == "decisions"


@pytest.fixture
def external_config(tmp_path: Path) -> ServerConfig:
    return ServerConfig(
        data_dir=tmp_path / "data",
        heartbeat_interval=0.2,
        checkpoint_interval=3600,
        provider="external",
        external_claim_timeout=5,
        retry_base_delay=0.01,
    )


async def test_turn_requested_claim_push_complete(
    aiohttp_client: Any, external_config: ServerConfig
) -> None:
    client = await aiohttp_client(create_app(external_config, token=TOKEN))
    host = RpcClient(await client.ws_connect("/rpc", headers=AUTH))
    other = RpcClient(await client.ws_connect("/rpc", headers=AUTH))
    try:
        cid = (await host.request("conversations.create", {}))["id"]
        await host.request("events.subscribe", {"conversation_id": cid})
        watching = await other.request("events.subscribe", {})
        sent = await other.request("chat.sendMessage", {"conversation_id": cid, "content": "hi"})
        requested = await host.notification("turn.requested")
        assert requested["turn_id"] == sent["turn"]["id"]
        assert [m["content"] for m in requested["messages"]] == ["hi"]
        await host.request("turns.claim", {"turn_id": requested["turn_id"]})
        with pytest.raises(RpcCallError) as taken:
            await other.request("turns.claim", {"turn_id": requested["turn_id"]})
        assert taken.value.rest_code == "conflict"
        await host.request("turns.pushDelta", {"turn_id": requested["turn_id"], "text": "hello "})
        await host.request(
            "turns.pushDelta", {"turn_id": requested["turn_id"], "text": "from host"}
        )
        await host.request("turns.complete", {"turn_id": requested["turn_id"]})
        await settled(other, watching["subscription_id"], sent["turn"]["id"], "completed")
        page = await other.request("conversations.get", {"conversation_id": cid})
        assert page["messages"][-1]["content"] == "hello from host"
        sent2 = await other.request(
            "chat.sendMessage", {"conversation_id": cid, "content": "again"}
        )
        second = await host.notification("turn.requested")
        await host.request("turns.claim", {"turn_id": second["turn_id"]})
        await host.request("turns.pushDelta", {"turn_id": second["turn_id"], "text": "par"})
        await host.close()  # the claimer goes away mid-reply: the attempt fails as transient
        announced: list[dict[str, Any]] = []
        while len(announced) < 2:  # the first announcement of this turn, then the one after the cut
            got = await other.notification("turn.requested")
            if got["turn_id"] == sent2["turn"]["id"]:
                announced.append(got)
        third = announced[1]
        await other.request("turns.claim", {"turn_id": third["turn_id"]})
        await other.request(
            "turns.fail", {"turn_id": third["turn_id"], "transient": False, "message": "no model"}
        )
        await settled(other, watching["subscription_id"], sent2["turn"]["id"], "permanent_failure")
        page = await other.request("conversations.get", {"conversation_id": cid})
        assert page["messages"][-1]["status"] == "failed"
    finally:
        await other.close()


async def test_a_client_that_subscribes_late_hears_of_unclaimed_turns(
    aiohttp_client: Any, external_config: ServerConfig
) -> None:
    client = await aiohttp_client(create_app(external_config, token=TOKEN))
    sender = RpcClient(await client.ws_connect("/rpc", headers=AUTH))
    try:
        cid = (await sender.request("conversations.create", {}))["id"]
        sent = await sender.request("chat.sendMessage", {"conversation_id": cid, "content": "hi"})
        late = RpcClient(await client.ws_connect("/rpc", headers=AUTH))  # a reloaded window
        try:
            await late.request("events.subscribe", {"conversation_id": cid})
            requested = await late.notification("turn.requested")
            assert requested["turn_id"] == sent["turn"]["id"]
            await late.request("turns.claim", {"turn_id": requested["turn_id"]})
            other = await sender.request("events.subscribe", {})
            assert other["subscription_id"]
            with pytest.raises(TimeoutError):
                await sender.notification("turn.requested", wait_s=0.2)  # claimed: not pending
        finally:
            await late.close()
    finally:
        await sender.close()
