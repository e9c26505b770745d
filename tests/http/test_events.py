"""``GET /api/v1/events`` (CONTRACT §6) over a real store, read as raw SSE frames."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from sidecar.api.keys import CONFIG, HUB, STORE
from sidecar.events.hub import EventHub
from sidecar.http import events as events_module
from sidecar.http.events import setup_routes
from sidecar.settings import ServerConfig
from sidecar.store import Store, StoreConfig
from tests.sse import events, frame

Client = TestClient[web.Request, web.Application]
PATH = "/api/v1/events"


@dataclass
class Sidecar:
    client: Client
    store: Store
    hub: EventHub

    async def stream(self, query: str = "", **headers: str) -> aiohttp.ClientResponse:
        response = await self.client.get(PATH + query, headers=headers)
        assert response.status == 200, await response.text()
        opening = await frame(response)
        assert opening == {"comment": "connected"}
        return response

    async def released(self, count: int = 0) -> None:
        """Wait until the hub has ``count`` subscribers (handlers notice a gone client late)."""
        for _ in range(100):
            if self.hub.subscriber_count == count:
                return
            await asyncio.sleep(0.02)
        assert self.hub.subscriber_count == count


SidecarFactory = Callable[..., Awaitable[Sidecar]]


@pytest.fixture
async def make_sidecar(
    tmp_path: Path, aiohttp_client: Callable[..., Awaitable[Client]]
) -> AsyncIterator[SidecarFactory]:
    stores: list[Store] = []

    async def make(**hub_options: Any) -> Sidecar:
        store = await Store.open(tmp_path / "data", StoreConfig(checkpoint_interval=3600))
        stores.append(store)
        hub = EventHub(store, **hub_options)
        hub.start()
        app = web.Application()
        app[STORE] = store
        app[HUB] = hub
        app[CONFIG] = ServerConfig(data_dir=tmp_path / "data", heartbeat_interval=0.2)
        setup_routes(app)

        async def add_message(request: web.Request) -> web.Response:
            # A stand-in for the REST routes (another module): a client's write through HTTP.
            message, _ = await store.append_message(
                request.match_info["id"], role="user", content=await request.text()
            )
            return web.json_response(message)

        app.router.add_post("/test/{id}/messages", add_message)

        async def announce_shutdown(app: web.Application) -> None:
            hub.stop("shutdown")  # as the app factory does: streams end, shutdown is prompt

        app.on_shutdown.append(announce_shutdown)
        return Sidecar(await aiohttp_client(app), store, hub)

    try:
        yield make
    finally:
        for store in stores:
            await store.close()


@pytest.fixture
async def sidecar(make_sidecar: SidecarFactory) -> Sidecar:
    return await make_sidecar()


async def no_event_within(response: aiohttp.ClientResponse, seconds: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (left := deadline - loop.time()) > 0:
        try:
            got = await frame(response, within=left)
        except TimeoutError:
            return
        assert "comment" in got, f"unexpected event {got}"


async def assert_ended(response: aiohttp.ClientResponse) -> None:
    rest = await asyncio.wait_for(response.content.read(), 2)
    assert b"event: " not in rest


# ---------------------------------------------------------------------- the stream


async def test_frames_carry_seq_type_and_data(sidecar: Sidecar) -> None:
    response = await sidecar.stream()
    assert response.headers["Content-Type"] == "text/event-stream"
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["X-Accel-Buffering"] == "no"
    conversation, _ = await sidecar.store.create_conversation(id="c1", title="hello")
    message, _ = await sidecar.store.append_message("c1", role="user", content="hi")
    got = await events(response, 3)
    assert [(e["id"], e["event"]) for e in got] == [
        (1, "conversation.created"),
        (2, "conversation.updated"),
        (3, "message.created"),
    ]
    assert got[0]["data"] == {
        "conversation_id": "c1",
        "revision": conversation["revision"],
        "conversation": conversation,
    }
    assert got[2]["data"] == {"conversation_id": "c1", "revision": 2, "message": message}
    response.close()


async def test_heartbeat_comment_on_an_idle_stream(sidecar: Sidecar) -> None:
    response = await sidecar.stream()
    started = asyncio.get_running_loop().time()
    assert await frame(response, within=1.0) == {"comment": "ping"}
    assert await frame(response, within=1.0) == {"comment": "ping"}
    assert asyncio.get_running_loop().time() - started < 1.0
    response.close()


async def test_last_event_id_resumes_without_gap_or_duplicate(sidecar: Sidecar) -> None:
    store = sidecar.store
    await store.create_conversation(id="c1")
    message, _ = await store.append_message("c1", role="assistant", content="", status="streaming")
    first = await sidecar.stream()
    await store.append_text("c1", message["id"], 0, "Hel")
    (seen,) = await events(first, 1)
    first.close()
    await sidecar.released()
    # missed while disconnected
    await store.append_text("c1", message["id"], 3, "lo ")
    await store.append_text("c1", message["id"], 6, "you")
    again = await sidecar.stream(**{"Last-Event-ID": str(seen["id"])})
    missed = await events(again, 2)
    assert [e["id"] for e in missed] == [seen["id"] + 1, seen["id"] + 2]
    assert [e["data"]["offset"] for e in missed] == [3, 6]
    await store.append_text("c1", message["id"], 9, "!")
    (live,) = await events(again, 1)
    assert (live["id"], live["data"]["text"]) == (seen["id"] + 3, "!")
    await no_event_within(again, 0.3)
    again.close()


async def test_since_query_and_the_header_wins(sidecar: Sidecar) -> None:
    for index in range(3):
        await sidecar.store.create_conversation(id=f"c{index}")
    by_query = await sidecar.stream("?since=1")
    assert [e["id"] for e in await events(by_query, 2)] == [2, 3]
    by_query.close()
    both = await sidecar.stream("?since=0", **{"Last-Event-ID": "2"})
    assert [e["id"] for e in await events(both, 1)] == [3]
    await no_event_within(both, 0.3)
    both.close()
    current = await sidecar.stream("?since=3")
    await no_event_within(current, 0.3)  # since == current: nothing, and no resync
    current.close()


async def test_unknown_and_too_old_seqs_get_resync_with_the_current_id(
    make_sidecar: SidecarFactory,
) -> None:
    sidecar = await make_sidecar(retention=2, retention_seconds=0.0)
    for index in range(5):
        await sidecar.store.create_conversation(id=f"c{index}")
    for query, reason in (("?since=99", "unknown_seq"), ("?since=1", "too_old")):
        response = await sidecar.stream(query)
        (resync,) = await events(response, 1)
        current = sidecar.store.seq
        assert resync == {"id": current, "event": "resync", "data": {"reason": reason}}
        await sidecar.store.update_conversation("c0", {"title": reason})
        (live,) = await events(response, 1)
        assert live["event"] == "conversation.updated"
        response.close()


@pytest.mark.parametrize(
    ("query", "headers", "field"),
    [
        ("?since=abc", {}, "since"),
        ("?since=-1", {}, "since"),
        ("?since=", {}, "since"),
        ("?since=1.5", {}, "since"),
        ("?since=1", {"Last-Event-ID": "x"}, "Last-Event-ID"),
        ("?conversation_id=no/slash", {}, "conversation_id"),
        ("?conversation_id=", {}, "conversation_id"),
    ],
)
async def test_bad_parameters_are_422_before_the_stream_starts(
    sidecar: Sidecar, query: str, headers: dict[str, str], field: str
) -> None:
    response = await sidecar.client.get(PATH + query, headers=headers)
    assert response.status == 422
    assert response.content_type == "application/json"
    body = await response.json()
    assert body["error"]["code"] == "validation_failed"
    assert body["error"]["details"] == {"field": field}
    assert sidecar.hub.subscriber_count == 0


async def test_conversation_filter(sidecar: Sidecar) -> None:
    store = sidecar.store
    await store.create_conversation(id="c1")
    await store.create_conversation(id="c2")
    response = await sidecar.stream("?conversation_id=c2&since=0")
    await store.append_message("c1", role="user", content="not for you")
    await store.append_message("c2", role="user", content="for you")
    got = await events(response, 3)
    assert [(e["event"], e["data"]["conversation_id"]) for e in got] == [
        ("conversation.created", "c2"),
        ("conversation.updated", "c2"),
        ("message.created", "c2"),
    ]
    assert got[2]["data"]["message"]["content"] == "for you"
    await no_event_within(response, 0.3)
    response.close()


async def test_two_clients_see_each_others_changes_live(sidecar: Sidecar) -> None:
    await sidecar.store.create_conversation(id="c1")
    alice = await sidecar.stream()
    bob = await sidecar.stream()
    assert sidecar.hub.subscriber_count == 2
    for author, text in ((sidecar.client, "from alice"), (sidecar.client, "from bob")):
        posted = await author.post("/test/c1/messages", data=text)
        assert posted.status == 200
        for reader in (alice, bob):
            _, created = await events(reader, 2)
            assert created["event"] == "message.created"
            assert created["data"]["message"]["content"] == text
    alice.close()
    bob.close()


# ---------------------------------------------------------------------- ends of streams


async def test_client_disconnect_releases_the_subscriber(sidecar: Sidecar) -> None:
    response = await sidecar.stream()
    other = await sidecar.stream()
    assert sidecar.hub.subscriber_count == 2
    response.close()
    await sidecar.released(1)
    other.close()
    await sidecar.released(0)


async def test_shutdown_is_the_last_event_and_ends_the_stream(sidecar: Sidecar) -> None:
    await sidecar.store.create_conversation(id="c1")
    response = await sidecar.stream("?since=0")
    (created,) = await events(response, 1)
    assert created["event"] == "conversation.created"
    sidecar.hub.stop("shutdown")
    (shutdown,) = await events(response, 1)
    assert shutdown == {"id": 1, "event": "server.shutdown", "data": {"reason": "shutdown"}}
    await assert_ended(response)
    late = await sidecar.stream()
    assert await events(late, 1) == [shutdown]
    await assert_ended(late)


async def test_a_stuck_client_is_dropped_without_slowing_anyone(
    make_sidecar: SidecarFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events_module, "END_GRACE", 0.2)
    sidecar = await make_sidecar(queue_size=4)
    store = sidecar.store
    await store.create_conversation(id="c1")
    stuck = await sidecar.stream()  # never read again: the socket buffers fill up
    fast = await sidecar.stream()
    big = "x" * 200_000
    received: list[dict[str, Any]] = []

    async def read_fast() -> None:
        while True:
            got = await frame(fast, within=5)
            if "comment" not in got:
                received.append(got)

    reading = asyncio.create_task(read_fast())
    loop = asyncio.get_running_loop()
    started = loop.time()
    writes = 0
    while sidecar.hub.subscriber_count == 2 and writes < 200:
        await store.append_message("c1", role="user", content=big)
        writes += 1
        await asyncio.sleep(0.01)
    assert sidecar.hub.subscriber_count == 1, "the stuck client overflowed and was dropped"
    await store.append_message("c1", role="user", content="after")
    for _ in range(200):
        if received and received[-1]["data"].get("message", {}).get("content") == "after":
            break
        await asyncio.sleep(0.02)
    assert len(received) == 2 * (writes + 1), "the fast client got every event"
    assert loop.time() - started < 10
    # The stuck handler was blocked writing (that is why it fell behind); once dropped it gets
    # the grace period to deliver its resync and is then cut off, so it cannot hold up anything.
    runner = sidecar.client.server.runner
    assert runner is not None and runner.server is not None
    server = runner.server

    def open_connections() -> int:
        return sum(1 for handler in server.connections if handler.transport is not None)

    for _ in range(150):
        if open_connections() == 1:
            break
        await asyncio.sleep(0.02)
    assert open_connections() == 1, "the stuck connection was closed by the server"
    with pytest.raises(aiohttp.ClientPayloadError):
        await asyncio.wait_for(stuck.content.read(), 5)
    reading.cancel()
    fast.close()
    stuck.close()
    await sidecar.released(0)
