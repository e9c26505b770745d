"""Turns: each step of a chat turn as ONE journal record (CONTRACT §4).

A step stores the turn, the messages it adds or changes and the branch they end, so a crash never
leaves a turn that names a message that is not there (or the other way round). The conversation's
``state`` follows its latest turn, so listings show what is running without opening shards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from .branches import free_branch_name, target_branch
from .cache import ShardCache
from .commit import Writer
from .effects import Approval, Draft, MessageChange, TurnChange
from .errors import Conflict, NotFound
from .idempotency import Request, Requests, remember
from .ids import check_id
from .model import (
    MESSAGE_FIELDS,
    Doc,
    check_branch_name,
    check_content,
    check_role,
    check_status,
    public_message,
)
from .segments import Operation
from .timeutil import now_iso
from .values import UNSET, NewMessage, TurnStep, Unset


class Turns:
    """The turn aggregate of one open store."""

    def __init__(self, cache: ShardCache, writer: Writer, requests: Requests) -> None:
        self._cache = cache
        self._writer = writer
        self._requests = requests

    async def write(
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
        """See :meth:`Store.write_turn`."""
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
        cache = self._cache

        async def work() -> TurnStep:
            shard = await cache.shard(conversation_id)
            turns = await cache.load_turns(shard)
            first = add[0] if add else None
            if first is not None and first.client_message_id in shard.client_ids:
                existing_id = shard.client_ids[str(first.client_message_id)]
                _, existing = await cache.message(shard, existing_id)
                if existing.get("_request") == first.fingerprint(parent_id, branch):
                    known = turns.get(str(existing.get("turn_id")))
                    return TurnStep(known, [public_message(existing)], False)
                raise Conflict(
                    f"client_message_id '{first.client_message_id}' was used for a different message",
                    details={"existing": public_message(existing)},
                )
            if (recalled := await self._requests.recall(shard, request)) is not None:
                return TurnStep(recalled, [], False)
            if add and shard.conversation.get("deleted_at") is not None:
                raise Conflict(f"conversation '{conversation_id}' is in the trash")
            if guard is not None:
                guard(shard.summary())
            now = now_iso()
            ops: list[Operation] = []
            draft = Draft("updated")
            for changes in update:
                unknown = set(changes) - set(MESSAGE_FIELDS)
                if unknown:
                    raise ValueError(f"not message fields: {sorted(unknown)}")
                ordinal, stored = await cache.message(shard, changes["id"])
                replaced = {**stored, **changes, "updated_at": now}
                ops.append(["msg", ordinal, replaced])
                draft.messages.append(MessageChange(False, replaced))
            active = shard.active_branch
            if retire_head is not None:
                head = shard.branches.get(active)
                if head != retire_head:
                    raise Conflict(
                        f"message '{retire_head}' is no longer the end of branch '{active}'"
                    )
                ops.append(["branch", free_branch_name(shard), head])
                _, retired = await cache.message(shard, head)
                target, parent = active, retired.get("parent_id")
            elif add:
                target, parent = target_branch(shard, parent_id, branch)
            else:
                target, parent = active, None
            for position, new in enumerate(add):
                doc = new.document(conversation_id, parent, now)
                if position == 0:
                    doc["_request"] = new.fingerprint(parent_id, branch)
                ops.append(["msg", len(shard.ids) + position, doc])
                draft.messages.append(MessageChange(True, doc))
                parent = new.id
            if add:
                ops.append(["branch", target, parent])
            previous = turns[turn["id"]].get("state") if turn["id"] in turns else None
            latest = turn["id"] not in turns or next(reversed(turns)) == turn["id"]
            turn_doc = {**turn, "conversation_id": conversation_id, "updated_at": now}
            ops.append(["turn", turn_doc])
            draft.turns.append(TurnChange(previous, turn_doc))
            if approval:
                draft.approvals.append(Approval(turn["id"], approval))
            ops.extend(remember(request, ["turn", turn["id"]]))
            conversation = {**shard.conversation, "active_branch": target}
            if latest:
                conversation["state"] = turn_doc.get("state", "idle")
            await self._writer.commit(shard, ops, draft, conversation=conversation, at=now)
            added = [public_message(change.doc) for change in draft.messages if change.created]
            return TurnStep(turn_doc, added, True)

        return await self._writer.mutate(conversation_id, work)

    async def recall(self, conversation_id: str, request: Request | None) -> Doc | None:
        """The stored answer to an earlier request with this ``request_id``, if any (§4)."""
        shard = await self._cache.shard(conversation_id)
        return await self._requests.recall(shard, request)

    def in_state(self, states: Iterable[str]) -> list[str]:
        """Ids of conversations whose latest turn is in one of ``states`` (from the catalog)."""
        wanted = set(states)
        entries = self._cache.catalog.entries
        return [cid for cid, doc in entries.items() if doc.get("state") in wanted]

    async def get(self, conversation_id: str, turn_id: str) -> Doc:
        check_id(turn_id, "turn_id")
        shard = await self._cache.shard(conversation_id)
        turns = await self._cache.load_turns(shard)
        if turn_id not in turns:
            raise NotFound(f"turn '{turn_id}' does not exist in conversation '{conversation_id}'")
        return turns[turn_id]

    async def all(self, conversation_id: str) -> list[Doc]:
        shard = await self._cache.shard(conversation_id)
        return list((await self._cache.load_turns(shard)).values())
