"""Running the sidecar: ownership, the ready line, serving, idle exit and graceful shutdown.

Start-up order keeps slow work after the ready line (CONTRACT §1): take the data-dir lock, bind
the listening socket, write ``sidecar.json`` and print the ready line, and only then import the
application's modules and open the store (journal replay, index rebuilds). Connections made meanwhile wait in the socket's backlog; they
are never refused. A second ``serve`` on an owned data dir attaches: it prints the owner's
handshake with ``"attached": true`` and exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import ipaddress
import logging
import os
import secrets
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from . import __version__
from .runtime import (
    handshake,
    owner_handshake,
    remove_discovery,
    ui_address,
    write_discovery,
)
from .settings import ServerConfig
from .store import StoreError
from .store.durable import make_dirs
from .store.lock import DataDirLock, is_owned

log = logging.getLogger(__name__)

ATTACH_WAIT_S = 15.0
SHUTDOWN_TIMEOUT_S = 5.0
#: Allocations (less deallocations) of tracked objects between young collections (default 700).
GC_YOUNG_THRESHOLD = 10_000


class ServeError(Exception):
    """A reason ``serve`` cannot run, for a one-line message and exit code 2."""


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def emit(body: dict[str, Any]) -> None:
    """The ready line: the only thing ``serve`` ever writes to stdout. Then, on stderr, where
    the chat UI is (CONTRACT §1) — written directly, not logged, so no log level hides it; it
    is the one stderr line that carries the token, which the ready line already holds."""
    sys.stdout.write(orjson.dumps(body).decode() + "\n")
    sys.stdout.flush()
    sys.stderr.write(f"chat UI: {ui_address(body)}\n")
    sys.stderr.flush()


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=512)
    except OSError as exc:
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


async def serve(config: ServerConfig) -> int:
    if not is_loopback_host(config.host) and not config.allow_remote:
        raise ServeError(f"--host {config.host} is not loopback; add --allow-remote to allow it")
    data_dir = await asyncio.to_thread(config.data_dir.resolve)
    await asyncio.to_thread(make_dirs, data_dir)
    await asyncio.to_thread(data_dir.chmod, 0o700)
    lock = DataDirLock(data_dir)
    deadline = time.monotonic() + ATTACH_WAIT_S
    while not _try_lock(lock):
        owner = await owner_handshake(data_dir)
        if owner is not None:
            emit({**owner, "attached": True})
            return 0
        if time.monotonic() > deadline:
            raise ServeError(f"{data_dir} is owned by a sidecar that does not answer")
        await asyncio.sleep(0.1)
    try:
        return await _own(config, data_dir, lock)
    finally:
        lock.release()


def _try_lock(lock: DataDirLock) -> bool:
    try:
        return lock.try_acquire()
    except StoreError as exc:  # the lock file is a link or not a file: say so, no traceback
        raise ServeError(exc.message) from None


async def _own(config: ServerConfig, data_dir: Path, lock: DataDirLock) -> int:
    token = config.token or secrets.token_urlsafe(32)
    sock = _listen(config.host, config.port)
    port = int(sock.getsockname()[1])
    body = handshake(
        pid=os.getpid(),
        host=config.host,
        port=port,
        token=token,
        data_dir=data_dir,
        version=__version__,
        attached=False,
    )
    # The stop signals are ours before anyone can know our pid: a SIGTERM sent the moment the
    # ready line is read still shuts down gracefully (discovery removed), not by default action.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await asyncio.to_thread(write_discovery, data_dir, body)
        emit(body)
        await _serve(config, data_dir, lock, sock, token, str(body["url"]), stop)
    finally:
        await asyncio.to_thread(remove_discovery, data_dir, os.getpid())
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    return 0


async def _serve(
    config: ServerConfig,
    data_dir: Path,
    lock: DataDirLock,
    sock: socket.socket,
    token: str,
    url: str,
    stop: asyncio.Event,
) -> None:
    """Open the store and serve until ``stop`` (the ready line is out already)."""
    # The application's modules (faces, services, search, providers) are imported only now: the
    # ready line needs none of them, and a request made meanwhile waits in the backlog as it
    # does while the store opens.
    from .app import create_app
    from .http.security import RedactingAccessLogger

    app = create_app(config, token=token, lock=lock)
    runner = web.AppRunner(
        app, access_log_class=RedactingAccessLogger, shutdown_timeout=SHUTDOWN_TIMEOUT_S
    )
    try:
        try:
            await runner.setup()
        except StoreError as exc:  # e.g. a newer schema, an unreadable store.json
            raise ServeError(f"cannot open the store: {exc.message}") from None
        await web.SockSite(runner, sock).start()
        tune_collector()
        log.info("serving %s on %s", data_dir, url)
        idle = asyncio.create_task(_idle_watch(app, config.idle_timeout, stop))
        await stop.wait()
        idle.cancel()
        log.info("shutting down")
    finally:
        await runner.cleanup()


def tune_collector() -> None:
    """The cyclic garbage collector as a serving process wants it (call once started up).

    What exists by then (modules, the opened store's catalog and indexes) lives as long as the
    process: frozen, the collector stops walking it on every full collection. A request makes
    and frees dozens of tracked objects; at the default threshold (700) the youngest generation
    was collected every ~25 appends under load, ~4 % of the loop's CPU, for almost no garbage
    (objects are freed by their counts; cycles are rare).
    """
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


async def _idle_watch(app: web.Application, limit_s: float, stop: asyncio.Event) -> None:
    """Stop after ``limit_s`` seconds with no request, stream or connection (0 = never).

    An open event stream is a request in flight, so it keeps the sidecar alive by itself; a window
    reload drops and reopens its connections within seconds, far inside any sensible timeout. A
    turn still running (a reply streaming with every window closed) counts as activity too.
    """
    from .api.keys import ACTIVITY, TURNS

    if limit_s <= 0:
        return
    activity = app[ACTIVITY]
    while True:
        await asyncio.sleep(min(1.0, limit_s / 4))
        turns = app.get(TURNS)
        if turns is not None and turns.running:
            activity.touch()  # a reply being written keeps us up; the clock starts when it ends
        if activity.idle_for() >= limit_s:
            log.info("idle for %.0f s: exiting", limit_s)
            stop.set()
            return


def run(config: ServerConfig) -> int:
    """``chat-sidecar serve``: returns the exit code."""
    try:
        return asyncio.run(serve(config))
    except ServeError as exc:
        print(f"chat-sidecar serve: {exc}", file=sys.stderr)
        return 2


async def stop_owner(data_dir: Path, wait_s: float = 15.0) -> bool:
    """Ask the owner of ``data_dir`` to shut down gracefully; True once the lock is free."""
    if not await asyncio.to_thread(is_owned, data_dir):
        return True
    owner = await owner_handshake(data_dir)
    if owner is None:
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(int(owner["pid"]), signal.SIGTERM)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if not await asyncio.to_thread(is_owned, data_dir):
            return True
        await asyncio.sleep(0.05)
    return False
