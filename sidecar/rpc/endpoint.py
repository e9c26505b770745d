"""``GET /rpc``: the WebSocket endpoint (CONTRACT §7), and its place in the app's lifecycle.

The security middleware has run before :func:`rpc_handler` (token from the header or
``?access_token=``, Host, Origin), so a refused client never gets a WebSocket. The open connection
is a request in flight for the ``track`` middleware, which is what keeps the idle timer from firing
while a client is connected (as an open SSE stream does).

pygls (with lsprotocol and cattrs: ~1 s of CPU and 17 MB) is imported lazily, in a thread, when
the first client connects to ``/rpc``, which waits for it; a client that only speaks REST and
SSE never pays for it. Not at start-up: the import would compete for the GIL with the first
requests, and the extension, the one RPC client that connects at once, connects right after the
ready line, so warming up earlier would save it only that gap (docs/benchmarks.md, "Cold start
and idle memory").
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import threading
from typing import Final

from aiohttp import WSCloseCode, web

from ..api.errors import ApiError
from ..api.keys import CONFIG, RPC_CLIENTS
from .connection import CONNECTIONS, Connection, Connections
from .methods import default_methods
from .registry import METHODS, MethodTable

log = logging.getLogger(__name__)

RPC_PATH: Final = "/rpc"
ENGINE: Final = "sidecar.rpc.engine"
#: Pings keep a dead peer from holding a connection (and the idle timer) forever; never more
#: often than this, so a client busy for a moment (pongs are due in half the interval) survives.
MIN_HEARTBEAT: Final = 5.0

_engine_lock = threading.Lock()
_engine_loaded = False


def _import_engine() -> None:
    global _engine_loaded
    with _engine_lock:
        importlib.import_module(ENGINE)
        _engine_loaded = True


async def load_engine() -> None:
    """Import the engine (pygls) off the event loop; instant once done."""
    if not _engine_loaded:
        await asyncio.to_thread(_import_engine)


async def rpc_handler(request: web.Request) -> web.StreamResponse:
    config = request.app[CONFIG]
    ws = web.WebSocketResponse(
        max_msg_size=config.max_body_bytes,
        heartbeat=max(MIN_HEARTBEAT, config.heartbeat_interval),
    )
    if not ws.can_prepare(request).ok:
        raise ApiError("bad_request", "GET /rpc needs a WebSocket upgrade")
    await load_engine()
    from . import engine  # loaded above: a dictionary lookup now

    await ws.prepare(request)
    connections = request.app[CONNECTIONS]
    connection = Connection(request.app, request, ws)
    connections.add(connection)
    try:
        await engine.serve(connection, request.app[METHODS])
    finally:
        connections.discard(connection)
        await connection.finish()
    return ws


async def _close_connections(app: web.Application) -> None:
    """Graceful shutdown: after the hub's ``server.shutdown`` event (the hub is stopped first),
    every client gets close code 1001 (going away)."""
    await app[CONNECTIONS].close_all(WSCloseCode.GOING_AWAY, b"server shutdown")


def setup(app: web.Application, methods: MethodTable | None = None) -> None:
    """Serve JSON-RPC at ``/rpc`` with ``methods`` (default: every area's methods).

    Call it after the hub's shutdown hook is registered, so clients hear ``server.shutdown``
    before their connection closes.
    """
    app[METHODS] = default_methods() if methods is None else methods
    app[CONNECTIONS] = app[RPC_CLIENTS] = Connections()
    app.router.add_get(RPC_PATH, rpc_handler, allow_head=False)
    app.on_shutdown.append(_close_connections)
