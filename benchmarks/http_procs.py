"""Server processes for the HTTP benchmark: start, wait for the ready line, measure CPU, stop.

Both servers under test are real subprocesses on 127.0.0.1: ``python -m sidecar serve`` (ours)
and ``python -m benchmarks.naive_server`` (the baseline). Each prints one JSON ready line on
stdout; stderr (our access log) goes to a file in the benchmark's temp dir, so a full pipe can
never stall a server. A server is always stopped by the ``with`` block that started it (SIGTERM,
then SIGKILL after a grace period), and on Linux it is also told to die with the benchmark
(``PR_SET_PDEATHSIG``), so an interrupted run leaves no server behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from .common import ROOT

READY_TIMEOUT_S = 30.0
STOP_GRACE_S = 10.0
_PR_SET_PDEATHSIG = 1
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def sidecar_command(data_dir: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "sidecar",
        "serve",
        "--data-dir",
        str(data_dir),
        "--port",
        "0",
        "--idle-timeout",
        "0",
    ]


def naive_command(data_dir: Path) -> list[str]:
    return [sys.executable, "-m", "benchmarks.naive_server", "--data-dir", str(data_dir)]


def clean_env() -> dict[str, str]:
    """The environment without ``CHAT_SIDECAR_*``: the defaults are what is measured."""
    return {k: v for k, v in os.environ.items() if not k.startswith("CHAT_SIDECAR_")}


def _die_with_parent() -> Callable[[], None] | None:
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)

    def set_pdeathsig() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)

    return set_pdeathsig


@dataclass(slots=True)
class Server:
    """A running server: its process, the ready line's fields, when it was spawned
    (``perf_counter``) and how long after that its ready line arrived."""

    kind: str
    process: subprocess.Popen[bytes]
    url: str
    token: str | None
    ready: dict[str, Any]
    spawned_at: float
    ready_s: float
    log_path: Path

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def cpu_s(self) -> float:
        """User + system CPU the server process (all its threads) has used so far."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def log_tail(self, chars: int = 2000) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-chars:]
        return ""


def _read_line(stdout: IO[bytes], deadline: float) -> bytes:
    """One line from the server's stdout, or ``b""`` at EOF; raises once ``deadline`` passes."""
    fd = stdout.fileno()
    buffer = b""
    while not buffer.endswith(b"\n"):
        left = deadline - time.perf_counter()
        if left <= 0:
            raise TimeoutError("no ready line in time")
        readable, _, _ = select.select([fd], [], [], left)
        if not readable:
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            return buffer
        buffer += chunk
    return buffer


def start(kind: str, command: list[str], log_path: Path) -> Server:
    """Spawn ``command`` and wait for its ready line; ``ready_s`` is spawn-to-line wall time."""
    with log_path.open("ab") as log:
        begin = time.perf_counter()
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=clean_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            preexec_fn=_die_with_parent(),  # only calls prctl, no locks
        )
    assert process.stdout is not None
    try:
        line = _read_line(process.stdout, begin + READY_TIMEOUT_S)
        ready_s = time.perf_counter() - begin
        body = orjson.loads(line) if line.strip() else None
        if not isinstance(body, dict) or body.get("event") != "ready" or "url" not in body:
            raise RuntimeError(f"{kind}: no ready line (got {line[:200]!r})")
    except BaseException as exc:
        _stop(process)
        tail = log_path.read_text(errors="replace")[-2000:] if log_path.exists() else ""
        if isinstance(exc, Exception):
            raise RuntimeError(f"{kind} did not start: {exc}; stderr: {tail}") from exc
        raise
    token = body.get("token")
    return Server(kind, process, str(body["url"]), token, body, begin, ready_s, log_path)


def _stop(process: subprocess.Popen[bytes]) -> int | None:
    """SIGTERM, wait, then SIGKILL: returns the exit code (``None`` if it had to be killed)."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_GRACE_S)
            code = None
        else:
            code = process.returncode
    else:
        code = process.returncode
    if process.stdout is not None:
        process.stdout.close()
    return code


def stop(server: Server) -> int | None:
    return _stop(server.process)


@contextlib.contextmanager
def running(kind: str, data_dir: Path, log_dir: Path) -> Iterator[Server]:
    """``kind`` is ``"ours"`` or ``"naive"``; the server is stopped when the block ends."""
    command = sidecar_command(data_dir) if kind == "ours" else naive_command(data_dir)
    server = start(kind, command, log_dir / f"{kind}-{data_dir.name}.log")
    try:
        yield server
    finally:
        stop(server)
