"""The application factory: ``create_app(config)`` wires the store, the event hub and the routes.

Resources live in ``cleanup_ctx`` (opened in order at start-up, closed in reverse at shutdown):
the store first, then the hub that listens to it and the watcher that reports outside changes. On shutdown the hub sends ``server.shutdown`` to
every event stream before the store's final checkpoint.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from aiohttp import web

from .events.hub import EventHub
from .http import conversations, health, messages, openapi
from .http import events as event_stream
from .http.keys import CONFIG, HUB, STARTED, STORE, TOKEN
from .http.security import Activity, build_middlewares
from .settings import ServerConfig
from .store import Store
from .store.lock import DataDirLock
from .watcher import watch_external_changes

ACTIVITY = web.AppKey("activity", Activity)
LOCK = web.AppKey("lock", DataDirLock)


async def _store_and_hub(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    lock = app.get(LOCK)
    store = await Store.open(config.data_dir, config.store(), lock=lock)
    hub = EventHub(
        store,
        retention=config.event_retention,
        retention_seconds=config.event_retention_seconds,
    )
    hub.start()
    app[STORE] = store
    app[HUB] = hub
    stop_watching = asyncio.Event()
    watcher = asyncio.create_task(watch_external_changes(store, stop_watching))
    try:
        yield
    finally:
        stop_watching.set()
        await watcher
        await store.close()


async def _announce_shutdown(app: web.Application) -> None:
    if HUB in app:
        app[HUB].stop("shutdown")


def create_app(
    config: ServerConfig, *, token: str, lock: DataDirLock | None = None
) -> web.Application:
    """The sidecar as an aiohttp application (tests run it with ``aiohttp_client``)."""
    activity = Activity()
    app = web.Application(
        middlewares=build_middlewares(config, token, activity),
        client_max_size=config.max_body_bytes,
    )
    app[CONFIG] = config
    app[TOKEN] = token
    app[ACTIVITY] = activity
    app[STARTED] = time.monotonic()
    if lock is not None:
        app[LOCK] = lock
    app.cleanup_ctx.append(_store_and_hub)
    app.on_shutdown.append(_announce_shutdown)
    app.add_routes(health.routes)
    app.add_routes(conversations.routes)
    app.add_routes(messages.routes)
    app.add_routes(openapi.routes)
    event_stream.setup_routes(app)
    return app
