"""Messages: append, change, stream into and read them (CONTRACT §4).

Reads are served from memory, loading only the chunks a page needs; each read takes its result in
one step of the event loop once the chunks are loaded, so it matches a seq exactly.
"""

from __future__ import annotations

from typing import Any

from .branches import target_branch
from .cache import ShardCache
from .commit import Queued, Writer, next_revision
from .digest import fingerprint
from .effects import Draft, MessageChange, TextChange
from .errors import Conflict, NotFound, ValidationFailed
from .idempotency import Request, Requests, remember
from .ids import check_id, new_id
from .model import (
    Doc,
    check_branch_name,
    check_content,
    check_metadata,
    check_optional_str,
    check_role,
    check_source,
    check_status,
    check_tool_calls,
    public_message,
)
from .segments import Operation
from .timeutil import now_iso
from .values import MAX_MESSAGE_PAGE, UNSET, Page, Unset


class Messages:
    """The message aggregate of one open store."""

    def __init__(self, cache: ShardCache, writer: Writer, requests: Requests) -> None:
        self._cache = cache
        self._writer = writer
        self._requests = requests

    async def append(
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
        """See :meth:`Store.append_message`."""
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

        cache, writer = self._cache, self._writer

        async def work() -> Queued[tuple[Doc, bool]]:
            while True:  # until nothing is left to wait for: the rest runs in one step
                shard = await cache.shard(conversation_id)
                tail = writer.pipeline.view(shard)
                if not tail.open_for(shard) or (
                    client_message_id is not None and client_message_id in tail.client_ids
                ):  # a queued append failed, or this retries a queued one: wait for them
                    await writer.pipeline.settled(conversation_id)
                elif client_message_id is not None and client_message_id in shard.client_ids:
                    existing_id = shard.client_ids[client_message_id]
                    ordinal = shard.index[existing_id]
                    await cache.load_messages(shard, [ordinal])
                    existing = shard.message_at(ordinal)
                    if existing.get("_request") == request:
                        return (public_message(existing), False), None
                    raise Conflict(
                        f"client_message_id '{client_message_id}' was used for a different message",
                        details={"existing": public_message(existing)},
                    )
                elif shard.chunks_for([tail.next_ordinal]):
                    await cache.load_messages(shard, [tail.next_ordinal])
                else:
                    break
            if tail.conversation.get("deleted_at") is not None:
                raise Conflict(f"conversation '{conversation_id}' is in the trash")
            target, parent = target_branch(tail, parent_id, branch)
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
            base = tail.conversation
            conversation = next_revision({**base, "active_branch": target}, base, now)
            ops: list[Operation] = [
                ["conv", conversation],
                ["msg", tail.next_ordinal, doc],
                ["branch", target, doc["id"]],
            ]
            draft = Draft("messages", messages=[MessageChange(True, doc)])
            draft.conversation = True
            durable = writer.pipeline.queue(
                tail, conversation, target, doc, lambda: writer.submit(shard, ops, draft)
            )
            return (public_message(doc), True), durable

        return await writer.mutate_pipelined(conversation_id, work)

    async def get(self, conversation_id: str, message_id: str) -> Doc:
        shard = await self._cache.shard(conversation_id)
        return public_message((await self._cache.message(shard, message_id))[1])

    async def all(self, conversation_id: str) -> tuple[Doc, list[Doc]]:
        """See :meth:`Store.all_messages`."""
        cache = self._cache
        while True:
            shard = await cache.shard(conversation_id)
            await cache.load_messages(shard, range(len(shard.ids)))
            if cache.shards.get(conversation_id) is shard:  # not evicted while we read
                messages = [public_message(shard.message_at(o)) for o in range(len(shard.ids))]
                return shard.summary(), messages

    async def update(
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
            shard = await self._cache.shard(conversation_id)
            if (answer := await self._requests.recall(shard, request)) is not None:
                return answer
            ordinal, doc = await self._cache.message(shard, message_id)
            if all(doc.get(k) == v for k, v in changes.items()):
                await self._requests.remember_alone(shard, request, ["message", message_id])
                return public_message(doc)
            now = now_iso()
            new_doc = {**doc, **changes, "updated_at": now}
            draft = Draft("messages", messages=[MessageChange(False, new_doc)])
            ops = [["msg", ordinal, new_doc], *remember(request, ["message", message_id])]
            await self._writer.commit(shard, ops, draft, at=now)
            return public_message(new_doc)

        return await self._writer.mutate(conversation_id, work)

    async def append_text(
        self, conversation_id: str, message_id: str, offset: int, text: str
    ) -> int:
        """See :meth:`Store.append_text`."""
        check_content(text)
        if not isinstance(offset, int) or offset < 0:
            raise ValidationFailed("offset", "offset must be a non-negative integer")

        async def work() -> int:
            shard = await self._cache.shard(conversation_id)
            _, doc = await self._cache.message(shard, message_id)
            if doc.get("status") != "streaming":
                raise Conflict(f"message '{message_id}' is {doc.get('status')}, not streaming")
            if offset > len(doc.get("content", "")):
                raise ValidationFailed("offset", "offset is beyond the content (a gap)")
            growth = TextChange(message_id, doc.get("turn_id"), offset, text)
            draft = Draft("text", text=[growth])
            ops: list[Operation] = [["text", message_id, offset, text]]
            await self._writer.commit(shard, ops, draft, touch=False)
            return offset + len(text)

        return await self._writer.mutate(conversation_id, work)

    async def read_page(
        self,
        conversation_id: str,
        *,
        limit: int = 50,
        before: str | None = None,
        after: str | None = None,
        branch: str | None = None,
    ) -> Page:
        """See :meth:`Store.read_page`."""
        if not isinstance(limit, int) or not 1 <= limit <= MAX_MESSAGE_PAGE:
            raise ValidationFailed("limit", f"limit must be between 1 and {MAX_MESSAGE_PAGE}")
        if before is not None and after is not None:
            raise ValidationFailed("before", "give before or after, not both")
        shard = await self._cache.shard(conversation_id)
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
        await self._cache.load_messages(shard, window)
        return Page(
            shard.summary(),
            [public_message(shard.message_at(o)) for o in window],
            has_more,
            self._writer.seq,
        )

    async def path_to(self, conversation_id: str, message_id: str, limit: int) -> list[Doc]:
        """See :meth:`Store.path_to`."""
        shard = await self._cache.shard(conversation_id)
        await self._cache.message(shard, message_id)
        window = shard.path_to(message_id)[-limit:]
        await self._cache.load_messages(shard, window)
        return [public_message(shard.message_at(o)) for o in window]
