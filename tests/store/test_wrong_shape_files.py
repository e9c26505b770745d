"""Store files that are well-formed but of the wrong shape are damage, not a reason to stop.

A checksum proves the bytes are the ones written; it says nothing of a file written by another
version, edited by hand (the ``plain`` storage has no checksum at all) or by a bug: valid JSON
with a list where an object was written, a list where a string was. Each read turns such a shape
into :class:`CorruptDocument`, so the file takes the same path as a torn one: quarantined and
reported, and the store starts. Before, ``reserved.json`` damaged in any way, and a catalog or a
conversation's ``meta.json`` of the wrong shape, failed every start of the store.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sidecar.store import Store
from sidecar.store.documents import STORAGES
from sidecar.store.values import StoreConfig


async def _store_with_a_chat_and_a_purge(data_dir: Path, config: StoreConfig) -> tuple[str, str]:
    store = await Store.open(data_dir, config)
    try:
        kept, _ = await store.create_conversation(title="kept")
        purged, _ = await store.create_conversation(title="purged")
        await store.append_message(kept["id"], role="user", content="hello")
        await store.purge_conversation(purged["id"])
    finally:
        await store.close()
    return kept["id"], purged["id"]


def _rewrite(path: Path, storage_name: str, change: Any) -> None:
    """Rewrite ``path`` through its own storage (so its checksum is right) after ``change``."""
    storage = STORAGES[storage_name](path)
    tables = storage.read()
    assert tables is not None
    change(tables)
    storage.write(tables)


def _quarantined_names(data_dir: Path) -> set[str]:
    return {p.name for p in (data_dir / "quarantine").rglob("*") if p.is_file()}


async def test_a_torn_reserved_file_is_quarantined_and_the_store_starts(
    data_dir: Path, storage_name: str, store_config: StoreConfig
) -> None:
    kept, _ = await _store_with_a_chat_and_a_purge(data_dir, store_config)
    (data_dir / "reserved.json").write_bytes(b'{"reserved": {"1": {"ids": ["abc')
    store = await Store.open(data_dir, store_config)
    try:
        assert [item.kind for item in store.quarantined] == ["file"]
        assert "no longer reserved" in store.quarantined[0].reason
        assert [m["content"] for m in (await store.all_messages(kept))[1]] == ["hello"]
    finally:
        await store.close()
    assert "reserved.json" in _quarantined_names(data_dir)
    # written again at the first checkpoint: the next start finds nothing new (the quarantined
    # copy is still reported, as every reported item is until someone deals with it)
    assert STORAGES[storage_name](data_dir / "reserved.json").read() is not None
    store = await Store.open(data_dir, store_config)
    try:
        assert len(store.quarantined) == 1
    finally:
        await store.close()


async def test_a_reserved_file_of_the_wrong_shape_is_quarantined(
    data_dir: Path, storage_name: str, store_config: StoreConfig
) -> None:
    await _store_with_a_chat_and_a_purge(data_dir, store_config)
    STORAGES[storage_name](data_dir / "reserved.json").write({"reserved": {"1": ["x"]}})
    store = await Store.open(data_dir, store_config)
    try:
        assert [item.kind for item in store.quarantined] == ["file"]
    finally:
        await store.close()


async def test_a_catalog_of_the_wrong_shape_is_rebuilt(
    data_dir: Path, storage_name: str, store_config: StoreConfig
) -> None:
    kept, _ = await _store_with_a_chat_and_a_purge(data_dir, store_config)

    def summaries_as_lists(tables: Any) -> None:
        for row in tables["entries"].values():
            row["summary"] = [row["summary"]["id"]]

    _rewrite(data_dir / "catalog.json", storage_name, summaries_as_lists)
    store = await Store.open(data_dir, store_config)
    try:
        assert (await store.get_conversation(kept))["id"] == kept
    finally:
        await store.close()
    assert "catalog.json" in _quarantined_names(data_dir)


def _usage_as_a_list(tables: Any) -> None:
    tables["usage"] = {"1": []}


def _tree_ids_as_lists(tables: Any) -> None:
    tables["tree"]["1"]["ids"] = [[i] for i in tables["tree"]["1"]["ids"]]


@pytest.mark.parametrize("damage", [_usage_as_a_list, _tree_ids_as_lists])
async def test_a_meta_file_of_the_wrong_shape_quarantines_its_conversation_only(
    data_dir: Path, storage_name: str, store_config: StoreConfig, damage: Any
) -> None:
    kept, _ = await _store_with_a_chat_and_a_purge(data_dir, store_config)
    store = await Store.open(data_dir, store_config)
    try:
        other, _ = await store.create_conversation(title="other")
        await store.append_message(other["id"], role="user", content="still here")
    finally:
        await store.close()
    _rewrite(data_dir / "conversations" / kept / "meta.json", storage_name, damage)
    store = await Store.open(data_dir, store_config)
    try:
        assert [item.conversation_id for item in store.quarantined] == [kept]
        assert [m["content"] for m in (await store.all_messages(other["id"]))[1]] == ["still here"]
    finally:
        await store.close()
    assert "meta.json" in _quarantined_names(data_dir)
