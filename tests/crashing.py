"""Killing a real writer process with ``kill -9`` at a random moment: the crash tests' one tool.

The child is ``python -m <module> <args>``; it prints ``ready`` once it works and then one line
per acknowledged write. Only lines that ended (``\\n``) before the kill count: a half-printed
line was never acknowledged.
"""

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
