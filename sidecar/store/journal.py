"""The write-ahead journal: one append-only log for the whole store, with group commit.

Every change to the store is one *record* (a list of idempotent operations on one conversation),
framed as ``length (u32 LE) | crc32 (u32 LE) | payload`` where the payload is orjson. Records carry a
store-wide increasing ``seq``, which is also the event sequence: a record that causes several events
reserves that many seqs (``width``), so every event has an id of its own and a client resuming
after any one of them misses none of its siblings.

Group commit: :meth:`Journal.append` queues a record and returns at once with a future; one flusher
task writes everything queued in a single ``write`` and covers it with a single ``fdatasync`` (on a
dedicated I/O thread, off the event loop). Records that arrive while a sync runs form the next batch,
so 50 concurrent writers share one fsync instead of queueing behind 50. Only after the sync returns
does the flusher apply each record (its ``on_commit`` callback, on the event loop, in seq order) and
resolve its future: nothing is visible or acknowledged before it is on disk.

The journal is a sequence of segment files named by the seq of their first record. Compaction
(:mod:`.checkpoint`) seals the current segment, writes the state it covers into shard snapshots, and
then deletes the sealed segments. A torn record at a segment's end (a crash mid-write) fails its
checksum and is ignored; the bytes are kept in ``quarantine/journal/`` rather than deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import struct
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from .durable import fsync_dir
from .errors import Unavailable
from .safe_read import read_regular

log = logging.getLogger(__name__)

HEADER = struct.Struct("<II")
MAX_RECORD_BYTES = 256 * 1024 * 1024
SEGMENT_SUFFIX = ".wal"

Operation = list[Any]


@dataclass(frozen=True, slots=True)
class Record:
    """One committed change: idempotent ``ops`` on one conversation, at seqs ``seq .. last_seq``."""

    seq: int
    conversation_id: str
    ops: list[Operation]
    width: int = 1

    @property
    def last_seq(self) -> int:
        return self.seq + self.width - 1


#: How every payload begins (``encode_record`` puts ``s`` first; orjson keeps key order). After a
#: damaged record, the scan looks for the next occurrence whose header (length and CRC) checks
#: out: the record there is intact, so one bad record hides nothing after it. Old journals
#: already have it: no format change was needed.
RESYNC_MARKER = b'{"s":'
_GUESS = re.compile(rb'\{"s":(\d{1,20}),"c":"([A-Za-z0-9_-]{0,128})"')


def encode_record(seq: int, conversation_id: str, ops: list[Operation], width: int = 1) -> bytes:
    body: dict[str, Any] = {"s": seq, "c": conversation_id, "o": ops}
    if width != 1:
        body["n"] = width
    payload = orjson.dumps(body)
    return HEADER.pack(len(payload), zlib.crc32(payload)) + payload


@dataclass(frozen=True, slots=True)
class Damage:
    """Unreadable bytes between two intact records of a segment.

    ``lost_seqs``: the seqs no intact record holds between its neighbours (empty: the bytes held
    no record, or a record that was never given a seq). ``guess``: the seq and conversation the
    damaged bytes still name, when their start survived.
    """

    offset: int
    data: bytes
    lost_seqs: range
    guess: tuple[int, str] | None

    def describe(self, segment: str) -> str:
        where = f"journal {segment}: {len(self.data)} bytes at offset {self.offset} are damaged"
        if not self.lost_seqs:
            return f"{where}; they held no record that is missing"
        seqs = f"{self.lost_seqs.start}-{self.lost_seqs.stop - 1}"
        whose = f" of conversation '{self.guess[1]}'" if self.guess and self.guess[1] else ""
        return (
            f"{where}: record seqs {seqs}{whose} could not be read and are missing from the"
            " store; every intact record after them was replayed"
        )


@dataclass(slots=True)
class SegmentScan:
    """What reading one segment found: its intact records, the damage between them, and how
    many bytes after the last intact record were bad (a torn tail)."""

    path: Path
    records: list[Record]
    valid_bytes: int
    torn_bytes: int
    damage: list[Damage] = field(default_factory=list)


def _record_at(data: bytes, offset: int) -> tuple[Record, int] | None:
    """The intact record starting at ``offset`` and where it ends, or ``None``."""
    if offset + HEADER.size > len(data):
        return None
    length, crc = HEADER.unpack_from(data, offset)
    start = offset + HEADER.size
    end = start + length
    if length > MAX_RECORD_BYTES or end > len(data):
        return None
    payload = data[start:end]
    if zlib.crc32(payload) != crc:
        return None
    try:
        body = orjson.loads(payload)
        record = Record(int(body["s"]), str(body["c"]), list(body["o"]), int(body.get("n", 1)))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
    return record, end


def _resync(data: bytes, offset: int) -> int | None:
    """Where the next intact record after damage at ``offset`` starts (``None``: none does)."""
    search = offset + HEADER.size + 1
    while (found := data.find(RESYNC_MARKER, search)) >= 0:
        candidate = found - HEADER.size
        if candidate > offset and _record_at(data, candidate) is not None:
            return candidate
        search = found + 1
    return None


def scan_segment(path: Path) -> SegmentScan:
    """Read every intact record of a segment, skipping damaged ones.

    Damage followed by an intact record is resynchronised on (:data:`RESYNC_MARKER`) and
    reported as :class:`Damage`; damage that nothing intact follows is the torn tail a crash
    mid-write leaves (never acknowledged: its fsync had not returned).
    Raises ``OSError`` (:class:`~.safe_read.NotRegularFile` included) when it cannot be read.
    """
    data = read_regular(path)
    records: list[Record] = []
    damage: list[Damage] = []
    offset = 0
    while offset < len(data):
        found = _record_at(data, offset)
        if found is not None:
            records.append(found[0])
            offset = found[1]
            continue
        resume = _resync(data, offset)
        if resume is None:
            break
        after = records[-1].last_seq if records else segment_first_seq(path) - 1
        following = _record_at(data, resume)
        assert following is not None
        bad = data[offset:resume]
        guess = _GUESS.search(bad[: HEADER.size + 200])
        damage.append(
            Damage(
                offset,
                bad,
                range(after + 1, following[0].seq),
                (int(guess[1]), guess[2].decode()) if guess else None,
            )
        )
        offset = resume
    return SegmentScan(path, records, offset, len(data) - offset, damage)


def segment_paths(folder: Path) -> list[Path]:
    """Segments in seq order (their names are zero-padded first seqs)."""
    return sorted(p for p in folder.glob(f"*{SEGMENT_SUFFIX}") if p.stem.isdigit())


def segment_first_seq(path: Path) -> int:
    return int(path.stem)


@dataclass(slots=True)
class _Pending:
    seq: int
    last_seq: int
    data: bytes
    on_commit: Callable[[int], None]
    future: asyncio.Future[int] = field(repr=False)


class Journal:
    """The appending side of the journal. Create with :meth:`start`; stop with :meth:`close`."""

    def __init__(self, folder: Path, next_seq: int) -> None:
        self.folder = folder
        self._next_seq = next_seq
        self._pending: list[_Pending] = []
        self._has_work = asyncio.Event()
        self._rotate_waiters: list[asyncio.Future[list[Path]]] = []
        self._closing = False
        self._broken: str | None = None
        self._failing: str | None = None
        self._fd = -1
        self._path = folder
        self._offset = 0
        self._bytes_since_rotation = 0
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal")
        self._task: asyncio.Task[None] | None = None
        self.last_committed_seq = next_seq - 1

    @classmethod
    async def start(cls, folder: Path, next_seq: int) -> Journal:
        journal = cls(folder, next_seq)
        await journal._in_thread(journal._open_segment, next_seq)
        journal._task = asyncio.create_task(journal._flush_loop(), name="journal-flusher")
        return journal

    @property
    def next_seq(self) -> int:
        return self._next_seq

    def advance_past(self, seq: int) -> None:
        """Make every future record's seq greater than ``seq``.

        A shard that came from outside may carry an ``applied_seq`` above ours; records written
        after it must still sort after it, or replay would take them for old ones and skip them.
        """
        self._next_seq = max(self._next_seq, seq + 1)

    @property
    def writable(self) -> bool:
        """False while the disk refuses writes (until one succeeds) or after a fatal error."""
        return self._broken is None and self._failing is None and not self._closing

    @property
    def bytes_since_rotation(self) -> int:
        """Bytes appended since the last :meth:`rotate`: how much a checkpoint would compact."""
        return self._bytes_since_rotation

    def append(
        self,
        conversation_id: str,
        ops: list[Operation],
        on_commit: Callable[[int], None],
        *,
        width: int = 1,
    ) -> asyncio.Future[int]:
        """Queue a record; the future resolves with its seq once it is durable and applied.

        The record takes seqs ``seq .. seq + width - 1``. ``on_commit(seq)`` runs on the event loop right after the fsync that covers the record, before
        the future resolves, in seq order across all records. It must not raise.
        """
        if self._broken is not None:
            raise Unavailable(f"the store cannot write: {self._broken}")
        if self._closing:
            raise Unavailable("the store is shutting down")
        if width < 1:
            raise ValueError("a record takes at least one seq")
        seq = self._next_seq
        self._next_seq += width
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        data = encode_record(seq, conversation_id, ops, width)
        self._pending.append(_Pending(seq, seq + width - 1, data, on_commit, future))
        self._has_work.set()
        return future

    async def rotate(self) -> list[Path]:
        """Seal the current segment and start a new one; return every sealed segment.

        Every record queued before this call is committed and applied when it returns, so a
        snapshot taken right after covers all records in the returned segments.
        """
        if self._broken is not None:
            raise Unavailable(f"the store cannot write: {self._broken}")
        waiter: asyncio.Future[list[Path]] = asyncio.get_running_loop().create_future()
        self._rotate_waiters.append(waiter)
        self._has_work.set()
        return await waiter

    async def remove_segments(self, paths: list[Path]) -> None:
        """Delete sealed segments whose records are all in durable snapshots."""

        def remove() -> None:
            for path in paths:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            fsync_dir(self.folder)

        await self._in_thread(remove)

    async def close(self) -> None:
        """Commit everything queued, then stop the flusher and close the segment."""
        if self._task is None:
            return
        self._closing = True
        self._has_work.set()
        await self._task
        self._task = None
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self._executor.shutdown(wait=True)

    async def _in_thread(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def _open_segment(self, first_seq: int) -> None:
        path = self.folder / f"{first_seq:020d}{SEGMENT_SUFFIX}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        fsync_dir(self.folder)
        if self._fd >= 0:
            os.close(self._fd)
        self._fd, self._path, self._offset = fd, path, os.fstat(fd).st_size

    def _write_and_sync(self, data: bytes) -> None:
        start = self._offset
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
            os.fdatasync(self._fd)
        except OSError:
            self._undo_partial_write(start)
            raise
        self._offset = start + len(data)

    def _undo_partial_write(self, start: int) -> None:
        """After a failed write or sync, cut the segment back so the failed batch never replays."""
        try:
            os.ftruncate(self._fd, start)
            os.fsync(self._fd)
        except OSError as exc:
            self._broken = f"journal could not be repaired after a failed write ({exc.strerror})"

    async def _flush_loop(self) -> None:
        while True:
            await self._has_work.wait()
            self._has_work.clear()
            if self._pending:
                await self._commit_batch()
            if self._rotate_waiters and not self._pending:
                await self._rotate_now()
            if self._pending or self._rotate_waiters:
                self._has_work.set()
            elif self._closing:
                return

    async def _commit_batch(self) -> None:
        batch, self._pending = self._pending, []
        data = b"".join(entry.data for entry in batch)
        try:
            await self._in_thread(self._write_and_sync, data)
        except OSError as exc:
            log.error("journal write failed: %s", exc.strerror)
            self._failing = exc.strerror or "I/O error"
            error = Unavailable(f"the store cannot write: {exc.strerror}")
            for entry in batch:
                entry.future.set_exception(error)
            return
        self._failing = None
        self._bytes_since_rotation += len(data)
        for entry in batch:
            self.last_committed_seq = entry.last_seq  # listeners already see the new seq
            try:
                entry.on_commit(entry.seq)
            except Exception:  # a bug in an apply step must not stall every other writer
                log.exception("applying committed record %d failed", entry.seq)
            entry.future.set_result(entry.seq)

    async def _rotate_now(self) -> None:
        waiters, self._rotate_waiters = self._rotate_waiters, []
        try:
            await self._in_thread(self._open_segment, self._next_seq)
        except OSError as exc:
            for waiter in waiters:
                waiter.set_exception(Unavailable(f"cannot start a journal segment: {exc.strerror}"))
            return
        self._bytes_since_rotation = 0
        sealed = [p for p in segment_paths(self.folder) if p != self._path]
        for waiter in waiters:
            waiter.set_result(sealed)
