"""The store opened in this process as ``chat-migrate``'s :class:`~migrate.target.Target`.

It lives beside the importer and exporter it calls, so ``migrate/`` stays a library over its small
``Target`` protocol and never reaches into the sidecar's services, faces or server.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from migrate.document import export_document
from migrate.target import Doc, Refused, TargetError

from ..store import ListQuery, NotFound, Store, StoreError
from .exporter import export_conversation
from .import_runs import rollback_run
from .importer import import_document

MAX_UNWRITTEN = 400
BACKPRESSURE_POLL_S = 0.05
BACKPRESSURE_POLLS = 600


class DirectTarget:
    """The store opened in this process (it holds the data-dir lock until :meth:`close`)."""

    kind = "direct"
    #: Each batch in flight holds its documents (up to DIRECT_BATCH_MESSAGES messages as export
    #: dicts, ~1 KB a message) and the store's copy of them: 16 held ~75 MB more than 4 at the
    #: peak of a 30 MB import, and were no faster (the fsyncs are shared among 4 just as well).
    concurrency = 4

    def __init__(self, store: Any) -> None:
        self._store = store
        self.data_dir: Path | None = store.data_dir

    @classmethod
    async def open(cls, data_dir: Path) -> DirectTarget:
        return cls(await Store.open(data_dir))

    async def summaries(self) -> list[Doc]:
        items: list[Doc] = []
        cursor: str | None = None
        while True:
            page = self._store.list_conversations(
                ListQuery(limit=500, cursor=cursor, archived=None, deleted=None)
            )
            items.extend(page.items)
            if page.next_cursor is None:
                return items
            cursor = page.next_cursor

    async def export(self, conversation_id: str) -> Doc | None:
        try:
            document = await export_conversation(self._store, conversation_id)
        except NotFound:
            return None
        conversations = document.get("conversations") if "conversations" in document else None
        if isinstance(conversations, list):
            return conversations[0] if conversations else None
        return dict(document)

    async def import_conversations(self, conversations: list[Doc], run_id: str | None) -> Doc:
        await self._backpressure()
        document = export_document(conversations, run_id)
        try:
            result = await import_document(self._store, document, run_id=run_id)
        except StoreError as exc:
            raise Refused(f"the store refused the import: {exc}") from None
        return dict(result.to_json())

    async def _backpressure(self) -> None:
        """Wait while the store holds many conversations in memory that its checkpoint has not
        written yet: importing is faster than writing conversation files, and without this a
        huge import would keep most of it in memory until the end."""
        for _ in range(BACKPRESSURE_POLLS):  # bounded: a stuck checkpoint never stops us
            if self._store.stats()["cached_conversations"] <= MAX_UNWRITTEN:
                return
            await asyncio.sleep(BACKPRESSURE_POLL_S)

    async def rollback(self, run_id: str, force: bool) -> tuple[bool, Doc]:
        try:
            result = await rollback_run(self._store, run_id, force=force)
        except StoreError as exc:
            raise TargetError(f"rollback failed: {exc}") from None
        body = dict(result.to_json())
        return bool(body.get("refused")), body

    async def trash(self, conversation_id: str) -> None:
        try:
            await self._store.delete_conversation(conversation_id)
        except StoreError as exc:
            raise Refused(f"cannot move {conversation_id} to the trash: {exc}") from None

    async def update(self, conversation_id: str, changes: Doc) -> None:
        try:
            await self._store.update_conversation(conversation_id, changes)
        except StoreError as exc:
            raise Refused(f"cannot update {conversation_id}: {exc}") from None

    async def close(self) -> None:
        await self._store.close()
