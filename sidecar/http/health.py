"""``GET /health`` (CONTRACT §5): the status for anyone, the details only with the token."""

from __future__ import annotations

import os
import time

from aiohttp import web

from .. import __version__
from .jsonio import json_response
from .keys import AUTHENTICATED, CONFIG, HUB, STARTED, STORE

routes = web.RouteTableDef()


@routes.get("/health")
async def health(request: web.Request) -> web.Response:
    store = request.app[STORE]
    stats = store.stats()
    degraded = bool(stats["quarantined"]) or not stats["writable"]
    status = "degraded" if degraded else "ok"
    if not request.get(AUTHENTICATED):
        return json_response({"status": status})
    return json_response(
        {
            "status": status,
            "version": __version__,
            "pid": os.getpid(),
            "uptime_s": round(time.monotonic() - request.app[STARTED], 3),
            "data_dir": str(request.app[CONFIG].data_dir),
            "store": {
                "conversations": stats["conversations"],
                "messages": stats["messages"],
                "writable": stats["writable"],
                "quarantined": stats["quarantined"],
            },
            "clients": {"event_streams": request.app[HUB].subscriber_count, "rpc": 0},
        }
    )
