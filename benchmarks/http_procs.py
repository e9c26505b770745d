"""The HTTP benchmarks' two servers, started through :mod:`benchmarks.launch`.

Both servers under test are real subprocesses on 127.0.0.1: ``python -m sidecar serve`` (ours)
and ``python -m benchmarks.naive_server`` (the baseline), with the environment's
``CHAT_SIDECAR_*`` removed (the defaults are what is measured), stderr (our access log) to a file
in the benchmark's temp dir, and told to die with the benchmark. A server is always stopped by the
``with`` block that started it (SIGTERM, then SIGKILL after a grace period).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

from . import launch
from .launch import CLOCK_TICKS, Server

__all__ = ["CLOCK_TICKS", "Server", "naive_command", "running", "sidecar_command", "start", "stop"]


def sidecar_command(data_dir: Path) -> list[str]:
    return launch.serve_command(data_dir, "--port", "0", "--idle-timeout", "0")


def naive_command(data_dir: Path, *options: str) -> list[str]:
    """The naive server (``options``: e.g. ``--no-disk``, aiohttp alone)."""
    return [sys.executable, "-m", "benchmarks.naive_server", "--data-dir", str(data_dir), *options]


def server_env() -> dict[str, str]:
    """The servers' environment: no ``CHAT_SIDECAR_*`` (the defaults are measured), and bytecode
    caches allowed: with ``PYTHONDONTWRITEBYTECODE`` set (as in some shells and CI) every start
    would compile all of ``sidecar/`` from source, which no installed sidecar does."""
    env = launch.child_env(clean=True)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def start(kind: str, command: list[str], log_path: Path) -> Server:
    """Spawn ``command`` and wait for its ready line; ``ready_s`` is spawn-to-line wall time."""
    return launch.start(
        command,
        env=server_env(),
        stderr=log_path,
        kind=kind,
        die_with_parent=True,
    )


def stop(server: Server) -> int | None:
    return server.stop()


@contextlib.contextmanager
def running(kind: str, data_dir: Path, log_dir: Path) -> Iterator[Server]:
    """``kind`` is ``"ours"``, ``"naive"`` or ``"aiohttp"`` (the naive server writing nothing);
    the server is stopped when the block ends."""
    if kind == "ours":
        command = sidecar_command(data_dir)
    else:
        command = naive_command(data_dir, *(("--no-disk",) if kind == "aiohttp" else ()))
    server = start(kind, command, log_dir / f"{kind}-{data_dir.name}.log")
    try:
        yield server
    finally:
        stop(server)
