"""Streaming growth of a reply: every piece made durable, coalesced by the journal's pace.

A provider can yield hundreds of small pieces a second. Writing each as its own journal record
would be correct but wasteful; holding them in memory for a fixed 250 ms would make a reload show
less than was already on screen elsewhere. :class:`ContentWriter` does neither: the first piece is
written at once, and pieces that arrive while that write's fsync is in flight are joined into the
next record. So the content is durable (and announced as ``message.delta``) within one fsync of
arriving — far inside CONTRACT §4's 250 ms — and a fast stream costs one record per fsync, not
one per piece. Offsets are the durable length, so every delta's ``offset`` is exact.
"""

from __future__ import annotations

import asyncio

from ..store import Store


class ContentWriter:
    def __init__(self, store: Store, conversation_id: str, message_id: str) -> None:
        self.store = store
        self.conversation_id = conversation_id
        self.message_id = message_id
        self.durable = 0
        self._pending: list[str] = []
        self._flusher: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None

    def push(self, text: str) -> None:
        """Queue ``text``; a write starts now unless one is in flight (then it joins the next)."""
        if self._failure is not None:
            raise self._failure
        if not text:
            return
        self._pending.append(text)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="reply-writer")

    async def _flush(self) -> None:
        try:
            while self._pending:
                text = "".join(self._pending)
                self._pending.clear()
                self.durable = await self.store.append_text(
                    self.conversation_id, self.message_id, self.durable, text
                )
        except Exception as exc:
            self._failure = exc
            self._pending.clear()

    async def drain(self) -> None:
        """Wait until everything pushed is durable; raise what a write failed with."""
        while self._flusher is not None and not self._flusher.done():
            await asyncio.shield(self._flusher)
        if self._failure is not None:
            raise self._failure
