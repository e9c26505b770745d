"""The index follows the store one journal batch at a time: one queue item (one wake-up of the
writer thread, one transaction) per batch, not one per message."""

from __future__ import annotations

import asyncio
import queue
import types
from pathlib import Path
from typing import Any

import pytest

from sidecar.search import SearchConfig, database, workers
from tests.search.conftest import open_env
from tests.store.helpers import journal_batches


class CountingQueue(queue.SimpleQueue[Any]):
    """The writer thread's queue, counting what is put on it."""

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        self.items = [*getattr(self, "items", []), item]
        super().put(item, block, timeout)


async def test_a_journal_batch_is_one_command_for_the_writer_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        workers, "queue", types.SimpleNamespace(SimpleQueue=CountingQueue, Empty=queue.Empty)
    )
    env = await open_env(tmp_path / "data")
    try:
        await env.index.idle()
        batches = journal_batches(env.store)
        await asyncio.gather(*(env.store.create_conversation(id=f"c{i}") for i in range(20)))
        await asyncio.gather(
            *(
                env.store.append_message(f"c{i}", role="user", content=f"zebra{i} giraffe")
                for i in range(20)
            )
        )
        await env.index.idle()
        writer_queue = env.index._writer.queue if env.index._writer else None
        assert isinstance(writer_queue, CountingQueue)
        sent = [item for item in getattr(writer_queue, "items", []) if item is not workers.STOP]
        assert len(sent) == len(batches) < 40, "one queue item per journal batch"
        commands = [command for _, group in sent for command in group]
        assert len(commands) == 40, "every change still becomes its command"
        assert len(await env.search("giraffe", limit=50)) == 20
    finally:
        await env.close()


async def test_the_writer_gathers_journal_batches_for_its_linger(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Appends one after another are one journal batch each; the writer thread, waiting
    ``linger`` seconds after the first, writes them in far fewer transactions."""
    transactions: list[int] = []
    apply = database.Writer.apply

    def counting(self: database.Writer, commands: Any) -> None:
        transactions.append(1)
        apply(self, commands)

    monkeypatch.setattr(database.Writer, "apply", counting)
    env = await open_env(tmp_path / "data", SearchConfig(linger=60.0))
    try:
        await env.index.idle()
        await env.store.create_conversation(id="c")
        await env.index.idle()
        transactions.clear()
        for i in range(30):
            await env.store.append_message("c", role="user", content=f"okapi{i} tapir")
        # at most one: ``idle()`` may have hurried the writer once more than it needed
        assert len(transactions) <= 1, "nobody waited: the writer is still lingering"
        assert len(await env.search("tapir", limit=50)) == 30
        assert len(transactions) <= 2, "the query cut the linger short: 30 appends, 1-2 writes"
    finally:
        await env.close()


async def test_a_query_does_not_wait_out_the_linger(tmp_path: Path) -> None:
    """With a linger far longer than a query's ``fresh_wait``, a search right after a write
    still finds it: a waiting query tells the writer to write now."""
    env = await open_env(tmp_path / "data", SearchConfig(linger=60.0, fresh_wait=30.0))
    try:
        await env.store.create_conversation(id="c")
        await env.store.append_message("c", role="user", content="quokka")
        result = await asyncio.wait_for(env.index.query("quokka"), 20.0)
        assert [item["message_id"] for item in result["items"]] != []
    finally:
        await asyncio.wait_for(env.close(), 20.0)
