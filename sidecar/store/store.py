"""The store's async API: the only code the rest of the sidecar uses to read or change chats.

:class:`Store` is a thin front over objects of one concern each, which share one
:class:`~.cache.ShardCache` (memory, lazy loading, quarantine, checkpoints) and one
:class:`~.commit.Writer` (locks, journal, apply, publish): the aggregates a client changes
(:mod:`.conversations`, :mod:`.messages`, :mod:`.branches`, :mod:`.turns`), ``request_id`` memory
(:mod:`.idempotency`), whole-conversation writes (:mod:`.rewrites`), outside changes
(:mod:`.external`). What a commit announces is typed in :mod:`.effects`. See ``docs/storage.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from .branches import Branches
from .cache import ShardCache
from .catalog import ListPage, ListQuery
from .commit import Listener, Writer
from .conversations import Conversations
from .documents import STORAGES
from .durable import make_dirs
from .errors import StoreLocked, ValidationFailed
from .external import ExternalChanges
from .idempotency import Request, Requests
from .journal import Journal
from .layout import Layout
from .lock import DataDirLock
from .messages import Messages
from .model import Doc
from .quarantine import Quarantine, QuarantinedItem
from .recovery import Recovered, recover
from .remote import Merge
from .rewrite import Image, Rewrite
from .rewrites import Rewrites
from .schema import ensure_schema
from .turns import Turns
from .values import UNSET, NewMessage, Page, StoreConfig, TurnStep, Unset

log = logging.getLogger(__name__)

T = TypeVar("T")


class Store:
    """A durable conversation store in one data dir, owned by this process."""

    def __init__(self, layout: Layout, lock: DataDirLock, config: StoreConfig) -> None:
        self.layout = layout
        self.config = config
        self._lock = lock
        self._cache = ShardCache(
            layout, config, STORAGES[config.storage], Quarantine(layout.quarantine)
        )
        self._writer = Writer(self._cache)
        requests = Requests(self._cache, self._writer)
        self._conversations = Conversations(self._cache, self._writer, requests)
        self._messages = Messages(self._cache, self._writer, requests)
        self._branches = Branches(self._cache, self._writer, requests)
        self._turns = Turns(self._cache, self._writer, requests)
        self._rewrites = Rewrites(self._cache, self._writer)
        self._external = ExternalChanges(self._cache, self._writer)
        self._timer: asyncio.Task[None] | None = None
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
        cache = store._cache
        try:
            await asyncio.to_thread(ensure_schema, layout.root)
            recovered = await asyncio.to_thread(recover, layout, cache.storage, cache.quarantine)
            store._adopt(recovered)
            cache.journal = await Journal.start(
                layout.journal, recovered.next_seq, inline_sync_s=config.inline_sync_s
            )
            cache.journal.on_batch = store._writer.flush
            await store.checkpoint()
        except BaseException:
            await cache.finish_background()  # a checkpoint started goes on: let it end first
            if cache.journal is not None:
                await cache.journal.close()
            lock.release()
            raise
        store._timer = asyncio.create_task(cache.checkpoint_timer(), name="store-checkpoints")
        return store

    def _adopt(self, recovered: Recovered) -> None:
        self._cache.adopt(recovered)
        self.replayed_records = recovered.replayed
        if recovered.replayed:
            log.info("replayed %d journal records", recovered.replayed)

    async def close(self) -> None:
        """Checkpoint everything, stop background work, release the data dir."""
        cache = self._cache
        if cache.closed:
            return
        cache.closed = True
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
        await cache.finish_background()
        await cache.checkpoint_quietly()  # failed or not, the journal is closed and the lock freed
        if cache.journal is not None:
            await cache.journal.close()
        self._lock.release()

    async def checkpoint(self) -> None:
        """Compact the journal into shard snapshots; then drop the journal segments they cover."""
        await self._cache.checkpoint()

    # ------------------------------------------------------------------ state

    @property
    def data_dir(self) -> Path:
        return self.layout.root

    @property
    def seq(self) -> int:
        """The seq of the last committed record (the store-wide event sequence)."""
        return self._writer.seq

    @property
    def writable(self) -> bool:
        journal = self._cache.journal
        return journal is not None and journal.writable

    @property
    def quarantined(self) -> list[QuarantinedItem]:
        """What may be missing from the store (health reports these): conversations that failed
        to load (moved aside, or left in place when they cannot be moved), refused folders,
        journal records that could not be read."""
        return self._cache.quarantined

    def stats(self) -> dict[str, Any]:
        cache = self._cache
        return {
            "conversations": len(cache.catalog.entries),
            "messages": cache.catalog.message_total,
            "writable": self.writable,
            "quarantined": [item.to_json() for item in self.quarantined],
            "cached_conversations": len(cache.shards),
        }

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with the changes of every journal batch (a sequence of
        :class:`Change`, in seq order); returns an unsubscribe."""
        return self._writer.subscribe(listener)

    # ------------------------------------------------------------------ conversations

    def list_conversations(self, query: ListQuery | None = None) -> ListPage:
        return self._conversations.listing(query)

    async def get_conversation(self, conversation_id: str) -> Doc:
        return await self._conversations.get(conversation_id)

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
        return await self._conversations.create(
            id=id, title=title, workspace=workspace, tags=tags, metadata=metadata, source=source
        )

    async def update_conversation(
        self,
        conversation_id: str,
        changes: dict[str, Any],
        *,
        if_revision: int | None = None,
        request_id: str | None = None,
    ) -> Doc:
        """Change title, starred, pinned, archived, tags or metadata (others are refused)."""
        return await self._conversations.update(
            conversation_id, changes, if_revision=if_revision, request_id=request_id
        )

    async def delete_conversation(
        self, conversation_id: str, *, request_id: str | None = None
    ) -> Doc:
        """Move to the trash (``deleted_at`` set). Deleting what is in the trash changes nothing."""
        return await self._conversations.delete(conversation_id, request_id=request_id)

    async def restore_conversation(
        self, conversation_id: str, *, request_id: str | None = None
    ) -> Doc:
        return await self._conversations.restore(conversation_id, request_id=request_id)

    async def purge_conversation(self, conversation_id: str) -> None:
        """Delete for good. The id stays reserved; purging twice is not an error."""
        await self._conversations.purge(conversation_id)

    async def verify(self, conversation_id: str) -> list[str]:
        """Read every file of a conversation and check its invariants; return what is wrong.

        Files that cannot be read are quarantined on the way (then :class:`NotFound` is raised).
        """
        return await self._conversations.verify(conversation_id)

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
        return await self._messages.append(
            conversation_id,
            role=role,
            content=content,
            parent_id=parent_id,
            branch=branch,
            client_message_id=client_message_id,
            metadata=metadata,
            status=status,
            tool_calls=tool_calls,
            tool_call_id=tool_call_id,
            turn_id=turn_id,
            source=source,
        )

    async def get_message(self, conversation_id: str, message_id: str) -> Doc:
        return await self._messages.get(conversation_id, message_id)

    async def all_messages(self, conversation_id: str) -> tuple[Doc, list[Doc]]:
        """The conversation and every message of it (all branches, in insertion order).

        Read-only, for derived indexes (search). The result is taken in one step of the event
        loop once every chunk is loaded, so it reflects exactly the changes published so far: a
        listener that asks for this and then applies later changes misses nothing.
        """
        return await self._messages.all(conversation_id)

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
        return await self._messages.update(
            conversation_id,
            message_id,
            content=content,
            metadata=metadata,
            status=status,
            tool_calls=tool_calls,
            request_id=request_id,
        )

    async def append_text(
        self, conversation_id: str, message_id: str, offset: int, text: str
    ) -> int:
        """Streaming growth of a ``streaming`` message: content becomes ``content[:offset] + text``.

        Neither the conversation's revision nor its ``updated_at`` change (CONTRACT §4). Returns
        the new content length.
        """
        return await self._messages.append_text(conversation_id, message_id, offset, text)

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
        return await self._messages.read_page(
            conversation_id, limit=limit, before=before, after=after, branch=branch
        )

    async def path_to(self, conversation_id: str, message_id: str, limit: int) -> list[Doc]:
        """The last ``limit`` messages from the root to ``message_id`` (inclusive), in order:
        the history a model sees, whatever branch is active meanwhile."""
        return await self._messages.path_to(conversation_id, message_id, limit)

    # ------------------------------------------------------------------ branches

    async def list_branches(self, conversation_id: str) -> list[Doc]:
        return await self._branches.all(conversation_id)

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
        return await self._branches.create(
            conversation_id, from_message_id, name, request_id=request_id
        )

    async def switch_branch(
        self, conversation_id: str, name: str, *, request_id: str | None = None
    ) -> Doc:
        return await self._branches.switch(conversation_id, name, request_id=request_id)

    # ------------------------------------------------------------------ turns

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
        return await self._turns.write(
            conversation_id,
            turn,
            add=add,
            parent_id=parent_id,
            branch=branch,
            update=update,
            retire_head=retire_head,
            approval=approval,
            request=request,
            guard=guard,
        )

    async def recall(self, conversation_id: str, request: Request | None) -> Doc | None:
        """The stored answer to an earlier request with this ``request_id``, if any (§4)."""
        return await self._turns.recall(conversation_id, request)

    def conversations_in_state(self, states: Iterable[str]) -> list[str]:
        """Ids of conversations whose latest turn is in one of ``states`` (from the catalog)."""
        return self._turns.in_state(states)

    async def get_turn(self, conversation_id: str, turn_id: str) -> Doc:
        return await self._turns.get(conversation_id, turn_id)

    async def list_turns(self, conversation_id: str) -> list[Doc]:
        return await self._turns.all(conversation_id)

    # ------------------------------------------------------------------ import and rollback
    # Whole-conversation reads and atomic rewrites for sidecar/service/{exporter,importer}.py.

    def id_state(self, conversation_id: str) -> str:
        """``free``, ``exists``, ``reserved`` (purged: the id stays taken) or ``quarantined``."""
        return self._cache.id_state(conversation_id)

    def reserved_ids(self) -> frozenset[str]:
        """Every purged conversation's id (they stay taken)."""
        return frozenset(self._cache.reserved)

    async def read_image(self, conversation_id: str) -> Image:
        """Everything a conversation holds (every branch, message and turn), read consistently."""
        return await self._rewrites.read_image(conversation_id)

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
        return await self._rewrites.rewrite(conversation_id, decide)

    # ------------------------------------------------------------------ sync (docs/sync.md)

    async def apply_remote(
        self, conversation_id: str, decide: Callable[[Image | None], Merge | None]
    ) -> bool:
        """Write what other devices changed: ``decide`` sees the conversation (``None``: none
        here) under its lock and returns the merged state (``None``: nothing to write).

        One journal record of ordinary puts, announced with the usual events. A purged id is
        left alone (purges are final). Returns whether anything was written.
        """
        return await self._rewrites.apply_remote(conversation_id, decide)

    # ------------------------------------------------------------------ external changes

    async def apply_external_changes(self, folder_names: set[str]) -> list[str]:
        """Re-read shard folders that another program changed (a restore, a sync tool).

        A conversation with changes not yet in its files keeps ours. Returns the ids whose
        state changed; they are announced as one ``external`` effect with a seq of its own.
        """
        return await self._external.apply(folder_names)
