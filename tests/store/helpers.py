"""Test-only ways into the store: states the product only reaches through a running turn, a
count of the journal's batches, and waiting on the loop for a state the store passes through.

``put_turn`` stores a turn document as given (its ``updated_at`` included), so a test can set up a
conversation with a turn in any state without running a model. The product writes a turn only
through :meth:`Store.write_turn` (which stamps it) or an import; this helper goes through the
same write path (lock, one journal record, effects), so it leaves what a real turn step leaves.
It was ``Store.put_turn``: product code never called it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from sidecar.store import Store
from sidecar.store.effects import Draft, TurnChange
from sidecar.store.ids import check_id
from sidecar.store.model import Doc
from sidecar.store.values import StoreConfig


async def put_turn(store: Store, conversation_id: str, turn: Doc) -> Doc:
    """Persist a turn (CONTRACT §4); the conversation's ``state`` follows its latest turn."""
    check_id(turn.get("id"), "turn.id")
    cache, writer = store._cache, store._writer

    async def work() -> Doc:
        shard = await cache.shard(conversation_id)
        turns = await cache.load_turns(shard)
        latest = turn["id"] not in turns or next(reversed(turns)) == turn["id"]
        conversation = dict(shard.conversation)
        if latest:
            conversation["state"] = turn.get("state", "idle")
        doc = {**turn, "conversation_id": conversation_id}
        previous = turns[turn["id"]].get("state") if turn["id"] in turns else None
        draft = Draft("updated", turns=[TurnChange(previous, doc)])
        await writer.commit(shard, [["turn", doc]], draft, conversation=conversation)
        return doc

    return await writer.mutate(conversation_id, work)


def journal_batches(store: Store) -> list[int]:
    """Count the journal's batches from now on (one item per batch): its ``on_batch`` hook runs
    once per committed batch, so it is wrapped, and still publishes."""
    journal = store._cache.journal
    assert journal is not None and journal.on_batch is not None
    counted: list[int] = []
    publish = journal.on_batch

    def counting() -> None:
        counted.append(1)
        publish()

    journal.on_batch = counting
    return counted


async def until(reached: Callable[[], bool], what: str) -> None:
    """Give the loop turns until ``reached()`` holds: to act while the store is half way through
    something (a checkpoint writing, a quarantine sealing the journal). Fails naming ``what``."""
    for _ in range(100_000):
        if reached():
            return
        await asyncio.sleep(0)
    raise AssertionError(f"never reached: {what}")


async def damage_lazily_read_turns(
    data_dir: Path, config: StoreConfig, conversation_id: str
) -> None:
    """A store holding ``conversation_id`` (one message) whose ``turns.json`` is then damaged.
    That file is read lazily, so the damage is found by a later read while the store runs
    (``quarantine_live``), not at open."""
    store = await Store.open(data_dir, config)
    try:
        await store.create_conversation(id=conversation_id)
        await store.append_message(conversation_id, role="user", content="before the damage")
    finally:
        await store.close()
    (data_dir / "conversations" / conversation_id / "turns.json").write_bytes(b"{not json")


def found_anywhere(data_dir: Path, needle: str) -> list[str]:
    """Every file under the data dir (store, journal, quarantine) whose bytes hold ``needle``."""
    return [
        str(path.relative_to(data_dir))
        for path in data_dir.rglob("*")
        if path.is_file() and needle.encode() in path.read_bytes()
    ]
