"""Every acknowledgement comes after an fsync that covers its bytes; every new name is fsynced.

The two rules for names: a journal segment's name is durable before any record in it is
acknowledged; every other name (shard files, catalog) is durable before the journal segments its
snapshot replaces are deleted, since until then the journal alone carries the data.

``kill -9`` cannot show a missing fsync (the page cache survives a killed process; only a power
cut loses it), so this test watches the system calls instead. It wraps ``os.fsync`` and
``os.fdatasync`` (recording which file and how many bytes were on it) and the calls that create or
rename a directory entry, runs concurrent writers, and checks the order of events.
"""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from sidecar.store import Store, StoreConfig
from sidecar.store.segments import scan_segment, segment_paths

Event = tuple[Any, ...]


class SyscallLog:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.events: list[Event] = []
        self._lock = threading.Lock()
        real_fsync, real_fdatasync = os.fsync, os.fdatasync
        real_open, real_replace, real_rename, real_mkdir = os.open, os.replace, os.rename, os.mkdir
        real_unlink = os.unlink

        def record(*event: Any) -> None:
            with self._lock:
                self.events.append(event)

        def synced(real: Any) -> Any:
            def wrapper(fd: int) -> None:
                real(fd)
                path = os.readlink(f"/proc/self/fd/{fd}")
                record("sync", path, os.fstat(fd).st_size)

            return wrapper

        def open_(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
            fd = real_open(path, flags, *args, **kwargs)
            if flags & os.O_CREAT:
                record("name", os.path.abspath(os.fspath(path)))
            return fd

        def renamer(real: Any) -> Any:
            def wrapper(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
                real(src, dst, *args, **kwargs)
                record("name", os.path.abspath(os.fspath(dst)))

            return wrapper

        def mkdir(path: Any, *args: Any, **kwargs: Any) -> None:
            real_mkdir(path, *args, **kwargs)
            record("name", os.path.abspath(os.fspath(path)))

        monkeypatch.setattr(os, "fsync", synced(real_fsync))
        monkeypatch.setattr(os, "fdatasync", synced(real_fdatasync))
        monkeypatch.setattr(os, "open", open_)
        monkeypatch.setattr(os, "replace", renamer(real_replace))
        monkeypatch.setattr(os, "rename", renamer(real_rename))

        def unlink(path: Any, *args: Any, **kwargs: Any) -> None:
            record("unlink", os.path.abspath(os.fspath(path)))
            real_unlink(path, *args, **kwargs)

        monkeypatch.setattr(os, "mkdir", mkdir)
        monkeypatch.setattr(os, "unlink", unlink)
        self.record = record


async def test_acknowledgements_follow_fsyncs_that_cover_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = (tmp_path / "data").resolve()
    log = SyscallLog(monkeypatch)
    store = await Store.open(data_dir, StoreConfig(checkpoint_interval=3600))
    acked: list[int] = []

    async def writer(n: int) -> None:
        await store.create_conversation(id=f"c{n}")
        for i in range(25):
            await store.append_message(f"c{n}", role="user", content=f"{n}:{i}" * 20)
            seq = store.seq
            log.record("ack", seq)
            acked.append(seq)

    try:
        await asyncio.gather(*(writer(n) for n in range(8)))
        segments = segment_paths(data_dir / "journal")
        ends: dict[int, tuple[str, int]] = {}
        for segment in segments:
            offset = 0
            scan = scan_segment(segment)
            raw = segment.read_bytes()
            for record in scan.records:
                length = int.from_bytes(raw[offset : offset + 4], "little")
                offset += 8 + length
                ends[record.seq] = (str(segment), offset)
        events = list(log.events)
    finally:
        await store.close()

    assert len(acked) == 200
    synced_upto: dict[str, int] = {}
    for event in events:
        if event[0] == "sync":
            synced_upto[event[1]] = max(synced_upto.get(event[1], 0), event[2])
        elif event[0] == "ack":
            # store.seq after an append is at least that append's seq: every record up to it
            # must already be covered by an fsync of its journal segment.
            for seq, (segment, end) in ends.items():
                if seq <= event[1]:
                    assert synced_upto.get(segment, 0) >= end, f"seq {seq} acked before fsync"


async def test_every_created_or_renamed_name_is_durable_before_anything_relies_on_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = (tmp_path / "data").resolve()
    log = SyscallLog(monkeypatch)
    store = await Store.open(data_dir, StoreConfig(checkpoint_bytes=4096, checkpoint_interval=3600))
    try:
        for n in range(30):
            await store.create_conversation(id=f"c{n}")
            await store.append_message(f"c{n}", role="user", content="hello " * 50)
            log.record("ack", n)
        await store.checkpoint()
        log.record("ack", "checkpoint")
        await store.purge_conversation("c0")
        log.record("ack", "purge")
    finally:
        await store.close()
    events = list(log.events)
    journal = str(data_dir / "journal")
    pending: dict[str, list[str]] = {}  # folder -> names created there since its last fsync
    acks = segment_removals = 0
    for event in events:
        if event[0] == "name":
            if os.path.basename(event[1]) == "sidecar.lock":
                continue  # the lock file carries no data; the OS lock is what matters
            pending.setdefault(os.path.dirname(event[1]), []).append(event[1])
        elif event[0] == "sync":
            pending.pop(event[1], None)
        elif event[0] == "ack":
            acks += 1
            assert not _live(pending.get(journal, [])), f"journal name not durable at {event}"
        elif event[0] == "unlink" and os.path.dirname(event[1]) == journal:
            segment_removals += 1
            stale = {folder: _live(names) for folder, names in pending.items()}
            assert not any(stale.values()), f"names not durable before segment removal: {stale}"
    assert acks == 32 and segment_removals > 3
    assert not any(_live(names) for names in pending.values()), "names left unsynced at close"


def _live(names: list[str]) -> list[str]:
    """Temp files that were renamed away (or removed) need no directory fsync of their own."""
    return [name for name in names if os.path.exists(name)]
