"""The write-ahead journal: one append-only log for the whole store, with group commit.

Every change to the store is one *record* (a list of idempotent operations on one conversation),
framed as ``length (u32 LE) | crc32 (u32 LE) | payload`` where the payload is orjson. Records carry a
store-wide increasing ``seq``, which is also the event sequence: a record that causes several events
reserves that many seqs (``width``), so every event has an id of its own and a client resuming
after any one of them misses none of its siblings.

Group commit: :meth:`Journal.append` queues a record and returns at once with a future; on the next
pass of the loop everything queued goes to the journal's own long-lived thread as one batch, which
writes it in a single ``pwrite`` and covers it with a single ``fdatasync``, off the event loop. Records
that arrive while a sync runs form the next batch, so 50 concurrent writers share one fsync instead
of queueing behind 50. The thread reports a batch back with one ``call_soon_threadsafe``; only then,
on the loop, is each record applied (its ``on_commit`` callback, in seq order), the batch announced
once (``on_batch``) and every waiter resolved: nothing is visible or acknowledged before it is on
disk.

A lone writer gains nothing from the thread: nothing overlaps its sync, and the two hand-offs
(wake the thread, wake the loop) cost more CPU than a fast sync itself (in process, 0.75 ms of
CPU per append on the thread against 0.54 ms without it). So a batch of ONE small record, when
the thread is idle and the last sync took less than ``inline_sync_s`` (1 ms), is written and
synced on the loop, as a naive server would. A batch of several records means writers overlap:
it goes to the thread, so the loop keeps serving them during the sync. A slow sync sends the
following batches to the thread, which keeps measuring, so a slow disk never blocks the loop for
more than one sync.

Spare space: records overwrite zeros the journal wrote ahead of them, rather than extending the
file. A sync of a write that changes the file's size must also commit that size (a filesystem
journal transaction); one within the file's size covers the data alone. Measured on this
machine's ext4: 1 KiB write + ``fdatasync`` p50 0.28 ms appending, 0.19 ms overwriting zeros.
So when a write would pass the zeroed space, ``SPARE_BYTES`` more zeros are written after it,
covered by the same sync (PostgreSQL zero-fills its WAL files for the same reason). A segment is
cut back to its last record when it is sealed or the journal closes, and by recovery after a
crash; :func:`.segments.scan_segment` tells the zeros from records and from damage.

A failed write or sync is cut back off the segment and fails the whole batch: nothing of it is
applied or announced.

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
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .durable import fsync_dir
from .errors import Unavailable
from .segments import SEGMENT_SUFFIX, Operation, encode_record, segment_paths

log = logging.getLogger(__name__)

#: A batch larger than this always goes to the thread (its write alone would block the loop).
INLINE_SYNC_MAX_BYTES = 64 * 1024
#: Zeros written ahead of the records whenever a write passes the zeroed space: one sync in
#: about 145 (1.8 KB records) also writes them and commits a new size (0.6 to 0.8 ms, the
#: others 0.17 ms; docs/decisions.md says why this size).
SPARE_BYTES = 256 * 1024


@dataclass(slots=True)
class _Pending:
    seq: int
    last_seq: int
    data: bytes
    on_commit: Callable[[int], None]
    future: asyncio.Future[int] = field(repr=False)


class _Job:
    """Work for the journal thread: ``run()`` there, then ``done(result, error)`` on the loop."""

    __slots__ = ("done", "run")

    def __init__(
        self, run: Callable[[], Any], done: Callable[[Any, BaseException | None], None]
    ) -> None:
        self.run = run
        self.done = done


class Journal:
    """The appending side of the journal. Create with :meth:`start`; stop with :meth:`close`.

    One long-lived thread does the disk work (writes, fdatasyncs, segment files), fed by a queue;
    a finished batch comes back to the loop with ONE ``call_soon_threadsafe``, which applies every
    record of the batch in seq order, hands the batch to ``on_batch`` and resolves every waiter.
    At most one batch is at the thread at a time: records that arrive meanwhile form the next one.
    """

    def __init__(self, folder: Path, next_seq: int, inline_sync_s: float = 0.0) -> None:
        self.folder = folder
        self._inline_sync_s = inline_sync_s
        #: How long the last ``fdatasync`` took (either side); the first one runs on the thread.
        self._last_sync_s = float("inf")
        self._next_seq = next_seq
        self._pending: list[_Pending] = []
        self._rotate_waiters: list[asyncio.Future[list[Path]]] = []
        self._closing = False
        self._closed: asyncio.Future[None] | None = None
        self._broken: str | None = None
        self._failing: str | None = None
        self._fd = -1
        self._path = folder
        self._offset = 0  # where the next record goes: the end of the last one
        self._zeroed_end = 0  # the file's size: zeros from _offset up to here
        self._bytes_since_rotation = 0
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._busy = False  # a batch, a rotation or the final stop is at the thread
        self._kick_scheduled = False
        #: Called once per committed batch, after every record's ``on_commit`` (the writer
        #: publishes what the batch changed in one call here).
        self.on_batch: Callable[[], None] | None = None
        self.last_committed_seq = next_seq - 1

    @classmethod
    async def start(cls, folder: Path, next_seq: int, *, inline_sync_s: float = 0.0) -> Journal:
        journal = cls(folder, next_seq, inline_sync_s)
        journal._loop = asyncio.get_running_loop()
        journal._thread = threading.Thread(target=journal._serve, name="journal", daemon=True)
        journal._thread.start()
        try:
            await journal._in_thread(journal._open_segment, next_seq)
        except BaseException:
            journal._jobs.put(None)
            raise
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

        The record takes seqs ``seq .. seq + width - 1``. ``on_commit(seq)`` runs on the event
        loop right after the fsync that covers the record, before the future resolves, in seq
        order across all records. It must not raise.
        """
        if self._broken is not None:
            raise Unavailable(f"the store cannot write: {self._broken}")
        self._check_open()
        if width < 1:
            raise ValueError("a record takes at least one seq")
        seq = self._next_seq
        self._next_seq += width
        loop = self._running_loop()
        future: asyncio.Future[int] = loop.create_future()
        data = encode_record(seq, conversation_id, ops, width)
        self._pending.append(_Pending(seq, seq + width - 1, data, on_commit, future))
        self._schedule_kick(loop)
        return future

    async def rotate(self) -> list[Path]:
        """Seal the current segment and start a new one; return every sealed segment.

        Every record queued before this call is committed and applied when it returns, so a
        snapshot taken right after covers all records in the returned segments.
        """
        if self._broken is not None:
            raise Unavailable(f"the store cannot write: {self._broken}")
        self._check_open()
        loop = self._running_loop()
        waiter: asyncio.Future[list[Path]] = loop.create_future()
        self._rotate_waiters.append(waiter)
        self._schedule_kick(loop)
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
        """Commit everything queued, then stop the journal thread and close the segment."""
        if self._thread is None:
            return
        if self._closed is None:
            self._closing = True
            self._closed = self._running_loop().create_future()
            self._kick()
        await asyncio.shield(self._closed)
        thread, self._thread = self._thread, None
        if thread is not None:
            await asyncio.to_thread(thread.join)
        if self._fd >= 0:
            await asyncio.to_thread(self._cut_spare, self._fd)
            os.close(self._fd)
            self._fd = -1

    # ------------------------------------------------------------------ the loop side

    def _check_open(self) -> None:
        """Refuse new work once closing began: the thread stops after what it has, and work
        queued behind the stop would never run (its caller would wait forever)."""
        if self._closing:
            raise Unavailable("the store is shutting down")

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def _schedule_kick(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start the next batch on the next loop pass, so records queued in this pass join it."""
        if not self._busy and not self._kick_scheduled:
            self._kick_scheduled = True
            loop.call_soon(self._kick)

    def _kick(self) -> None:
        """Hand the thread its next piece of work, if it is idle: a batch, a rotation, the stop."""
        self._kick_scheduled = False
        if self._busy:
            return
        if self._pending:
            batch, self._pending = self._pending, []
            data = b"".join(entry.data for entry in batch)
            if (
                len(batch) == 1
                and len(data) <= INLINE_SYNC_MAX_BYTES
                and self._last_sync_s < self._inline_sync_s
                and self._offset + len(data) <= self._zeroed_end  # zeroing more: the thread's job
            ):
                self._write_here(batch, data)
                return
            self._submit(
                lambda: self._write_and_sync(data),
                lambda _, error: self._done(batch, len(data), error),
            )
        elif self._rotate_waiters:
            waiters, self._rotate_waiters = self._rotate_waiters, []
            first_seq = self._next_seq  # now, on the loop: records queued later go after it
            self._submit(
                lambda: self._open_segment(first_seq),
                lambda _, error: self._rotated(waiters, error),
            )
        elif self._closing and self._closed is not None and not self._closed.done():
            self._busy = True
            self._jobs.put(None)

    def _write_here(self, batch: list[_Pending], data: bytes) -> None:
        """Write and sync ``batch`` on the loop (the thread is idle, so nothing else touches the
        segment), then complete it as the thread's report would."""
        error: Exception | None = None
        try:
            self._write_and_sync(data)
        except Exception as exc:  # completed as a failed batch, like the thread's report
            error = exc
        self._done(batch, len(data), error)
        if self._rotate_waiters or self._closing:  # asked before this pass: their turn is next
            self._schedule_kick(self._running_loop())

    def _submit(
        self, run: Callable[[], Any], done: Callable[[Any, BaseException | None], None]
    ) -> None:
        self._busy = True

        def finished(result: Any, error: BaseException | None) -> None:
            self._busy = False
            done(result, error)
            self._kick()

        self._jobs.put(_Job(run, finished))

    def _done(self, batch: list[_Pending], size: int, error: BaseException | None) -> None:
        """Runs on the loop once per batch: fail it whole, or apply, publish and resolve it."""
        if error is not None:
            reason = error.strerror if isinstance(error, OSError) else None
            reason = reason or "I/O error"
            log.error("journal write failed: %s", reason)
            self._failing = reason
            failure = Unavailable(f"the store cannot write: {reason}")
            for entry in batch:
                if not entry.future.done():
                    entry.future.set_exception(failure)
            return
        self._failing = None
        self._bytes_since_rotation += size
        for entry in batch:
            self.last_committed_seq = entry.last_seq  # listeners already see the new seq
            try:
                entry.on_commit(entry.seq)
            except Exception:  # a bug in an apply step must not stall every other writer
                log.exception("applying committed record %d failed", entry.seq)
        if self.on_batch is not None:
            try:
                self.on_batch()
            except Exception:
                log.exception("publishing committed records failed")
        for entry in batch:
            if not entry.future.done():
                entry.future.set_result(entry.seq)

    def _rotated(
        self, waiters: list[asyncio.Future[list[Path]]], error: BaseException | None
    ) -> None:
        if error is not None:
            reason = error.strerror if isinstance(error, OSError) else str(error)
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(Unavailable(f"cannot start a journal segment: {reason}"))
            return
        self._bytes_since_rotation = 0
        sealed = [p for p in segment_paths(self.folder) if p != self._path]
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(sealed)

    async def _in_thread(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn`` on the journal thread, in order with its batches, and wait for it."""
        self._check_open()
        loop = self._running_loop()
        future: asyncio.Future[Any] = loop.create_future()

        def done(result: Any, error: BaseException | None) -> None:
            if future.done():
                return
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)

        self._jobs.put(_Job(lambda: fn(*args), done))
        return await future

    # ------------------------------------------------------------------ the journal thread

    def _serve(self) -> None:
        """The journal thread: run each job, report it to the loop with one call, until ``None``."""
        loop = self._loop
        assert loop is not None
        while True:
            job = self._jobs.get()
            if job is None:
                break
            result: Any = None
            error: BaseException | None = None
            try:
                result = job.run()
            except BaseException as exc:  # reported to whoever waits on the loop
                error = exc
            try:
                loop.call_soon_threadsafe(job.done, result, error)
            except RuntimeError:  # the loop is closed: nobody is waiting any more
                return
        closed = self._closed
        if closed is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_resolve, closed)

    def _open_segment(self, first_seq: int) -> None:
        """Start the segment for ``first_seq``, sealing the current one (cut after its last
        record). A segment of that name can exist only without records (recovery cut it back
        to them): writing continues at its end."""
        path = self.folder / f"{first_seq:020d}{SEGMENT_SUFFIX}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fsync_dir(self.folder)
        if self._fd >= 0:
            self._cut_spare(self._fd)
            os.close(self._fd)
        self._fd, self._path = fd, path
        self._offset = self._zeroed_end = os.fstat(fd).st_size

    def _write_and_sync(self, data: bytes) -> None:
        start = self._offset
        end = start + len(data)
        try:
            _write_all(self._fd, data, start)
            if end > self._zeroed_end:
                _write_all(self._fd, bytes(SPARE_BYTES), end)
                self._zeroed_end = end + SPARE_BYTES
            began = time.perf_counter()
            os.fdatasync(self._fd)
            self._last_sync_s = time.perf_counter() - began
        except OSError:
            self._undo_partial_write(start)
            raise
        self._offset = end

    def _undo_partial_write(self, start: int) -> None:
        """After a failed write or sync, cut the segment back so the failed batch never replays."""
        try:
            os.ftruncate(self._fd, start)
            os.fsync(self._fd)
        except OSError as exc:
            self._broken = f"journal could not be repaired after a failed write ({exc.strerror})"
        self._zeroed_end = start

    def _cut_spare(self, fd: int) -> None:
        """Cut the zeroed space off a segment that is done with: it ends at its last record, as
        an appended file would. Not synced: should the cut be lost in a crash, recovery makes it
        again."""
        if self._zeroed_end > self._offset:
            try:
                os.ftruncate(fd, self._offset)
            except OSError as exc:  # harmless: readers skip the zeros, recovery cuts them
                log.warning(
                    "could not cut the spare space off %s: %s", self._path.name, exc.strerror
                )
            self._zeroed_end = self._offset


def _write_all(fd: int, data: bytes, offset: int) -> None:
    """``pwrite`` all of ``data`` at ``offset`` (a write may be short)."""
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
