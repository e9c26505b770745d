"""``chat-sidecar open``: find the data dir's owner, or start one that outlives this command.

A started owner is detached: its own session (so the terminal's Ctrl-C or hang-up does not reach
it), stdin and stderr on the null device, and stdout a pipe from which its one ready line is read
(``serve`` never writes to stdout again, so closing the pipe afterwards costs it nothing). Its idle
timeout ends it once nobody uses it. Whether it started or attached, the answer is the owner's
handshake (CONTRACT §1).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import orjson

from .runtime import owner_handshake

READY_WAIT_S = 30.0


class LaunchError(Exception):
    """The owner could not be found or started; the message says why, in one line."""


def _read_ready_line(process: subprocess.Popen[bytes], wait_s: float) -> bytes:
    """The child's first stdout line, or b"" if it exits or ``wait_s`` passes first."""
    stdout = process.stdout
    assert stdout is not None
    box: list[bytes] = []
    reader = threading.Thread(target=lambda: box.append(stdout.readline()), daemon=True)
    reader.start()
    reader.join(wait_s)
    return box[0] if box else b""


def start_owner(data_dir: Path, wait_s: float = READY_WAIT_S) -> dict[str, Any]:
    """Run ``serve`` on ``data_dir`` detached and return its ready line (``attached`` true if
    another owner won the race)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "sidecar", "serve", "--data-dir", str(data_dir)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env=os.environ.copy(),
    )
    line = _read_ready_line(process, wait_s)
    assert process.stdout is not None
    process.stdout.close()
    try:
        body = orjson.loads(line) if line else None
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict) or body.get("event") != "ready":
        if process.poll() is None:
            process.kill()  # ours, and useless without its ready line
        process.wait()
        raise LaunchError(
            f"the sidecar did not start on {data_dir} (exit {process.returncode});"
            " run 'chat-sidecar serve' to see why"
        )
    return body


async def find_or_start(data_dir: Path) -> dict[str, Any]:
    """The running owner's handshake (``attached`` true), or a new detached owner's."""
    owner = await owner_handshake(data_dir)
    if owner is not None:
        return {**owner, "attached": True}
    return await asyncio.to_thread(start_owner, data_dir)
