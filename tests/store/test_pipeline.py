"""Pipelined appends to one conversation (issue #18): the order is fixed when a record is queued.

50 writers on one conversation share fsyncs instead of taking one each, and still form one
chain; nothing is visible before its fsync; a failed fsync fails every append queued behind it
(none of them reaches the disk) and the next append chains on committed state; a retried
``client_message_id`` of a queued append answers that append. The fsync is slowed or failed by
replacing ``os.fdatasync`` (the syscall the journal calls), never by touching the store.
"""

from __future__ import annotations

import asyncio
import errno
import itertools
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sidecar.store import Store, StoreConfig
from sidecar.store.effects import Change
from sidecar.store.errors import Unavailable
from sidecar.store.segments import segment_paths

WRITERS = 50


@pytest.fixture
def store_config(storage_name: str) -> StoreConfig:
    """Fsyncs are held at a gate here: always on the journal thread, never on the loop (where a
    held sync would stop the test itself)."""
    return StoreConfig(storage=storage_name, checkpoint_interval=3600, inline_sync_s=0)


class Fsyncs:
    """Counts ``os.fdatasync`` calls; can hold them at a gate or make the next one fail."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.gate.set()
        self.fail_next = False
        self.delay = 0.0
        real = os.fdatasync

        def fdatasync(fd: int) -> None:
            self.calls += 1
            self.entered.set()
            self.gate.wait(30)
            if self.delay:
                time.sleep(self.delay)
            if self.fail_next:
                self.fail_next = False
                raise OSError(errno.EIO, "Input/output error")
            real(fd)

        monkeypatch.setattr(os, "fdatasync", fdatasync)

    def hold(self) -> None:
        self.entered.clear()
        self.gate.clear()

    async def wait_entered(self) -> None:
        assert await asyncio.to_thread(self.entered.wait, 10), "no fsync started"

    async def appends_held(
        self, store: Store, cid: str, contents: list[str]
    ) -> list[asyncio.Task[tuple[dict[str, Any], bool]]]:
        """Hold the next fsync and start one append per content: the first reaches the held
        fsync (awaited here), the others queue behind it."""
        self.hold()
        appends = [
            asyncio.ensure_future(store.append_message(cid, role="user", content=content))
            for content in contents
        ]
        await self.wait_entered()
        return appends


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.002)
    raise AssertionError("condition never held")


def assert_one_chain(messages: list[dict[str, Any]]) -> None:
    """Each message's parent is the one before it: one branch, no gap, no fork."""
    assert messages[0]["parent_id"] is None
    for before, after in itertools.pairwise(messages):
        assert after["parent_id"] == before["id"]


async def test_fifty_writers_on_one_conversation_share_fsyncs_and_form_one_chain(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    conversation, _ = await store.create_conversation(title="shared")
    cid = conversation["id"]
    fsyncs = Fsyncs(monkeypatch)
    fsyncs.delay = 0.005  # a disk that takes a little while, so writers overlap

    results = await asyncio.gather(
        *(store.append_message(cid, role="user", content=f"m{i}") for i in range(WRITERS))
    )

    assert fsyncs.calls <= WRITERS // 5, f"{fsyncs.calls} fsyncs for {WRITERS} appends"
    summary, messages = await store.all_messages(cid)
    assert [m["id"] for m in messages] == [doc["id"] for doc, _ in results]
    assert [m["content"] for m in messages] == [f"m{i}" for i in range(WRITERS)]
    assert_one_chain(messages)
    assert [doc["parent_id"] for doc, _ in results] == [None] + [m["id"] for m in messages[:-1]]
    assert summary["message_count"] == WRITERS
    assert summary["revision"] == conversation["revision"] + WRITERS
    assert summary["last_message_preview"] == f"m{WRITERS - 1}"


async def test_nothing_is_visible_or_announced_before_its_fsync(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    conversation, _ = await store.create_conversation(title="before")
    cid = conversation["id"]
    changes: list[Change] = []
    store.subscribe(changes.extend)
    fsyncs = Fsyncs(monkeypatch)
    appends = await fsyncs.appends_held(store, cid, [f"m{i}" for i in range(5)])
    await asyncio.sleep(0.05)  # the other four are queued behind the first by now
    title = asyncio.ensure_future(store.update_conversation(cid, {"title": "after"}))
    await asyncio.sleep(0.05)

    assert not any(task.done() for task in [*appends, title])
    assert changes == []
    page = await store.read_page(cid)
    assert page.messages == [] and page.conversation["message_count"] == 0
    assert (await store.all_messages(cid))[1] == []
    assert (await store.get_conversation(cid))["revision"] == conversation["revision"]
    assert store.seq == page.event_seq

    fsyncs.gate.set()
    results = await asyncio.gather(*appends)
    summary = await title
    _, messages = await store.all_messages(cid)
    assert [m["content"] for m in messages] == [f"m{i}" for i in range(5)]
    assert_one_chain(messages)
    # the title change waited for the queued appends: it comes after all of them
    assert summary["title"] == "after"
    assert summary["revision"] == conversation["revision"] + 6
    created = [e.message["id"] for c in changes for e in c.effects if hasattr(e, "created")]
    assert created == [doc["id"] for doc, _ in results]


async def test_a_failed_fsync_fails_every_append_queued_behind_it_and_none_reaches_the_disk(
    data_dir: Path, store_config: StoreConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await Store.open(data_dir, store_config)
    try:
        conversation, _ = await store.create_conversation(title="fails")
        cid = conversation["id"]
        first, _ = await store.append_message(cid, role="user", content="durable")
        fsyncs = Fsyncs(monkeypatch)
        fsyncs.fail_next = True
        doomed = await fsyncs.appends_held(store, cid, [f"lost{i}" for i in range(4)])
        await asyncio.sleep(0.05)  # lost1..lost3 queued behind lost0, whose fsync will fail
        fsyncs.gate.set()
        outcomes = await asyncio.gather(*doomed, return_exceptions=True)
        assert all(isinstance(o, Unavailable) for o in outcomes), outcomes
        assert fsyncs.calls == 1, "the dependent records must not be written at all"

        after, _ = await store.append_message(cid, role="user", content="next")
        assert after["parent_id"] == first["id"]
        summary, messages = await store.all_messages(cid)
        assert [m["content"] for m in messages] == ["durable", "next"]
        assert summary["revision"] == conversation["revision"] + 2
    finally:
        await store.close()

    journal = b"".join(p.read_bytes() for p in segment_paths(data_dir / "journal"))
    assert b"lost" not in journal
    reopened = await Store.open(data_dir, store_config)
    try:
        _, messages = await reopened.all_messages(cid)
        assert [m["content"] for m in messages] == ["durable", "next"]
        assert_one_chain(messages)
    finally:
        await reopened.close()


async def test_a_retried_client_message_id_of_a_queued_append_answers_that_append(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    conversation, _ = await store.create_conversation()
    cid = conversation["id"]
    fsyncs = Fsyncs(monkeypatch)
    (ahead,) = await fsyncs.appends_held(store, cid, ["ahead"])
    first = asyncio.ensure_future(
        store.append_message(cid, role="user", content="hi", client_message_id="c1")
    )
    await asyncio.sleep(0.02)
    retry = asyncio.ensure_future(
        store.append_message(cid, role="user", content="hi", client_message_id="c1")
    )
    other = asyncio.ensure_future(
        store.append_message(cid, role="user", content="other", client_message_id="c1")
    )
    await asyncio.sleep(0.02)
    assert not retry.done()
    fsyncs.gate.set()
    await ahead
    (doc, created), (again, created_again) = await first, await retry
    assert created and not created_again and again == doc
    with pytest.raises(Exception, match="different message"):
        await other
    _, messages = await store.all_messages(cid)
    assert [m["content"] for m in messages] == ["ahead", "hi"]


async def test_other_mutations_see_committed_state_and_appends_chain_after_them(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    conversation, _ = await store.create_conversation()
    cid = conversation["id"]
    root, _ = await store.append_message(cid, role="user", content="root")
    fsyncs = Fsyncs(monkeypatch)
    queued = await fsyncs.appends_held(store, cid, [f"q{i}" for i in range(3)])
    # a new branch from the root while the appends are queued: the fork's name and the active
    # branch it leaves depend on the queued appends' branch heads
    fork = asyncio.ensure_future(
        store.append_message(cid, role="user", content="fork", parent_id=root["id"])
    )
    edit = asyncio.ensure_future(store.update_message(cid, root["id"], content="root!"))
    tail = asyncio.ensure_future(store.append_message(cid, role="user", content="tail"))
    await asyncio.sleep(0.05)
    fsyncs.gate.set()
    await asyncio.gather(*queued, fork, edit, tail)

    summary, messages = await store.all_messages(cid)
    by_content = {m["content"]: m for m in messages}
    assert [m["content"] for m in messages] == ["root!", "q0", "q1", "q2", "fork", "tail"]
    assert by_content["fork"]["parent_id"] == root["id"]
    assert by_content["tail"]["parent_id"] == by_content["fork"]["id"]
    branches = {b["name"]: b["head_message_id"] for b in await store.list_branches(cid)}
    assert branches == {"main": by_content["q2"]["id"], "branch-1": by_content["tail"]["id"]}
    assert summary["active_branch"] == "branch-1"


async def test_a_cancelled_caller_leaves_its_queued_append_whole(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    conversation, _ = await store.create_conversation()
    cid = conversation["id"]
    fsyncs = Fsyncs(monkeypatch)
    appends = await fsyncs.appends_held(store, cid, [f"m{i}" for i in range(3)])
    await asyncio.sleep(0.02)
    appends[1].cancel()
    fsyncs.gate.set()
    await asyncio.gather(*appends, return_exceptions=True)
    last, _ = await store.append_message(cid, role="user", content="m3")
    _, messages = await store.all_messages(cid)
    assert [m["content"] for m in messages] == ["m0", "m1", "m2", "m3"]
    assert_one_chain(messages)
    assert messages[-1]["id"] == last["id"]


async def test_a_conversation_with_queued_appends_stays_in_memory_until_they_land(
    data_dir: Path, storage_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With room for one shard, reading another conversation must not evict one whose append
    waits for its fsync: reloaded from disk, it would miss that append once it lands."""
    config = StoreConfig(storage=storage_name, cache_size=1, inline_sync_s=0)
    store = await Store.open(data_dir, config)
    try:
        busy, _ = await store.create_conversation()
        other, _ = await store.create_conversation()
        await store.checkpoint()  # both clean: only being in use keeps a shard in memory
        fsyncs = Fsyncs(monkeypatch)
        fsyncs.hold()
        first = asyncio.ensure_future(store.append_message(busy["id"], role="user", content="a"))
        await fsyncs.wait_entered()
        second = asyncio.ensure_future(store.append_message(busy["id"], role="user", content="b"))
        await asyncio.sleep(0.02)
        await store.read_page(other["id"])  # loads the other shard: the LRU is over its size
        assert (await store.read_page(busy["id"])).messages == []
        fsyncs.gate.set()
        await asyncio.gather(first, second)
        page = await store.read_page(busy["id"])
        assert [m["content"] for m in page.messages] == ["a", "b"]
    finally:
        await store.close()
