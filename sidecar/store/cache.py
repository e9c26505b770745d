"""The shard cache: the store's in-memory state, how it is loaded, and how it goes back to files.

Shards are loaded lazily (a conversation's meta, then only the message chunks a page needs) and
kept in a bounded LRU; the catalog answers listings without opening shards. It is a write-back
cache over the journal: writes land here once durable in the journal, and a checkpoint seals the
journal, writes changed shard files and the catalog (each atomically), then deletes the sealed
segments. See ``docs/storage.md``.

A file found damaged while the store runs is moved to the quarantine from here, under the same
files lock a checkpoint holds, so the two never race on a folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Coroutine, Iterable
from pathlib import Path
from typing import Any

from .catalog import Catalog
from .documents import CorruptDocument, StorageFactory
from .errors import NotFound, StoreError, Unavailable
from .ids import check_id
from .journal import Journal
from .layout import Layout
from .lock import KeyedLocks
from .model import Doc
from .quarantine import REPORTED_KINDS, Quarantine, QuarantinedItem
from .recovery import Recovered, quarantine_shard, reserved_tables
from .rewrite import Image
from .shard import Shard
from .values import StoreConfig

CHECKPOINT_FAILED = "checkpoint failed; the journal keeps every write"

log = logging.getLogger(__name__)


class ShardCache:
    """Catalog, cached shards, reserved ids and quarantine of one open store."""

    def __init__(
        self, layout: Layout, config: StoreConfig, storage: StorageFactory, quarantine: Quarantine
    ) -> None:
        self.layout = layout
        self.config = config
        self.storage = storage
        self.quarantine = quarantine
        self.catalog = Catalog()
        self.shards: OrderedDict[str, Shard] = OrderedDict()
        #: Ids of purged conversations: taken for good.
        self.reserved: set[str] = set()
        self.reserved_dirty = False
        #: Which conversations a write is using (they stay in memory; outside changes wait).
        self.locks = KeyedLocks()
        #: The journal, once recovery has replayed it (``None`` before and while opening).
        self.journal: Journal | None = None
        #: Held while files are rewritten or moved: checkpoints, quarantines, folder removals.
        self.files_lock = asyncio.Lock()
        self.closed = False
        self._quarantined: list[QuarantinedItem] = []
        #: Conversations whose snapshot the running checkpoint has taken but not yet written.
        self.writing: set[str] = set()
        #: Conversations being moved to quarantine while the store runs (see quarantine_live).
        self.quarantining: set[str] = set()
        #: Memory's copy of a conversation moved to quarantine that the disk did not take (and
        #: why it was moved): until it is written, the journal keeps the segments holding it.
        self.unsaved_copies: dict[str, tuple[Shard, str]] = {}
        self._background: set[asyncio.Task[Any]] = set()

    def adopt(self, recovered: Recovered) -> None:
        """Take over what recovery read and replayed."""
        self.catalog = recovered.catalog
        self.reserved = recovered.reserved
        self.reserved_dirty = recovered.reserved_dirty
        for conversation_id, shard in recovered.shards.items():
            self.shards[conversation_id] = shard
        self._quarantined = self.quarantine.items()

    # ------------------------------------------------------------------ quarantine

    @property
    def quarantined(self) -> list[QuarantinedItem]:
        """What may be missing from the store (see :attr:`Store.quarantined`)."""
        return [item for item in self._quarantined if item.kind in REPORTED_KINDS]

    def id_state(self, conversation_id: str) -> str:
        """``free``, ``exists``, ``reserved`` (purged: the id stays taken) or ``quarantined``."""
        check_id(conversation_id, "conversation_id")
        if conversation_id in self.reserved:
            return "reserved"
        if any(item.conversation_id == conversation_id for item in self.quarantined):
            return "quarantined"
        return "exists" if conversation_id in self.catalog.entries else "free"

    def damage_of(self, conversation_id: str) -> StoreError:
        """The error for a conversation that is not in the store because it is damaged (a clear
        404 when moved to quarantine, 503 when left in place), or a plain 404."""
        for item in reversed(self.quarantined):
            if item.conversation_id == conversation_id and item.kind == "conversation":
                if item.path == str(self.folder(conversation_id)):
                    return Unavailable(
                        f"conversation '{conversation_id}' cannot be read: {item.reason}"
                    )
                return NotFound(f"conversation '{conversation_id}' is damaged and was quarantined")
        return NotFound(f"conversation '{conversation_id}' does not exist")

    async def missing(self, conversation_id: str) -> StoreError:
        """:meth:`damage_of`, once a quarantine of that conversation under way elsewhere (a
        search catch-up found the damage first) has finished: until then it is neither in the
        catalog nor in the quarantine's list, and would read as never having existed."""
        if conversation_id in self.quarantining:
            async with self.files_lock:  # held for the whole move
                pass
        return self.damage_of(conversation_id)

    async def quarantine_live(
        self, conversation_id: str, reason: str, shard: Shard | None = None
    ) -> None:
        """Move a conversation found damaged aside, with a copy of what memory holds of it.

        Runs to its end even if the reader that found the damage is cancelled (a client that
        went away): it drops the shard from memory and the catalog before it moves the folder
        and writes memory's copy, so one stopped in between would leave writes not yet
        checkpointed nowhere, and the next checkpoint would drop the journal segments holding
        them.
        """
        work = self._quarantine_live(conversation_id, reason, shard)
        failure = "moving a damaged conversation to the quarantine failed"
        await asyncio.shield(self._run_to_end(work, "store-quarantine", failure))

    async def _quarantine_live(
        self, conversation_id: str, reason: str, shard: Shard | None
    ) -> None:
        async with self.files_lock:
            if conversation_id not in self.catalog.entries:
                return  # two readers found the damage at once: the first one moved it
            self.shards.pop(conversation_id, None)
            self.catalog.remove(conversation_id)  # no new write of it is journalled now
            self.quarantining.add(conversation_id)
            try:
                if self.journal is not None:
                    # Writes journalled before the damage was found land in memory (and so in
                    # the in-memory copy kept beside the files), not in a resurrected shard.
                    with contextlib.suppress(Unavailable):
                        await self.journal.rotate()
                await asyncio.to_thread(
                    quarantine_shard,
                    self.layout,
                    self.quarantine,
                    conversation_id,
                    reason,
                    memory=shard,
                )
            except OSError as exc:
                # The folder may be moved already; memory's copy is not written. The journal
                # holds what it has beyond the files, so its segments stay until it is.
                log.error("could not keep memory's copy of '%s': %s", conversation_id, exc)
                if shard is not None and shard.exists:
                    self.unsaved_copies[conversation_id] = (shard, reason)
            finally:
                self.quarantining.discard(conversation_id)
            self._quarantined = self.quarantine.items()

    # ------------------------------------------------------------------ loading

    def folder(self, conversation_id: str) -> Path:
        return self.layout.shard(conversation_id)

    async def shard(self, conversation_id: str) -> Shard:
        """The live shard of an existing conversation, loading its meta if needed."""
        check_id(conversation_id, "conversation_id")
        shard = self.shards.get(conversation_id)
        if shard is not None:
            self.shards.move_to_end(conversation_id)
            return shard
        if conversation_id not in self.catalog.entries:
            raise await self.missing(conversation_id)
        folder = self.folder(conversation_id)
        try:
            loaded = await asyncio.to_thread(Shard.load, conversation_id, folder, self.storage)
        except CorruptDocument as exc:
            await self.quarantine_live(conversation_id, str(exc))
            raise self.damage_of(conversation_id) from None
        if conversation_id not in self.catalog.entries:
            raise await self.missing(conversation_id)  # quarantined (or purged) while it loaded
        shard = self.shards.setdefault(conversation_id, loaded)
        self.shards.move_to_end(conversation_id)
        self.evict()
        return shard

    async def load_messages(self, shard: Shard, ordinals: Iterable[int]) -> None:
        for number in shard.chunks_for(ordinals):
            try:
                docs = await asyncio.to_thread(shard.read_chunk, number, self.storage)
            except CorruptDocument as exc:
                await self.quarantine_live(shard.conversation_id, str(exc), shard)
                raise self.damage_of(shard.conversation_id) from None
            shard.install_chunk(number, docs)

    async def load_turns(self, shard: Shard) -> dict[str, Doc]:
        if shard.turns is None:
            try:
                turns = await asyncio.to_thread(shard.read_turns, self.storage)
            except CorruptDocument as exc:
                await self.quarantine_live(shard.conversation_id, str(exc), shard)
                raise self.damage_of(shard.conversation_id) from None
            shard.install_turns(turns)
        assert shard.turns is not None
        return shard.turns

    async def message(self, shard: Shard, message_id: str) -> tuple[int, Doc]:
        """A stored message (internal fields included) and its ordinal; :class:`NotFound`."""
        check_id(message_id, "message_id")
        ordinal = shard.index.get(message_id)
        if ordinal is None:
            raise NotFound(
                f"message '{message_id}' does not exist in conversation '{shard.conversation_id}'"
            )
        await self.load_messages(shard, [ordinal])
        return ordinal, shard.message_at(ordinal)

    async def image(self, shard: Shard) -> Image:
        """Everything a conversation holds (every branch, message and turn), read consistently."""
        await self.load_messages(shard, range(len(shard.ids)))
        turns = await self.load_turns(shard)
        return Image(
            dict(shard.conversation),
            dict(shard.branches),
            [shard.message_at(o) for o in range(len(shard.ids))],
            list(turns.values()),
        )

    def evict(self) -> None:
        """Keep at most ``cache_size`` shards in memory; dirty or busy ones wait for a checkpoint."""
        excess = len(self.shards) - self.config.cache_size
        if excess <= 0:
            return
        for conversation_id in list(self.shards):
            if excess <= 0:
                return
            shard = self.shards[conversation_id]
            # One a checkpoint is writing looks clean but must stay: re-read from disk half way
            # it would have the new chunks and the old meta (losing the writes in between).
            writing = conversation_id in self.writing
            if not shard.dirty and not self.locks.busy(conversation_id) and not writing:
                del self.shards[conversation_id]
                excess -= 1
        self.schedule_checkpoint()

    # ------------------------------------------------------------------ checkpoints

    def schedule_checkpoint(self) -> None:
        if self.closed or self.files_lock.locked() or self.journal is None:
            return
        self._start_checkpoint()

    async def finish_background(self) -> None:
        """Wait for the checkpoints and quarantines already started (at close); shielded, so a
        cancelled close still lets them end."""
        for task in list(self._background):
            with contextlib.suppress(Exception):
                await asyncio.shield(task)

    async def checkpoint_quietly(self) -> None:
        """A checkpoint whose failure, whatever it is, is left to the log (``_run_to_end``
        logs every one): the journal keeps every write, and what calls this (the timer, a
        close) must go on. Only ``StoreError`` was let through before, so an ``OSError`` from
        dropping old segments ended the timer for the rest of the process."""
        with contextlib.suppress(Exception):
            await self.checkpoint()

    async def checkpoint_timer(self) -> None:
        while True:
            await asyncio.sleep(self.config.checkpoint_interval)
            if any(shard.dirty for shard in self.shards.values()) or self.catalog.dirty:
                await self.checkpoint_quietly()

    async def checkpoint(self) -> None:
        """Compact the journal into shard snapshots; then drop the journal segments they cover.

        Once started, a checkpoint runs to its end even if its caller is cancelled (the 30 s
        timer, which ``close`` cancels; a request whose import resets a conversation): it marks
        each shard clean when it takes its snapshot, so one stopped between two writes would
        leave shards marked clean that were never written, and the next checkpoint would drop
        the journal segments holding their only copy.
        """
        await asyncio.shield(self._start_checkpoint())

    def _start_checkpoint(self) -> asyncio.Task[None]:
        return self._run_to_end(self._checkpoint(), "store-checkpoint", CHECKPOINT_FAILED)

    def _run_to_end(
        self, work: Coroutine[Any, Any, None], name: str, failure: str
    ) -> asyncio.Task[None]:
        """Run ``work`` as a task of its own, which its callers await through a shield and
        :meth:`finish_background` waits for. A failure is logged here (as ``failure``), whether
        or not a caller still waits for it; one that does gets the error as well."""
        task = asyncio.create_task(work, name=name)

        def done(task: asyncio.Task[None]) -> None:
            self._background.discard(task)
            error = None if task.cancelled() else task.exception()
            if isinstance(error, (StoreError, OSError)):
                log.error("%s: %s", failure, error)
            elif error is not None:
                log.error("%s", failure, exc_info=error)

        self._background.add(task)
        task.add_done_callback(done)
        return task

    async def _checkpoint(self) -> None:
        if self.journal is None:
            return
        async with self.files_lock:
            sealed = await self.journal.rotate()
            snapshots = [(s, s.snapshot()) for s in list(self.shards.values()) if s.dirty]
            self.writing = {shard.conversation_id for shard, _ in snapshots}
            written = 0
            try:
                for shard, snapshot in snapshots:
                    stamp = await asyncio.to_thread(snapshot.write, self.storage)
                    self.writing.discard(shard.conversation_id)
                    written += 1
                    shard.on_disk = True
                    if shard.conversation_id in self.catalog.entries:
                        self.catalog.set_stamp(shard.conversation_id, stamp)
                if self.reserved_dirty:
                    self.reserved_dirty = False
                    tables = reserved_tables(set(self.reserved))
                    await asyncio.to_thread(self.storage(self.layout.reserved).write, tables)
                if self.catalog.dirty:
                    self.catalog.dirty = False
                    tables = self.catalog.to_tables()
                    await asyncio.to_thread(self.storage(self.layout.catalog).write, tables)
            except OSError as exc:
                for shard, snapshot in snapshots[written:]:
                    shard.mark_dirty_again(snapshot)
                self.catalog.dirty = True
                self.reserved_dirty = True
                raise Unavailable(f"checkpoint could not write: {exc.strerror}") from exc
            finally:
                self.writing = set()
            if self.unsaved_copies:
                for conversation_id in await asyncio.to_thread(self._save_copies):
                    del self.unsaved_copies[conversation_id]
                self._quarantined = self.quarantine.items()
            if self.unsaved_copies:
                log.warning(
                    "journal segments kept: memory's copy of %d quarantined conversation(s)"
                    " is not written yet",
                    len(self.unsaved_copies),
                )
            else:
                await self.journal.remove_segments(sealed)
        self.evict()

    def _save_copies(self) -> list[str]:
        """Write memory's copy of each conversation moved to quarantine without it (in a slot
        of its own), on a thread; the ids of those now written."""
        saved: list[str] = []
        for conversation_id, (shard, reason) in list(self.unsaved_copies.items()):
            try:
                quarantine_shard(
                    self.layout, self.quarantine, conversation_id, reason, memory=shard
                )
            except OSError as exc:
                log.error("could not keep memory's copy of '%s': %s", conversation_id, exc)
            else:
                saved.append(conversation_id)
        return saved
