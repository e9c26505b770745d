"""Branches: named heads in a conversation's message tree (CONTRACT §4).

The rules for which branch a new message extends live here too (:func:`target_branch`), because
appending a message and a turn step both follow them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from .cache import ShardCache
from .commit import Writer
from .effects import Draft
from .errors import Conflict, NotFound, ValidationFailed
from .idempotency import Request, Requests, remember
from .ids import check_id
from .model import Doc, check_branch_name
from .values import Unset


class Heads(Protocol):
    """What the branch rules read: a shard's committed state, or a :class:`~.pipeline.Tail`
    (committed state plus the appends queued on it)."""

    @property
    def conversation_id(self) -> str: ...
    @property
    def active_branch(self) -> str: ...
    @property
    def branches(self) -> Mapping[str, str | None]: ...
    @property
    def index(self) -> Mapping[str, int]: ...


def target_branch(
    shard: Heads, parent_id: str | Unset | None, branch: str | None
) -> tuple[str, str | None]:
    """Which branch a new message extends (or starts), and its parent."""
    active = shard.active_branch
    if isinstance(parent_id, Unset):
        parent = shard.branches.get(active)
        if branch is not None and branch != active:
            raise ValidationFailed("branch", "branch needs parent_id unless it is the active one")
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
    return free_branch_name(shard), parent_id


def free_branch_name(shard: Heads) -> str:
    """The first ``branch-<n>`` not taken, counting from the number of branches."""
    number = len(shard.branches)
    while f"branch-{number}" in shard.branches:
        number += 1
    return f"branch-{number}"


class Branches:
    """The branch aggregate of one open store."""

    def __init__(self, cache: ShardCache, writer: Writer, requests: Requests) -> None:
        self._cache = cache
        self._writer = writer
        self._requests = requests

    async def all(self, conversation_id: str) -> list[Doc]:
        shard = await self._cache.shard(conversation_id)
        active = shard.active_branch
        return [
            {"name": name, "head_message_id": head, "active": name == active}
            for name, head in shard.branches.items()
        ]

    async def create(
        self,
        conversation_id: str,
        from_message_id: str,
        name: str | None = None,
        *,
        request_id: str | None = None,
    ) -> tuple[Doc, bool]:
        """See :meth:`Store.create_branch`."""
        check_id(from_message_id, "from_message_id")
        if name is not None:
            check_branch_name(name, "name")
        request = Request.of(
            request_id, "create_branch", {"from_message_id": from_message_id, "name": name}
        )

        async def work() -> tuple[Doc, bool]:
            shard = await self._cache.shard(conversation_id)
            if (answer := await self._requests.recall(shard, request)) is not None:
                return answer, False
            if from_message_id not in shard.index:
                raise ValidationFailed(
                    "from_message_id", f"message '{from_message_id}' does not exist"
                )
            branch_name = name or free_branch_name(shard)
            if branch_name in shard.branches:
                existing = {
                    "name": branch_name,
                    "head_message_id": shard.branches[branch_name],
                    "active": branch_name == shard.active_branch,
                }
                if shard.branches[branch_name] == from_message_id:
                    await self._requests.remember_alone(shard, request, ["branch", branch_name])
                    return existing, False
                raise Conflict(
                    f"branch '{branch_name}' already exists", details={"existing": existing}
                )
            draft = Draft("updated")
            ops = [
                ["branch", branch_name, from_message_id],
                *remember(request, ["branch", branch_name]),
            ]
            await self._writer.commit(shard, ops, draft)
            return {"name": branch_name, "head_message_id": from_message_id, "active": False}, True

        return await self._writer.mutate(conversation_id, work)

    async def switch(
        self, conversation_id: str, name: str, *, request_id: str | None = None
    ) -> Doc:
        check_branch_name(name, "name")
        request = Request.of(request_id, "switch_branch", {"name": name})

        async def work() -> Doc:
            shard = await self._cache.shard(conversation_id)
            if (answer := await self._requests.recall(shard, request)) is not None:
                return answer
            if name not in shard.branches:
                raise NotFound(
                    f"branch '{name}' does not exist in conversation '{conversation_id}'"
                )
            if shard.active_branch == name:
                await self._requests.remember_alone(shard, request, ["conversation"])
                return shard.summary()
            conversation = {**shard.conversation, "active_branch": name}
            ops = remember(request, ["conversation"])
            await self._writer.commit(shard, ops, Draft("updated"), conversation=conversation)
            return shard.summary()

        return await self._writer.mutate(conversation_id, work)
