"""The per-conversation locks: busy while used, held one at a time, forgotten when unused.

The cache evicts and the watcher reloads only conversations that are not busy, so a key left
busy by a cancelled waiter would pin its conversation forever, and one dropped too early would
let a conversation be evicted under a write.
"""

from __future__ import annotations

import asyncio

import pytest

from sidecar.store.lock import KeyedLocks


async def test_busy_exactly_while_used_or_held() -> None:
    locks = KeyedLocks()
    assert not locks.busy("a")
    with locks.using("a"):
        assert locks.busy("a")
        async with locks.hold("a"):
            assert locks.busy("a")
        assert locks.busy("a")  # still used
    assert not locks.busy("a")


async def test_one_holder_at_a_time_in_arrival_order() -> None:
    locks = KeyedLocks()
    order: list[str] = []
    gate = asyncio.Event()

    async def writer(name: str) -> None:
        async with locks.hold("a"):
            order.append(f"{name} in")
            await gate.wait()
            order.append(f"{name} out")

    tasks = [asyncio.create_task(writer(name)) for name in ("first", "second")]
    await asyncio.sleep(0)
    assert order == ["first in"]
    gate.set()
    await asyncio.gather(*tasks)
    assert order == ["first in", "first out", "second in", "second out"]
    assert not locks.busy("a")


async def test_a_waiter_cancelled_neither_holds_nor_uses_the_key() -> None:
    locks = KeyedLocks()
    release = asyncio.Event()

    async def holder() -> None:
        async with locks.hold("a"):
            await release.wait()

    async def waiter() -> None:
        async with locks.hold("a"):
            raise AssertionError("a cancelled waiter must never get the lock")

    held = asyncio.create_task(holder())
    await asyncio.sleep(0)
    waiting = asyncio.create_task(waiter())
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    release.set()
    await held
    assert not locks.busy("a")
    async with locks.hold("a"):  # and the lock is free again
        assert locks.busy("a")
    assert not locks.busy("a")


async def test_an_error_inside_releases_the_lock() -> None:
    locks = KeyedLocks()
    with pytest.raises(RuntimeError):
        async with locks.hold("a"):
            raise RuntimeError("the write failed")
    assert not locks.busy("a")
    async with locks.hold("a"):
        pass
