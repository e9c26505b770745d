"""Conversations: create, change, trash, restore, purge and check them (CONTRACT §4).

Each method validates its input before taking the conversation's lock, decides under the lock
against the live state, and hands one record to the write path.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from .cache import ShardCache
from .catalog import ListPage, ListQuery
from .commit import Writer
from .digest import fingerprint
from .documents import CorruptDocument
from .effects import Draft
from .errors import Conflict, ValidationFailed
from .idempotency import Request, Requests, remember
from .ids import check_id, new_id
from .model import (
    DEFAULT_BRANCH,
    Doc,
    check_bool,
    check_metadata,
    check_optional_str,
    check_source,
    check_tags,
    check_title,
)
from .recovery import remove_shard_folder
from .segments import Operation
from .shard import Shard
from .timeutil import now_iso


class Conversations:
    """The conversation aggregate of one open store."""

    def __init__(self, cache: ShardCache, writer: Writer, requests: Requests) -> None:
        self._cache = cache
        self._writer = writer
        self._requests = requests

    def listing(self, query: ListQuery | None = None) -> ListPage:
        return self._cache.catalog.list(query or ListQuery())

    async def get(self, conversation_id: str) -> Doc:
        shard = await self._cache.shard(conversation_id)
        return shard.summary()

    async def create(
        self,
        *,
        id: str | None = None,
        title: str | None = None,
        workspace: str | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        source: dict[str, Any] | None = None,
    ) -> tuple[Doc, bool]:
        """See :meth:`Store.create_conversation`."""
        fields = {
            "title": check_title(title),
            "workspace": check_optional_str(workspace, "workspace"),
            "tags": check_tags(tags),
            "metadata": check_metadata(metadata),
            "source": check_source(source),
        }
        conversation_id = new_id() if id is None else check_id(id, "id")
        request = fingerprint(fields)
        cache = self._cache

        async def work() -> tuple[Doc, bool]:
            if conversation_id in cache.reserved:
                raise Conflict(
                    f"conversation id '{conversation_id}' belonged to a purged conversation",
                    details={"existing": None},
                )
            if any(item.conversation_id == conversation_id for item in cache.quarantined):
                raise Conflict(f"conversation '{conversation_id}' is quarantined")
            if conversation_id in cache.catalog.entries:
                existing = await cache.shard(conversation_id)
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
            shard = Shard(conversation_id, cache.folder(conversation_id))
            ops: list[Operation] = [["branch", DEFAULT_BRANCH, None]]
            draft = Draft("created")
            await self._writer.commit(shard, ops, draft, conversation=conversation, touch=False)
            cache.evict()
            return shard.summary(), True

        return await self._writer.mutate(conversation_id, work)

    async def update(
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
            shard = await self._cache.shard(conversation_id)
            if (answer := await self._requests.recall(shard, request)) is not None:
                return answer
            check_revision(shard, if_revision)
            if all(shard.conversation.get(k) == v for k, v in clean.items()):
                await self._requests.remember_alone(shard, request, ["conversation"])
                return shard.summary()
            await self._writer.commit(
                shard,
                remember(request, ["conversation"]),
                Draft("updated"),
                conversation={**shard.conversation, **clean},
            )
            return shard.summary()

        return await self._writer.mutate(conversation_id, work)

    async def delete(self, conversation_id: str, *, request_id: str | None = None) -> Doc:
        """Move to the trash (``deleted_at`` set). Deleting what is in the trash changes nothing."""
        request = Request.of(request_id, "delete_conversation", {})

        async def work() -> Doc:
            shard = await self._cache.shard(conversation_id)
            if (answer := await self._requests.recall(shard, request)) is not None:
                return answer
            if shard.conversation.get("deleted_at") is not None:
                await self._requests.remember_alone(shard, request, ["conversation"])
                return shard.summary()
            now = now_iso()
            conversation = {**shard.conversation, "deleted_at": now}
            ops = remember(request, ["conversation"])
            draft = Draft("deleted")
            await self._writer.commit(shard, ops, draft, conversation=conversation, at=now)
            return shard.summary()

        return await self._writer.mutate(conversation_id, work)

    async def restore(self, conversation_id: str, *, request_id: str | None = None) -> Doc:
        request = Request.of(request_id, "restore_conversation", {})

        async def work() -> Doc:
            shard = await self._cache.shard(conversation_id)
            if (answer := await self._requests.recall(shard, request)) is not None:
                return answer
            if shard.conversation.get("deleted_at") is None:
                await self._requests.remember_alone(shard, request, ["conversation"])
                return shard.summary()
            conversation = {**shard.conversation, "deleted_at": None}
            ops = remember(request, ["conversation"])
            await self._writer.commit(shard, ops, Draft("restored"), conversation=conversation)
            return shard.summary()

        return await self._writer.mutate(conversation_id, work)

    async def purge(self, conversation_id: str) -> None:
        """Delete for good. The id stays reserved; purging twice is not an error."""
        check_id(conversation_id, "conversation_id")
        cache = self._cache

        async def work() -> None:
            if conversation_id in cache.reserved:
                return
            shard = await cache.shard(conversation_id)
            ops: list[Operation] = [["purge"]]
            future = self._writer.journal.append(
                conversation_id,
                ops,
                lambda seq: self._writer.apply(shard, seq, ops, Draft("purged")),
            )
            await future
            async with cache.files_lock:
                await asyncio.to_thread(
                    remove_shard_folder, cache.layout, cache.folder(conversation_id)
                )

        await self._writer.mutate(conversation_id, work)

    async def verify(self, conversation_id: str) -> list[str]:
        """Read every file of a conversation and check its invariants; return what is wrong.

        Files that cannot be read are quarantined on the way (then :class:`NotFound` is raised).
        """
        shard = await self._cache.shard(conversation_id)
        await self._cache.load_messages(shard, range(len(shard.ids)))
        await self._cache.load_turns(shard)
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


def check_revision(shard: Shard, if_revision: int | None) -> None:
    """Refuse a change made against an older revision (``if_revision``, CONTRACT §4)."""
    current = shard.conversation.get("revision")
    if if_revision is not None and if_revision != current:
        raise Conflict(
            f"conversation '{shard.conversation_id}' is at revision {current}, not {if_revision}",
            details={"revision": current},
        )
