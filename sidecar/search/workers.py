"""The search index's threads: one writer that owns the write connection, and a reader pool.

SQLite work never runs on the event loop: the writer applies queued commands in batches (one
transaction each, gathered for up to ``linger`` seconds unless someone is waiting for them) and
reports back through the loop; each reader thread keeps its own
connection, reopened once the file was replaced (a rebuild bumps ``generation``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final, Protocol

from . import database
from .database import Command, command_weight, is_damage

log = logging.getLogger(__name__)


class WriterReports(Protocol):
    """What the writer thread reports to its index, called on the index's event loop.

    Each names the writer, so that an index that replaced its writer ignores the old one.
    """

    def _on_written(self, writer: WriterThread, ticket: int, rows: int) -> None: ...
    def _on_rows(self, writer: WriterThread, rows: int) -> None: ...
    def _on_write_failed(self, writer: WriterThread) -> None: ...
    def _on_damage(self, writer: WriterThread, reason: str) -> None: ...


class Stop:
    """Tells the writer thread to finish what it has and exit."""


STOP: Final = Stop()
#: ``(ticket, commands)``: commands queued together (a journal batch's), written in one
#: transaction; the ticket is the index's count of commands issued up to and including them.
Queued = tuple[int, list[Command]] | Stop


class WriterThread(threading.Thread):
    """Owns the write connection; applies queued commands in batches, one transaction each."""

    def __init__(
        self,
        index: WriterReports,
        path: Path,
        loop: asyncio.AbstractEventLoop,
        batch_weight: int,
        linger: float,
    ) -> None:
        super().__init__(name="search-writer", daemon=True)
        self.index = index
        self.batch_weight = batch_weight
        self.linger = linger
        #: Set when something waits for what is queued (a query, ``idle()``, closing): the
        #: writer stops lingering and writes now.
        self.hurry = threading.Event()
        self.path = path
        self.loop = loop
        self.queue: queue.SimpleQueue[Queued] = queue.SimpleQueue()

    def finish(self) -> None:
        """Write what is queued, then exit (called from the loop; join the thread after)."""
        self.queue.put(STOP)
        self.hurry.set()

    def _report(self, callback: Any, *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is waiting
            self.loop.call_soon_threadsafe(callback, *args)

    def run(self) -> None:
        try:
            conn = database.connect(self.path, database.WRITER_CACHE_KIB)
            writer = database.Writer(conn)
        except sqlite3.Error as exc:
            self._report(self.index._on_damage, self, f"index cannot be opened: {exc}")
            return
        self._report(self.index._on_rows, self, writer.message_rows)
        try:
            self._serve(writer)
        finally:
            conn.close()

    def _serve(self, writer: database.Writer) -> None:
        limit = self.batch_weight
        while True:
            first = self.queue.get()
            if isinstance(first, Stop):
                return
            batch = [first]
            weight = sum(command_weight(command) for command in first[1])
            if weight < limit:
                self.hurry.wait(self.linger)
            self.hurry.clear()  # before draining: a later hurry finds its commands queued
            stop = False
            while weight < limit:
                try:
                    item = self.queue.get_nowait()
                except queue.Empty:
                    break
                if isinstance(item, Stop):
                    stop = True
                    break
                batch.append(item)
                weight += sum(command_weight(command) for command in item[1])
            try:
                writer.apply(command for _, commands in batch for command in commands)
            except sqlite3.Error as exc:
                if is_damage(exc):
                    self._report(self.index._on_damage, self, f"index write failed: {exc}")
                    return
                log.error("search index write failed (will reconcile): %s", exc)
                self._report(self.index._on_write_failed, self)
            self._report(self.index._on_written, self, batch[-1][0], writer.message_rows)
            if stop:
                return


class ReaderPool:
    """Reader threads, each with its own connection (reopened after the file was replaced)."""

    def __init__(self, path: Path, size: int) -> None:
        self.path = path
        self.executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix="search-read")
        self.generation = 0
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def connection(self) -> sqlite3.Connection:
        """This thread's connection to the current file (call on a reader thread)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "generation", -1) != self.generation:
            if conn is not None:
                self._forget(conn)
            conn = database.connect(self.path)
            with self._lock:
                self._all.append(conn)
            self._local.conn, self._local.generation = conn, self.generation
        return conn

    def _forget(self, conn: sqlite3.Connection) -> None:
        with self._lock:
            if conn in self._all:
                self._all.remove(conn)
        conn.close()

    def close(self) -> None:
        self.executor.shutdown(wait=True)
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
