"""A damaged record in the middle of the journal hides nothing after it (issue #15).

Each record carries its length and CRC, and every payload starts with the same bytes: the scan
resynchronises on the next intact record, replays it, keeps the bad bytes in quarantine and
reports (health ``degraded``) the seqs that could not be read. A torn tail (a crash mid-write,
never acknowledged) is still kept without being reported.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar.store import ListQuery, Store, StoreConfig
from sidecar.store.documents import STORAGES
from sidecar.store.segments import HEADER, RESYNC_MARKER, encode_record, scan_segment, segment_paths


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


texts = st.text(max_size=40)
record_ops = st.lists(
    st.one_of(
        st.builds(lambda t: ["conv", {"id": "x", "title": t, "metadata": {"s": t}}], texts),
        st.builds(
            lambda m, o, t: ["text", m, o, t], st.text("ab", min_size=1), st.integers(0, 99), texts
        ),
    ),
    min_size=1,
    max_size=3,
)


@settings(max_examples=150, deadline=None)
@given(
    ops=st.lists(record_ops, min_size=2, max_size=6),
    victim=st.integers(min_value=0),
    bit=st.integers(min_value=0),
)
def test_one_flipped_bit_loses_exactly_its_own_record(
    ops: list[list[Any]], victim: int, bit: int
) -> None:
    """Whatever the records and wherever the bit: every other record is read back, and the
    damaged one is reported as missing (or, when it was the last, as a torn tail)."""
    first = 1000
    encoded = [encode_record(first + i, f"c{i % 2}", op) for i, op in enumerate(ops)]
    assert all(e[HEADER.size :].startswith(RESYNC_MARKER) for e in encoded)
    victim %= len(encoded)
    bit %= len(encoded[victim]) * 8
    encoded[victim] = _flip_bit(encoded[victim], bit)
    with tempfile.TemporaryDirectory() as folder:
        segment = Path(folder) / f"{first:020d}.wal"
        segment.write_bytes(b"".join(encoded))
        scan = scan_segment(segment)
    seqs = [record.seq for record in scan.records]
    assert seqs == [first + i for i in range(len(encoded)) if i != victim]
    assert [record.ops for record in scan.records] == [
        op for i, op in enumerate(ops) if i != victim
    ]
    if victim == len(encoded) - 1:
        assert scan.damage == [] and scan.torn_bytes == len(encoded[victim])
    else:
        [damage] = scan.damage
        assert damage.lost_seqs == range(first + victim, first + victim + 1)
        assert damage.data == encoded[victim] and scan.torn_bytes == 0


def _flip_bit(data: bytes, bit: int) -> bytes:
    position, mask = divmod(bit, 8)
    return data[:position] + bytes([data[position] ^ (1 << mask)]) + data[position + 1 :]
