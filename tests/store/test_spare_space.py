"""Records overwrite zeros the journal wrote ahead of them (a sync then covers data alone).

Observed on the real segment files: while the journal writes, a segment ends in zeroed spare
space and its size changes only when a write passes it; sealing, closing and recovery after a
``kill -9`` cut it back to the last record; a scan tells the zeros from records and from a torn
tail, and only the torn bytes go to quarantine.
"""

from __future__ import annotations

import errno
import os
import random
from pathlib import Path

import pytest

from sidecar.store import Store, StoreConfig
from sidecar.store.documents import STORAGES
from sidecar.store.errors import Unavailable
from sidecar.store.journal import SPARE_BYTES, Journal
from sidecar.store.layout import Layout
from sidecar.store.quarantine import Quarantine
from sidecar.store.recovery import recover
from sidecar.store.segments import encode_record, scan_segment, segment_paths
from tests.crashing import run_and_kill


def _nothing(seq: int) -> None:
    """An ``on_commit`` that applies nothing (these tests read the segment itself)."""


async def test_records_fill_the_zeroed_space_without_growing_the_file(tmp_path: Path) -> None:
    journal = await Journal.start(tmp_path, 1, inline_sync_s=60.0)
    try:
        await journal.append("c", [["x", "first"]], _nothing)
        segment = segment_paths(tmp_path)[0]
        first = len(encode_record(1, "c", [["x", "first"]]))
        assert segment.stat().st_size == first + SPARE_BYTES
        for _ in range(20):
            await journal.append("c", [["x", "more"]], _nothing)
        assert segment.stat().st_size == first + SPARE_BYTES, "written within the spare space"
        scan = scan_segment(segment)
        assert [r.seq for r in scan.records] == list(range(1, 22))
        assert scan.torn_bytes == 0 and scan.damage == []
        assert scan.valid_bytes + scan.spare_bytes == first + SPARE_BYTES
    finally:
        await journal.close()


async def test_a_record_longer_than_the_spare_space_is_written_whole(tmp_path: Path) -> None:
    journal = await Journal.start(tmp_path, 1, inline_sync_s=60.0)
    try:
        await journal.append("c", [["x", "small"]], _nothing)
        big = "y" * (SPARE_BYTES * 2)
        await journal.append("c", [["x", big]], _nothing)
        segment = segment_paths(tmp_path)[0]
        scan = scan_segment(segment)
        assert [r.ops[0][1] for r in scan.records] == ["small", big]
        assert segment.stat().st_size == scan.valid_bytes + SPARE_BYTES
    finally:
        await journal.close()


async def test_sealing_and_closing_cut_a_segment_after_its_last_record(tmp_path: Path) -> None:
    journal = await Journal.start(tmp_path, 1)
    for _ in range(3):
        await journal.append("c", [["x"]], _nothing)
    (sealed,) = await journal.rotate()
    await journal.append("c", [["x"]], _nothing)
    await journal.close()
    current = segment_paths(tmp_path)[-1]
    assert sealed.read_bytes() == b"".join(encode_record(seq, "c", [["x"]]) for seq in (1, 2, 3))
    assert current.read_bytes() == encode_record(4, "c", [["x"]])


async def test_a_failed_sync_is_cut_off_and_the_next_write_zeroes_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = await Journal.start(tmp_path, 1, inline_sync_s=60.0)
    real_fdatasync = os.fdatasync
    try:
        await journal.append("c", [["x", "kept"]], _nothing)

        def full_disk(fd: int) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(os, "fdatasync", full_disk)
        with pytest.raises(Unavailable):
            await journal.append("c", [["x", "lost"]], _nothing)
        monkeypatch.setattr(os, "fdatasync", real_fdatasync)
        await journal.append("c", [["x", "after"]], _nothing)
        segment = segment_paths(tmp_path)[0]
        scan = scan_segment(segment)
        assert [r.ops[0][1] for r in scan.records] == ["kept", "after"]
        assert scan.torn_bytes == 0 and scan.damage == []
        assert segment.stat().st_size == scan.valid_bytes + SPARE_BYTES
    finally:
        await journal.close()


async def test_a_torn_record_before_the_zeros_is_quarantined_without_them(data_dir: Path) -> None:
    store = await Store.open(data_dir, StoreConfig(checkpoint_interval=3600))
    await store.create_conversation(id="c")
    await store.append_message("c", role="user", content="kept")
    await store.close()
    segment = segment_paths(data_dir / "journal")[-1]
    records = segment.read_bytes()
    torn = encode_record(99, "c", [["x", "never acknowledged"]])[:-7]
    segment.write_bytes(records + torn + bytes(4096))
    scan = scan_segment(segment)
    assert (scan.valid_bytes, scan.torn_bytes, scan.spare_bytes) == (len(records), len(torn), 4096)

    store = await Store.open(data_dir, StoreConfig(checkpoint_interval=3600))
    try:
        items, _ = await store.list_messages("c")
        assert [m["content"] for m in items] == ["kept"]
    finally:
        await store.close()
    kept = [p for p in (data_dir / "quarantine").rglob("*.tail") if p.is_file()]
    assert [p.read_bytes() for p in kept] == [torn]
    assert segment.read_bytes().startswith(records)


@pytest.mark.subprocess
async def test_after_kill_9_recovery_cuts_the_zeros_and_quarantines_nothing(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    acked: dict[str, int] = {}
    lines = run_and_kill(
        "tests.store.crash_writer", [str(data_dir), "3", "steady"], random.Random(7), (0.3, 0.4)
    )
    for line in lines:
        parts = line.split()
        if parts[0] == "ack":
            acked[parts[1]] = max(acked.get(parts[1], -1), int(parts[2]))
    assert acked, "the writer should have acknowledged writes before the kill"
    last = segment_paths(data_dir / "journal")[-1]
    assert scan_segment(last).spare_bytes > 0, "the killed writer left zeroed space"

    layout = Layout(data_dir.resolve())
    recover(layout, STORAGES[StoreConfig().storage], Quarantine(layout.quarantine))
    scan = scan_segment(last)  # the store's opening compacts it away: its recovery alone here
    assert (scan.torn_bytes, scan.spare_bytes, scan.damage) == (0, 0, [])
    assert last.stat().st_size == scan.valid_bytes > 0

    store = await Store.open(data_dir, StoreConfig())
    try:
        for cid, n in acked.items():
            items, _ = await store.list_messages(cid, limit=1)
            assert int(str(items[-1]["content"]).split()[1]) >= n
    finally:
        await store.close()
    assert not [p for p in (data_dir / "quarantine").rglob("*") if p.is_file()]
