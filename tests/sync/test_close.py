"""Closing a sync engine always stops it, even when a wake-up arrives with the cancellation.

On Python 3.11, ``asyncio.wait_for`` returns the awaited result instead of raising when its task
is cancelled in the same loop step as the awaited event fires (the event's waiter is done when
the cancellation lands), so a ``while True`` loop around it never ends and whoever awaits it hangs.
The convergence property test hung there once (``disconnect`` right after a write). The engine's
loops now wait with ``asyncio.timeout``, which keeps the cancellation.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from sidecar.store import Store, StoreConfig
from sidecar.sync.config import SyncConfig
from sidecar.sync.engine import SyncEngine


async def online(store: Store, hub_url: str, within: float = 20.0) -> SyncEngine:
    """A started engine on ``store``, once it is online with the hub."""
    engine = SyncEngine(store, SyncConfig(hub_url, "device", coalesce_s=0.02))
    await engine.start()
    for _ in range(int(within / 0.05)):
        if engine.status()["state"] == "online":
            return engine
        await asyncio.sleep(0.05)
    raise AssertionError(f"never online: {engine.status()}")


async def closes_after(engine: SyncEngine, steps: int) -> None:
    """Close ``engine`` ``steps`` loop steps from now; fail (not hang) if close never returns."""
    for _ in range(steps):
        await asyncio.sleep(0)
    closing = asyncio.ensure_future(engine.close())
    done, _ = await asyncio.wait([closing], timeout=15)
    assert done, f"close() did not return ({steps} loop steps after the wake-up)"
    closing.result()


async def test_close_right_after_a_write_stops_every_loop(hub_url: str, tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "device", StoreConfig(checkpoint_interval=3600))
    try:
        conversation, _ = await store.create_conversation(title="t")
        for steps in range(8):
            engine = await online(store, hub_url)
            # a write wakes the local loop, which wakes the push loop; the hub's NOTIFY wakes
            # the pull loop: close lands 0..7 loop steps later, across the whole wake-up
            await store.append_message(conversation["id"], role="user", content=f"m{steps}")
            await closes_after(engine, steps)
    finally:
        await store.close()


async def test_close_while_the_loops_wake_stops_every_loop(hub_url: str, tmp_path: Path) -> None:
    """The same race, forced: the events the push and pull loops park on fire, then close lands
    0..7 loop steps later. (Reaches into the engine's two events: no public call sets them
    without also doing I/O whose timing the test cannot fix.)"""
    store = await Store.open(tmp_path / "device", StoreConfig(checkpoint_interval=3600))
    try:
        for steps in range(8):
            engine = await online(store, hub_url)
            await asyncio.sleep(0.1)  # both loops are parked on their waits
            engine._push_event.set()
            engine._pull_event.set()
            await closes_after(engine, steps)
    finally:
        await store.close()
