"""A damaged record in the middle of the journal hides nothing after it (issue #15).

Each record carries its length and CRC, and every payload starts with the same bytes: the scan
resynchronises on the next intact record, replays it, keeps the bad bytes in quarantine and
reports (health ``degraded``) the seqs that could not be read. A torn tail (a crash mid-write,
never acknowledged) is still kept without being reported.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sidecar.store import ListQuery, Store, StoreConfig
from sidecar.store.documents import STORAGES
from sidecar.store.journal import encode_record, segment_paths


def conversation(conversation_id: str) -> dict[str, Any]:
    return {
        "id": conversation_id,
        "title": f"title of {conversation_id}",
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


def create(seq: int, conversation_id: str) -> bytes:
    ops = [["conv", conversation(conversation_id)], ["branch", "main", None]]
    return encode_record(seq, conversation_id, ops)


async def _journal_with(data_dir: Path, config: StoreConfig) -> tuple[Path, int]:
    """A clean store holding ``c0``; returns its open journal segment and first free seq."""
    store = await Store.open(data_dir, config)
    await store.create_conversation(id="c0", title="c0")
    await store.close()
    segment = segment_paths(data_dir / "journal")[-1]
    return segment, int(segment.stem)


def _listed(store: Store) -> list[str]:
    page = store.list_conversations(ListQuery(limit=500, archived=None, deleted=None))
    return sorted(c["id"] for c in page.items)


def _flip(data: bytes, position: int) -> bytes:
    return data[:position] + bytes([data[position] ^ 0x10]) + data[position + 1 :]


async def test_records_after_a_flipped_bit_are_replayed_and_the_loss_reported(
    data_dir: Path, store_config: StoreConfig
) -> None:
    segment, seq = await _journal_with(data_dir, store_config)
    before, lost, after = create(seq, "before"), create(seq + 1, "lost"), create(seq + 2, "after")
    damaged = _flip(lost, len(lost) - 30)  # inside the payload: its CRC no longer matches
    with segment.open("ab") as f:
        f.write(before + damaged + after + create(seq + 3, "later"))
    store = await Store.open(data_dir, store_config)
    try:
        assert _listed(store) == ["after", "before", "c0", "later"]
        [item] = store.quarantined
        assert item.kind == "journal-records"
        assert f"record seqs {seq + 1}-{seq + 1} of conversation 'lost'" in item.reason
        assert f"at offset {len(before)}" in item.reason
        [kept] = [p for p in Path(item.path).iterdir() if p.name != "reason.json"]
        assert kept.read_bytes() == damaged, "exactly the bad bytes, kept"
        assert store.stats()["quarantined"][0]["kind"] == "journal-records"
        await store.create_conversation(title="new")
        assert store.seq > seq + 3
    finally:
        await store.close()
    reopened = await Store.open(data_dir, store_config)
    try:
        assert "after" in _listed(reopened) and len(reopened.quarantined) == 1
    finally:
        await reopened.close()


async def test_a_flipped_bit_in_a_length_field_is_resynchronised(
    data_dir: Path, store_config: StoreConfig
) -> None:
    segment, seq = await _journal_with(data_dir, store_config)
    lost = create(seq, "lost")
    damaged = _flip(lost, 3)  # the length's high byte: it now claims ~256 MiB
    with segment.open("ab") as f:
        f.write(damaged + create(seq + 1, "after"))
    store = await Store.open(data_dir, store_config)
    try:
        assert _listed(store) == ["after", "c0"]
        [item] = store.quarantined
        assert f"record seqs {seq}-{seq} of conversation 'lost'" in item.reason
    finally:
        await store.close()


async def test_damage_already_in_a_snapshot_is_kept_but_not_reported(
    data_dir: Path, store_config: StoreConfig
) -> None:
    """A segment that survived a crash half way through a checkpoint holds records that are
    also in snapshots: losing one of those loses nothing."""
    segment, seq = await _journal_with(data_dir, store_config)
    meta = data_dir / "conversations" / "c0" / "meta.json"
    storage = STORAGES[store_config.storage](meta)
    tables = storage.read()
    assert tables is not None
    tables["shard"]["1"]["applied_seq"] = seq  # c0's files already hold seq
    storage.write(tables)
    ops = [["conv", {**conversation("c0"), "title": "c0"}]]
    damaged = _flip(encode_record(seq, "c0", ops), 40)
    with segment.open("ab") as f:
        f.write(damaged + create(seq + 1, "after"))
    store = await Store.open(data_dir, store_config)
    try:
        assert _listed(store) == ["after", "c0"]
        assert store.quarantined == []
        [kept] = list((data_dir / "quarantine").glob(f"*/{segment.name}.at-0"))
        assert kept.read_bytes() == damaged
    finally:
        await store.close()


async def test_a_journal_segment_that_is_not_a_file_is_moved_aside(
    data_dir: Path, store_config: StoreConfig
) -> None:
    segment, seq = await _journal_with(data_dir, store_config)
    fifo = segment.with_name(f"{seq + 100:020d}.wal")
    os.mkfifo(fifo)
    store = await Store.open(data_dir, store_config)  # would block forever opening the FIFO
    try:
        [item] = store.quarantined
        assert item.kind == "journal-records" and "FIFO" in item.reason
        assert (Path(item.path) / fifo.name).is_fifo()
        await store.create_conversation(id="new", title="new")
        assert store.seq >= seq + 100  # past the seqs the unread segment may hold
    finally:
        await store.close()
