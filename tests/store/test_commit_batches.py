"""The commit path per journal batch: one announcement per batch, whole failures, cancellation.

A journal batch (every record queued while the previous fsync ran) is applied record by record in
seq order and then announced to each listener in ONE call with the batch's changes; a failed sync
fails the whole batch and announces nothing; a caller cancelled while its record is being synced
cannot stop the write half way. Each runs with batches synced on the journal thread and, where
the sync is not held, on the loop (a lone small batch once syncs are fast).
"""

from __future__ import annotations

import asyncio
import errno
import os
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from sidecar.store import Change, Store, StoreConfig, Unavailable
from sidecar.store.journal import Journal
from sidecar.store.segments import scan_segment, segment_first_seq, segment_paths
from sidecar.store.shard import PREVIEW_WINDOW
from tests.store.helpers import journal_batches


@pytest.fixture(params=["thread", "loop"])
def store_config(request: pytest.FixtureRequest, storage_name: str) -> StoreConfig:
    inline = 0.0 if request.param == "thread" else StoreConfig().inline_sync_s
    return StoreConfig(storage=storage_name, checkpoint_interval=3600, inline_sync_s=inline)


async def test_listeners_get_each_batch_in_one_call_in_seq_order(store: Store) -> None:
    calls: list[list[Change]] = []

    def listener(changes: Sequence[Change]) -> None:
        assert all(isinstance(change, Change) for change in changes)
        # every record of the batch is applied before anyone hears of it
        assert store.seq >= changes[-1].last_seq
        calls.append(list(changes))

    store.subscribe(listener)
    batches = journal_batches(store)
    await asyncio.gather(*(store.create_conversation(id=f"c{i}") for i in range(30)))
    await asyncio.gather(
        *(store.append_message(f"c{i}", role="user", content=f"m{i}") for i in range(30))
    )
    assert len(calls) == len(batches), "one listener call per journal batch"
    assert len(calls) < 60, "30 concurrent writers share batches"
    changes = [change for call in calls for change in call]
    assert len(changes) == 60
    seqs = [effect.seq for change in changes for effect in change.effects]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "seq order, no gaps, across calls"
    assert all(len(call) >= 1 for call in calls)


async def test_a_failed_sync_fails_the_whole_batch_and_announces_nothing(
    data_dir: Path, store_config: StoreConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await Store.open(data_dir, store_config)
    try:
        for i in range(5):
            await store.create_conversation(id=f"c{i}")
        heard: list[Change] = []
        store.subscribe(heard.extend)
        real = os.fdatasync

        def full_disk(fd: int) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(os, "fdatasync", full_disk)
        results = await asyncio.gather(
            *(store.append_message(f"c{i}", role="user", content="lost?") for i in range(5)),
            return_exceptions=True,
        )
        assert all(isinstance(result, Unavailable) for result in results), results
        assert heard == [] and not store.writable
        for i in range(5):
            assert (await store.get_conversation(f"c{i}"))["message_count"] == 0
        monkeypatch.setattr(os, "fdatasync", real)
        await store.append_message("c0", role="user", content="kept")
        assert store.writable and len(heard) == 1
    finally:
        await store.close()
    reopened = await Store.open(data_dir, store_config)
    try:
        counts = [(await reopened.get_conversation(f"c{i}"))["message_count"] for i in range(5)]
        assert counts == [1, 0, 0, 0, 0], "the failed batch never replays"
    finally:
        await reopened.close()


async def test_a_caller_cancelled_during_the_sync_still_gets_its_write_whole(
    data_dir: Path, storage_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the sync is held below: on the journal thread (held on the loop, it would stop the test)
    config = StoreConfig(storage=storage_name, checkpoint_interval=3600, inline_sync_s=0)
    store = await Store.open(data_dir, config)
    try:
        await _cancelled_during_the_sync(store, monkeypatch)
    finally:
        await store.close()


async def _cancelled_during_the_sync(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    await store.create_conversation(id="c")
    heard: list[Change] = []
    store.subscribe(heard.extend)
    entered, release = threading.Event(), threading.Event()
    real = os.fdatasync

    def held(fd: int) -> None:
        entered.set()
        release.wait(10)
        real(fd)

    monkeypatch.setattr(os, "fdatasync", held)
    writer = asyncio.create_task(store.append_message("c", role="user", content="whole"))
    assert await asyncio.to_thread(entered.wait, 10), "the write reached its sync"
    writer.cancel()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await writer
    monkeypatch.setattr(os, "fdatasync", real)
    # the lock was released and the write finished: the next append follows it
    follower, _ = await store.append_message("c", role="user", content="next")
    items, _ = await store.list_messages("c")
    assert [m["content"] for m in items] == ["whole", "next"]
    assert follower["parent_id"] == items[0]["id"]
    assert (await store.get_conversation("c"))["message_count"] == 2
    assert len(heard) == 2


async def test_streaming_keeps_preview_and_usage_exact(
    data_dir: Path, store_config: StoreConfig
) -> None:
    store = await Store.open(data_dir, store_config)
    try:
        await store.create_conversation(id="c")
        await store.append_message(
            "c", role="user", content="q", metadata={"usage": {"input_tokens": 7}}
        )
        reply, _ = await store.append_message(
            "c",
            role="assistant",
            content="",
            status="streaming",
            metadata={"usage": {"output_tokens": 5}},
        )
        offset = 0
        while offset <= PREVIEW_WINDOW + 100:
            offset = await store.append_text("c", reply["id"], offset, "word  ")
        summary = await store.get_conversation("c")
        assert summary["last_message_preview"].startswith("word word")
        assert summary["usage"] == {"input_tokens": 7, "output_tokens": 5}
        far = store.list_conversations().items[0]
        await store.append_text("c", reply["id"], offset, "more")  # past the preview's window
        assert store.list_conversations().items[0] is far, "no summary rebuilt for this delta"
        await store.append_text("c", reply["id"], 0, "Rewritten   from the start")
        summary = await store.get_conversation("c")
        assert summary["last_message_preview"] == "Rewritten from the start"
        assert (
            store.list_conversations().items[0]["last_message_preview"]
            == summary["last_message_preview"]
        )
        assert summary["usage"] == {"input_tokens": 7, "output_tokens": 5}
    finally:
        await store.close()
    reopened = await Store.open(data_dir, store_config)
    try:
        again = await reopened.get_conversation("c")
        assert again["last_message_preview"] == "Rewritten from the start"
        assert again["usage"] == {"input_tokens": 7, "output_tokens": 5}
    finally:
        await reopened.close()


async def test_a_rotation_names_its_segment_by_the_seq_it_was_asked_at(tmp_path: Path) -> None:
    """A record queued while the journal thread is still busy before a rotation lands in the new
    segment, which must be named by that record's seq (replay and damage reports rely on it)."""
    folder = tmp_path / "journal"
    folder.mkdir()
    journal = await Journal.start(folder, 1)
    try:
        await journal.append("c", [["conv", {"id": "c"}]], lambda seq: None)
        gate = threading.Event()
        blocked = asyncio.ensure_future(journal._in_thread(gate.wait, 10))
        rotation = asyncio.ensure_future(journal.rotate())
        for _ in range(5):  # the rotation reaches the queue, behind the blocked job
            await asyncio.sleep(0)
        later = journal.append("c", [["conv", {"id": "c", "title": "x"}]], lambda seq: None)
        gate.set()
        await blocked
        sealed = await rotation
        seq = await later
        assert [segment_first_seq(path) for path in sealed] == [1]
        segments = segment_paths(folder)
        assert [segment_first_seq(path) for path in segments] == [1, seq]
        assert [record.seq for record in scan_segment(segments[-1]).records] == [seq]
    finally:
        await journal.close()


async def test_a_closed_journal_refuses_rotations_and_removals_instead_of_hanging(
    tmp_path: Path,
) -> None:
    journal = await Journal.start(tmp_path, 1)
    await journal.append("c", [["x"]], lambda seq: None)
    await journal.close()
    with pytest.raises(Unavailable):
        await asyncio.wait_for(journal.rotate(), 10)
    with pytest.raises(Unavailable):
        await asyncio.wait_for(journal.remove_segments(segment_paths(tmp_path)), 10)
    assert len(segment_paths(tmp_path)) == 1, "nothing removed"
