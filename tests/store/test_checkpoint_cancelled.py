"""A checkpoint whose caller is cancelled half way must still leave every write durable.

A checkpoint marks each shard clean when it takes its snapshot, writes the snapshots one by one
and only then drops the journal segments they cover. If the coroutine doing this was cancelled
between two writes (``Store.close`` cancels the checkpoint timer, a client that disconnects
cancels the request whose import runs a checkpoint), the shards not yet written stayed marked
clean: the next checkpoint skipped them and dropped the segments holding their records, and the
writes were gone at the next start. Now a checkpoint always runs to its end once started.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from sidecar.store import Store
from sidecar.store.values import StoreConfig

from .helpers import until

CONVERSATIONS = 12


async def _fill(store: Store, round_: int) -> None:
    for n in range(CONVERSATIONS):
        await store.append_message(f"c{n}", role="user", content=f"round {round_} of c{n}")


async def _wait_until_writing(store: Store) -> None:
    """Until a checkpoint has taken its snapshots and started writing them."""
    await until(lambda: bool(store._cache.writing), "a checkpoint writing its snapshots")


async def _contents(data_dir: Path, config: StoreConfig) -> dict[str, list[str]]:
    store = await Store.open(data_dir, config)
    try:
        return {
            f"c{n}": [m["content"] for m in (await store.all_messages(f"c{n}"))[1]]
            for n in range(CONVERSATIONS)
        }
    finally:
        await store.close()


def _expected(rounds: int) -> dict[str, list[str]]:
    return {f"c{n}": [f"round {r} of c{n}" for r in range(rounds)] for n in range(CONVERSATIONS)}


async def test_close_during_the_timers_checkpoint_loses_nothing(
    data_dir: Path, store_config: StoreConfig
) -> None:
    timed = dataclasses.replace(store_config, checkpoint_interval=0.01)
    store = await Store.open(data_dir, timed)
    for n in range(CONVERSATIONS):
        await store.create_conversation(id=f"c{n}")
    await _fill(store, 0)
    await _wait_until_writing(store)  # the timer's checkpoint, between two shards
    await store.close()  # cancels the timer
    assert await _contents(data_dir, store_config) == _expected(1)


async def test_a_cancelled_checkpoint_finishes_and_the_next_one_drops_nothing(
    data_dir: Path, store_config: StoreConfig
) -> None:
    store = await Store.open(data_dir, store_config)
    try:
        for n in range(CONVERSATIONS):
            await store.create_conversation(id=f"c{n}")
        await _fill(store, 0)
        caller = asyncio.create_task(store.checkpoint())
        await _wait_until_writing(store)
        caller.cancel()
        await asyncio.gather(caller, return_exceptions=True)
        await store.checkpoint()  # drops every sealed segment
    finally:
        await store.close()
    assert await _contents(data_dir, store_config) == _expected(1)
