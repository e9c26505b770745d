"""The write path: every mutation of a conversation, from its lock to its announcement.

A mutation runs under that conversation's lock, validates against its live state, becomes one
journal record, and is applied to memory (and announced to listeners) only once the record is
durable. Concurrent writers on different conversations share fsyncs through the journal's group
commit, and a journal batch is announced once: its records are applied in seq order, then every
listener gets the batch's changes in one call (:meth:`Writer.flush`). Appends to one
conversation pipeline (:mod:`.pipeline`): the lock is held only while the record's place is
fixed. A caller that is cancelled cannot leave half a write behind (the write runs shielded and
finishes or fails as a whole). The aggregates (conversations, messages, turns, ...) decide WHAT
to write; this module is the one place that decides HOW.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from .cache import ShardCache
from .effects import Change, Draft
from .errors import Unavailable
from .journal import Journal
from .model import Doc
from .pipeline import Pipeline
from .segments import Operation
from .shard import Shard
from .timeutil import now_iso

log = logging.getLogger(__name__)

T = TypeVar("T")

#: A store listener: called once per journal batch with the batch's changes, in seq order.
Listener = Callable[[Sequence[Change]], None]

#: What pipelined work returns: its answer, and what to await before giving it (``None``: it
#: wrote nothing, e.g. a retried ``client_message_id``).
Queued = tuple[T, "Awaitable[object] | None"]


def next_revision(fields: Doc, current: Doc, at: str) -> Doc:
    """The conversation document a write journals: ``fields`` at the revision after
    ``current``'s, changed at ``at`` (every write to a conversation bumps its revision)."""
    return {**fields, "revision": int(current.get("revision", 0)) + 1, "updated_at": at}


class Writer:
    """Locks, journals, applies and publishes the writes of one open store."""

    def __init__(self, cache: ShardCache) -> None:
        self._cache = cache
        self._listeners: list[Listener] = []
        self._unpublished: list[Change] = []
        #: The conversations' appends queued but not yet durable.
        self.pipeline = Pipeline()

    @property
    def journal(self) -> Journal:
        if self._cache.journal is None:
            raise Unavailable("the store is not open")
        return self._cache.journal

    @property
    def seq(self) -> int:
        """The seq of the last committed record (the store-wide event sequence)."""
        journal = self._cache.journal
        return journal.last_committed_seq if journal else 0

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with the :class:`Change` list of every journal batch, in seq order;
        returns an unsubscribe."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    async def mutate(self, conversation_id: str, work: Callable[[], Awaitable[T]]) -> T:
        """Run ``work`` under the conversation's lock, shielded from the caller's cancellation.

        ``work`` sees committed state: it starts once the conversation's pipelined appends have
        landed (see :mod:`.pipeline`).
        """
        if self._cache.closed:
            raise Unavailable("the store is closed")

        async def locked() -> T:
            async with self._cache.locks.hold(conversation_id):
                await self.pipeline.settled(conversation_id)
                return await work()

        return await asyncio.shield(locked())  # shield runs it as a task of its own

    async def mutate_pipelined(
        self, conversation_id: str, work: Callable[[], Awaitable[Queued[T]]]
    ) -> T:
        """Like :meth:`mutate`, but the lock is released once ``work`` has queued its record.

        The answer still waits for the record's fsync; until then the conversation stays in use
        (never evicted, so the record is applied to the shard the next append validated on).
        """
        if self._cache.closed:
            raise Unavailable("the store is closed")

        async def locked() -> T:
            with self._cache.locks.using(conversation_id):
                async with self._cache.locks.hold(conversation_id):
                    answer, durable = await work()
                if durable is not None:
                    await durable
                    self._checkpoint_if_due()
                return answer

        return await asyncio.shield(locked())  # shield runs it as a task of its own

    async def commit(
        self,
        shard: Shard,
        ops: list[Operation],
        draft: Draft,
        *,
        conversation: Doc | None = None,
        touch: bool = True,
        at: str | None = None,
    ) -> int:
        """Journal ``ops`` (plus the conversation's new revision) and apply them once durable."""
        cache = self._cache
        if touch:
            base = conversation if conversation is not None else shard.conversation
            conversation = next_revision(base, shard.conversation, at or now_iso())
        if conversation is not None:
            ops = [["conv", conversation], *ops]
        draft.conversation = conversation is not None
        await cache.load_messages(shard, shard.ordinals_touched(ops))
        if any(op[0] == "turn" for op in ops):
            await cache.load_turns(shard)
        seq = await self.submit(shard, ops, draft)
        self._checkpoint_if_due()
        return seq

    def submit(self, shard: Shard, ops: list[Operation], draft: Draft) -> asyncio.Future[int]:
        """Queue the record on the journal; its future resolves once it is durable and applied.

        Synchronous, so nothing can quarantine the conversation between the check and the queue.
        """
        cache = self._cache
        if shard.exists and shard.conversation_id not in cache.catalog.entries:
            # quarantined while this write waited (it held the shard from before): journalled,
            # it would bring the conversation back without the files that were moved away
            raise cache.damage_of(shard.conversation_id)
        return self.journal.append(
            shard.conversation_id,
            ops,
            lambda seq: self.apply(shard, seq, ops, draft),
            width=draft.width,
        )

    def _checkpoint_if_due(self) -> None:
        journal = self._cache.journal
        if (
            journal is not None
            and journal.bytes_since_rotation >= self._cache.config.checkpoint_bytes
        ):
            self._cache.schedule_checkpoint()

    def apply(self, shard: Shard, seq: int, ops: list[Operation], draft: Draft) -> None:
        """Runs on the event loop right after the record's fsync, in seq order."""
        cache = self._cache
        conversation_id = shard.conversation_id
        summary: Doc | None
        if ops[0][0] == "purge":
            cache.shards.pop(conversation_id, None)
            cache.catalog.remove(conversation_id)
            cache.reserved.add(conversation_id)
            cache.reserved_dirty = True
            summary = None
        else:
            preview = shard.preview
            shard.apply(seq, ops)
            cached = cache.catalog.entries.get(conversation_id)
            if (
                cached is not None
                and shard.preview is preview
                and cache.shards.get(conversation_id) is shard
                and all(op[0] == "text" for op in ops)
            ):
                # streaming growth past the preview: the summary it would rebuild is the same
                summary = cached
            else:
                summary = shard.summary()
                if conversation_id not in cache.quarantining:  # else: being moved away, stays so
                    if conversation_id not in cache.shards:
                        cache.shards[conversation_id] = shard
                    cache.catalog.put(summary, len(shard.ids))
        effects = draft.effects(seq, conversation_id, summary)
        if not effects:
            return  # a remembered request_id alone: nothing a client could observe
        self.publish(Change(conversation_id, effects))

    def publish(self, change: Change) -> None:
        """Record the change's seq and queue it for the listeners.

        Called from a record's commit step (on the loop, in seq order); the journal calls
        :meth:`flush` once its whole batch is applied, so listeners get one call per batch.
        """
        self._cache.catalog.seq = change.last_seq
        self._unpublished.append(change)

    def flush(self) -> None:
        """Hand every queued change to every listener in one call (one failing does not stop it)."""
        changes = self._unpublished
        if not changes:
            return
        self._unpublished = []
        for listener in list(self._listeners):
            try:
                listener(changes)
            except Exception:
                log.exception("store listener failed")
