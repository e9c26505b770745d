"""Shard files that come from outside (a backup, another data dir) cannot make us lose writes.

A foreign shard may carry an ``applied_seq`` above our journal's; writes acknowledged after we
adopt it must still replay after a crash. And files restored by another program void the older
journal records of that conversation, so a crash cannot undo the restore.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

from sidecar.store import Store, StoreConfig
from sidecar.store.segments import encode_record, segment_paths

ROOT = Path(__file__).resolve().parents[2]

CRASH_AFTER_APPEND = """
import asyncio, os, shutil, sys
from pathlib import Path
from sidecar.store import Store, StoreConfig

async def main(data_dir, foreign, at_runtime):
    store = await Store.open(Path(data_dir), StoreConfig(checkpoint_interval=3600))
    if at_runtime:
        shutil.copytree(foreign, Path(data_dir) / "conversations" / "x")
        assert await store.apply_external_changes({"x"}) == ["x"]
    await store.append_message("x", role="user", content="acknowledged after adoption")
    print("ack", flush=True)
    os._exit(0)  # a crash: no close, no checkpoint

asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3] == "runtime"))
"""


async def _foreign_shard(tmp_path: Path) -> Path:
    """A conversation 'x' written by another store whose seq ran far ahead of ours."""
    other = tmp_path / "other"
    store = await Store.open(other, StoreConfig(checkpoint_interval=3600))
    for n in range(40):
        await store.create_conversation(id=f"filler{n}")
    await store.create_conversation(id="x", title="foreign")
    await store.close()
    return other / "conversations" / "x"


def _crash_after_append(data_dir: Path, foreign: Path, when: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", CRASH_AFTER_APPEND, str(data_dir), str(foreign), when],
        cwd=ROOT,
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )
    assert result.stdout == b"ack\n", result.stderr.decode()


async def _contents(data_dir: Path) -> list[str]:
    store = await Store.open(data_dir)
    try:
        items, _ = await store.list_messages("x")
        return [m["content"] for m in items]
    finally:
        await store.close()


async def test_a_foreign_shard_found_at_open_cannot_hide_later_writes(tmp_path: Path) -> None:
    foreign = await _foreign_shard(tmp_path)
    data_dir = tmp_path / "data"
    store = await Store.open(data_dir)
    await store.close()
    shutil.copytree(foreign, data_dir / "conversations" / "x")
    await asyncio.to_thread(_crash_after_append, data_dir, foreign, "open")
    assert await _contents(data_dir) == ["acknowledged after adoption"]


async def test_a_foreign_shard_adopted_at_runtime_cannot_hide_later_writes(tmp_path: Path) -> None:
    foreign = await _foreign_shard(tmp_path)
    data_dir = tmp_path / "data"
    store = await Store.open(data_dir)
    await store.close()
    await asyncio.to_thread(_crash_after_append, data_dir, foreign, "runtime")
    assert await _contents(data_dir) == ["acknowledged after adoption"]


async def test_a_restore_from_outside_voids_older_journal_records(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    store = await Store.open(data_dir)
    await store.create_conversation(id="x", title="on disk")
    conversation = await store.get_conversation("x")
    await store.close()
    segment = segment_paths(data_dir / "journal")[-1]
    seq = int(segment.stem)
    stale = {**conversation, "title": "older change", "revision": 9}
    stale.pop("message_count")
    stale.pop("last_message_preview")
    with segment.open("ab") as journal:
        journal.write(encode_record(seq, "x", [["conv", stale]]))
        journal.write(encode_record(seq + 1, "", [["external", ["x"]]]))
    store = await Store.open(data_dir)
    try:
        assert (await store.get_conversation("x"))["title"] == "on disk"
        assert store.seq >= seq + 1
    finally:
        await store.close()
