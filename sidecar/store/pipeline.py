"""Pipelined appends: one conversation's appends queue behind each other, not behind fsyncs.

An append takes its conversation's lock only to validate and to fix its place (ordinal, parent,
branch, revision); it then releases the lock and waits for durability, so the next append to
the same conversation is validated while the previous one is still being synced. To validate
against what is queued but not yet durable, each conversation with appends in flight has a
:class:`Tail`: the conversation, branch heads, message ids and ``client_message_id``s those
appends will leave once they land. Readers never see a tail; only the next append's checks do.

A record that depends on one not yet durable must never reach the disk if that one fails. The
journal commits a batch all or nothing (one write, one fsync, truncated back on failure), and
everything queued in one step of the event loop lands in the same batch. So a tail hands its
records to the journal in groups: the first at once, later ones are *held* until every record
handed over before them is durable, and then all handed over together (they share the next
fsync, as concurrent writers on different conversations do). If a group fails, every held
record fails with it, unwritten, and the tail is dropped: the next append sees committed state.

Every other mutation of the conversation first waits (under the lock, so no new append can
queue) until its tail has landed: only appends pipeline; the rest sees committed state.
"""

from __future__ import annotations

import asyncio
from collections import ChainMap
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from .errors import Unavailable
from .model import DEFAULT_BRANCH, Doc
from .shard import Shard

Submit = Callable[[], "asyncio.Future[int]"]


@dataclass(slots=True)
class _Held:
    """A record whose place is fixed but which waits for its predecessors' fsync."""

    submit: Submit
    done: asyncio.Future[int] = field(repr=False)


class Tail:
    """One conversation as its queued appends will leave it (what the next append checks).

    It has the attributes :func:`~.branches.target_branch` reads, so the branch rules are the
    same code for a pipelined append as for a committed state.
    """

    def __init__(self, shard: Shard) -> None:
        self.shard = shard
        self.conversation_id = shard.conversation_id
        self.conversation: Doc = shard.conversation
        self.branches: dict[str, str | None] = dict(shard.branches)
        self.next_ordinal = len(shard.ids)
        self.client_ids: set[str] = set()
        self._ids: dict[str, int] = {}
        self.in_flight = 0
        self.held: list[_Held] = []
        #: A record of it failed: nothing more may queue on it; it ends once the rest landed.
        self.failed = False
        self.landed = asyncio.Event()

    @property
    def index(self) -> Mapping[str, int]:
        """Message id -> ordinal, committed and queued."""
        return ChainMap(self._ids, self.shard.index)

    @property
    def active_branch(self) -> str:
        return str(self.conversation.get("active_branch", DEFAULT_BRANCH))

    def open_for(self, shard: Shard) -> bool:
        """Whether an append validated on ``shard`` may queue on this tail now."""
        return not self.failed and self.shard is shard

    def add(self, conversation: Doc, branch: str, message: Doc) -> None:
        """Take in what one queued append changes."""
        self.conversation = conversation
        self.branches[branch] = message["id"]
        self._ids[message["id"]] = self.next_ordinal
        self.next_ordinal += 1
        if message.get("client_message_id"):
            self.client_ids.add(message["client_message_id"])


class Pipeline:
    """The tails of one open store, by conversation id."""

    def __init__(self) -> None:
        self._tails: dict[str, Tail] = {}

    def view(self, shard: Shard) -> Tail:
        """The conversation's tail, or a fresh one over its committed state.

        An append may queue on it only if it is :meth:`Tail.open_for` ``shard``; else it waits
        for it (:meth:`settled`) and looks again.
        """
        return self._tails.get(shard.conversation_id) or Tail(shard)

    async def settled(self, conversation_id: str) -> None:
        """Wait until every queued append of the conversation is durable and applied (or failed).

        Call it holding the conversation's lock, so that no new append can queue meanwhile.
        """
        while (tail := self._tails.get(conversation_id)) is not None:
            await tail.landed.wait()

    def queue(
        self, tail: Tail, conversation: Doc, branch: str, message: Doc, submit: Submit
    ) -> asyncio.Future[int]:
        """Queue one append whose record ``submit`` journals; resolves with its seq once durable.

        Raises at once (changing nothing) when the record cannot even be queued; a held record
        that cannot be handed over later fails through the returned future.
        """
        assert not tail.failed and self._tails.get(tail.conversation_id, tail) is tail
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        if tail.in_flight == 0 and not tail.held:
            self._hand_over(tail, done, submit())  # may raise: nothing recorded yet
        else:
            tail.held.append(_Held(submit, done))
        tail.add(conversation, branch, message)
        self._tails[tail.conversation_id] = tail
        return done

    def _hand_over(
        self, tail: Tail, done: asyncio.Future[int], journalled: asyncio.Future[int]
    ) -> None:
        tail.in_flight += 1
        journalled.add_done_callback(lambda f: self._landed(tail, done, f))

    def _landed(
        self, tail: Tail, done: asyncio.Future[int], journalled: asyncio.Future[int]
    ) -> None:
        tail.in_flight -= 1
        error = (
            Unavailable("the store cannot write: the journal was stopped")
            if journalled.cancelled()
            else journalled.exception()
        )
        if error is not None:
            _settle(done, error)
            self._fail(tail, error)
            return
        _settle(done, journalled.result())
        if tail.in_flight:
            return
        if tail.held and not tail.failed:
            self._release(tail)
        else:
            self._end(tail)

    def _release(self, tail: Tail) -> None:
        """Hand every held record to the journal in one step: they share one batch."""
        held, tail.held = tail.held, []
        for position, record in enumerate(held):
            try:
                journalled = record.submit()
            except Exception as exc:  # the journal refuses writes, or the conversation is gone
                for rest in held[position:]:
                    _settle(rest.done, exc)
                self._fail(tail, exc)
                return
            self._hand_over(tail, record.done, journalled)

    def _fail(self, tail: Tail, error: BaseException) -> None:
        """A record of the tail failed: fail every record queued after it, unwritten.

        The tail ends once nothing of it is in flight any more (what is, was handed over in the
        same step as the failed record, so it is in the same batch and fails with it).
        """
        tail.failed = True
        held, tail.held = tail.held, []
        for record in held:
            _settle(
                record.done,
                Unavailable(
                    "the store cannot write: an earlier message to this conversation could not"
                    f" be written ({error})"
                ),
            )
        if not tail.in_flight:
            self._end(tail)

    def _end(self, tail: Tail) -> None:
        if self._tails.get(tail.conversation_id) is tail:
            del self._tails[tail.conversation_id]
        tail.landed.set()


def _settle(future: asyncio.Future[int], outcome: int | BaseException) -> None:
    """Resolve ``future`` unless it is already done (cancelled when the loop shut down)."""
    if future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
