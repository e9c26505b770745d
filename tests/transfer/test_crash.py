"""``kill -9`` a real importer at random moments: every conversation is whole or absent, every
acknowledged import and rollback holds, and the store opens clean every time."""

from __future__ import annotations

import asyncio
import os
import random
from pathlib import Path

import pytest

from sidecar.service.exporter import all_conversation_ids, export_conversation
from sidecar.store import Store, StoreConfig
from tests.crashing import HeldRename, run_and_kill

from .crash_importer import CONVERSATIONS, GROUP, MESSAGES


def run_and_kill_importer(data_dir: Path, tag: str, rng: random.Random) -> list[str]:
    return run_and_kill("tests.transfer.crash_importer", [str(data_dir), tag], rng, (0.05, 0.7))


@pytest.mark.subprocess
async def test_kill_9_during_imports_and_rollbacks(tmp_path: Path) -> None:
    rng = random.Random(int(os.environ.get("CRASH_SEED", "20261201")))
    data_dir = tmp_path / "data"
    acked: set[str] = set()
    started: set[str] = set()
    for kill in range(int(os.environ.get("CRASH_KILLS", "8"))):
        for line in run_and_kill_importer(data_dir, f"k{kill}", rng):
            run = line.partition(" ")[2]
            if run:
                acked.add(line)
                started.add(run)
    assert sum(line.startswith("rolled") for line in acked) >= 3, "too little progress"

    store = await Store.open(data_dir, StoreConfig())
    try:
        assert store.quarantined == []
        ids = all_conversation_ids(store, include_deleted=True)
        for conversation_id in ids:
            assert await store.verify(conversation_id) == []
            if conversation_id != "base":  # created by an import: whole, or not there at all
                entry = await export_conversation(store, conversation_id)
                assert len(entry["messages"]) == MESSAGES, conversation_id
        base = await export_conversation(store, "base")
        groups: dict[str, int] = {}
        for message in base["messages"]:
            run = message["source"]["run_id"]
            groups[run] = groups.get(run, 0) + 1
        assert set(groups.values()) <= {GROUP}, "a merge or a revert was split"
        for run in started:
            created = {f"{run}c{j}" for j in range(CONVERSATIONS)}
            present = created & set(ids)
            rolled_back_later = int(run.rsplit("r", 1)[1]) % 2 == 0  # maybe mid-rollback
            if f"rolled {run}" in acked:
                assert present == set() and run not in groups, run
            elif not rolled_back_later:
                assert present == created, run  # "imported" is the first line of a run
                if f"merged {run}" in acked:
                    assert run in groups, run
    finally:
        await store.close()


async def test_a_shard_is_not_re_read_while_its_snapshot_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by the test above: a conversation evicted while a checkpoint wrote it could be
    re-read from new chunks and the *old* meta.json, and its next snapshot then lost the writes
    in between. The checkpoint's rename of that meta.json is held up here to make it certain."""
    held = HeldRename(monkeypatch)
    store = await Store.open(tmp_path / "data", StoreConfig(cache_size=1, checkpoint_interval=3600))
    try:
        await store.create_conversation(id="a")
        await store.append_message("a", role="user", content="one")
        await store.checkpoint()
        await store.append_message("a", role="user", content="two")
        meta = store.layout.shard("a") / "meta.json"
        held.hold(meta)
        checkpoint = asyncio.create_task(store.checkpoint())
        await held.reached()
        await store.create_conversation(id="b")  # over the cache size: evicts what it can
        items, _ = await store.list_messages("a")
        assert [m["content"] for m in items] == ["one", "two"]
        held.release()
        await checkpoint
        await store.append_message("a", role="user", content="three")
    finally:
        held.release()
        await store.close()
    reopened = await Store.open(tmp_path / "data", StoreConfig())
    try:
        items, _ = await reopened.list_messages("a")
        assert [m["content"] for m in items] == ["one", "two", "three"]
    finally:
        await reopened.close()
