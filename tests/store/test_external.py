"""Changes made to the data dir by other programs are reloaded and announced; ours never echo."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from sidecar.store import Change, ExternalEffect, ListQuery, Store, StoreConfig
from sidecar.store.ids import path_name
from sidecar.watcher import watch_external_changes
from tests.crashing import HeldRename


async def _external_effects(
    store: Store, seen: list[Change], wait_s: float = 3.0
) -> list[list[str]]:
    deadline = asyncio.get_running_loop().time() + wait_s
    while asyncio.get_running_loop().time() < deadline:
        found = [
            list(e.conversation_ids)
            for c in seen
            for e in c.effects
            if isinstance(e, ExternalEffect)
        ]
        if found:
            return found
        await asyncio.sleep(0.05)
    return []


async def test_restore_from_backup_is_reloaded_and_announced(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    store = await Store.open(data_dir, StoreConfig(checkpoint_interval=3600))
    await store.create_conversation(id="c1", title="original")
    await store.create_conversation(id="c2", title="second")
    await store.checkpoint()
    backup = tmp_path / "backup"
    shutil.copytree(data_dir / "conversations" / "c1", backup)
    await store.update_conversation("c1", {"title": "renamed"})
    await store.checkpoint()
    seen: list[Change] = []
    store.subscribe(seen.extend)
    stop = asyncio.Event()
    watcher = asyncio.create_task(watch_external_changes(store, stop))
    try:
        await asyncio.sleep(0.3)
        # our own writes (a checkpoint rewriting shard files) must not echo
        await store.update_conversation("c2", {"title": "ours"})
        await store.checkpoint()
        assert await _external_effects(store, seen, wait_s=1.0) == []
        # a restore from backup by another program
        target = data_dir / "conversations" / "c1"
        shutil.rmtree(target)
        shutil.copytree(backup, target)
        assert await _external_effects(store, seen) == [["c1"]]
        assert (await store.get_conversation("c1"))["title"] == "original"
        titles = {c["id"]: c["title"] for c in store.list_conversations(ListQuery()).items}
        assert titles == {"c1": "original", "c2": "ours"}
        external = next(e for c in seen for e in c.effects if isinstance(e, ExternalEffect))
        assert external.seq == store.seq
        # a folder removed by another program disappears from the list
        seen.clear()
        shutil.rmtree(data_dir / "conversations" / "c2")
        assert await _external_effects(store, seen) == [["c2"]]
        assert [c["id"] for c in store.list_conversations(ListQuery()).items] == ["c1"]
    finally:
        stop.set()
        await watcher
        await store.close()
    reopened = await Store.open(data_dir)
    try:
        assert (await reopened.get_conversation("c1"))["title"] == "original"
    finally:
        await reopened.close()


async def test_our_own_checkpoint_in_flight_is_never_taken_for_an_outside_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by the migration tests: the watcher saw a new conversation's first checkpoint half
    written (chunks, no meta.json yet), took the missing meta for a deletion and dropped the
    conversation from the list. The rename of that meta.json is held up here to make it certain."""
    held = HeldRename(monkeypatch)
    store = await Store.open(tmp_path / "data", StoreConfig(checkpoint_interval=3600))
    try:
        await store.create_conversation(id="fresh", title="new")
        await store.append_message("fresh", role="user", content="hello")
        meta = store.layout.shard("fresh") / "meta.json"
        held.hold(meta)
        checkpoint = asyncio.create_task(store.checkpoint())
        await held.reached()
        assert not meta.exists()
        assert await store.apply_external_changes({path_name("fresh")}) == []
        assert [c["id"] for c in store.list_conversations(ListQuery()).items] == ["fresh"]
        held.release()
        await checkpoint
        assert await store.apply_external_changes({path_name("fresh")}) == []
        assert [c["id"] for c in store.list_conversations(ListQuery()).items] == ["fresh"]
    finally:
        held.release()
        await store.close()
