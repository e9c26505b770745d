"""``kill -9`` a process that writes through the store with the index attached; after each kill
the reopened index finds every acknowledged message (start-up reconciliation catches up)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from .conftest import message_ids, open_env

ROOT = Path(__file__).resolve().parents[2]


def run_and_kill(data_dir: Path, rng: random.Random) -> list[int]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.search.crash_writer", str(data_dir)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            if raw.endswith(b"\n"):
                lines.append(raw.decode().strip())
                if lines[-1] == "ready":
                    ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    if not ready.wait(30):
        process.kill()
        _, err = process.communicate()
        pytest.fail(f"writer did not start: {err.decode()[-2000:]}")
    time.sleep(rng.uniform(0.1, 0.5))
    process.send_signal(signal.SIGKILL)
    process.wait()
    reader.join(5)
    return [int(line.split()[1]) for line in lines if line.startswith("ack ")]


@pytest.mark.subprocess
async def test_kill_9_then_every_acknowledged_message_is_found(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    rng = random.Random(7)
    acked: list[int] = []
    for _ in range(3):
        acked += run_and_kill(data_dir, rng)
        env = await open_env(data_dir)
        try:
            await env.index.idle()
            assert acked, "the writer acknowledged nothing"
            for n in [*rng.sample(acked, min(25, len(acked))), acked[-1]]:
                assert len(message_ids(await env.search(f"word{n}"))) == 1, n
            _, messages = await env.store.all_messages("crash")
            hits = await env.search("pad", limit=100)
            assert len(hits) == min(100, sum("pad" in m["content"] for m in messages))
            title = (await env.store.get_conversation("crash"))["title"]
            if title:
                assert message_ids(await env.search(title)) == [None]
        finally:
            await env.close()
