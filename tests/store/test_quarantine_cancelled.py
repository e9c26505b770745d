"""A conversation found damaged while the store runs is moved aside with memory's copy of it,
and a write acknowledged before that is never lost, even if the reader that found the damage
is cancelled half way.

``ShardCache.quarantine_live`` drops the shard from memory and from the catalog, seals the
journal, then moves the folder aside together with a copy of what memory held. It ran in the
reader's task: a reader cancelled while the journal was being sealed (a client that went away,
an RPC ``$/cancelRequest``, ``SearchIndex.close`` cancelling its catch-up) left the shard dropped
from memory and never copied, and the next checkpoint deleted the journal segments that held
its acknowledged writes. It now runs to its end in a task of its own (found by an audit of what
a cancelled caller can leave behind, after the same bug in checkpoints).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from sidecar.store import Store
from sidecar.store.values import StoreConfig

from .helpers import damage_lazily_read_turns, found_anywhere, until

ACKNOWLEDGED = "acknowledged-after-the-damage-7f3c"


async def _wait_until_quarantining(store: Store, conversation_id: str) -> None:
    await until(lambda: conversation_id in store._cache.quarantining, "the quarantine began")


@pytest.mark.parametrize("reader_cancelled", [False, True])
async def test_a_write_acknowledged_before_the_damage_was_found_is_never_lost(
    data_dir: Path, store_config: StoreConfig, reader_cancelled: bool
) -> None:
    await damage_lazily_read_turns(data_dir, store_config, "victim")

    store = await Store.open(data_dir, store_config)
    try:
        await store.append_message("victim", role="user", content=ACKNOWLEDGED)  # acknowledged
        reader = asyncio.create_task(store.list_turns("victim"))  # finds the damaged turns.json
        if reader_cancelled:
            await _wait_until_quarantining(store, "victim")  # it seals the journal now
            reader.cancel()  # the client went away
        await asyncio.gather(reader, return_exceptions=True)
        await store.checkpoint()  # drops the sealed segments
    finally:
        await store.close()

    store = await Store.open(data_dir, store_config)
    await store.close()
    # kept in the quarantine's copy of what memory held: never gone
    assert found_anywhere(data_dir, ACKNOWLEDGED), "the acknowledged message is gone"
