"""``events.subscribe`` over the real app: the SSE stream's events (CONTRACT §6) as notifications,
with the same replay, resync and shutdown semantics."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import orjson

from sidecar.api.keys import HUB
from tests.rpc_client import RpcClient

from .conftest import AUTH, Client, Connect


async def events(rpc: RpcClient, count: int, subscription_id: str) -> list[dict[str, Any]]:
    got = [await rpc.notification("event") for _ in range(count)]
    assert all(event["subscription_id"] == subscription_id for event in got)
    return got


async def quiet(rpc: RpcClient) -> None:
    """No event notification is waiting after a round trip and a short pause."""
    await rpc.request("conversations.list")
    await asyncio.sleep(0.1)
    pending = []
    while not rpc.notifications.empty():
        pending.append(rpc.notifications.get_nowait())
    assert [m for m in pending if m["method"] == "event"] == []


async def sse_events(response: aiohttp.ClientResponse, count: int) -> list[dict[str, Any]]:
    """The next ``count`` SSE events as ``{seq, type, data}``."""
    got: list[dict[str, Any]] = []
    fields: dict[str, str] = {}
    async with asyncio.timeout(5):
        while len(got) < count:
            line = (await response.content.readline()).decode().rstrip("\n")
            if line and not line.startswith(":"):
                name, _, value = line.partition(": ")
                fields[name] = value
            elif not line and "event" in fields:
                got.append(
                    {
                        "seq": int(fields["id"]),
                        "type": fields["event"],
                        "data": orjson.loads(fields["data"]),
                    }
                )
                fields = {}
    return got


async def test_live_events_are_the_sse_events(rpc: RpcClient, client: Client) -> None:
    stream = await client.get("/api/v1/events", headers=AUTH)
    assert stream.status == 200
    subscribed = await rpc.request("events.subscribe")
    subscription_id = subscribed["subscription_id"]
    assert subscribed["last_seq"] == 0
    conversation = await rpc.request("conversations.create", {"id": "c1", "title": "t"})
    message = await rpc.request(
        "messages.append", {"conversation_id": "c1", "role": "user", "content": "hi"}
    )
    got = await events(rpc, 3, subscription_id)
    assert [(e["seq"], e["type"]) for e in got] == [
        (1, "conversation.created"),
        (2, "conversation.updated"),
        (3, "message.created"),
    ]
    assert got[0]["data"]["conversation"] == conversation
    assert got[2]["data"]["message"] == message
    over_sse = await sse_events(stream, 3)
    assert [{k: e[k] for k in ("seq", "type", "data")} for e in got] == over_sse
    stream.close()


async def test_the_response_comes_before_the_first_event(client: Client) -> None:
    ws = await client.ws_connect("/rpc", headers=AUTH)
    request = {"jsonrpc": "2.0", "id": 1, "method": "conversations.create", "params": {"id": "c"}}
    await ws.send_str(orjson.dumps(request).decode())
    assert (await ws.receive_json())["id"] == 1
    # A replay from seq 0: the backlog is ready at once, yet the response goes first.
    subscribe = {"jsonrpc": "2.0", "id": 2, "method": "events.subscribe", "params": {"since": 0}}
    await ws.send_str(orjson.dumps(subscribe).decode())
    first = await ws.receive_json()
    assert first["id"] == 2 and "subscription_id" in first["result"]
    second = await ws.receive_json()
    assert second["method"] == "event" and second["params"]["seq"] == 1
    await ws.close()


async def test_pull_then_subscribe_since_misses_nothing_and_repeats_nothing(
    connect: Connect,
) -> None:
    writer, reader = await connect(), await connect()
    await writer.request("conversations.create", {"id": "c"})
    await writer.request(
        "messages.append", {"conversation_id": "c", "role": "user", "content": "a"}
    )
    pulled = await reader.request("conversations.get", {"conversation_id": "c"})
    seq = pulled["event_seq"]
    assert [m["content"] for m in pulled["messages"]] == ["a"]
    # Changes land between the pull and the subscription...
    await writer.request(
        "messages.append", {"conversation_id": "c", "role": "user", "content": "b"}
    )
    await writer.request("conversations.update", {"conversation_id": "c", "title": "T"})
    subscribed = await reader.request("events.subscribe", {"conversation_id": "c", "since": seq})
    sid = subscribed["subscription_id"]
    # ...and live ones after it.
    await writer.request(
        "messages.append", {"conversation_id": "c", "role": "user", "content": "c"}
    )
    got = await events(reader, 5, sid)
    seqs = [event["seq"] for event in got]
    assert seqs == list(range(seq + 1, seq + 6)), "a gap or a repeat"
    assert subscribed["last_seq"] == seq + 3
    created = [e["data"]["message"]["content"] for e in got if e["type"] == "message.created"]
    assert created == ["b", "c"]
    assert (
        got[2]["type"] == "conversation.updated" and got[2]["data"]["conversation"]["title"] == "T"
    )
    await quiet(reader)


async def test_two_clients_see_each_others_changes(connect: Connect) -> None:
    one, two = await connect(), await connect()
    sid_one = (await one.request("events.subscribe"))["subscription_id"]
    sid_two = (await two.request("events.subscribe"))["subscription_id"]
    await one.request("conversations.create", {"id": "from-one"})
    seen_by_two = await events(two, 1, sid_two)
    assert seen_by_two[0]["data"]["conversation_id"] == "from-one"
    await two.request("conversations.create", {"id": "from-two"})
    seen_by_one = await events(one, 2, sid_one)
    assert [e["data"]["conversation_id"] for e in seen_by_one] == ["from-one", "from-two"]


async def test_a_subscription_filtered_to_one_conversation(rpc: RpcClient) -> None:
    await rpc.request("conversations.create", {"id": "a"})
    await rpc.request("conversations.create", {"id": "b"})
    sid = (await rpc.request("events.subscribe", {"conversation_id": "b"}))["subscription_id"]
    await rpc.request("conversations.update", {"conversation_id": "a", "title": "x"})
    await rpc.request("conversations.update", {"conversation_id": "b", "title": "y"})
    got = await events(rpc, 1, sid)
    assert got[0]["data"]["conversation_id"] == "b"
    await quiet(rpc)


async def test_several_subscriptions_and_unsubscribe(rpc: RpcClient) -> None:
    first = (await rpc.request("events.subscribe"))["subscription_id"]
    second = (await rpc.request("events.subscribe"))["subscription_id"]
    assert first != second
    await rpc.request("conversations.create", {"id": "c"})
    got = [await rpc.notification("event") for _ in range(2)]
    assert {e["subscription_id"] for e in got} == {first, second}
    assert await rpc.request("events.unsubscribe", {"subscription_id": first}) == {
        "unsubscribed": True
    }
    assert await rpc.request("events.unsubscribe", {"subscription_id": first}) == {
        "unsubscribed": False
    }
    await rpc.request("conversations.update", {"conversation_id": "c", "title": "x"})
    assert (await rpc.notification("event"))["subscription_id"] == second
    await rpc.request("events.unsubscribe", {"subscription_id": second})
    await rpc.request("conversations.update", {"conversation_id": "c", "title": "y"})
    await quiet(rpc)


async def test_an_unknown_since_gets_resync_first(rpc: RpcClient) -> None:
    await rpc.request("conversations.create", {"id": "c"})
    subscribed = await rpc.request("events.subscribe", {"since": 1000})
    sid = subscribed["subscription_id"]
    (resync,) = await events(rpc, 1, sid)
    assert resync["type"] == "resync" and resync["data"] == {"reason": "unknown_seq"}
    assert resync["seq"] == subscribed["last_seq"] == 1
    # Live events follow, as on the SSE stream.
    await rpc.request("conversations.update", {"conversation_id": "c", "title": "x"})
    assert (await events(rpc, 1, sid))[0]["seq"] == 2


async def test_a_client_that_falls_behind_gets_resync_and_loses_the_subscription(
    rpc: RpcClient, client: Client
) -> None:
    await rpc.request("conversations.create", {"id": "c"})
    client.app[HUB].queue_size = 1  # new subscriptions hold one live event at most
    sid = (await rpc.request("events.subscribe"))["subscription_id"]
    # One append publishes two events at once: more than the queue holds.
    await rpc.request("messages.append", {"conversation_id": "c", "role": "user", "content": "x"})
    (resync,) = await events(rpc, 1, sid)
    assert resync["type"] == "resync" and resync["data"] == {"reason": "overflow"}
    assert await rpc.request("events.unsubscribe", {"subscription_id": sid}) == {
        "unsubscribed": False
    }
    await rpc.request("conversations.update", {"conversation_id": "c", "title": "x"})
    await quiet(rpc)


async def test_health_counts_rpc_subscriptions_apart_from_event_streams(
    rpc: RpcClient, client: Client
) -> None:
    await rpc.request("events.subscribe")
    stream = await client.get("/api/v1/events", headers=AUTH)
    health = await rpc.request("sidecar.health")
    assert health["clients"] == {"event_streams": 1, "rpc": 1}
    assert client.app[HUB].subscriber_count == 2
    stream.close()


async def test_shutdown_sends_server_shutdown_then_closes_with_1001(
    rpc: RpcClient, client: Client
) -> None:
    sid = (await rpc.request("events.subscribe"))["subscription_id"]
    await rpc.request("conversations.create", {"id": "c"})
    await client.server.close()
    got = await events(rpc, 2, sid)
    assert [e["type"] for e in got] == ["conversation.created", "server.shutdown"]
    assert got[1]["data"] == {"reason": "shutdown"}
    async with asyncio.timeout(5):
        await rpc._reader
    assert rpc.close_code == 1001
