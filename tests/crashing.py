"""The crash and race tests' tools: ``kill -9`` at a random moment, and a rename held open.

:func:`run_and_kill` runs ``python -m <module> <args>``, which prints ``ready`` once it works and
then one line per acknowledged write. Only lines that ended (``\\n``) before the kill count: a
half-printed line was never acknowledged. :class:`HeldRename` stops a checkpoint half way.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_and_kill(
    module: str, args: list[str], rng: random.Random, window: tuple[float, float]
) -> list[str]:
    """Start the child, wait for ``ready``, SIGKILL it ``window`` seconds later; its lines."""
    process = subprocess.Popen(
        [sys.executable, "-m", module, *args],
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
        pytest.fail(f"{module} did not start: {err.decode()[-2000:]}")
    time.sleep(rng.uniform(*window))
    process.send_signal(signal.SIGKILL)
    process.wait()
    reader.join(5)
    assert process.stderr is not None
    errors = process.stderr.read().decode()[-3000:]
    assert process.returncode == -signal.SIGKILL, f"{module} failed by itself: {errors}"
    return lines


class HeldRename:
    """Holds the rename (``os.replace``) onto one path until released: a checkpoint caught half
    written, at a moment a race needs, every time instead of once in a while."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self._monkeypatch = monkeypatch
        self._reached = threading.Event()
        self._released = threading.Event()

    def hold(self, target: Path) -> None:
        real_replace = os.replace

        def replace(source: object, destination: object) -> None:
            if Path(str(destination)) == target:
                self._reached.set()
                self._released.wait(10)
            real_replace(source, destination)  # type: ignore[arg-type]

        self._monkeypatch.setattr(os, "replace", replace)

    async def reached(self) -> None:
        """Wait until the held rename has begun (its file is written, not yet renamed)."""
        assert await asyncio.to_thread(self._reached.wait, 10), "the rename never came"

    def release(self) -> None:
        self._released.set()
