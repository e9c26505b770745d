"""The event hub over a real store: mapping, replay, resync, overflow, shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from sidecar.events.hub import Event, EventHub, Subscription, to_events
from sidecar.store import Change, ConversationEffect, MessageEffect, Store, StoreConfig
from tests.store.helpers import put_turn


def retained_events(hub: EventHub) -> list[Event]:
    """The events the hub keeps for replay (oldest first), read from its log."""
    return hub._log[hub._head :]


def oldest_replayable(hub: EventHub) -> int:
    """The smallest ``since`` the hub replays rather than answers with ``resync``."""
    return hub._floor


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(tmp_path / "data", StoreConfig(checkpoint_interval=3600))
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def hub(store: Store) -> EventHub:
    started = EventHub(store)
    started.start()
    return started


async def ready(subscription: Subscription) -> list[Event]:
    """Every event the subscription can deliver right now, without waiting."""
    events: list[Event] = []
    while batch := subscription.take():
        events.extend(batch)
    return events


async def streaming_message(store: Store, conversation_id: str = "c1") -> str:
    await store.create_conversation(id=conversation_id, title="x")
    message, _ = await store.append_message(
        conversation_id, role="assistant", content="", status="streaming"
    )
    return str(message["id"])


async def deltas(store: Store, message_id: str, count: int, conversation_id: str = "c1") -> None:
    message = await store.get_message(conversation_id, message_id)
    offset = len(message["content"])
    for _ in range(count):
        await store.append_text(conversation_id, message_id, offset, "ab")
        offset += 2


def shape(event: Event) -> tuple[str, dict[str, Any]]:
    return event.type, event.data


# ---------------------------------------------------------------------- mapping


async def test_every_effect_kind_maps_to_its_contract_event(store: Store, hub: EventHub) -> None:
    sub = hub.subscribe(None, None)
    conversation, _ = await store.create_conversation(id="c1", title="x")
    renamed = await store.update_conversation("c1", {"title": "y"})
    user, _ = await store.append_message("c1", role="user", content="hi")
    reply, _ = await store.append_message("c1", role="assistant", content="", status="streaming")
    await store.append_text("c1", reply["id"], 0, "Hel")
    done = await store.update_message("c1", reply["id"], content="Hello", status="complete")
    await put_turn(store, "c1", {"id": "t1", "state": "streaming", "attempts": [], "error": None})
    failed = {"id": "t1", "state": "permanent_failure", "attempts": [], "error": {"code": "x"}}
    await put_turn(store, "c1", failed)
    deleted = await store.delete_conversation("c1")
    restored = await store.restore_conversation("c1")
    await store.purge_conversation("c1")

    events = await ready(sub)
    seqs = [event.seq for event in events]
    assert seqs == list(range(1, store.seq + 1)), "one event per effect, no gap"
    assert all(event.conversation_id == "c1" for event in events)
    by_type = [event.type for event in events]
    assert by_type == [
        "conversation.created",
        "conversation.updated",  # rename
        "conversation.updated",  # user message appended
        "message.created",
        "conversation.updated",
        "message.created",
        "message.delta",
        "conversation.updated",
        "message.updated",
        "conversation.updated",
        "turn.state",
        "conversation.updated",
        "turn.state",
        "conversation.deleted",
        "conversation.restored",
        "conversation.deleted",  # purge
    ]
    assert events[0].data == {
        "conversation_id": "c1",
        "revision": conversation["revision"],
        "conversation": conversation,
    }
    assert events[1].data["revision"] == renamed["revision"]
    assert events[1].data["conversation"]["title"] == "y"
    # a message carries the revision of the conversation change it belongs to
    assert events[3].data == {
        "conversation_id": "c1",
        "revision": events[2].data["revision"],
        "message": user,
    }
    assert events[2].data["revision"] == renamed["revision"] + 1
    assert events[6].data == {
        "conversation_id": "c1",
        "message_id": reply["id"],
        "turn_id": None,
        "offset": 0,
        "text": "Hel",
    }
    assert events[8].data["message"] == done
    assert events[8].data["revision"] == events[7].data["revision"]
    assert events[10].data == {
        "conversation_id": "c1",
        "turn_id": "t1",
        "state": "streaming",
        "previous": None,
        "error": None,
    }
    assert events[12].data == {
        "conversation_id": "c1",
        "turn_id": "t1",
        "state": "permanent_failure",
        "previous": "streaming",
        "error": {"code": "x"},
    }
    assert events[13].data["conversation"] == deleted
    assert events[14].data["conversation"] == restored
    assert events[15].data == {
        "conversation_id": "c1",
        "revision": None,
        "conversation": None,
        "purged": True,
    }
    # revisions only grow, and the delta did not bump one
    revisions = [e.data["revision"] for e in events if e.type.startswith("conversation.")]
    assert revisions[:-1] == sorted(set(revisions[:-1]))


def test_to_events_is_pure_and_frames_are_single_line_sse() -> None:
    change = Change(
        "c9",
        (
            ConversationEffect(7, "text", {"revision": 4}),
            MessageEffect(8, False, {"id": "m", "content": "a\nb"}),
        ),
    )
    events = to_events(change, published_at=1.0)
    assert [(e.seq, e.type, e.published_at) for e in events] == [
        (7, "conversation.updated", 1.0),
        (8, "message.updated", 1.0),
    ]
    assert events[1].data["revision"] == 4
    frame = events[1].frame()
    head, body = frame.split(b"\ndata: ")
    assert head == b"id: 8\nevent: message.updated"
    assert body.endswith(b"\n\n") and body.count(b"\n") == 2
    assert orjson.loads(body) == events[1].data


# ---------------------------------------------------------------------- replay


async def test_replay_since_a_seq_is_exact(store: Store, hub: EventHub) -> None:
    everything = hub.subscribe(None, None)
    message_id = await streaming_message(store)
    await deltas(store, message_id, 10)
    seen = await ready(everything)
    assert [e.seq for e in seen] == list(range(1, store.seq + 1))
    for since in (0, 1, 5, store.seq - 1):
        replay = await ready(hub.subscribe(None, since))
        assert replay == [e for e in seen if e.seq > since], since
    at_current = hub.subscribe(None, store.seq)
    assert await ready(at_current) == [], "since == current replays nothing and is no resync"
    await deltas(store, message_id, 1)
    live = await ready(at_current)
    assert [(e.seq, e.type) for e in live] == [(store.seq, "message.delta")]


async def test_replay_then_live_has_no_gap_or_duplicate(store: Store, hub: EventHub) -> None:
    message_id = await streaming_message(store)
    await deltas(store, message_id, 3)
    sub = hub.subscribe(None, 2)
    await deltas(store, message_id, 3)
    assert [e.seq for e in await ready(sub)] == list(range(3, store.seq + 1))


async def test_pull_then_subscribe_misses_and_repeats_nothing_under_concurrent_writes(
    store: Store, hub: EventHub
) -> None:
    message_id = await streaming_message(store)
    chunks = [f"<{i}>" for i in range(120)]

    async def writer() -> None:
        offset = 0
        for chunk in chunks:
            await store.append_text("c1", message_id, offset, chunk)
            offset += len(chunk)
        await store.update_message("c1", message_id, status="complete")

    async def reader() -> str:
        page = await store.read_page("c1")
        (message,) = [m for m in page.messages if m["id"] == message_id]
        content = str(message["content"])
        sub = hub.subscribe("c1", page.event_seq)
        last = page.event_seq
        async for event in sub:
            assert event.seq > last, "no event repeated or out of order"
            last = event.seq
            if event.type == "message.delta":
                # CONTRACT §6: a delta is applied when offset == len(content); anything else
                # would be a repeat (offset < len) or a gap (offset > len).
                assert event.data["offset"] == len(content)
                content += event.data["text"]
            elif event.type == "message.updated" and event.data["message"]["status"] == "complete":
                assert event.data["message"]["content"] == content
                sub.close()
        return content

    writing = asyncio.create_task(writer())
    readers = []
    for _ in range(8):
        readers.append(asyncio.create_task(reader()))
        await asyncio.sleep(0.002)
    await writing
    results = await asyncio.wait_for(asyncio.gather(*readers), 10)
    assert results == ["".join(chunks)] * len(readers)
    assert hub.subscriber_count == 0


# ---------------------------------------------------------------------- resync and retention


async def test_too_old_gets_resync_with_the_current_seq_then_live(store: Store) -> None:
    hub = EventHub(store, retention=3, retention_seconds=0.0)
    hub.start()
    message_id = await streaming_message(store)
    await deltas(store, message_id, 10)
    current = store.seq
    assert [e.seq for e in retained_events(hub)] == [current - 2, current - 1, current]
    assert oldest_replayable(hub) == current - 3
    exact = await ready(hub.subscribe(None, current - 3))
    assert [e.seq for e in exact] == [current - 2, current - 1, current]
    for since in (0, current - 4):
        sub = hub.subscribe(None, since)
        (resync,) = await ready(sub)
        assert (resync.seq, resync.type, resync.data) == (current, "resync", {"reason": "too_old"})
        assert resync.conversation_id is None
        await deltas(store, message_id, 1)
        assert [e.seq for e in await ready(sub)] == [store.seq]
        current = store.seq


async def test_events_are_kept_while_young_up_to_ten_times_the_count(store: Store) -> None:
    hub = EventHub(store, retention=2, retention_seconds=600.0)
    hub.start()
    message_id = await streaming_message(store)
    await deltas(store, message_id, 10)
    assert [e.seq for e in await ready(hub.subscribe(None, 0))] == list(range(1, store.seq + 1))
    await deltas(store, message_id, 20)
    assert len(retained_events(hub)) == 20, "capped at 10 x retention"
    (resync,) = await ready(hub.subscribe(None, 0))
    assert resync.type == "resync"
    tail = await ready(hub.subscribe(None, store.seq - 20))
    assert [e.seq for e in tail] == list(range(store.seq - 19, store.seq + 1))


@pytest.mark.parametrize("budget", [0, 3_000, 50_000, 10_000_000])
async def test_retention_is_bounded_in_bytes_and_the_last_events_always_replay(
    store: Store, budget: int
) -> None:
    """Beyond the last ``retention`` events (which CONTRACT §6's count always keeps, whatever
    their size), young events stay only within the byte budget; replay is whole and exact."""
    hub = EventHub(store, retention=6, retention_seconds=600.0, retention_bytes=budget)
    hub.start()
    live = hub.subscribe(None)
    await store.create_conversation(id="c1", title="x")
    contents = [f"{n:04d}" + "y" * 1000 for n in range(40)]
    for content in contents:
        await store.append_message("c1", role="user", content=content)
        kept = retained_events(hub)
        assert hub.retained_bytes == sum(len(e.frame()) for e in kept)
        assert len(kept) >= min(6, store.seq), "the contract's count is kept"
        assert len(kept) <= 6 or hub.retained_bytes <= budget, "the rest fits the budget"
        assert len(kept) <= 60, "and the count cap (10 x retention)"
    current = store.seq
    replay = await ready(hub.subscribe(None, current - 6))
    assert [e.seq for e in replay] == list(range(current - 5, current + 1))
    assert [e.data["message"]["content"] for e in replay if e.type == "message.created"] == (
        contents[-3:]
    )
    delivered = await ready(live)
    assert [e.data["message"]["content"] for e in delivered if e.type == "message.created"] == (
        contents
    )
    assert all(e._data is None for e in retained_events(hub)), "retained: the frame only"
    for event in replay:
        body = event.frame().split(b"\ndata: ", 1)[1].rstrip(b"\n")
        assert orjson.loads(body) == event.data
    if budget >= 10_000_000:
        assert len(retained_events(hub)) == 60, "young and within budget: up to the count cap"


async def test_a_seq_from_before_the_hub_started_is_too_old(store: Store) -> None:
    message_id = await streaming_message(store)
    await deltas(store, message_id, 2)
    hub = EventHub(store)
    hub.start()
    (resync,) = await ready(hub.subscribe(None, store.seq - 1))
    assert (resync.type, resync.data, resync.seq) == ("resync", {"reason": "too_old"}, store.seq)
    assert await ready(hub.subscribe(None, store.seq)) == []


async def test_since_beyond_the_current_seq_is_resync_unknown_seq(
    store: Store, hub: EventHub
) -> None:
    await store.create_conversation(id="c1")
    sub = hub.subscribe("c1", store.seq + 100)
    (resync,) = await ready(sub)
    assert (resync.seq, resync.type, resync.data) == (
        store.seq,
        "resync",
        {"reason": "unknown_seq"},
    )
    await store.update_conversation("c1", {"title": "live"})
    assert [e.type for e in await ready(sub)] == ["conversation.updated"]


async def test_conversation_filter(store: Store, hub: EventHub) -> None:
    only_c2 = hub.subscribe("c2", None)
    await store.create_conversation(id="c1")
    await store.create_conversation(id="c2")
    await store.append_message("c1", role="user", content="one")
    await store.append_message("c2", role="user", content="two")
    live = await ready(only_c2)
    assert [e.type for e in live] == [
        "conversation.created",
        "conversation.updated",
        "message.created",
    ]
    assert {e.conversation_id for e in live} == {"c2"}
    replay = await ready(hub.subscribe("c2", 0))
    assert replay == live


# ---------------------------------------------------------------------- slow clients


async def test_overflow_drops_only_the_slow_subscriber(store: Store) -> None:
    hub = EventHub(store, queue_size=4)
    hub.start()
    message_id = await streaming_message(store)
    slow = hub.subscribe(None, None)
    fast = hub.subscribe(None, None)
    received: list[Event] = []

    async def consume() -> None:
        async for event in fast:
            received.append(event)

    consuming = asyncio.create_task(consume())
    first = store.seq + 1
    await deltas(store, message_id, 12)
    await asyncio.sleep(0)
    assert [e.seq for e in received] == list(range(first, store.seq + 1))
    assert hub.subscriber_count == 1, "the slow one was dropped, the fast one kept"
    assert slow.ended and slow.overflowed
    (resync,) = await ready(slow)
    assert resync.type == "resync" and resync.data == {"reason": "overflow"}
    assert resync.seq == first + 4, "the seq at which it overflowed (the current seq then)"
    with pytest.raises(StopAsyncIteration):
        await slow.next_batch()
    fast.close()
    await asyncio.wait_for(consuming, 1)
    assert hub.subscriber_count == 0


# ---------------------------------------------------------------------- shutdown


async def test_stop_delivers_queued_events_then_shutdown(store: Store, hub: EventHub) -> None:
    sub = hub.subscribe(None, None)
    waiting = hub.subscribe(None, None)
    waiter = asyncio.create_task(ready_after_wait(waiting))
    await store.create_conversation(id="c1")
    hub.stop("shutdown")
    assert hub.subscriber_count == 0
    events = await ready(sub)
    assert [e.type for e in events] == ["conversation.created", "server.shutdown"]
    assert (events[1].seq, events[1].data) == (store.seq, {"reason": "shutdown"})
    with pytest.raises(StopAsyncIteration):
        await sub.next_batch()
    assert [e.type for e in await asyncio.wait_for(waiter, 1)] == [
        "conversation.created",
        "server.shutdown",
    ]
    late = hub.subscribe("c1", 0)
    assert [(e.type, e.seq) for e in await ready(late)] == [("server.shutdown", store.seq)]
    assert hub.subscriber_count == 0
    hub.stop("again")  # idempotent


async def ready_after_wait(subscription: Subscription) -> list[Event]:
    return [event async for event in subscription]


async def test_close_releases_the_subscriber_and_wakes_its_reader(hub: EventHub) -> None:
    sub = hub.subscribe(None, None)
    reading = asyncio.create_task(sub.next_batch())
    await asyncio.sleep(0)
    assert hub.subscriber_count == 1
    sub.close()
    sub.close()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(reading, 1)
    assert hub.subscriber_count == 0


async def test_outside_changes_become_store_changed_and_reach_filtered_streams(
    tmp_path: Path,
) -> None:
    store = await Store.open(tmp_path / "data", StoreConfig(checkpoint_interval=3600))
    hub = EventHub(store)
    hub.start()
    try:
        await store.create_conversation(id="c1", title="one")
        await store.create_conversation(id="c2", title="two")
        await store.checkpoint()
        mine = hub.subscribe(conversation_id="c1", since=None)
        other = hub.subscribe(conversation_id="c2", since=None)
        meta = store.layout.shard("c1") / "meta.json"
        meta.write_bytes(meta.read_bytes())  # a sync tool rewrote the file: new stamp
        assert await store.apply_external_changes({"c1"}) == ["c1"]
        [event] = mine.take(10)
        assert event.type == "store.changed" and event.seq == store.seq
        assert event.data == {"reason": "external", "conversation_ids": ["c1"]}
        assert other.take(10) == []
    finally:
        hub.stop("test")
        await store.close()
