"""A checkpoint that fails in an unforeseen way must not stop later checkpoints or a close.

The journal keeps every acknowledged write until a checkpoint has written it to the shards, so
a failed checkpoint loses nothing, but what runs checkpoints must outlive it: the 30 s timer
used to stop for good on any failure other than a ``StoreError`` (an ``OSError`` from dropping
the old journal segments, say), leaving the journal to grow for the rest of the process; and
``Store.close`` let the same failure escape before it closed the journal and released the data
dir. The failure is injected where the disk would raise it (``os.unlink`` of a journal segment).
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from sidecar.store import Store
from sidecar.store.values import StoreConfig


def _failing_segment_unlink(monkeypatch: pytest.MonkeyPatch, journal: Path) -> Callable[[], int]:
    """Make deleting a journal segment fail with EIO; returns how many deletions failed."""
    real_unlink = os.unlink
    failures = 0

    def unlink(path: str | os.PathLike[str], *args: object, **kwargs: object) -> None:
        nonlocal failures
        if Path(path).parent == journal:
            failures += 1
            raise OSError(errno.EIO, "Input/output error", str(path))
        real_unlink(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "unlink", unlink)
    return lambda: failures


async def _eventually(reached: Callable[[], bool], what: str, within: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not reached():
        if loop.time() > deadline:
            raise AssertionError(f"not within {within} s: {what}")
        await asyncio.sleep(0.01)


async def test_the_timer_keeps_checkpointing_after_a_checkpoint_fails(
    data_dir: Path, store_config: StoreConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    timed = dataclasses.replace(store_config, checkpoint_interval=0.05)
    store = await Store.open(data_dir, timed)
    try:
        await store.create_conversation(id="c1")
        await store.append_message("c1", role="user", content="before the failure")
        failures = _failing_segment_unlink(monkeypatch, store.layout.journal)
        await _eventually(lambda: failures() > 0, "the timer's checkpoint failing")
        monkeypatch.undo()
        await store.append_message("c1", role="user", content="after the failure")
        cache = store._cache
        await _eventually(
            lambda: not any(shard.dirty for shard in cache.shards.values()),
            "a later timed checkpoint writing the shard again",
        )
    finally:
        await store.close()
    reopened = await Store.open(data_dir, store_config)
    try:
        contents = [m["content"] for m in (await reopened.all_messages("c1"))[1]]
    finally:
        await reopened.close()
    assert contents == ["before the failure", "after the failure"]


async def test_close_closes_and_releases_the_data_dir_when_its_checkpoint_fails(
    data_dir: Path, store_config: StoreConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await Store.open(data_dir, store_config)
    await store.create_conversation(id="c1")
    await store.append_message("c1", role="user", content="kept by the journal")
    failures = _failing_segment_unlink(monkeypatch, store.layout.journal)
    await store.close()  # its final checkpoint fails (logged), the rest of close still runs
    assert failures() > 0
    monkeypatch.undo()
    reopened = await Store.open(data_dir, store_config)  # the data dir's lock was released
    try:
        contents = [m["content"] for m in (await reopened.all_messages("c1"))[1]]
    finally:
        await reopened.close()
    assert contents == ["kept by the journal"]
