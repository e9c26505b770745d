"""``GET /health`` (CONTRACT §5): the status for anyone, the details only with the token."""

from __future__ import annotations

import os
import time
from typing import Any

from aiohttp import web

from .. import __version__
from ..rpc.connection import CONNECTIONS
from ..sync.status import sync_off
from .jsonio import json_response
from .keys import AUTHENTICATED, CONFIG, HUB, STARTED, STORE, SYNC

routes = web.RouteTableDef()


def health_body(app: web.Application, *, full: bool = True) -> dict[str, Any]:
    """The health of CONTRACT §5; ``full=False``: only the status (no token). JSON-RPC's
    ``sidecar.health`` answers the full one."""
    store = app[STORE]
    stats = store.stats()
    sync = app[SYNC].status() if SYNC in app else sync_off()
    degraded = bool(stats["quarantined"]) or not stats["writable"] or sync["state"] == "error"
    status = "degraded" if degraded else "ok"
    if not full:
        return {"status": status}
    rpc = app.get(CONNECTIONS)
    # An event subscription over JSON-RPC is a hub subscriber too, but not an event stream.
    rpc_subscriptions = 0 if rpc is None else rpc.subscription_count
    return {
        "status": status,
        "version": __version__,
        "pid": os.getpid(),
        "uptime_s": round(time.monotonic() - app[STARTED], 3),
        "data_dir": str(app[CONFIG].data_dir),
        # Which provider writes replies, so a first-use screen can say what answers and how to
        # change it (an addition to CONTRACT §5's shape; docs/ui-api.md).
        "provider": app[CONFIG].provider,
        "store": {
            "conversations": stats["conversations"],
            "messages": stats["messages"],
            "writable": stats["writable"],
            "quarantined": stats["quarantined"],
        },
        "clients": {
            "event_streams": max(0, app[HUB].subscriber_count - rpc_subscriptions),
            "rpc": 0 if rpc is None else len(rpc),
        },
        "sync": sync,
    }


@routes.get("/health")
async def health(request: web.Request) -> web.Response:
    return json_response(health_body(request.app, full=bool(request.get(AUTHENTICATED))))
