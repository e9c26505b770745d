"""The search index as the rest of the sidecar sees it: open, keep up with the store, query, close.

Keeping up: :class:`SearchIndex` listens to the store (``Store.subscribe``), turns each change
into one command and hands a journal batch's commands to a writer thread (:mod:`.workers`) as one
queue item (one wake-up per batch, not per message); the thread applies whatever has queued up in
one SQLite transaction. Streaming growth (``text`` effects) is ignored: a reply is indexed when its message
is created and again when it is updated (its completion), both of which carry the whole message.
``external`` changes and start-up reconciliation reindex whole conversations, read through
:meth:`Store.all_messages`.

Consistency: the index is derived. At every start it is compared with the store's catalog
(per conversation: the ``revision`` and ``updated_at`` it was indexed at); conversations that
differ or are missing are reindexed, ones the store no longer has are dropped, in the background
(the ready line was printed long before). A file SQLite calls damaged, at start or later, is
moved to ``quarantine/`` and rebuilt from the store.

The request path never waits for SQLite writes: queries run on reader threads, and wait at most
``fresh_wait`` seconds for changes already queued (so a search right after a write usually sees
it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from ..store import (
    Change,
    ConversationEffect,
    ExternalEffect,
    ListQuery,
    MessageEffect,
    NotFound,
    Store,
    Unavailable,
)
from ..store.durable import make_dirs
from ..store.model import Doc
from ..store.quarantine import Quarantine
from . import database
from .common_words import CommonWords
from .config import SearchConfig
from .database import (
    Command,
    ConversationRow,
    IndexDamaged,
    MessageRow,
    Purge,
    Replace,
    Update,
    command_weight,
    is_damage,
)
from .query import Part, check_filters, check_limit, parse_query
from .workers import ReaderPool, WriterThread

log = logging.getLogger(__name__)

INDEX_FILE: Final = "index.sqlite3"
FOLDER: Final = "search"
RETRY_AFTER_FAILURE_S: Final = 5.0


class SearchIndex:
    """Full-text search over every conversation's title and messages (CONTRACT §5 search)."""

    def __init__(self, store: Store, folder: Path, config: SearchConfig) -> None:
        self.store = store
        self.folder = folder
        self.path = folder / INDEX_FILE
        self.config = config
        self._quarantine = Quarantine(store.layout.quarantine)
        self._loop = asyncio.get_running_loop()
        self._readers = ReaderPool(self.path, config.readers)
        self._writer: WriterThread | None = None
        self._unsubscribe: Any = None
        self._issued = 0
        self._done = 0
        self._weights: deque[tuple[int, int]] = deque()
        self._backlog = 0
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._seen_seq = store.seq
        self._written_seq = store.seq
        self._seqs: deque[tuple[int, int]] = deque()
        self._message_rows = 0
        self._common = CommonWords(config)
        self._frequent = CommonWords(config, config.typed_exact_fraction)
        self._pending: dict[str, None] = {}
        self._wake = asyncio.Event()
        self._progress = asyncio.Event()
        self._reindexing = False
        self._recovering = False
        self._reconciling = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._worker: asyncio.Task[None] | None = None
        self._closed = False
        self._unavailable: str | None = None
        #: How many times a damaged index was quarantined and rebuilt since this one opened.
        self.rebuilds = 0

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    async def open(
        cls, store: Store, config: SearchConfig | None = None, *, folder: Path | None = None
    ) -> SearchIndex:
        """Open (or create) the index beside the store and start keeping it up to date.

        Quick: it checks the file's format and starts the writer; the integrity check and
        reconciliation with the store run in the background.
        """
        index = cls(store, folder or store.data_dir / FOLDER, config or SearchConfig())
        try:
            fresh = await index._prepare()
        except (sqlite3.Error, OSError) as exc:
            # Search is not worth a sidecar that does not start: the rest works, search is 503.
            log.error("search is unavailable: the index cannot be opened: %s", exc)
            index._unavailable = f"the search index cannot be opened ({exc})"
            return index
        index._writer = index._start_writer()
        index._unsubscribe = store.subscribe(index._on_change)
        index._worker = asyncio.create_task(index._reindex_worker(), name="search-reindex")
        index._start_reconcile(check=not fresh)
        return index

    async def _prepare(self) -> bool:
        await asyncio.to_thread(make_dirs, self.folder)
        try:
            return await asyncio.to_thread(database.prepare, self.path)
        except IndexDamaged as exc:
            await asyncio.to_thread(self._move_aside, str(exc))
            self.rebuilds += 1
            return await asyncio.to_thread(database.prepare, self.path)

    def _move_aside(self, reason: str) -> None:
        """Quarantine the whole index folder (never delete it) and make an empty one."""
        self._quarantine.move(self.folder, kind="search-index", reason=reason)
        make_dirs(self.folder)

    def _start_writer(self) -> WriterThread:
        config = self.config
        writer = WriterThread(self, self.path, self._loop, config.batch_weight, config.linger)
        writer.start()
        return writer

    async def close(self) -> None:
        """Stop listening, finish every queued write, close the file."""
        if self._closed:
            return
        self._closed = True
        if self._unsubscribe is not None:
            self._unsubscribe()
        tasks = [*self._tasks, *([self._worker] if self._worker else [])]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        writer = self._writer
        if writer is not None:
            writer.finish()
            await asyncio.to_thread(writer.join)
        await asyncio.to_thread(self._readers.close)
        self._release_all()

    def _release_all(self) -> None:
        """Count everything queued as done (it was written, or dropped with a damaged file)."""
        self._done = self._issued
        for _, future in self._waiters:
            if not future.done():
                future.set_result(None)
        self._waiters = []

    def _spawn(self, coroutine: Any) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ state

    @property
    def indexing(self) -> bool:
        """True while the index is catching up with the store (results may be incomplete)."""
        return (
            bool(self._pending or self._reindexing or self._recovering or self._reconciling)
            or self._backlog > self.config.batch_weight
        )

    @property
    def event_seq(self) -> int:
        """The last store seq whose changes the index reflects."""
        return self._seen_seq if self._done >= self._issued else self._written_seq

    def stats(self) -> dict[str, Any]:
        return {
            "messages": self._message_rows,
            "indexing": self.indexing,
            "queued": self._issued - self._done,
            "rebuilds": self.rebuilds,
        }

    async def idle(self) -> None:
        """Wait until every change so far is written and no reindexing is left (tests, bench)."""
        while not self._closed and (self.indexing or self._done < self._issued):
            if self._done < self._issued:
                self._hurry()
            self._progress.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), 0.1)

    # ------------------------------------------------------------------ writing

    def _send(self, command: Command) -> None:
        self._send_all([command])

    def _send_all(self, commands: list[Command]) -> None:
        """Queue ``commands`` for the writer thread as ONE item: one wake-up, one transaction."""
        if self._closed or self._writer is None or not commands:
            return
        self._issued += len(commands)
        weight = sum(command_weight(command) for command in commands)
        self._weights.append((self._issued, weight))
        self._seqs.append((self._issued, self._seen_seq))
        self._backlog += weight
        self._writer.queue.put((self._issued, commands))

    def _on_change(self, changes: Sequence[Change]) -> None:
        """Store listener (on the loop, once per journal batch, changes in seq order): queue
        what the batch means for search as one command list for the writer thread."""
        commands: list[Command] = []
        for change in changes:
            cid = change.conversation_id
            conversation: ConversationRow | None = None
            messages: list[MessageRow] = []
            purged = False
            for effect in change.effects:
                if isinstance(effect, ConversationEffect):
                    summary = effect.conversation
                    if effect.reason == "purged" or summary is None:
                        purged = True
                    else:
                        conversation = ConversationRow.of(summary)
                elif isinstance(effect, MessageEffect):
                    messages.append(MessageRow.of(effect.message))
                elif isinstance(effect, ExternalEffect):
                    self._want(list(effect.conversation_ids))
            self._seen_seq = change.last_seq
            if purged:
                self._pending.pop(cid, None)
                commands.append(Purge(cid))
            elif conversation is not None or messages:
                commands.append(Update(cid, conversation, messages))
        self._send_all(commands)

    def _on_written(self, writer: WriterThread, ticket: int, rows: int) -> None:
        if writer is not self._writer:
            return
        self._done = max(self._done, ticket)
        self._message_rows = rows
        while self._weights and self._weights[0][0] <= ticket:
            self._backlog -= self._weights.popleft()[1]
        while self._seqs and self._seqs[0][0] <= ticket:
            self._written_seq = self._seqs.popleft()[1]
        self._progress.set()
        ready = [(t, f) for t, f in self._waiters if t <= ticket]
        self._waiters = [(t, f) for t, f in self._waiters if t > ticket]
        for _, future in ready:
            if not future.done():
                future.set_result(None)

    def _on_rows(self, writer: WriterThread, rows: int) -> None:
        if writer is self._writer:
            self._message_rows = rows

    def _on_write_failed(self, writer: WriterThread) -> None:
        """A batch was rolled back (disk full, say): reconcile later, which redoes it."""
        if writer is self._writer and not self._closed:
            self._start_reconcile(check=False, delay=RETRY_AFTER_FAILURE_S)

    def _on_damage(self, writer: WriterThread, reason: str) -> None:
        if writer is self._writer and not self._closed and not self._recovering:
            self._recovering = True
            self._spawn(self._rebuild(reason))

    def _hurry(self) -> None:
        """Someone waits for the queued changes: the writer thread stops lingering."""
        if self._writer is not None:
            self._writer.hurry.set()

    async def _wait_written(self, within: float) -> None:
        """Wait (at most ``within`` seconds) until what is queued now has been written."""
        ticket = self._issued
        if self._done >= ticket or within <= 0:
            return
        self._hurry()
        future: asyncio.Future[None] = self._loop.create_future()
        self._waiters.append((ticket, future))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(future, within)

    # ------------------------------------------------------------------ reindexing

    def _want(self, conversation_ids: list[str]) -> None:
        for conversation_id in conversation_ids:
            self._pending[conversation_id] = None
        if conversation_ids:
            self._wake.set()

    async def _reindex_worker(self) -> None:
        """Reindex wanted conversations one at a time, reading each whole from the store."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                self._reindexing = True
                conversation_id = next(iter(self._pending))
                del self._pending[conversation_id]
                try:
                    summary, messages = await self.store.all_messages(conversation_id)
                except NotFound:
                    self._send(Purge(conversation_id))
                    continue
                except Exception as exc:  # a damaged shard: the store quarantines it
                    log.warning("cannot reindex conversation %s: %s", conversation_id, exc)
                    continue
                finally:
                    self._reindexing = bool(self._pending)
                self._send(
                    Replace(ConversationRow.of(summary), [MessageRow.of(m) for m in messages])
                )
                while self._backlog > self.config.backlog_weight and not self._closed:
                    await self._wait_written(1.0)
            self._reindexing = False
            self._progress.set()

    def _start_reconcile(self, *, check: bool, delay: float = 0.0) -> None:
        self._reconciling += 1  # counted from now, so idle() cannot slip in before it starts
        self._spawn(self._reconcile(check=check, delay=delay))

    async def _reconcile(self, *, check: bool, delay: float = 0.0) -> None:
        """Compare the index with the store's catalog; reindex what differs, drop what is gone.

        The caller has counted it in ``_reconciling``.
        """
        try:
            if delay:
                await asyncio.sleep(delay)
            if check:
                started = time.perf_counter()
                problem = await asyncio.to_thread(database.check_integrity, self.path)
                log.debug("search index check took %.2f s", time.perf_counter() - started)
                if problem is not None:
                    if not self._recovering:
                        self._recovering = True
                        self._spawn(self._rebuild(f"integrity check: {problem}"))
                    return
            indexed = await self._read(database.indexed_revisions)
            entries = self._catalog()
            stale = [
                summary
                for summary in entries
                if indexed.get(summary["id"])
                != (int(summary.get("revision") or 0), str(summary.get("updated_at") or ""))
            ]
            known = {summary["id"] for summary in entries}
            for conversation_id in sorted(set(indexed) - known):
                self._send(Purge(conversation_id))
            # Oldest first: the newest conversations get the highest rowids, which the rank
            # window (the most recently indexed matches) favours.
            stale.sort(key=lambda summary: str(summary.get("updated_at") or ""))
            if stale:
                log.info("search: reindexing %d conversations in the background", len(stale))
            self._want([str(summary["id"]) for summary in stale])
        except sqlite3.Error as exc:
            if is_damage(exc) and not self._recovering:
                self._recovering = True
                self._spawn(self._rebuild(f"index read failed: {exc}"))
            else:
                log.error("search reconciliation failed: %s", exc)
        finally:
            self._reconciling -= 1
            self._progress.set()

    def _catalog(self) -> list[Doc]:
        """Every conversation the store has (any flag), from its catalog."""
        entries: list[Doc] = []
        cursor: str | None = None
        while True:
            page = self.store.list_conversations(
                ListQuery(limit=500, cursor=cursor, archived=None, deleted=None)
            )
            entries += page.items
            if page.next_cursor is None:
                return entries
            cursor = page.next_cursor

    async def _rebuild(self, reason: str) -> None:
        """Quarantine a damaged index and build a new one from the store."""
        log.error("search index is damaged (%s): rebuilding it from the store", reason)
        try:
            old = self._writer
            self._writer = None
            if old is not None:
                old.finish()
                await asyncio.to_thread(old.join)
            self._release_all()
            self._weights.clear()
            self._seqs.clear()
            self._backlog = 0
            self._readers.generation += 1
            self._common = CommonWords(self.config)
            self._frequent = CommonWords(self.config, self.config.typed_exact_fraction)
            await asyncio.to_thread(self._move_aside, reason)
            await asyncio.to_thread(database.prepare, self.path)
            if self._closed:
                return
            self._message_rows = 0
            self._writer = self._start_writer()
            self.rebuilds += 1
        finally:
            self._recovering = False
            self._progress.set()
        self._reconciling += 1
        await self._reconcile(check=False)

    # ------------------------------------------------------------------ querying

    async def _read(self, function: Any, *args: Any) -> Any:
        def run() -> Any:
            return function(self._readers.connection(), *args)

        return await self._loop.run_in_executor(self._readers.executor, run)

    def _is_common(self, conn: sqlite3.Connection, part: Part) -> bool:
        return self._common.check(conn, part, self._message_rows)

    def _is_frequent(self, conn: sqlite3.Connection, part: Part) -> bool:
        return self._frequent.check(conn, part, self._message_rows)

    async def query(
        self,
        q: object,
        *,
        limit: object = 20,
        conversation_id: object = None,
        role: object = None,
        archived: object = None,
        deleted: object = False,
        created_from: object = None,
        created_to: object = None,
    ) -> dict[str, Any]:
        """Search (the one implementation behind REST ``GET /api/v1/search`` and RPC
        ``search.query``). Arguments are the wire's, already JSON-typed: ``archived`` /
        ``deleted`` are true, false or ``None`` (any); ``created_from`` / ``created_to`` are the
        wire's ``from`` / ``to``. Raises ``ValidationFailed`` naming the wire field, and
        ``Unavailable`` while a damaged index is being replaced.

        Returns ``{items, event_seq, indexing}``; each item is ``{conversation_id, message_id,
        snippet, highlights, created_at}`` (``message_id`` null for a title hit).
        """
        parts = parse_query(q)
        size = check_limit(limit)
        filters = check_filters(
            conversation_id=conversation_id,
            role=role,
            archived=archived,
            deleted=deleted,
            created_from=created_from,
            created_to=created_to,
        )
        if self._closed:
            raise Unavailable("the search index is closed")
        if self._unavailable is not None:
            raise Unavailable(self._unavailable)
        if not self.indexing:  # while catching up, the answer says so instead of waiting
            await self._wait_written(self.config.fresh_wait)
        seq = self.event_seq
        if self._recovering or self._writer is None:
            raise Unavailable("the search index was damaged and is being rebuilt")
        try:
            items = await self._read(
                database.search, parts, filters, size, self._is_common, self._is_frequent
            )
        except sqlite3.Error as exc:
            if is_damage(exc):
                if self._writer is not None:
                    self._on_damage(self._writer, f"index read failed: {exc}")
                raise Unavailable("the search index was damaged and is being rebuilt") from None
            log.error("search query failed: %s", exc)
            raise Unavailable("the search index cannot be read right now") from None
        return {"items": items, "event_seq": seq, "indexing": self.indexing}
