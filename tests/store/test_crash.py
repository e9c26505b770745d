"""``kill -9`` a real writer process at random moments, many times; nothing acknowledged is lost.

kill -9 cannot see a missing fsync (the page cache survives it): ``test_fsync_order.py`` proves
that side. This one proves recovery: after every kill the store opens, and every acknowledged write
is there exactly once, in order, including during checkpoints and while replies stream.
"""

from __future__ import annotations

import itertools
import os
import random
from pathlib import Path

import pytest

from sidecar.store import Store, StoreConfig
from tests.crashing import run_and_kill

WRITERS = 6


def run_and_kill_writer(data_dir: Path, rng: random.Random) -> list[str]:
    return run_and_kill("tests.store.crash_writer", [str(data_dir), str(WRITERS)], rng, (0.05, 0.6))


async def all_messages(store: Store, cid: str) -> list[dict[str, object]]:
    items, more = await store.list_messages(cid, limit=1000)
    while more:
        older, more = await store.list_messages(cid, limit=1000, before=str(items[0]["id"]))
        items = older + items
    return items


@pytest.mark.subprocess
async def test_kill_9_at_random_moments_loses_no_acknowledged_write(tmp_path: Path) -> None:
    rng = random.Random(int(os.environ.get("CRASH_SEED", "20261121")))
    data_dir = tmp_path / "data"
    acked: dict[str, int] = {}
    streamed: dict[str, int] = {}
    kills = int(os.environ.get("CRASH_KILLS", "16"))
    for _ in range(kills):
        for line in run_and_kill_writer(data_dir, rng):
            parts = line.split()
            if parts[0] == "ack":
                acked[parts[1]] = max(acked.get(parts[1], -1), int(parts[2]))
            elif parts[0] == "text":
                streamed[parts[2]] = max(streamed.get(parts[2], 0), int(parts[3]))
    assert sum(acked.values()) > 100, "the writer should have made real progress"

    store = await Store.open(data_dir, StoreConfig())
    try:
        for cid, last in acked.items():
            items = await all_messages(store, cid)
            numbers = [int(str(m["content"]).split()[1]) for m in items]
            assert numbers == list(range(len(numbers))), f"{cid}: gap, repeat or reorder"
            assert len(numbers) >= last + 1, f"{cid}: lost acknowledged writes"
        for message_id, count in streamed.items():
            content = (await store.get_message("stream", message_id))["content"]
            assert content.startswith("".join(f"<{i}>" for i in range(count)))
            deltas = content.count("<")
            assert content == "".join(f"<{i}>" for i in range(deltas))
        assert store.quarantined == []
    finally:
        await store.close()


@pytest.mark.subprocess
async def test_kill_9_during_pipelined_appends_to_one_conversation_recovers_one_chain(
    tmp_path: Path,
) -> None:
    """Appends queued behind each other's fsyncs: after any kill, the conversation is one
    gap-free chain (each message's parent is the one before it) holding every acknowledged one."""
    rng = random.Random(int(os.environ.get("CRASH_SEED", "20261203")))
    data_dir = tmp_path / "data"
    acked: set[str] = set()
    for _ in range(int(os.environ.get("CRASH_KILLS", "8"))):
        lines = run_and_kill("tests.store.crash_pipelined", [str(data_dir), "24"], rng, (0.05, 0.5))
        acked |= {line.split(" ", 1)[1] for line in lines if line.startswith("ack ")}
        store = await Store.open(data_dir, StoreConfig())
        try:
            summary, messages = await store.all_messages("one")
            assert messages[0]["parent_id"] is None
            for before, after in itertools.pairwise(messages):
                assert after["parent_id"] == before["id"], "a gap or a fork in the chain"
            contents = [str(m["content"]) for m in messages]
            assert len(set(contents)) == len(contents), "a write replayed twice"
            assert acked <= set(contents), "an acknowledged write was lost"
            assert summary["message_count"] == len(messages)
            assert store.quarantined == []
        finally:
            await store.close()
    assert len(acked) > 100, "the writers should have made real progress"
