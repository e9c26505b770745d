"""Idempotency records: a client's ``request_id`` remembered with what it changed (CONTRACT §4).

The store remembers a request per conversation, with a fingerprint of the action and its fields,
in the same journal record as the mutation itself; a retry is answered from that memory (the
current state of what the first call changed) instead of being run twice, and a different request
under the same id is a :class:`Conflict`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .digest import fingerprint
from .effects import Draft
from .errors import Conflict
from .ids import check_id
from .model import Doc, public_message
from .segments import Operation
from .shard import Shard

if TYPE_CHECKING:
    from .cache import ShardCache
    from .commit import Writer


@dataclass(frozen=True, slots=True)
class Request:
    """A mutation that carries a client's ``request_id``; see the module's docstring."""

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


def remember(request: Request | None, result: list[str]) -> list[Operation]:
    """The ops to add to a mutation's record so that ``request`` is remembered (none without)."""
    return [] if request is None else [request.op(result)]


class Requests:
    """Answers retries from the remembered requests of a conversation."""

    def __init__(self, cache: ShardCache, writer: Writer) -> None:
        self._cache = cache
        self._writer = writer

    async def recall(self, shard: Shard, request: Request | None) -> Doc | None:
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
            return public_message((await self._cache.message(shard, result[1]))[1])
        if kind == "branch":
            name = result[1]
            head = shard.branches.get(name)
            return {"name": name, "head_message_id": head, "active": name == shard.active_branch}
        if kind == "turn":
            return (await self._cache.load_turns(shard))[result[1]]
        return shard.summary()

    async def remember_alone(
        self, shard: Shard, request: Request | None, result: list[str]
    ) -> None:
        """Journal a request that changed nothing, so a different retry under its id still clashes."""
        if request is not None:
            await self._writer.commit(shard, [request.op(result)], Draft("noop"), touch=False)
