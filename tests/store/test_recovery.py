"""Opening damaged, stale or interrupted data dirs: nothing acknowledged is lost, nothing deleted."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import orjson
import pytest

from sidecar.store import (
    ListQuery,
    NotFound,
    Store,
    StoreConfig,
    StoreVersionError,
    Unavailable,
)
from sidecar.store.schema import SCHEMA_VERSION, ensure_schema, read_version, write_version
from sidecar.store.segments import encode_record, segment_paths


async def _filled(data_dir: Path, config: StoreConfig, conversations: int = 3) -> None:
    store = await Store.open(data_dir, config)
    for n in range(conversations):
        await store.create_conversation(id=f"c{n}", title=f"chat {n}")
        for i in range(5):
            await store.append_message(f"c{n}", role="user", content=f"c{n} message {i}")
    await store.close()


def _listed(store: Store) -> list[str]:
    page = store.list_conversations(ListQuery(limit=500, archived=None, deleted=None))
    return sorted(c["id"] for c in page.items)


async def test_torn_journal_tail_is_ignored_and_kept(
    data_dir: Path, store_config: StoreConfig
) -> None:
    await _filled(data_dir, store_config, 1)
    segment = segment_paths(data_dir / "journal")[-1]
    first_seq = int(segment.stem)
    conversation = {
        "id": "replayed",
        "title": "from the journal",
        "created_at": "2026-01-01T00:00:00.000Z",
        "updated_at": "2026-01-01T00:00:00.000Z",
        "starred": False,
        "pinned": False,
        "archived": False,
        "deleted_at": None,
        "workspace": None,
        "tags": [],
        "metadata": {},
        "active_branch": "main",
        "revision": 1,
        "state": "idle",
        "source": None,
    }
    whole = encode_record(first_seq, "replayed", [["conv", conversation], ["branch", "main", None]])
    torn = encode_record(first_seq + 1, "torn", [["conv", {**conversation, "id": "torn"}]])
    with segment.open("ab") as f:
        f.write(whole + torn[: len(torn) // 2])
    store = await Store.open(data_dir, store_config)
    try:
        assert _listed(store) == ["c0", "replayed"]
        assert (await store.get_conversation("replayed"))["title"] == "from the journal"
        assert store.quarantined == [] and store.stats()["quarantined"] == []
        kept = list((data_dir / "quarantine").glob("*/*.tail"))
        assert len(kept) == 1 and kept[0].read_bytes() == torn[: len(torn) // 2]
        _created, _ = await store.create_conversation(title="after")
        assert store.seq > first_seq
    finally:
        await store.close()


async def test_unreadable_shard_is_quarantined_and_the_rest_works(
    data_dir: Path, store_config: StoreConfig
) -> None:
    await _filled(data_dir, store_config)
    meta = data_dir / "conversations" / "c1" / "meta.json"
    original = meta.read_bytes()
    meta.write_bytes(original[: len(original) // 2])
    store = await Store.open(data_dir, store_config)
    try:
        assert _listed(store) == ["c0", "c2"]
        [item] = store.quarantined
        assert item.conversation_id == "c1" and "JSON" in item.reason
        assert store.stats()["quarantined"][0]["conversation_id"] == "c1"
        kept = Path(item.path) / "c1" / "meta.json"
        assert kept.read_bytes() == original[: len(original) // 2]
        assert (Path(item.path) / "c1" / "messages-000000.json").exists()
        await store.append_message("c0", role="user", content="still writable")
    finally:
        await store.close()


async def test_bit_flip_inside_a_message_is_caught_by_the_checksum(data_dir: Path) -> None:
    config = StoreConfig(storage="checksummed")
    await _filled(data_dir, config)
    chunk = data_dir / "conversations" / "c2" / "messages-000000.json"
    damaged = chunk.read_bytes().replace(b"c2 message 3", b"c2 massage 3")
    chunk.write_bytes(damaged)
    store = await Store.open(data_dir, config)  # lazy: the chunk is not read yet
    try:
        assert _listed(store) == ["c0", "c1", "c2"]
        with pytest.raises(NotFound, match="quarantined"):
            await store.list_messages("c2")
        assert _listed(store) == ["c0", "c1"]
        [item] = store.quarantined
        assert item.conversation_id == "c2" and "checksum" in item.reason
        assert (Path(item.path) / "c2" / "messages-000000.json").read_bytes() == damaged
        with pytest.raises(NotFound):
            await store.get_conversation("c2")
    finally:
        await store.close()


async def test_missing_or_corrupt_catalog_is_rebuilt(
    data_dir: Path, store_config: StoreConfig
) -> None:
    await _filled(data_dir, store_config)
    (data_dir / "catalog.json").unlink()
    store = await Store.open(data_dir, store_config)
    try:
        assert _listed(store) == ["c0", "c1", "c2"]
        assert (await store.get_conversation("c1"))["message_count"] == 5
    finally:
        await store.close()
    (data_dir / "catalog.json").write_bytes(b'{"catalog": garbage')
    store = await Store.open(data_dir, store_config)
    try:
        assert _listed(store) == ["c0", "c1", "c2"]
        assert store.quarantined == []  # a derived file: rebuilt, kept as evidence only
        assert list((data_dir / "quarantine").glob("*/catalog.json"))
        assert store.list_conversations().items[0]["last_message_preview"].startswith("c")
    finally:
        await store.close()


async def test_shard_changed_behind_our_back_is_re_derived(
    data_dir: Path, store_config: StoreConfig
) -> None:
    await _filled(data_dir, store_config, 1)
    backup = data_dir.parent / "backup"
    shutil.copytree(data_dir / "conversations" / "c0", backup)
    store = await Store.open(data_dir, store_config)
    await store.update_conversation("c0", {"title": "renamed later"})
    await store.close()
    shutil.rmtree(data_dir / "conversations" / "c0")
    shutil.copytree(backup, data_dir / "conversations" / "c0")  # a restore from backup
    store = await Store.open(data_dir, store_config)
    try:
        assert store.list_conversations().items[0]["title"] == "chat 0"
    finally:
        await store.close()


async def test_a_conversation_folder_without_catalog_entry_is_listed(
    data_dir: Path, store_config: StoreConfig
) -> None:
    await _filled(data_dir, store_config, 2)
    other = data_dir.parent / "other"
    await _filled(other, store_config, 4)
    shutil.copytree(other / "conversations" / "c3", data_dir / "conversations" / "c3")
    store = await Store.open(data_dir, store_config)
    try:
        assert _listed(store) == ["c0", "c1", "c3"]
    finally:
        await store.close()


async def test_interrupted_purge_neither_resurrects_nor_quarantines(
    data_dir: Path, store_config: StoreConfig
) -> None:
    await _filled(data_dir, store_config)
    saved = data_dir.parent / "saved-c1"
    shutil.copytree(data_dir / "conversations" / "c1", saved)
    store = await Store.open(data_dir, store_config)
    await store.purge_conversation("c1")
    await store.close()
    # as if the rename had not happened before a crash, plus a half-removed folder in purging/
    shutil.copytree(saved, data_dir / "conversations" / "c1")
    shutil.copytree(saved, data_dir / "purging" / "c1")
    store = await Store.open(data_dir, store_config)
    try:
        assert _listed(store) == ["c0", "c2"]
        assert store.quarantined == []
        assert not (data_dir / "conversations" / "c1").exists()
        assert list((data_dir / "purging").iterdir()) == []
    finally:
        await store.close()


async def test_failed_write_changes_nothing(
    data_dir: Path, store_config: StoreConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await Store.open(data_dir, store_config)
    await store.create_conversation(id="c")
    real = os.fdatasync
    calls = {"n": 0}

    def full_disk(fd: int) -> None:
        calls["n"] += 1
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fdatasync", full_disk)
    with pytest.raises(Unavailable, match="No space"):
        await store.append_message("c", role="user", content="lost?")
    assert (await store.get_conversation("c"))["message_count"] == 0
    assert not store.writable and store.stats()["writable"] is False
    monkeypatch.setattr(os, "fdatasync", real)
    await store.append_message("c", role="user", content="after the disk freed up")
    assert store.writable
    await store.close()
    store = await Store.open(data_dir, store_config)
    try:
        items, _ = await store.list_messages("c")
        assert [m["content"] for m in items] == ["after the disk freed up"]
        assert calls["n"] == 1
    finally:
        await store.close()


async def test_memory_stays_bounded(data_dir: Path, storage_name: str) -> None:
    config = StoreConfig(storage=storage_name, cache_size=4, checkpoint_interval=3600)
    store = await Store.open(data_dir, config)
    try:
        for n in range(20):
            await store.create_conversation(id=f"c{n}")
            await store.append_message(f"c{n}", role="user", content="x")
        await store.checkpoint()
        for n in range(20):
            await store.list_messages(f"c{n}")
            assert store.stats()["cached_conversations"] <= 4
    finally:
        await store.close()


def test_newer_schema_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    write_version(tmp_path, SCHEMA_VERSION + 1)
    with pytest.raises(StoreVersionError, match="newer chat-sidecar"):
        ensure_schema(tmp_path)


async def test_newer_store_does_not_open(data_dir: Path) -> None:
    data_dir.mkdir(parents=True)
    write_version(data_dir, SCHEMA_VERSION + 1)
    with pytest.raises(StoreVersionError):
        await Store.open(data_dir)
    (data_dir / "store.json").write_text("not json")
    with pytest.raises(StoreVersionError, match="unreadable"):
        await Store.open(data_dir)


def test_older_schema_is_upgraded_step_by_step_and_safely(tmp_path: Path) -> None:
    write_version(tmp_path, 1)
    (tmp_path / "legacy.txt").write_text("old layout")
    attempts = {"n": 0}

    def upgrade_1_to_2(root: Path) -> None:
        """Idempotent: a rerun after a crash finds its own work done or redoes it."""
        attempts["n"] += 1
        if (root / "legacy.txt").exists():
            (root / "modern.json").write_bytes(orjson.dumps({"text": "old layout"}))
            if attempts["n"] == 1:
                raise OSError("crash in the middle of the step")
            (root / "legacy.txt").unlink()

    with pytest.raises(OSError):
        ensure_schema(tmp_path, current=2, upgrades={1: upgrade_1_to_2})
    assert read_version(tmp_path) == 1  # not bumped: the step did not finish
    assert ensure_schema(tmp_path, current=2, upgrades={1: upgrade_1_to_2}) == 1
    assert read_version(tmp_path) == 2
    assert not (tmp_path / "legacy.txt").exists() and (tmp_path / "modern.json").exists()
    assert ensure_schema(tmp_path, current=2, upgrades={1: upgrade_1_to_2}) == 2
    assert attempts["n"] == 2
