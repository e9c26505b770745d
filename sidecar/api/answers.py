"""Answer shapes that REST and JSON-RPC share (CONTRACT §4, §5): built once, sent by either face."""

from __future__ import annotations

import os
import time
from typing import Any

from aiohttp import web

from .. import __version__
from ..store import ListPage, Page
from ..sync.status import sync_off
from .keys import CONFIG, HUB, RPC_CLIENTS, STARTED, STORE, SYNC, TURNS


def conversation_list_body(page: ListPage, event_seq: int) -> dict[str, Any]:
    """The answer to a list of conversations, the same over REST and JSON-RPC."""
    return {"items": page.items, "next_cursor": page.next_cursor, "event_seq": event_seq}


def conversation_page_body(page: Page) -> dict[str, Any]:
    """A conversation with the last page of its active branch (REST GET, ``conversations.get``)."""
    return {
        **page.conversation,
        "messages": page.messages,
        "has_more": page.has_more,
        "event_seq": page.event_seq,
    }


def message_page_body(page: Page) -> dict[str, Any]:
    """A page of messages, the same over REST and JSON-RPC (``messages.list``)."""
    return {"items": page.messages, "has_more": page.has_more, "event_seq": page.event_seq}


def tools_body(app: web.Application) -> dict[str, Any]:
    """``{items: [{name, description, parameters, source}]}``, the same over REST and RPC."""
    return {"items": app[TURNS].tools.listing()}


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
    rpc = app.get(RPC_CLIENTS)
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
