"""The sync component: local changes to the hub, other devices' changes into the store.

Three loops, none on a request's path:

- **local**: the store announces every commit (a listener, called after the fsync); the ids are
  collected and (at once for a discrete change, within ``coalesce_s`` for streaming growth)
  each changed conversation is read from the store and
  compared with the merged registers (:func:`~.diff.local_changes`). Differences become changes in
  the outbox (SQLite, :mod:`.local`). A streaming reply therefore reaches the hub a few times a
  second, whatever the provider's chunk rate. What to push is derived from the durable store: at
  start, if the store moved past the last seq the outbox covered (a crash, kill -9), every
  conversation is compared again.
- **push**: the outbox goes to the hub in batches; a batch re-sent after a crash is skipped by the
  hub's unique (device, device_seq) key.
- **pull**: LISTEN/NOTIFY wakes it the moment another device pushed (a slow fallback poll guards
  against a lost notification); changes after the cursor are merged into the registers and the
  result written to the store in one :meth:`~sidecar.store.store.Store.apply_remote` record per
  conversation, which announces the usual events. A new device starts from the hub's merged
  state instead of replaying the log.

A supervisor connects (pool + a listening connection), creates or checks the hub's schema, runs
push and pull, and on any failure reconnects with exponential backoff and jitter. The state it
reports: ``connecting``, ``online``, ``offline`` (hub unreachable: local work is unaffected) or
``error`` (hub refused: newer schema, bad credentials).

Every wait inside a loop uses ``asyncio.timeout``, never ``asyncio.wait_for``: on Python 3.11,
``wait_for`` swallows a cancellation that lands in the same loop step as the awaited event, so a
loop around it would outlive :meth:`SyncEngine.close` (``tests/sync/test_close.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any

import asyncpg

from ..store import (
    Change,
    ExternalEffect,
    ListQuery,
    NotFound,
    Store,
    TextEffect,
    ValidationFailed,
)
from ..store.rewrite import Image
from ..store.timeutil import now_iso
from . import hub
from .config import SyncConfig
from .diff import local_changes, merged_state
from .hlc import HybridClock
from .local import LocalSyncState
from .model import ConversationState, Op

log = logging.getLogger(__name__)

PUSH_BATCH = 1000
PULL_BATCH = 2000
CACHE_SIZE = 256
FALLBACK_POLL_S = 15.0


class SyncEngine:
    """Sync for one store. :meth:`start` once the store is open; :meth:`close` before it closes."""

    def __init__(self, store: Store, config: SyncConfig) -> None:
        self.store = store
        self.config = config
        self.state = "connecting"
        self.error: str | None = None
        self.last_push_at: str | None = None
        self.last_pull_at: str | None = None
        self._local: LocalSyncState | None = None
        self._clock: HybridClock | None = None
        self._cache: OrderedDict[str, ConversationState] = OrderedDict()
        self._dirty: set[str] = set()
        #: When the store last announced a change of each dirty conversation (its stamp).
        self._dirty_at: dict[str, str] = {}
        self._dirty_event = asyncio.Event()
        #: Set by a change other than streaming growth: compare without waiting.
        self._urgent = asyncio.Event()
        self._push_event = asyncio.Event()
        self._pull_event = asyncio.Event()
        self._work = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self._unsubscribe: Any = None
        self.device_id = ""

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        path = self.store.data_dir / "sync" / "state.sqlite3"
        self._local = await asyncio.to_thread(LocalSyncState, path)
        self.device_id = self._local.device_id
        self._clock = HybridClock(self.device_id, self._local.get("clock"))
        self._unsubscribe = self.store.subscribe(self._on_change)
        covered = int(self._local.get("covered_seq") or 0)
        if covered != self.store.seq:
            self._mark(self._all_conversation_ids(), stamped=False)
        self._tasks = [
            asyncio.create_task(self._local_loop(), name="sync-local"),
            asyncio.create_task(self._supervise(), name="sync-hub"),
        ]

    async def close(self) -> None:
        """Turn pending local changes into outbox entries, try one last push, stop."""
        if self._unsubscribe is not None:
            self._unsubscribe()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            await self._flush_local()
        if self._local is not None:
            self._local.close()
            self._local = None

    @property
    def cursor(self) -> int:
        """The hub order up to which other devices' changes are applied here."""
        value = self._local.get("cursor") if self._local is not None else None
        return int(value or 0)

    def status(self) -> dict[str, Any]:
        """The ``sync`` block of ``/health`` (CONTRACT §10); never the password."""
        body: dict[str, Any] = {
            "state": self.state,
            "device_id": self.device_id,
            "device_name": self.config.device_name,
            "hub": self.config.shown_url,
            "pending": (self._local.pending() if self._local else 0) + len(self._dirty),
            "last_push_at": self.last_push_at,
            "last_pull_at": self.last_pull_at,
        }
        if self.error is not None:
            body["error"] = self.error
        return body

    # ------------------------------------------------------------------ local changes

    def _on_change(self, changes: Sequence[Change]) -> None:
        """The store listener: one call per journal batch, its changes in seq order."""
        for change in changes:
            if change.conversation_id:
                self._mark([change.conversation_id])
            if any(not isinstance(effect, TextEffect) for effect in change.effects):
                self._urgent.set()
            for effect in change.effects:
                if isinstance(effect, ExternalEffect):
                    self._mark(effect.conversation_ids)

    def _mark(self, conversation_ids: Iterable[str], stamped: bool = True) -> None:
        for conversation_id in conversation_ids:
            self._dirty.add(conversation_id)
            if stamped and self._clock is not None:
                self._dirty_at[conversation_id] = self._clock.now()
        if self._dirty:
            self._dirty_event.set()

    def _all_conversation_ids(self) -> set[str]:
        ids: set[str] = set()
        cursor = None
        while True:
            page = self.store.list_conversations(
                ListQuery(limit=500, cursor=cursor, archived=None, deleted=None)
            )
            ids.update(doc["id"] for doc in page.items)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert self._local is not None
        ids.update(self._local.conversation_ids())
        # a conversation created and purged while the engine was stopped is in neither list,
        # and its purge must still reach the hub (purge absorbs whatever others wrote to the id)
        ids.update(self.store.reserved_ids())
        return ids

    async def _local_loop(self) -> None:
        """Compare at once after a discrete change (a message, a rename: low lag); streaming
        growth alone waits up to ``coalesce_s``, so a reply reaches the hub a few times a second
        whatever the provider's chunk rate."""
        while True:
            await self._dirty_event.wait()
            if not self._urgent.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.config.coalesce_s):
                        await self._urgent.wait()
            self._urgent.clear()
            await self._flush_local()
            self._push_event.set()

    async def _flush_local(self) -> None:
        self._dirty_event.clear()
        seq = self.store.seq
        dirty, self._dirty = self._dirty, set()
        async with self._work:
            for conversation_id in sorted(dirty):
                try:
                    await self._local_pass(conversation_id)
                except Exception:
                    log.exception("sync could not read a local change; it is retried")
                    self._dirty.add(conversation_id)
            if not self._dirty and self._local is not None and self._clock is not None:
                self._local.put({"covered_seq": str(seq), "clock": self._clock.last})

    def _state(self, conversation_id: str) -> ConversationState:
        state = self._cache.get(conversation_id)
        if state is None:
            assert self._local is not None
            state = self._local.load(conversation_id)
            self._cache[conversation_id] = state
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        self._cache.move_to_end(conversation_id)
        return state

    async def _local_pass(self, conversation_id: str) -> None:
        assert self._local is not None and self._clock is not None
        state = self._state(conversation_id)
        where = self.store.id_state(conversation_id)
        if where == "reserved":
            if not state.purged:
                op = Op(conversation_id, "p", "", {}, self._clock.now())
                state.merge(op)
                self._local.save(state, set(), [op], {"clock": self._clock.last})
            return
        if where != "exists" or state.purged:
            return
        try:
            image = await self.store.read_image(conversation_id)
        except NotFound:
            return
        ops, touched = local_changes(
            state, image, self._clock, self._dirty_at.pop(conversation_id, None)
        )
        if ops:
            self._local.save(state, touched, ops, {"clock": self._clock.last})

    # ------------------------------------------------------------------ the hub connection

    async def _supervise(self) -> None:
        backoff = 0.5
        while True:
            pool: asyncpg.Pool | None = None
            listener: asyncpg.Connection | None = None
            try:
                pool = await hub.connect_pool(self.config.url, self.config.password)
                async with pool.acquire() as conn:
                    await hub.ensure_schema(conn)
                    await hub.register_device(conn, self.device_id, self.config.device_name)
                listener = await asyncpg.connect(
                    self.config.url, password=self.config.password, timeout=10
                )
                await listener.add_listener(hub.CHANNEL, self._heard)
                self.state, self.error, backoff = "online", None, 0.5
                log.info("sync online with %s", self.config.shown_url)
                await self._online(pool, listener)
            except hub.HubError as exc:
                self.state, self.error = "error", str(exc)
                log.error("sync stopped: %s", exc)
                return
            except (
                asyncpg.InvalidPasswordError,
                asyncpg.InvalidAuthorizationSpecificationError,
                asyncpg.InsufficientPrivilegeError,
            ) as exc:
                self.state, self.error = "error", f"the hub refused us: {exc}"
                backoff = self.config.max_backoff_s
                log.error("sync: %s", self.error)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                self.state, self.error = "offline", f"hub unreachable: {type(exc).__name__}"
                log.warning("sync offline (%s); retrying in %.1f s", exc, backoff)
            except Exception:
                self.state, self.error = "offline", "sync failed; retrying"
                log.exception("sync failed; retrying in %.1f s", backoff)
            finally:
                await _close_quietly(pool, listener)
            await asyncio.sleep(backoff * random.uniform(0.8, 1.2))
            backoff = min(backoff * 2, self.config.max_backoff_s)
            if self.state == "online":
                self.state = "offline"

    def _heard(self, *_: object) -> None:
        self._pull_event.set()

    async def _online(self, pool: asyncpg.Pool, listener: asyncpg.Connection) -> None:
        tasks = [
            asyncio.create_task(self._push_loop(pool)),
            asyncio.create_task(self._pull_loop(pool, listener)),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _push_loop(self, pool: asyncpg.Pool) -> None:
        self._push_event.set()
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(FALLBACK_POLL_S):
                    await self._push_event.wait()
            self._push_event.clear()
            await self.push_pending(pool)

    async def push_pending(self, pool: asyncpg.Pool) -> None:
        assert self._local is not None
        while batch := self._local.outbox(PUSH_BATCH):
            async with pool.acquire() as conn:
                await hub.push(conn, self.device_id, batch)
            self._local.pushed(batch[-1][0])
            self.last_push_at = now_iso()

    async def _pull_loop(self, pool: asyncpg.Pool, listener: asyncpg.Connection) -> None:
        assert self._local is not None
        self._pull_event.set()
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await self._pull_event.wait()
            if listener.is_closed():
                raise ConnectionError("the listening connection closed")
            if not self._pull_event.is_set() and not self._poll_due():
                continue
            self._pull_event.clear()
            if self._local.get("bootstrapped") is None:
                await self._bootstrap(pool)
            cursor = int(self._local.get("cursor") or 0)
            while True:
                async with pool.acquire() as conn:
                    rows = await hub.pull(conn, cursor, PULL_BATCH)
                if not rows:
                    break
                cursor = rows[-1][0]
                await self._apply_pulled(rows, cursor)
            self.last_pull_at = now_iso()
            self._polled_at = asyncio.get_running_loop().time()

    _polled_at = 0.0

    def _poll_due(self) -> bool:
        return asyncio.get_running_loop().time() - self._polled_at >= FALLBACK_POLL_S

    async def _bootstrap(self, pool: asyncpg.Pool) -> None:
        """A device new to this hub starts from the merged state, not the whole log."""
        assert self._local is not None
        cursor = 0
        async with pool.acquire() as conn:
            async for reflected, ops in hub.snapshot(conn):
                cursor = reflected
                if ops:
                    async with self._work:
                        await self._apply_conversation(ops[0].conversation_id, ops)
        assert self._clock is not None
        self._local.put({"cursor": str(cursor), "bootstrapped": "1", "clock": self._clock.last})
        log.info("sync bootstrapped from the hub (up to %d)", cursor)

    async def _apply_pulled(self, rows: list[tuple[int, str, Op]], cursor: int) -> None:
        assert self._local is not None and self._clock is not None
        groups: dict[str, list[Op]] = {}
        for _, device_id, op in rows:
            if device_id != self.device_id:
                groups.setdefault(op.conversation_id, []).append(op)
        async with self._work:
            for conversation_id, ops in groups.items():
                try:
                    await self._apply_conversation(conversation_id, ops)
                except ValidationFailed as exc:  # a change this version cannot place: keep going
                    log.error("sync skipped changes to a conversation: %s", exc.message)
            self._local.put({"cursor": str(cursor), "clock": self._clock.last})

    async def _apply_conversation(self, conversation_id: str, ops: list[Op]) -> None:
        """Join other devices' changes in and write the result to the store (store first)."""
        assert self._local is not None and self._clock is not None
        clock, local = self._clock, self._local
        state = self._state(conversation_id)
        if state.purged:
            return
        for op in ops:
            clock.observe(op.stamp)
        if any(op.kind == "p" for op in ops):
            if self.store.id_state(conversation_id) == "exists":
                await self.store.purge_conversation(conversation_id)
            state.merge(ops[[op.kind for op in ops].index("p")])
            local.save(state, set(), [])
            return
        outgoing: list[Op] = []
        touched: set[tuple[str, str]] = set()

        def decide(image: Image | None) -> Any:
            if image is not None:  # local writes not yet compared: they are changes too
                at = self._dirty_at.get(conversation_id)
                found, keys = local_changes(state, image, clock, at)
                outgoing.extend(found)
                touched.update(keys)
            for op in ops:
                if state.merge(op):
                    touched.add((op.kind, op.key))
            return merged_state(state, image)

        try:
            await self.store.apply_remote(conversation_id, decide)
        except BaseException:
            self._cache.pop(conversation_id, None)  # back to what is persisted
            raise
        local.save(state, touched, outgoing)
        if outgoing:
            self._push_event.set()


async def _close_quietly(pool: asyncpg.Pool | None, listener: asyncpg.Connection | None) -> None:
    if listener is not None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2):
                await listener.close()
        if not listener.is_closed():
            listener.terminate()
    if pool is not None:
        try:
            async with asyncio.timeout(2):
                await pool.close()
        except Exception:
            pool.terminate()
