"""``kill -9`` a process that writes through the store with the index attached; after each kill
the reopened index finds every acknowledged message (start-up reconciliation catches up)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.crashing import run_and_kill

from .conftest import message_ids, open_env


def acknowledged(data_dir: Path, rng: random.Random) -> list[int]:
    lines = run_and_kill("tests.search.crash_writer", [str(data_dir)], rng, (0.1, 0.5))
    return [int(line.split()[1]) for line in lines if line.startswith("ack ")]


@pytest.mark.subprocess
async def test_kill_9_then_every_acknowledged_message_is_found(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    rng = random.Random(7)
    acked: list[int] = []
    for _ in range(3):
        acked += acknowledged(data_dir, rng)
        env = await open_env(data_dir)
        try:
            await env.index.idle()
            assert acked, "the writer acknowledged nothing"
            for n in [*rng.sample(acked, min(25, len(acked))), acked[-1]]:
                assert len(message_ids(await env.search(f'"word{n}"'))) == 1, n
            _, messages = await env.store.all_messages("crash")
            hits = await env.search("pad", limit=100)
            assert len(hits) == min(100, sum("pad" in m["content"] for m in messages))
            title = (await env.store.get_conversation("crash"))["title"]
            if title:
                assert message_ids(await env.search(title)) == [None]
        finally:
            await env.close()
