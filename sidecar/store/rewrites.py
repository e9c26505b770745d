"""Whole-conversation writes: imports and their rollback (:mod:`.rewrite`), and sync merges.

These change a conversation as a whole (or create or drop it) in ONE journal record, after
``decide`` has seen the whole conversation under its lock, so an import, a rollback or a merge of
other devices' changes is atomic and races with no other write.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from .cache import ShardCache
from .commit import Writer
from .effects import Change, ConversationEffect, Draft, MessageChange
from .errors import Conflict
from .ids import check_id
from .recovery import remove_shard_folder
from .remote import Merge, merge_ops
from .rewrite import Image, Rewrite, check_rewrite
from .segments import Operation
from .shard import Shard

T = TypeVar("T")


class Rewrites:
    """Atomic whole-conversation changes of one open store."""

    def __init__(self, cache: ShardCache, writer: Writer) -> None:
        self._cache = cache
        self._writer = writer

    async def read_image(self, conversation_id: str) -> Image:
        """Everything a conversation holds (every branch, message and turn), read consistently."""
        shard = await self._cache.shard(conversation_id)
        return await self._cache.image(shard)

    async def rewrite(
        self,
        conversation_id: str,
        decide: Callable[[Image | None], tuple[Rewrite | None, T]],
    ) -> T:
        """See :meth:`Store.rewrite`."""
        check_id(conversation_id, "conversation_id")
        cache = self._cache

        async def work() -> T:
            state = cache.id_state(conversation_id)
            if state in ("reserved", "quarantined"):
                reason = "purged" if state == "reserved" else state
                raise Conflict(
                    f"conversation '{conversation_id}' is {reason}", details={"reason": reason}
                )
            exists = conversation_id in cache.catalog.entries
            shard = await cache.shard(conversation_id) if exists else None
            image = None if shard is None else await cache.image(shard)
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

        return await self._writer.mutate(conversation_id, work)

    async def _create_from(self, conversation_id: str, change: Rewrite) -> None:
        assert change.conversation is not None
        shard = Shard(conversation_id, self._cache.folder(conversation_id))
        ops: list[Operation] = [["branch", name, head] for name, head in change.branches.items()]
        ops += [["msg", ordinal, doc] for ordinal, doc in enumerate(change.messages)]
        ops += [["turn", turn] for turn in change.turns]
        draft = Draft("created", reread=True)
        await self._writer.commit(shard, ops, draft, conversation=change.conversation, touch=False)
        self._cache.evict()

    async def _extend(self, shard: Shard, change: Rewrite) -> None:
        assert change.conversation is not None
        start = len(shard.ids)
        ops: list[Operation] = [["msg", start + i, doc] for i, doc in enumerate(change.messages)]
        ops += [["branch", name, head] for name, head in change.branches.items()]
        ops += [["turn", turn] for turn in change.turns]
        draft = Draft("updated", messages=[MessageChange(True, doc) for doc in change.messages])
        await self._writer.commit(shard, ops, draft, conversation=change.conversation, touch=False)

    async def _replace(self, shard: Shard, change: Rewrite) -> None:
        """A ``reset`` renumbers messages, so first checkpoint: then no older record of this
        shard (we hold its lock) is left to replay against chunk files the reset rewrites."""
        await self._cache.checkpoint()
        image = {
            "branches": change.branches,
            "messages": change.messages,
            "turns": change.turns,
        }
        draft = Draft("updated", reread=True)
        await self._writer.commit(
            shard, [["reset", image]], draft, conversation=change.conversation, touch=False
        )

    async def _drop(self, shard: Shard) -> None:
        """Remove a conversation without reserving its id (a rolled back import).

        The files lock is held from the record to the folder's removal, so no checkpoint can
        delete the journal segment holding the drop while the folder still exists.
        """
        cache = self._cache
        conversation_id = shard.conversation_id
        journal = self._writer.journal

        def applied(seq: int) -> None:
            cache.shards.pop(conversation_id, None)
            cache.catalog.remove(conversation_id)
            effect = ConversationEffect(seq, "purged", None)
            self._writer.publish(Change(conversation_id, (effect,)))

        async with cache.files_lock:
            await journal.append(conversation_id, [["drop"]], applied)
            await asyncio.to_thread(
                remove_shard_folder, cache.layout, cache.folder(conversation_id)
            )

    async def apply_remote(
        self, conversation_id: str, decide: Callable[[Image | None], Merge | None]
    ) -> bool:
        """See :meth:`Store.apply_remote` (docs/sync.md)."""
        check_id(conversation_id, "conversation_id")
        cache = self._cache

        async def work() -> bool:
            if cache.id_state(conversation_id) in ("reserved", "quarantined"):
                return False
            exists = conversation_id in cache.catalog.entries
            shard = await cache.shard(conversation_id) if exists else None
            image = None if shard is None else await cache.image(shard)
            merge = decide(image)
            if merge is None:
                return False
            shard = shard or Shard(conversation_id, cache.folder(conversation_id))
            turns = await cache.load_turns(shard) if exists else {}
            planned = merge_ops(shard, merge, turns)
            merged = {**shard.conversation, **merge.conversation}
            if not planned.ops and merged == shard.conversation:
                return False
            revision = int(shard.conversation.get("revision", 0)) + 1
            conversation = {**merged, "revision": revision}
            draft = Draft(
                "updated" if exists else "created",
                messages=planned.messages,
                turns=planned.turns,
            )
            await self._writer.commit(
                shard, planned.ops, draft, conversation=conversation, touch=False
            )
            cache.evict()
            return True

        return await self._writer.mutate(conversation_id, work)
