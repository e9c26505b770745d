"""The store's async API: the only code the rest of the sidecar uses to read or change chats.

Writes: every mutation of a conversation runs under that conversation's lock, validates against
its live state, becomes one journal record, and is applied to memory (and announced to listeners)
only once the record is durable. Concurrent writers on different conversations share fsyncs
through the journal's group commit; a caller that is cancelled cannot leave half a write behind
(the write runs shielded and finishes or fails as a whole).

Reads: from memory. Shards are loaded lazily (a conversation's meta, then only the message chunks a
page needs) and kept in a bounded LRU; the catalog answers listings without opening shards.

Compaction: a background checkpoint seals the journal, writes changed shard files and the catalog
(each atomically), then deletes the sealed journal segments. See ``docs/storage.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeVar

import orjson

from .catalog import Catalog, ListPage, ListQuery
from .documents import STORAGES, CorruptDocument, StorageFactory
from .durable import make_dirs
from .errors import Conflict, NotFound, StoreError, StoreLocked, Unavailable, ValidationFailed
from .ids import check_id, id_from_path_name, new_id
from .journal import Journal, Operation
from .layout import Layout
from .lock import DataDirLock
from .model import (
    DEFAULT_BRANCH,
    MESSAGE_FIELDS,
    Doc,
    check_bool,
    check_branch_name,
    check_content,
    check_metadata,
    check_optional_str,
    check_role,
    check_source,
    check_status,
    check_tags,
    check_title,
    check_tool_calls,
)
from .quarantine import REPORTED_KINDS, Quarantine, QuarantinedItem
from .recovery import (
    Recovered,
    quarantine_shard,
    recover,
    remove_shard_folder,
    reserved_tables,
)
from .remote import Merge, merge_ops
from .rewrite import Image, Rewrite, check_rewrite
from .schema import ensure_schema
from .shard import META_FILE, FileStamp, Shard, file_stamp
from .timeutil import now_iso

log = logging.getLogger(__name__)

T = TypeVar("T")


class Unset:
    """The type of :data:`UNSET`: "not given", where ``None`` is a meaningful value."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = Unset()
MAX_MESSAGE_PAGE = 1000


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """Tuning knobs. The server builds this from its settings table."""

    cache_size: int = 64
    checkpoint_bytes: int = 8 * 1024 * 1024
    checkpoint_interval: float = 30.0
    storage: str = "checksummed"


@dataclass(frozen=True, slots=True)
class Effect:
    """One observable consequence of a commit, with a seq of its own (the event layer's id).

    ``kind`` and ``data``:
    ``conversation``: ``{reason, conversation}`` (reason: created, updated, deleted, restored,
    purged; ``conversation`` is the summary, ``None`` once purged);
    ``message``: ``{created, message}``; ``text``: ``{message_id, turn_id, offset, text}``;
    ``turn``: ``{turn, previous}`` (the previous state, ``None`` for a new turn);
    ``approval``: ``{turn_id, tool_calls}`` (tool calls that wait for the user's decision);
    ``external``: ``{conversation_ids}`` (files changed by another program; the change's
    ``conversation_id`` is ``""``; or a conversation rewritten whole by an import or a rollback,
    in that conversation's change: read it again).
    """

    seq: int
    kind: str
    data: Doc


@dataclass(frozen=True, slots=True)
class Change:
    """What one committed record changed, published to listeners in seq order."""

    conversation_id: str
    effects: tuple[Effect, ...]

    @property
    def last_seq(self) -> int:
        return self.effects[-1].seq


@dataclass(slots=True)
class _Draft:
    """The effects a record will have, known before it is journalled (so its width is too)."""

    reason: str
    messages: list[tuple[bool, Doc]] = field(default_factory=list)
    text: list[tuple[str, str | None, int, str]] = field(default_factory=list)
    turns: list[tuple[str | None, Doc]] = field(default_factory=list)
    approvals: list[Doc] = field(default_factory=list)
    conversation: bool = True
    #: A whole-conversation rewrite (import, rollback): listeners should read it again, as
    #: an ``external`` effect naming it says (messages may have appeared or gone).
    reread: bool = False

    @property
    def width(self) -> int:
        own = len(self.messages) + len(self.text) + len(self.turns) + len(self.approvals)
        return max(1, own + (1 if self.conversation else 0) + (1 if self.reread else 0))


Listener = Callable[[Change], None]


@dataclass(frozen=True, slots=True)
class Page:
    """A consistent read: the conversation, some of its messages, and the seq they reflect."""

    conversation: Doc
    messages: list[Doc]
    has_more: bool
    event_seq: int


def public_message(doc: Doc) -> Doc:
    """A stored message as CONTRACT §4 shows it (internal fields dropped)."""
    return {name: doc.get(name) for name in MESSAGE_FIELDS}


def fingerprint(fields: dict[str, Any]) -> str:
    """A short digest of a create request, to tell a retry (same fields) from a clash."""
    body = orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(body, digest_size=12).hexdigest()


@dataclass(frozen=True, slots=True)
class Request:
    """A mutation that carries a client's ``request_id`` (CONTRACT §4 idempotency).

    The store remembers it per conversation, with a fingerprint of the action and its fields, in the
    same journal record as the mutation itself; a retry is answered from that memory (the current
    state of what the first call changed) instead of being run twice.
    """

    request_id: str
    action: str
    fingerprint: str

    @classmethod
    def of(cls, request_id: object, action: str, fields: dict[str, Any]) -> Request | None:
        if request_id is None:
            return None
        return cls(check_id(request_id, "request_id"), action, fingerprint({"@": action, **fields}))

    def op(self, result: list[str]) -> Operation:
        """The journal op remembering this request; ``result`` names what it answers with."""
        record = {"action": self.action, "fingerprint": self.fingerprint, "result": result}
        return ["req", self.request_id, record]


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message that a turn step adds; the caller picks its id (the turn names it first)."""

    id: str
    role: str
    content: str = ""
    status: str = "complete"
    turn_id: str | None = None
    tool_calls: tuple[Doc, ...] = ()
    tool_call_id: str | None = None
    metadata: Doc = field(default_factory=dict)
    client_message_id: str | None = None

    def document(self, conversation_id: str, parent_id: str | None, now: str) -> Doc:
        return {
            "id": self.id,
            "conversation_id": conversation_id,
            "parent_id": parent_id,
            "role": self.role,
            "content": self.content,
            "status": self.status,
            "created_at": now,
            "updated_at": now,
            "client_message_id": self.client_message_id,
            "turn_id": self.turn_id,
            "tool_calls": [dict(call) for call in self.tool_calls],
            "tool_call_id": self.tool_call_id,
            "metadata": dict(self.metadata),
            "source": None,
        }

    def fingerprint(self, parent_id: str | Unset | None, branch: str | None) -> str:
        """What a retry under the same ``client_message_id`` must repeat to count as the same."""
        return fingerprint(
            {
                "role": self.role,
                "content": self.content,
                "parent_id": None if isinstance(parent_id, Unset) else parent_id,
                "branch": branch,
            }
        )


@dataclass(frozen=True, slots=True)
class TurnStep:
    """What :meth:`Store.write_turn` did: the turn as stored, the messages added, and whether
    anything was written (``False``: a retry answered from what was stored)."""

    turn: Doc | None
    messages: list[Doc]
    created: bool


class _KeyedLocks:
    """One asyncio lock per key, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def busy(self, key: str) -> bool:
        return key in self._locks


class Store:
    """A durable conversation store in one data dir, owned by this process."""

    def __init__(self, layout: Layout, lock: DataDirLock, config: StoreConfig) -> None:
        self.layout = layout
        self.config = config
        self._lock = lock
        self._storage: StorageFactory = STORAGES[config.storage]
        self._quarantine = Quarantine(layout.quarantine)
        self._catalog = Catalog()
        self._shards: OrderedDict[str, Shard] = OrderedDict()
        self._reserved: set[str] = set()
        self._reserved_dirty = False
        self._locks = _KeyedLocks()
        self._listeners: list[Listener] = []
        self._journal: Journal | None = None
        self._checkpoint_lock = asyncio.Lock()
        self._background: set[asyncio.Task[Any]] = set()
        self._timer: asyncio.Task[None] | None = None
        self._quarantined: list[QuarantinedItem] = []
        #: Conversations whose snapshot the running checkpoint has taken but not yet written.
        self._writing: set[str] = set()
        #: Conversations being moved to quarantine while the store runs (see _quarantine_live).
        self._quarantining: set[str] = set()
        self._closed = False
        self.last_checkpoint: float = time.monotonic()
        self.replayed_records = 0

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    async def open(
        cls, data_dir: Path, config: StoreConfig | None = None, *, lock: DataDirLock | None = None
    ) -> Store:
        """Take the data-dir lock, recover, checkpoint, and start the background work.

        ``lock``: a lock on ``data_dir`` the caller already holds (the server takes it before
        it announces itself); the store releases it on close. Raises :class:`StoreLocked` when
        another process owns the data dir and
        :class:`~sidecar.store.errors.StoreVersionError` when it was written by a newer version.
        """
        config = config or StoreConfig()
        if config.storage not in STORAGES:
            raise ValidationFailed("storage", f"storage must be one of {', '.join(STORAGES)}")
        layout = Layout(await asyncio.to_thread(data_dir.resolve))
        await asyncio.to_thread(make_dirs, layout.root)
        await asyncio.to_thread(layout.root.chmod, 0o700)
        lock = lock or DataDirLock(layout.root)
        if not lock.try_acquire():
            raise StoreLocked(f"another process owns {layout.root}")
        store = cls(layout, lock, config)
        try:
            await asyncio.to_thread(ensure_schema, layout.root)
            recovered = await asyncio.to_thread(recover, layout, store._storage, store._quarantine)
            store._adopt(recovered)
            store._journal = await Journal.start(layout.journal, recovered.next_seq)
            await store.checkpoint()
        except BaseException:
            if store._journal is not None:
                await store._journal.close()
            lock.release()
            raise
        store._timer = asyncio.create_task(store._checkpoint_timer(), name="store-checkpoints")
        return store

    def _adopt(self, recovered: Recovered) -> None:
        self._catalog = recovered.catalog
        self._reserved = recovered.reserved
        self._reserved_dirty = recovered.reserved_dirty
        for conversation_id, shard in recovered.shards.items():
            self._shards[conversation_id] = shard
        self._quarantined = self._quarantine.items()
        self.replayed_records = recovered.replayed
        if recovered.replayed:
            log.info("replayed %d journal records", recovered.replayed)

    async def close(self) -> None:
        """Checkpoint everything, stop background work, release the data dir."""
        if self._closed:
            return
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
        for task in list(self._background):
            with contextlib.suppress(Exception):
                await task
        try:
            await self.checkpoint()
        except StoreError as exc:
            log.error("final checkpoint failed (the journal keeps every write): %s", exc)
        if self._journal is not None:
            await self._journal.close()
        self._lock.release()

    # ------------------------------------------------------------------ state

    @property
    def data_dir(self) -> Path:
        return self.layout.root

    @property
    def seq(self) -> int:
        """The seq of the last committed record (the store-wide event sequence)."""
        return self._journal.last_committed_seq if self._journal else 0

    @property
    def writable(self) -> bool:
        return self._journal is not None and self._journal.writable

    @property
    def quarantined(self) -> list[QuarantinedItem]:
        """What may be missing from the store (health reports these): conversations that failed
        to load (moved aside, or left in place when they cannot be moved), refused folders,
        journal records that could not be read."""
        return [item for item in self._quarantined if item.kind in REPORTED_KINDS]

    def _damage_of(self, conversation_id: str) -> StoreError:
        """The error for a conversation that is not in the store because it is damaged (a clear
        404 when moved to quarantine, 503 when left in place), or a plain 404."""
        for item in reversed(self.quarantined):
            if item.conversation_id == conversation_id and item.kind == "conversation":
                if item.path == str(self._folder(conversation_id)):
                    return Unavailable(
                        f"conversation '{conversation_id}' cannot be read: {item.reason}"
                    )
                return NotFound(f"conversation '{conversation_id}' is damaged and was quarantined")
        return NotFound(f"conversation '{conversation_id}' does not exist")

    async def _missing(self, conversation_id: str) -> StoreError:
        """:meth:`_damage_of`, once a quarantine of that conversation under way elsewhere (a
        search catch-up found the damage first) has finished: until then it is neither in the
        catalog nor in the quarantine's list, and would read as never having existed."""
        if conversation_id in self._quarantining:
            async with self._checkpoint_lock:  # held for the whole move
                pass
        return self._damage_of(conversation_id)

    def stats(self) -> dict[str, Any]:
        return {
            "conversations": len(self._catalog.entries),
            "messages": self._catalog.message_total,
            "writable": self.writable,
            "quarantined": [item.to_json() for item in self.quarantined],
            "cached_conversations": len(self._shards),
        }

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with every :class:`Change`, in seq order; returns an unsubscribe."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    # ------------------------------------------------------------------ internals

    def _folder(self, conversation_id: str) -> Path:
        return self.layout.shard(conversation_id)

    async def _shard(self, conversation_id: str) -> Shard:
        """The live shard of an existing conversation, loading its meta if needed."""
        check_id(conversation_id, "conversation_id")
        shard = self._shards.get(conversation_id)
        if shard is not None:
            self._shards.move_to_end(conversation_id)
            return shard
        if conversation_id not in self._catalog.entries:
            raise await self._missing(conversation_id)
        folder = self._folder(conversation_id)
        try:
            loaded = await asyncio.to_thread(Shard.load, conversation_id, folder, self._storage)
        except CorruptDocument as exc:
            await self._quarantine_live(conversation_id, str(exc))
            raise self._damage_of(conversation_id) from None
        if conversation_id not in self._catalog.entries:
            raise await self._missing(conversation_id)  # quarantined (or purged) while it loaded
        shard = self._shards.setdefault(conversation_id, loaded)
        self._shards.move_to_end(conversation_id)
        self._evict()
        return shard

    async def _load_messages(self, shard: Shard, ordinals: Iterable[int]) -> None:
        for number in shard.chunks_for(ordinals):
            try:
                docs = await asyncio.to_thread(shard.read_chunk, number, self._storage)
            except CorruptDocument as exc:
                await self._quarantine_live(shard.conversation_id, str(exc), shard)
                raise self._damage_of(shard.conversation_id) from None
            shard.install_chunk(number, docs)

    async def _load_turns(self, shard: Shard) -> dict[str, Doc]:
        if shard.turns is None:
            try:
                turns = await asyncio.to_thread(shard.read_turns, self._storage)
            except CorruptDocument as exc:
                await self._quarantine_live(shard.conversation_id, str(exc), shard)
                raise self._damage_of(shard.conversation_id) from None
            shard.install_turns(turns)
        assert shard.turns is not None
        return shard.turns

    async def _quarantine_live(
        self, conversation_id: str, reason: str, shard: Shard | None = None
    ) -> None:
        async with self._checkpoint_lock:
            if conversation_id not in self._catalog.entries:
                return  # two readers found the damage at once: the first one moved it
            self._shards.pop(conversation_id, None)
            self._catalog.remove(conversation_id)  # no new write of it is journalled now
            self._quarantining.add(conversation_id)
            try:
                if self._journal is not None:
                    # Writes journalled before the damage was found land in memory (and so in
                    # the in-memory copy kept beside the files), not in a resurrected shard.
                    with contextlib.suppress(Unavailable):
                        await self._journal.rotate()
                await asyncio.to_thread(
                    quarantine_shard,
                    self.layout,
                    self._quarantine,
                    conversation_id,
                    reason,
                    memory=shard,
                )
            finally:
                self._quarantining.discard(conversation_id)
            self._quarantined = self._quarantine.items()

    def _evict(self) -> None:
        """Keep at most ``cache_size`` shards in memory; dirty or busy ones wait for a checkpoint."""
        excess = len(self._shards) - self.config.cache_size
        if excess <= 0:
            return
        for conversation_id in list(self._shards):
            if excess <= 0:
                return
            shard = self._shards[conversation_id]
            # One a checkpoint is writing looks clean but must stay: re-read from disk half way
            # it would have the new chunks and the old meta (losing the writes in between).
            writing = conversation_id in self._writing
            if not shard.dirty and not self._locks.busy(conversation_id) and not writing:
                del self._shards[conversation_id]
                excess -= 1
        self._schedule_checkpoint()

    async def _mutate(self, conversation_id: str, work: Callable[[], Awaitable[T]]) -> T:
        """Run ``work`` under the conversation's lock, shielded from the caller's cancellation."""
        if self._closed:
            raise Unavailable("the store is closed")

        async def locked() -> T:
            async with self._locks.hold(conversation_id):
                return await work()

        return await asyncio.shield(asyncio.ensure_future(locked()))

    async def _commit(
        self,
        shard: Shard,
        ops: list[Operation],
        draft: _Draft,
        *,
        conversation: Doc | None = None,
        touch: bool = True,
        at: str | None = None,
    ) -> int:
        """Journal ``ops`` (plus the conversation's new revision) and apply them once durable."""
        if touch:
            base = conversation if conversation is not None else shard.conversation
            conversation = {
                **base,
                "revision": int(shard.conversation.get("revision", 0)) + 1,
                "updated_at": at or now_iso(),
            }
        if conversation is not None:
            ops = [["conv", conversation], *ops]
        draft.conversation = conversation is not None
        await self._load_messages(shard, shard.ordinals_touched(ops))
        if any(op[0] == "turn" for op in ops):
            await self._load_turns(shard)
        if self._journal is None:
            raise Unavailable("the store is not open")
        if shard.exists and shard.conversation_id not in self._catalog.entries:
            # quarantined while this write waited (it held the shard from before): journalled,
            # it would bring the conversation back without the files that were moved away
            raise self._damage_of(shard.conversation_id)
        future = self._journal.append(
            shard.conversation_id,
            ops,
            lambda seq: self._apply(shard, seq, ops, draft),
            width=draft.width,
        )
        seq = await future
        if self._journal.bytes_since_rotation >= self.config.checkpoint_bytes:
            self._schedule_checkpoint()
        return seq

    def _apply(self, shard: Shard, seq: int, ops: list[Operation], draft: _Draft) -> None:
        """Runs on the event loop right after the record's fsync, in seq order."""
        conversation_id = shard.conversation_id
        summary: Doc | None
        if ops[0][0] == "purge":
            self._shards.pop(conversation_id, None)
            self._catalog.remove(conversation_id)
            self._reserved.add(conversation_id)
            self._reserved_dirty = True
            summary = None
        else:
            shard.apply(seq, ops)
            summary = shard.summary()
            if conversation_id not in self._quarantining:  # else: being moved away, stays so
                if conversation_id not in self._shards:
                    self._shards[conversation_id] = shard
                self._catalog.put(summary, len(shard.ids))
        effects: list[tuple[str, Doc]] = []
        if draft.conversation:
            effects.append(("conversation", {"reason": draft.reason, "conversation": summary}))
        for created, doc in draft.messages:
            effects.append(("message", {"created": created, "message": public_message(doc)}))
        for message_id, turn_id, offset, text in draft.text:
            effects.append(
                (
                    "text",
                    {"message_id": message_id, "turn_id": turn_id, "offset": offset, "text": text},
                )
            )
        for previous, turn in draft.turns:
            effects.append(("turn", {"turn": turn, "previous": previous}))
        for approval in draft.approvals:
            effects.append(("approval", approval))
        if draft.reread:
            effects.append(("external", {"conversation_ids": [conversation_id]}))
        if not effects:
            return  # a remembered request_id alone: nothing a client could observe
        self._publish(
            Change(
                conversation_id,
                tuple(Effect(seq + i, kind, data) for i, (kind, data) in enumerate(effects)),
            )
        )

    def _publish(self, change: Change) -> None:
        """Record the change's seq and hand it to every listener (one failing does not stop it)."""
        self._catalog.seq = change.last_seq
        for listener in list(self._listeners):
            try:
                listener(change)
            except Exception:
                log.exception("store listener failed")

    # ------------------------------------------------------------------ checkpoints

    def _schedule_checkpoint(self) -> None:
        if self._closed or self._checkpoint_lock.locked() or self._journal is None:
            return
        task = asyncio.create_task(self._checkpoint_quietly(), name="store-checkpoint")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _checkpoint_quietly(self) -> None:
        try:
            await self.checkpoint()
        except StoreError as exc:
            log.error("checkpoint failed; the journal keeps every write: %s", exc)

    async def _checkpoint_timer(self) -> None:
        while True:
            await asyncio.sleep(self.config.checkpoint_interval)
            if any(shard.dirty for shard in self._shards.values()) or self._catalog.dirty:
                await self._checkpoint_quietly()

    async def checkpoint(self) -> None:
        """Compact the journal into shard snapshots; then drop the journal segments they cover."""
        if self._journal is None:
            return
        async with self._checkpoint_lock:
            sealed = await self._journal.rotate()
            snapshots = [(s, s.snapshot()) for s in list(self._shards.values()) if s.dirty]
            self._writing = {shard.conversation_id for shard, _ in snapshots}
            written = 0
            try:
                for shard, snapshot in snapshots:
                    stamp = await asyncio.to_thread(snapshot.write, self._storage)
                    self._writing.discard(shard.conversation_id)
                    written += 1
                    shard.on_disk = True
                    if shard.conversation_id in self._catalog.entries:
                        self._catalog.set_stamp(shard.conversation_id, stamp)
                if self._reserved_dirty:
                    self._reserved_dirty = False
                    tables = reserved_tables(set(self._reserved))
                    await asyncio.to_thread(self._storage(self.layout.reserved).write, tables)
                if self._catalog.dirty:
                    self._catalog.dirty = False
                    tables = self._catalog.to_tables()
                    await asyncio.to_thread(self._storage(self.layout.catalog).write, tables)
            except OSError as exc:
                for shard, snapshot in snapshots[written:]:
                    shard.mark_dirty_again(snapshot)
                self._catalog.dirty = True
                self._reserved_dirty = True
                raise Unavailable(f"checkpoint could not write: {exc.strerror}") from exc
            finally:
                self._writing = set()
            await self._journal.remove_segments(sealed)
            self.last_checkpoint = time.monotonic()
        self._evict()

    # ------------------------------------------------------------------ conversations

    def list_conversations(self, query: ListQuery | None = None) -> ListPage:
        return self._catalog.list(query or ListQuery())

    async def get_conversation(self, conversation_id: str) -> Doc:
        shard = await self._shard(conversation_id)
        return shard.summary()

    async def create_conversation(
        self,
        *,
        id: str | None = None,
        title: str | None = None,
        workspace: str | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        source: dict[str, Any] | None = None,
    ) -> tuple[Doc, bool]:
        """Create a conversation; return it and whether it is new.

        With a client ``id``, repeating the same request returns the existing conversation
        (``False``); the same id with different fields raises :class:`Conflict`.
        """
        fields = {
            "title": check_title(title),
            "workspace": check_optional_str(workspace, "workspace"),
            "tags": check_tags(tags),
            "metadata": check_metadata(metadata),
            "source": check_source(source),
        }
        conversation_id = new_id() if id is None else check_id(id, "id")
        request = fingerprint(fields)

        async def work() -> tuple[Doc, bool]:
            if conversation_id in self._reserved:
                raise Conflict(
                    f"conversation id '{conversation_id}' belonged to a purged conversation",
                    details={"existing": None},
                )
            if any(item.conversation_id == conversation_id for item in self.quarantined):
                raise Conflict(f"conversation '{conversation_id}' is quarantined")
            if conversation_id in self._catalog.entries:
                existing = await self._shard(conversation_id)
                if existing.conversation.get("_request") == request:
                    return existing.summary(), False
                raise Conflict(
                    f"conversation '{conversation_id}' already exists with different fields",
                    details={"existing": existing.summary()},
                )
            now = now_iso()
            conversation = {
                "id": conversation_id,
                "title": fields["title"],
                "created_at": now,
                "updated_at": now,
                "starred": False,
                "pinned": False,
                "archived": False,
                "deleted_at": None,
                "workspace": fields["workspace"],
                "tags": fields["tags"],
                "metadata": fields["metadata"],
                "active_branch": DEFAULT_BRANCH,
                "revision": 1,
                "state": "idle",
                "source": fields["source"],
                "_request": request,
            }
            shard = Shard(conversation_id, self._folder(conversation_id))
            ops: list[Operation] = [["branch", DEFAULT_BRANCH, None]]
            draft = _Draft("created")
            await self._commit(shard, ops, draft, conversation=conversation, touch=False)
            self._evict()
            return shard.summary(), True

        return await self._mutate(conversation_id, work)

    async def update_conversation(
        self,
        conversation_id: str,
        changes: dict[str, Any],
        *,
        if_revision: int | None = None,
        request_id: str | None = None,
    ) -> Doc:
        """Change title, starred, pinned, archived, tags or metadata (others are refused)."""
        checks: dict[str, Callable[[Any], Any]] = {
            "title": check_title,
            "starred": lambda v: check_bool(v, "starred"),
            "pinned": lambda v: check_bool(v, "pinned"),
            "archived": lambda v: check_bool(v, "archived"),
            "tags": check_tags,
            "metadata": check_metadata,
        }
        unknown = sorted(set(changes) - checks.keys())
        if unknown:
            raise ValidationFailed(unknown[0], f"field '{unknown[0]}' cannot be changed")
        clean = {name: checks[name](value) for name, value in changes.items()}
        request = Request.of(request_id, "update_conversation", clean)

        async def work() -> Doc:
            shard = await self._shard(conversation_id)
            if (answer := await self._recall(shard, request)) is not None:
                return answer
            self._check_revision(shard, if_revision)
            if all(shard.conversation.get(k) == v for k, v in clean.items()):
                await self._remember_alone(shard, request, ["conversation"])
                return shard.summary()
            await self._commit(
                shard,
                self._remember(request, ["conversation"]),
                _Draft("updated"),
                conversation={**shard.conversation, **clean},
            )
            return shard.summary()

        return await self._mutate(conversation_id, work)

    @staticmethod
    def _check_revision(shard: Shard, if_revision: int | None) -> None:
        current = shard.conversation.get("revision")
        if if_revision is not None and if_revision != current:
            raise Conflict(
                f"conversation '{shard.conversation_id}' is at revision {current}, not {if_revision}",
                details={"revision": current},
            )

    async def _recall(self, shard: Shard, request: Request | None) -> Doc | None:
        """The answer to an earlier request with the same ``request_id``, or ``None`` if new.

        The same action and fields: the current state of what it changed. Anything else under
        that id is a :class:`Conflict` carrying that state as ``details.existing``.
        """
        if request is None or request.request_id not in shard.requests:
            return None
        record = shard.requests[request.request_id]
        existing = await self._result_of(shard, record["result"])
        if record["fingerprint"] == request.fingerprint:
            return existing
        raise Conflict(
            f"request_id '{request.request_id}' was used for a different request",
            details={"existing": existing},
        )

    async def _result_of(self, shard: Shard, result: list[str]) -> Doc:
        kind = result[0]
        if kind == "message":
            return public_message((await self._message(shard, result[1]))[1])
        if kind == "branch":
            name = result[1]
            head = shard.branches.get(name)
            return {"name": name, "head_message_id": head, "active": name == shard.active_branch}
        if kind == "turn":
            return (await self._load_turns(shard))[result[1]]
        return shard.summary()

    @staticmethod
    def _remember(request: Request | None, result: list[str]) -> list[Operation]:
        return [] if request is None else [request.op(result)]

    async def _remember_alone(
        self, shard: Shard, request: Request | None, result: list[str]
    ) -> None:
        """Journal a request that changed nothing, so a different retry under its id still clashes."""
        if request is not None:
            await self._commit(shard, [request.op(result)], _Draft("noop"), touch=False)

    async def delete_conversation(
        self, conversation_id: str, *, request_id: str | None = None
    ) -> Doc:
        """Move to the trash (``deleted_at`` set). Deleting what is in the trash changes nothing."""
        request = Request.of(request_id, "delete_conversation", {})

        async def work() -> Doc:
            shard = await self._shard(conversation_id)
            if (answer := await self._recall(shard, request)) is not None:
                return answer
            if shard.conversation.get("deleted_at") is not None:
                await self._remember_alone(shard, request, ["conversation"])
                return shard.summary()
            now = now_iso()
            conversation = {**shard.conversation, "deleted_at": now}
            ops = self._remember(request, ["conversation"])
            await self._commit(shard, ops, _Draft("deleted"), conversation=conversation, at=now)
            return shard.summary()

        return await self._mutate(conversation_id, work)

    async def restore_conversation(
        self, conversation_id: str, *, request_id: str | None = None
    ) -> Doc:
        request = Request.of(request_id, "restore_conversation", {})

        async def work() -> Doc:
            shard = await self._shard(conversation_id)
            if (answer := await self._recall(shard, request)) is not None:
                return answer
            if shard.conversation.get("deleted_at") is None:
                await self._remember_alone(shard, request, ["conversation"])
                return shard.summary()
            conversation = {**shard.conversation, "deleted_at": None}
            ops = self._remember(request, ["conversation"])
            await self._commit(shard, ops, _Draft("restored"), conversation=conversation)
            return shard.summary()

        return await self._mutate(conversation_id, work)

    async def purge_conversation(self, conversation_id: str) -> None:
        """Delete for good. The id stays reserved; purging twice is not an error."""
        check_id(conversation_id, "conversation_id")

        async def work() -> None:
            if conversation_id in self._reserved:
                return
            shard = await self._shard(conversation_id)
            if self._journal is None:
                raise Unavailable("the store is not open")
            future = self._journal.append(
                conversation_id,
                [["purge"]],
                lambda seq: self._apply(shard, seq, [["purge"]], _Draft("purged")),
            )
            await future
            async with self._checkpoint_lock:
                await asyncio.to_thread(
                    remove_shard_folder, self.layout, self._folder(conversation_id)
                )

        await self._mutate(conversation_id, work)

    # ------------------------------------------------------------------ messages

    async def append_message(
        self,
        conversation_id: str,
        *,
        role: str,
        content: str,
        parent_id: str | Unset | None = UNSET,
        branch: str | None = None,
        client_message_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        status: str = "complete",
        tool_calls: list[dict[str, Any]] | None = None,
        tool_call_id: str | None = None,
        turn_id: str | None = None,
        source: dict[str, Any] | None = None,
    ) -> tuple[Doc, bool]:
        """Add a message; return it and whether it is new (see CONTRACT §4 for ``parent_id``).

        ``parent_id`` omitted: the active branch grows. The head of a branch: that branch grows
        and becomes active. Any other message, or ``None`` on a non-empty conversation: a new
        branch (``branch`` or ``branch-<n>``) starts there and becomes active.
        """
        fields: dict[str, Any] = {
            "role": check_role(role),
            "content": check_content(content),
            "status": check_status(status),
            "metadata": check_metadata(metadata),
            "tool_calls": check_tool_calls(tool_calls),
            "tool_call_id": check_optional_str(tool_call_id, "tool_call_id", 256),
            "turn_id": None if turn_id is None else check_id(turn_id, "turn_id"),
            "source": check_source(source),
        }
        if parent_id is not UNSET and parent_id is not None:
            check_id(parent_id, "parent_id")
        if branch is not None:
            check_branch_name(branch)
        if client_message_id is not None:
            check_id(client_message_id, "client_message_id")
        request = fingerprint(
            {**fields, "parent_id": None if parent_id is UNSET else parent_id, "branch": branch}
        )

        async def work() -> tuple[Doc, bool]:
            shard = await self._shard(conversation_id)
            if client_message_id is not None and client_message_id in shard.client_ids:
                existing_id = shard.client_ids[client_message_id]
                ordinal = shard.index[existing_id]
                await self._load_messages(shard, [ordinal])
                existing = shard.message_at(ordinal)
                if existing.get("_request") == request:
                    return public_message(existing), False
                raise Conflict(
                    f"client_message_id '{client_message_id}' was used for a different message",
                    details={"existing": public_message(existing)},
                )
            if shard.conversation.get("deleted_at") is not None:
                raise Conflict(f"conversation '{conversation_id}' is in the trash")
            target, parent = self._target_branch(shard, parent_id, branch)
            now = now_iso()
            doc = {
                "id": new_id(),
                "conversation_id": conversation_id,
                "parent_id": parent,
                "created_at": now,
                "updated_at": now,
                "client_message_id": client_message_id,
                **fields,
                "_request": request,
            }
            ops: list[Operation] = [["msg", len(shard.ids), doc], ["branch", target, doc["id"]]]
            conversation = {**shard.conversation, "active_branch": target}
            draft = _Draft("messages", messages=[(True, doc)])
            await self._commit(shard, ops, draft, conversation=conversation, at=now)
            return public_message(doc), True

        return await self._mutate(conversation_id, work)

    @staticmethod
    def _target_branch(
        shard: Shard, parent_id: str | Unset | None, branch: str | None
    ) -> tuple[str, str | None]:
        """Which branch a new message extends (or starts), and its parent."""
        active = shard.active_branch
        if isinstance(parent_id, Unset):
            parent = shard.branches.get(active)
            if branch is not None and branch != active:
                raise ValidationFailed(
                    "branch", "branch needs parent_id unless it is the active one"
                )
            return active, parent
        if parent_id is not None and parent_id not in shard.index:
            raise ValidationFailed(
                "parent_id",
                f"message '{parent_id}' is not in conversation '{shard.conversation_id}'",
            )
        if branch is not None:
            if branch in shard.branches and shard.branches[branch] != parent_id:
                raise Conflict(f"branch '{branch}' exists and does not end at '{parent_id}'")
            return branch, parent_id
        growing = [name for name, head in shard.branches.items() if head == parent_id]
        if active in growing:
            return active, parent_id
        if growing:
            return growing[0], parent_id
        return Store._free_branch_name(shard), parent_id

    @staticmethod
    def _free_branch_name(shard: Shard) -> str:
        number = len(shard.branches)
        while f"branch-{number}" in shard.branches:
            number += 1
        return f"branch-{number}"

    async def _message(self, shard: Shard, message_id: str) -> tuple[int, Doc]:
        check_id(message_id, "message_id")
        ordinal = shard.index.get(message_id)
        if ordinal is None:
            raise NotFound(
                f"message '{message_id}' does not exist in conversation '{shard.conversation_id}'"
            )
        await self._load_messages(shard, [ordinal])
        return ordinal, shard.message_at(ordinal)

    async def get_message(self, conversation_id: str, message_id: str) -> Doc:
        shard = await self._shard(conversation_id)
        return public_message((await self._message(shard, message_id))[1])

    async def all_messages(self, conversation_id: str) -> tuple[Doc, list[Doc]]:
        """The conversation and every message of it (all branches, in insertion order).

        Read-only, for derived indexes (search). The result is taken in one step of the event
        loop once every chunk is loaded, so it reflects exactly the changes published so far: a
        listener that asks for this and then applies later changes misses nothing.
        """
        while True:
            shard = await self._shard(conversation_id)
            await self._load_messages(shard, range(len(shard.ids)))
            if self._shards.get(conversation_id) is shard:  # not evicted while we read
                messages = [public_message(shard.message_at(o)) for o in range(len(shard.ids))]
                return shard.summary(), messages

    async def update_message(
        self,
        conversation_id: str,
        message_id: str,
        *,
        content: str | Unset = UNSET,
        metadata: dict[str, Any] | Unset = UNSET,
        status: str | Unset = UNSET,
        tool_calls: list[dict[str, Any]] | Unset = UNSET,
        request_id: str | None = None,
    ) -> Doc:
        """Replace some fields of a message; an update that changes nothing writes nothing."""
        changes: dict[str, Any] = {}
        if not isinstance(content, Unset):
            changes["content"] = check_content(content)
        if not isinstance(metadata, Unset):
            changes["metadata"] = check_metadata(metadata)
        if not isinstance(status, Unset):
            changes["status"] = check_status(status)
        if not isinstance(tool_calls, Unset):
            changes["tool_calls"] = check_tool_calls(tool_calls)
        request = Request.of(request_id, "update_message", {"message_id": message_id, **changes})

        async def work() -> Doc:
            shard = await self._shard(conversation_id)
            if (answer := await self._recall(shard, request)) is not None:
                return answer
            ordinal, doc = await self._message(shard, message_id)
            if all(doc.get(k) == v for k, v in changes.items()):
                await self._remember_alone(shard, request, ["message", message_id])
                return public_message(doc)
            now = now_iso()
            new_doc = {**doc, **changes, "updated_at": now}
            draft = _Draft("messages", messages=[(False, new_doc)])
            ops = [["msg", ordinal, new_doc], *self._remember(request, ["message", message_id])]
            await self._commit(shard, ops, draft, at=now)
            return public_message(new_doc)

        return await self._mutate(conversation_id, work)

    async def append_text(
        self, conversation_id: str, message_id: str, offset: int, text: str
    ) -> int:
        """Streaming growth of a ``streaming`` message: content becomes ``content[:offset] + text``.

        Neither the conversation's revision nor its ``updated_at`` change (CONTRACT §4). Returns
        the new content length.
        """
        check_content(text)
        if not isinstance(offset, int) or offset < 0:
            raise ValidationFailed("offset", "offset must be a non-negative integer")

        async def work() -> int:
            shard = await self._shard(conversation_id)
            _, doc = await self._message(shard, message_id)
            if doc.get("status") != "streaming":
                raise Conflict(f"message '{message_id}' is {doc.get('status')}, not streaming")
            if offset > len(doc.get("content", "")):
                raise ValidationFailed("offset", "offset is beyond the content (a gap)")
            draft = _Draft("text", text=[(message_id, doc.get("turn_id"), offset, text)])
            await self._commit(shard, [["text", message_id, offset, text]], draft, touch=False)
            return offset + len(text)

        return await self._mutate(conversation_id, work)

    async def list_messages(
        self,
        conversation_id: str,
        *,
        limit: int = 50,
        before: str | None = None,
        after: str | None = None,
        branch: str | None = None,
    ) -> tuple[list[Doc], bool]:
        """A page of a branch (default: the active one), in conversation order, and ``has_more``.

        No cursor: the last ``limit``; ``before``: the ``limit`` before that message (paging back);
        ``after``: the ``limit`` after it. ``has_more`` says whether more lie in that direction.
        """
        page = await self.read_page(
            conversation_id, limit=limit, before=before, after=after, branch=branch
        )
        return page.messages, page.has_more

    async def read_page(
        self,
        conversation_id: str,
        *,
        limit: int = 50,
        before: str | None = None,
        after: str | None = None,
        branch: str | None = None,
    ) -> Page:
        """The conversation, a page of messages (as :meth:`list_messages`) and ``event_seq``.

        Everything is read in one step of the event loop after the needed files are loaded, so
        ``event_seq`` is exactly the last event the content reflects: "pull, then subscribe
        since ``event_seq``" misses nothing and repeats nothing (CONTRACT §6).
        """
        if not isinstance(limit, int) or not 1 <= limit <= MAX_MESSAGE_PAGE:
            raise ValidationFailed("limit", f"limit must be between 1 and {MAX_MESSAGE_PAGE}")
        if before is not None and after is not None:
            raise ValidationFailed("before", "give before or after, not both")
        shard = await self._shard(conversation_id)
        name = shard.active_branch if branch is None else check_branch_name(branch)
        if name not in shard.branches:
            raise NotFound(f"branch '{name}' does not exist in conversation '{conversation_id}'")
        path = shard.path_to(shard.branches[name])

        def position(message_id: str, field_name: str) -> int:
            check_id(message_id, field_name)
            ordinal = shard.index.get(message_id, -1)
            try:
                return path.index(ordinal)
            except ValueError:
                raise NotFound(f"message '{message_id}' is not on branch '{name}'") from None

        if after is not None:
            start = position(after, "after") + 1
            window = path[start : start + limit]
            has_more = start + limit < len(path)
        else:
            end = len(path) if before is None else position(before, "before")
            start = max(0, end - limit)
            window = path[start:end]
            has_more = start > 0
        await self._load_messages(shard, window)
        return Page(
            shard.summary(),
            [public_message(shard.message_at(o)) for o in window],
            has_more,
            self.seq,
        )

    # ------------------------------------------------------------------ branches

    async def list_branches(self, conversation_id: str) -> list[Doc]:
        shard = await self._shard(conversation_id)
        active = shard.active_branch
        return [
            {"name": name, "head_message_id": head, "active": name == active}
            for name, head in shard.branches.items()
        ]

    async def create_branch(
        self,
        conversation_id: str,
        from_message_id: str,
        name: str | None = None,
        *,
        request_id: str | None = None,
    ) -> tuple[Doc, bool]:
        """A new named head at an existing message (not made active: switch to it for that).

        Returns the branch and whether it is new: naming an existing branch that already ends at
        ``from_message_id`` is a harmless retry; one that ends elsewhere is a :class:`Conflict`.
        """
        check_id(from_message_id, "from_message_id")
        if name is not None:
            check_branch_name(name, "name")
        request = Request.of(
            request_id, "create_branch", {"from_message_id": from_message_id, "name": name}
        )

        async def work() -> tuple[Doc, bool]:
            shard = await self._shard(conversation_id)
            if (answer := await self._recall(shard, request)) is not None:
                return answer, False
            if from_message_id not in shard.index:
                raise ValidationFailed(
                    "from_message_id", f"message '{from_message_id}' does not exist"
                )
            branch_name = name or self._free_branch_name(shard)
            if branch_name in shard.branches:
                existing = {
                    "name": branch_name,
                    "head_message_id": shard.branches[branch_name],
                    "active": branch_name == shard.active_branch,
                }
                if shard.branches[branch_name] == from_message_id:
                    await self._remember_alone(shard, request, ["branch", branch_name])
                    return existing, False
                raise Conflict(
                    f"branch '{branch_name}' already exists", details={"existing": existing}
                )
            draft = _Draft("updated")
            ops = [
                ["branch", branch_name, from_message_id],
                *self._remember(request, ["branch", branch_name]),
            ]
            await self._commit(shard, ops, draft)
            return {"name": branch_name, "head_message_id": from_message_id, "active": False}, True

        return await self._mutate(conversation_id, work)

    async def switch_branch(
        self, conversation_id: str, name: str, *, request_id: str | None = None
    ) -> Doc:
        check_branch_name(name, "name")
        request = Request.of(request_id, "switch_branch", {"name": name})

        async def work() -> Doc:
            shard = await self._shard(conversation_id)
            if (answer := await self._recall(shard, request)) is not None:
                return answer
            if name not in shard.branches:
                raise NotFound(
                    f"branch '{name}' does not exist in conversation '{conversation_id}'"
                )
            if shard.active_branch == name:
                await self._remember_alone(shard, request, ["conversation"])
                return shard.summary()
            conversation = {**shard.conversation, "active_branch": name}
            ops = self._remember(request, ["conversation"])
            await self._commit(shard, ops, _Draft("updated"), conversation=conversation)
            return shard.summary()

        return await self._mutate(conversation_id, work)

    async def verify(self, conversation_id: str) -> list[str]:
        """Read every file of a conversation and check its invariants; return what is wrong.

        Files that cannot be read are quarantined on the way (then :class:`NotFound` is raised).
        """
        shard = await self._shard(conversation_id)
        await self._load_messages(shard, range(len(shard.ids)))
        await self._load_turns(shard)
        problems: list[str] = []
        for ordinal, message_id in enumerate(shard.ids):
            try:
                doc = shard.message_at(ordinal)
            except CorruptDocument as exc:
                problems.append(str(exc))
                continue
            parent = shard.parents[ordinal]
            expected_parent = None if parent < 0 else shard.ids[parent]
            if doc.get("id") != message_id or doc.get("parent_id") != expected_parent:
                problems.append(f"message {message_id!r} disagrees with the message tree")
        for name, head in shard.branches.items():
            if head is not None and head not in shard.index:
                problems.append(f"branch {name!r} ends at a message that does not exist")
        if shard.active_branch not in shard.branches:
            problems.append(f"the active branch {shard.active_branch!r} does not exist")
        return [f"conversation {conversation_id!r}: {problem}" for problem in problems]

    # ------------------------------------------------------------------ import and rollback
    # Whole-conversation reads and atomic rewrites for sidecar/service/{exporter,importer}.py.

    def id_state(self, conversation_id: str) -> str:
        """``free``, ``exists``, ``reserved`` (purged: the id stays taken) or ``quarantined``."""
        check_id(conversation_id, "conversation_id")
        if conversation_id in self._reserved:
            return "reserved"
        if any(item.conversation_id == conversation_id for item in self.quarantined):
            return "quarantined"
        return "exists" if conversation_id in self._catalog.entries else "free"

    async def read_image(self, conversation_id: str) -> Image:
        """Everything a conversation holds (every branch, message and turn), read consistently."""
        shard = await self._shard(conversation_id)
        return await self._image(shard)

    async def _image(self, shard: Shard) -> Image:
        await self._load_messages(shard, range(len(shard.ids)))
        turns = await self._load_turns(shard)
        return Image(
            dict(shard.conversation),
            dict(shard.branches),
            [shard.message_at(o) for o in range(len(shard.ids))],
            list(turns.values()),
        )

    async def rewrite(
        self,
        conversation_id: str,
        decide: Callable[[Image | None], tuple[Rewrite | None, T]],
    ) -> T:
        """Change a whole conversation atomically: ``decide`` sees it (``None``: it does not
        exist) under its lock and returns the :class:`Rewrite` to journal (``None``: nothing)
        and the caller's result. See :mod:`.rewrite` for the kinds.

        Raises :class:`Conflict` (``details.reason``: ``purged`` / ``quarantined``) for an id
        that cannot be used, and :class:`ValidationFailed` for a rewrite that would break the
        message tree (nothing is written then).
        """
        check_id(conversation_id, "conversation_id")

        async def work() -> T:
            state = self.id_state(conversation_id)
            if state in ("reserved", "quarantined"):
                reason = "purged" if state == "reserved" else state
                raise Conflict(
                    f"conversation '{conversation_id}' is {reason}", details={"reason": reason}
                )
            exists = conversation_id in self._catalog.entries
            shard = await self._shard(conversation_id) if exists else None
            image = None if shard is None else await self._image(shard)
            change, result = decide(image)
            if change is None:
                return result
            check_rewrite(conversation_id, image, change)
            if change.kind == "create":
                await self._create_from(conversation_id, change)
            elif shard is not None and change.kind == "extend":
                await self._extend(shard, change)
            elif shard is not None and change.kind == "replace":
                await self._replace(shard, change)
            elif shard is not None:
                await self._drop(shard)
            return result

        return await self._mutate(conversation_id, work)

    async def _create_from(self, conversation_id: str, change: Rewrite) -> None:
        assert change.conversation is not None
        shard = Shard(conversation_id, self._folder(conversation_id))
        ops: list[Operation] = [["branch", name, head] for name, head in change.branches.items()]
        ops += [["msg", ordinal, doc] for ordinal, doc in enumerate(change.messages)]
        ops += [["turn", turn] for turn in change.turns]
        draft = _Draft("created", reread=True)
        await self._commit(shard, ops, draft, conversation=change.conversation, touch=False)
        self._evict()

    async def _extend(self, shard: Shard, change: Rewrite) -> None:
        assert change.conversation is not None
        start = len(shard.ids)
        ops: list[Operation] = [["msg", start + i, doc] for i, doc in enumerate(change.messages)]
        ops += [["branch", name, head] for name, head in change.branches.items()]
        ops += [["turn", turn] for turn in change.turns]
        draft = _Draft("updated", messages=[(True, doc) for doc in change.messages])
        await self._commit(shard, ops, draft, conversation=change.conversation, touch=False)

    async def _replace(self, shard: Shard, change: Rewrite) -> None:
        """A ``reset`` renumbers messages, so first checkpoint: then no older record of this
        shard (we hold its lock) is left to replay against chunk files the reset rewrites."""
        await self.checkpoint()
        image = {
            "branches": change.branches,
            "messages": change.messages,
            "turns": change.turns,
        }
        draft = _Draft("updated", reread=True)
        await self._commit(
            shard, [["reset", image]], draft, conversation=change.conversation, touch=False
        )

    async def _drop(self, shard: Shard) -> None:
        """Remove a conversation without reserving its id (a rolled back import).

        The checkpoint lock is held from the record to the folder's removal, so no checkpoint
        can delete the journal segment holding the drop while the folder still exists.
        """
        conversation_id = shard.conversation_id
        if self._journal is None:
            raise Unavailable("the store is not open")
        journal = self._journal

        def applied(seq: int) -> None:
            self._shards.pop(conversation_id, None)
            self._catalog.remove(conversation_id)
            effect = Effect(seq, "conversation", {"reason": "purged", "conversation": None})
            self._publish(Change(conversation_id, (effect,)))

        async with self._checkpoint_lock:
            await journal.append(conversation_id, [["drop"]], applied)
            await asyncio.to_thread(remove_shard_folder, self.layout, self._folder(conversation_id))

    # ------------------------------------------------------------------ sync (docs/sync.md)

    async def apply_remote(
        self, conversation_id: str, decide: Callable[[Image | None], Merge | None]
    ) -> bool:
        """Write what other devices changed: ``decide`` sees the conversation (``None``: none
        here) under its lock and returns the merged state (``None``: nothing to write).

        One journal record of ordinary puts, announced with the usual events. A purged id is
        left alone (purges are final). Returns whether anything was written.
        """
        check_id(conversation_id, "conversation_id")

        async def work() -> bool:
            if self.id_state(conversation_id) in ("reserved", "quarantined"):
                return False
            exists = conversation_id in self._catalog.entries
            shard = await self._shard(conversation_id) if exists else None
            image = None if shard is None else await self._image(shard)
            merge = decide(image)
            if merge is None:
                return False
            shard = shard or Shard(conversation_id, self._folder(conversation_id))
            turns = await self._load_turns(shard) if exists else {}
            planned = merge_ops(shard, merge, turns)
            merged = {**shard.conversation, **merge.conversation}
            if not planned.ops and merged == shard.conversation:
                return False
            revision = int(shard.conversation.get("revision", 0)) + 1
            conversation = {**merged, "revision": revision}
            draft = _Draft(
                "updated" if exists else "created",
                messages=planned.messages,
                turns=planned.turns,
            )
            await self._commit(shard, planned.ops, draft, conversation=conversation, touch=False)
            self._evict()
            return True

        return await self._mutate(conversation_id, work)

    # ------------------------------------------------------------------ external changes

    async def apply_external_changes(self, folder_names: set[str]) -> list[str]:
        """Re-read shard folders that another program changed (a restore, a sync tool).

        Our own snapshots are recognised by the meta-file stamp recorded when we wrote them, so
        they never echo. A conversation with changes not yet in its files keeps ours (the journal
        holds acknowledged writes newer than anything outside could know). Returns the ids whose
        state changed; they are announced as one ``external`` effect with a seq of its own.
        """
        changed: list[str] = []
        for name in sorted(folder_names):
            try:
                conversation_id = id_from_path_name(name)
            except ValidationFailed:
                continue
            if conversation_id in self._reserved or self._locks.busy(conversation_id):
                continue
            if conversation_id in self._writing:
                continue  # our own checkpoint, half written: not a change from outside
            live = self._shards.get(conversation_id)
            if live is not None and live.dirty:
                log.warning("ignoring an outside change to %s: it has newer writes", name)
                continue
            if await self._reload_from_disk(conversation_id):
                changed.append(conversation_id)
        if changed and self._journal is not None:
            ops: list[Operation] = [["external", changed]]
            await self._journal.append("", ops, lambda seq: self._announce_external(seq, changed))
        return changed

    async def _reload_from_disk(self, conversation_id: str) -> bool:
        folder = self._folder(conversation_id)
        try:
            stamp: FileStamp | None = await asyncio.to_thread(file_stamp, folder / META_FILE)
        except FileNotFoundError:
            stamp = None
        except OSError as exc:
            log.warning("outside change to %s is not readable: %s", folder.name, exc.strerror)
            return False
        if stamp is not None and stamp == self._catalog.stamps.get(conversation_id):
            return False
        if stamp is None:
            if conversation_id not in self._catalog.entries:
                return False
            self._shards.pop(conversation_id, None)
            self._catalog.remove(conversation_id)
            return True
        try:
            shard = await asyncio.to_thread(Shard.load, conversation_id, folder, self._storage)
        except CorruptDocument as exc:
            log.warning("outside change to %s is not readable (yet): %s", folder.name, exc)
            return False
        self._shards.pop(conversation_id, None)
        self._catalog.put(shard.summary(), len(shard.ids))
        self._catalog.set_stamp(conversation_id, stamp)
        if self._journal is not None:
            self._journal.advance_past(shard.applied_seq)
        return True

    def _announce_external(self, seq: int, conversation_ids: list[str]) -> None:
        self._publish(
            Change("", (Effect(seq, "external", {"conversation_ids": conversation_ids}),))
        )

    # ------------------------------------------------------------------ turns

    async def put_turn(self, conversation_id: str, turn: Doc) -> Doc:
        """Persist a turn (CONTRACT §4); the conversation's ``state`` follows its latest turn."""
        check_id(turn.get("id"), "turn.id")

        async def work() -> Doc:
            shard = await self._shard(conversation_id)
            turns = await self._load_turns(shard)
            latest = turn["id"] not in turns or next(reversed(turns)) == turn["id"]
            conversation = dict(shard.conversation)
            if latest:
                conversation["state"] = turn.get("state", "idle")
            doc = {**turn, "conversation_id": conversation_id}
            previous = turns[turn["id"]].get("state") if turn["id"] in turns else None
            draft = _Draft("updated", turns=[(previous, doc)])
            await self._commit(shard, [["turn", doc]], draft, conversation=conversation)
            return doc

        return await self._mutate(conversation_id, work)

    async def write_turn(
        self,
        conversation_id: str,
        turn: Doc,
        *,
        add: Sequence[NewMessage] = (),
        parent_id: str | Unset | None = UNSET,
        branch: str | None = None,
        update: Sequence[Doc] = (),
        retire_head: str | None = None,
        approval: list[Doc] | None = None,
        request: Request | None = None,
        guard: Callable[[Doc], None] | None = None,
    ) -> TurnStep:
        """One step of a turn (CONTRACT §4) as ONE journal record: the turn, its messages, branches.

        ``add`` are new messages, chained: the first follows ``parent_id`` (the rules of
        :meth:`append_message`, ``branch`` included), each next one follows the one before, and
        the branch ends at the last. ``update`` are changes to stored messages (``id`` plus the
        fields that change). ``retire_head`` names the active branch's head, which is kept on a
        new branch while ``add`` takes its place (``retry``: the failed reply is kept, unchanged). ``approval`` announces
        tool calls waiting for the user. Every transition is durable before it is visible.

        ``guard`` sees the conversation under its lock and may refuse the step (one turn at a
        time). A first message whose ``client_message_id`` is known, or a ``request`` already
        answered, writes nothing: the step comes back with ``created`` false and the stored
        message (or the request's answer) — or a :class:`Conflict` when the fields differ.
        """
        check_id(turn.get("id"), "turn.id")
        for new in add:
            check_id(new.id, "message id")
            check_role(new.role)
            check_status(new.status)
            check_content(new.content)
            if new.client_message_id is not None:
                check_id(new.client_message_id, "client_message_id")
        if parent_id is not UNSET and parent_id is not None:
            check_id(parent_id, "parent_id")
        if branch is not None:
            check_branch_name(branch)

        async def work() -> TurnStep:
            shard = await self._shard(conversation_id)
            turns = await self._load_turns(shard)
            first = add[0] if add else None
            if first is not None and first.client_message_id in shard.client_ids:
                existing_id = shard.client_ids[str(first.client_message_id)]
                _, existing = await self._message(shard, existing_id)
                if existing.get("_request") == first.fingerprint(parent_id, branch):
                    known = turns.get(str(existing.get("turn_id")))
                    return TurnStep(known, [public_message(existing)], False)
                raise Conflict(
                    f"client_message_id '{first.client_message_id}' was used for a different message",
                    details={"existing": public_message(existing)},
                )
            if (recalled := await self._recall(shard, request)) is not None:
                return TurnStep(recalled, [], False)
            if add and shard.conversation.get("deleted_at") is not None:
                raise Conflict(f"conversation '{conversation_id}' is in the trash")
            if guard is not None:
                guard(shard.summary())
            now = now_iso()
            ops: list[Operation] = []
            draft = _Draft("updated")
            for changes in update:
                unknown = set(changes) - set(MESSAGE_FIELDS)
                if unknown:
                    raise ValueError(f"not message fields: {sorted(unknown)}")
                ordinal, stored = await self._message(shard, changes["id"])
                replaced = {**stored, **changes, "updated_at": now}
                ops.append(["msg", ordinal, replaced])
                draft.messages.append((False, replaced))
            active = shard.active_branch
            if retire_head is not None:
                head = shard.branches.get(active)
                if head != retire_head:
                    raise Conflict(
                        f"message '{retire_head}' is no longer the end of branch '{active}'"
                    )
                ops.append(["branch", self._free_branch_name(shard), head])
                _, retired = await self._message(shard, head)
                target, parent = active, retired.get("parent_id")
            elif add:
                target, parent = self._target_branch(shard, parent_id, branch)
            else:
                target, parent = active, None
            for position, new in enumerate(add):
                doc = new.document(conversation_id, parent, now)
                if position == 0:
                    doc["_request"] = new.fingerprint(parent_id, branch)
                ops.append(["msg", len(shard.ids) + position, doc])
                draft.messages.append((True, doc))
                parent = new.id
            if add:
                ops.append(["branch", target, parent])
            previous = turns[turn["id"]].get("state") if turn["id"] in turns else None
            latest = turn["id"] not in turns or next(reversed(turns)) == turn["id"]
            turn_doc = {**turn, "conversation_id": conversation_id, "updated_at": now}
            ops.append(["turn", turn_doc])
            draft.turns.append((previous, turn_doc))
            if approval:
                draft.approvals.append({"turn_id": turn["id"], "tool_calls": approval})
            ops.extend(self._remember(request, ["turn", turn["id"]]))
            conversation = {**shard.conversation, "active_branch": target}
            if latest:
                conversation["state"] = turn_doc.get("state", "idle")
            await self._commit(shard, ops, draft, conversation=conversation, at=now)
            added = [public_message(doc) for created, doc in draft.messages if created]
            return TurnStep(turn_doc, added, True)

        return await self._mutate(conversation_id, work)

    async def recall(self, conversation_id: str, request: Request | None) -> Doc | None:
        """The stored answer to an earlier request with this ``request_id``, if any (§4)."""
        shard = await self._shard(conversation_id)
        return await self._recall(shard, request)

    async def path_to(self, conversation_id: str, message_id: str, limit: int) -> list[Doc]:
        """The last ``limit`` messages from the root to ``message_id`` (inclusive), in order:
        the history a model sees, whatever branch is active meanwhile."""
        shard = await self._shard(conversation_id)
        await self._message(shard, message_id)
        window = shard.path_to(message_id)[-limit:]
        await self._load_messages(shard, window)
        return [public_message(shard.message_at(o)) for o in window]

    def conversations_in_state(self, states: Iterable[str]) -> list[str]:
        """Ids of conversations whose latest turn is in one of ``states`` (from the catalog)."""
        wanted = set(states)
        return [cid for cid, doc in self._catalog.entries.items() if doc.get("state") in wanted]

    async def get_turn(self, conversation_id: str, turn_id: str) -> Doc:
        check_id(turn_id, "turn_id")
        shard = await self._shard(conversation_id)
        turns = await self._load_turns(shard)
        if turn_id not in turns:
            raise NotFound(f"turn '{turn_id}' does not exist in conversation '{conversation_id}'")
        return turns[turn_id]

    async def list_turns(self, conversation_id: str) -> list[Doc]:
        shard = await self._shard(conversation_id)
        return list((await self._load_turns(shard)).values())
