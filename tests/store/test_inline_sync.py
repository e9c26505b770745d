"""Where a batch is synced: on the loop when nothing would overlap the sync, else on the thread.

A batch of one small record is written and synced on the event loop itself once syncs are fast
(the journal thread's two hand-offs cost more than the sync); a batch of several (writers that
overlap) goes to the thread, which keeps serving them meanwhile; a sync slower than ``inline_sync_s``
sends the following batches to the journal thread, which keeps measuring, so a slow disk blocks
the loop for one sync at most. The sync is observed (and slowed) by replacing ``os.fdatasync``,
never by touching the store.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sidecar.store import Store, StoreConfig
from sidecar.store.journal import Journal
from sidecar.store.segments import scan_segment, segment_paths


class Syncs:
    """Replaces ``os.fdatasync`` with a no-op that records which thread called it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.threads: list[str] = []
        self.slow = 0.0
        loop_thread = threading.get_ident()

        def fdatasync(fd: int) -> None:
            self.threads.append("loop" if threading.get_ident() == loop_thread else "thread")
            if self.slow:
                time.sleep(self.slow)

        monkeypatch.setattr(os, "fdatasync", fdatasync)

    def since(self, count: int) -> list[str]:
        return self.threads[count:]


@pytest.fixture
def syncs(monkeypatch: pytest.MonkeyPatch) -> Syncs:
    return Syncs(monkeypatch)


@pytest.fixture
async def store_with_c(syncs: Syncs, data_dir: Path) -> AsyncIterator[Store]:
    """A store with the default sync threshold and one conversation, ``c`` (syncs observed
    from the first)."""
    store = await Store.open(data_dir, StoreConfig(checkpoint_interval=3600))
    try:
        await store.create_conversation(id="c")
        yield store
    finally:
        await store.close()


async def appends(store: Store, count: int, content: str = "hello") -> None:
    for _ in range(count):
        await store.append_message("c", role="user", content=content)


async def test_lone_batches_are_synced_on_the_loop_once_syncs_are_fast(
    syncs: Syncs, store_with_c: Store
) -> None:
    assert syncs.threads[0] == "thread", "the first sync of all is measured on the thread"
    start = len(syncs.threads)
    await appends(store_with_c, 10)
    assert syncs.since(start) == ["loop"] * 10
    items, _ = await store_with_c.list_messages("c")
    assert len(items) == 10


async def test_a_slow_sync_sends_the_next_batches_to_the_thread_until_one_is_fast(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    syncs = Syncs(monkeypatch)
    config = StoreConfig(checkpoint_interval=3600, inline_sync_s=0.01)
    store = await Store.open(data_dir, config)
    try:
        await store.create_conversation(id="c")
        await appends(store, 2)
        start = len(syncs.threads)
        syncs.slow = 0.05
        await appends(store, 3)  # the first slow one was on the loop: the rest go to the thread
        syncs.slow = 0.0
        await appends(store, 2)  # the thread measures a fast sync: back on the loop
        assert syncs.since(start) == ["loop", "thread", "thread", "thread", "loop"]
    finally:
        await store.close()


async def test_a_batch_of_several_records_is_synced_on_the_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Records queued in one pass of the loop are one batch: writers overlap, so the loop keeps
    serving them while the thread syncs."""
    syncs = Syncs(monkeypatch)
    journal = await Journal.start(tmp_path, 1, inline_sync_s=60.0)
    try:
        applied: list[int] = []
        first = journal.append("c", [["x"]], applied.append)
        await first  # on the thread: no sync measured yet
        start = len(syncs.threads)
        several = [journal.append("c", [["x"]], applied.append) for _ in range(3)]
        await asyncio.gather(*several)
        await journal.append("c", [["x"]], applied.append)
        assert syncs.since(start) == ["thread", "loop"]
        assert applied == [1, 2, 3, 4, 5]
    finally:
        await journal.close()
    assert [r.seq for r in scan_segment(segment_paths(tmp_path)[0]).records] == [1, 2, 3, 4, 5]


async def test_a_big_record_is_synced_on_the_thread(syncs: Syncs, store_with_c: Store) -> None:
    await appends(store_with_c, 2)
    start = len(syncs.threads)
    await appends(store_with_c, 1, content="x" * (100 * 1024))  # over the 64 KiB of the loop
    await appends(store_with_c, 1)
    assert syncs.since(start) == ["thread", "loop"]


async def test_a_zero_threshold_keeps_every_sync_on_the_thread(
    syncs: Syncs, data_dir: Path
) -> None:
    store = await Store.open(data_dir, StoreConfig(checkpoint_interval=3600, inline_sync_s=0))
    try:
        await store.create_conversation(id="c")
        start = len(syncs.threads)
        await appends(store, 5)
        assert syncs.since(start) == ["thread"] * 5
    finally:
        await store.close()


async def test_closing_right_after_an_append_writes_it_and_stops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``close()`` with one record queued: the record is synced on the loop, then the thread is
    stopped (the stop must not wait for a thread report that a loop-side sync never sends)."""
    syncs = Syncs(monkeypatch)
    journal = await Journal.start(tmp_path, 1, inline_sync_s=60.0)
    applied: list[int] = []
    await journal.append("c", [["x"]], applied.append)
    last = journal.append("c", [["x"]], applied.append)
    await asyncio.wait_for(journal.close(), 10)
    assert await last == 2 and applied == [1, 2]
    assert syncs.threads == ["thread", "loop"]
    assert [r.seq for r in scan_segment(segment_paths(tmp_path)[0]).records] == [1, 2]


async def test_a_rotation_asked_with_a_record_queued_is_not_left_waiting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A record and a rotation queued in the same pass: the record is synced on the loop, and
    the rotation still runs after it (nothing else would wake the journal for it)."""
    syncs = Syncs(monkeypatch)
    journal = await Journal.start(tmp_path, 1, inline_sync_s=60.0)
    try:
        await journal.append("c", [["x"]], lambda seq: None)
        rotation = asyncio.ensure_future(journal.rotate())  # its first step runs before the kick
        queued = journal.append("c", [["x"]], lambda seq: None)
        sealed = await asyncio.wait_for(rotation, 10)
        assert await queued == 2 and syncs.threads == ["thread", "loop"]
        assert [scan_segment(path).records[-1].seq for path in sealed] == [2]
    finally:
        await journal.close()
