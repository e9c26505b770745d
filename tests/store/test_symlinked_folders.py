"""Folders of the data dir that are symlinks are refused, never written through (issue #15).

A ``quarantine/`` linked to another folder used to receive damaged chat content there, outside
the data dir. Now every folder the store writes into must be a real folder: a link is moved
aside (itself, unfollowed) into the real ``quarantine/`` and reported, and what it points at is
left exactly as it was.
"""

from __future__ import annotations

from pathlib import Path

from sidecar.store import ListQuery, Store, StoreConfig


async def _filled(data_dir: Path, config: StoreConfig) -> None:
    store = await Store.open(data_dir, config)
    for name in ("c0", "c1"):
        await store.create_conversation(id=name, title=name)
        await store.append_message(name, role="user", content=f"{name} says hi")
    await store.close()


def _tree(folder: Path) -> dict[str, bytes | None]:
    """Every path under ``folder`` with its bytes (folders: None), to prove nothing changed."""
    return {
        str(path.relative_to(folder)): None if path.is_dir() else path.read_bytes()
        for path in sorted(folder.rglob("*"))
    }


def _listed(store: Store) -> list[str]:
    page = store.list_conversations(ListQuery(limit=500, archived=None, deleted=None))
    return sorted(c["id"] for c in page.items)


async def test_a_symlinked_quarantine_is_refused_and_damage_stays_inside(
    tmp_path: Path, data_dir: Path, store_config: StoreConfig
) -> None:
    await _filled(data_dir, store_config)
    outside = tmp_path / "outside"
    outside.mkdir()
    (data_dir / "quarantine").symlink_to(outside)
    meta = data_dir / "conversations" / "c1" / "meta.json"
    meta.write_bytes(meta.read_bytes()[:40])  # damaged: must be quarantined, but not out there
    store = await Store.open(data_dir, store_config)
    try:
        assert _listed(store) == ["c0"]
        assert list(outside.iterdir()) == [], "nothing written through the link"
        quarantine = data_dir / "quarantine"
        assert quarantine.is_dir() and not quarantine.is_symlink()
        items = {item.kind: item for item in store.quarantined}
        assert set(items) == {"folder", "conversation"}
        assert f"symbolic link to '{outside}'" in items["folder"].reason
        [moved_link] = [p for p in Path(items["folder"].path).iterdir() if p.is_symlink()]
        assert moved_link.is_symlink() and moved_link.readlink() == outside
        assert Path(items["conversation"].path).parent == quarantine
        assert (Path(items["conversation"].path) / "c1" / "meta.json").exists()
        assert store.stats()["quarantined"], "reported: health is degraded"
        await store.append_message("c0", role="user", content="the rest works")
    finally:
        await store.close()
    assert list(outside.iterdir()) == []


async def test_a_symlinked_shard_folder_is_moved_aside_unfollowed(
    tmp_path: Path, data_dir: Path, store_config: StoreConfig
) -> None:
    await _filled(data_dir, store_config)
    shard = data_dir / "conversations" / "c1"
    outside = tmp_path / "elsewhere-c1"
    shard.rename(outside)
    shard.symlink_to(outside)
    before = _tree(outside)
    store = await Store.open(data_dir, store_config)
    try:
        assert _listed(store) == ["c0"]
        [item] = store.quarantined
        assert item.conversation_id == "c1" and "symbolic link" in item.reason
        assert (Path(item.path) / "c1").is_symlink()
        await store.create_conversation(id="c2", title="new")
        await store.checkpoint()
    finally:
        await store.close()
    assert _tree(outside) == before, "the linked folder was neither written nor moved"


async def test_a_symlinked_journal_is_refused(
    tmp_path: Path, data_dir: Path, store_config: StoreConfig
) -> None:
    await _filled(data_dir, store_config)
    outside = tmp_path / "outside-journal"
    (data_dir / "journal").rename(outside)  # after a clean close: one empty segment
    (data_dir / "journal").symlink_to(outside)
    before = _tree(outside)
    store = await Store.open(data_dir, store_config)
    try:
        [item] = store.quarantined
        assert item.kind == "folder" and "journal/" in item.reason
        assert not (data_dir / "journal").is_symlink()
        await store.append_message("c0", role="user", content="journalled inside")
        assert _tree(outside) == before
        assert list((data_dir / "journal").glob("*.wal"))
    finally:
        await store.close()


async def test_a_symlink_in_place_of_a_shard_file_is_not_followed(
    tmp_path: Path, data_dir: Path, store_config: StoreConfig
) -> None:
    await _filled(data_dir, store_config)
    meta = data_dir / "conversations" / "c1" / "meta.json"
    outside = tmp_path / "outside-meta.json"
    outside.write_bytes(meta.read_bytes())
    meta.unlink()
    meta.symlink_to(outside)
    before = outside.read_bytes()
    store = await Store.open(data_dir, store_config)
    try:
        assert _listed(store) == ["c0"]
        [item] = store.quarantined
        assert item.conversation_id == "c1" and "symbolic link" in item.reason
        assert (Path(item.path) / "c1" / "meta.json").is_symlink()
    finally:
        await store.close()
    assert outside.read_bytes() == before
