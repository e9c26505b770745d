"""The application factory: ``create_app(config)`` wires the store, the event hub and the routes.

Resources live in ``cleanup_ctx`` (opened in order at start-up, closed in reverse at shutdown):
the store first, then the hub that listens to it and the watcher that reports outside changes,
then the search index (which also listens; it catches up in the background), then the turn engine (which marks turns a dead process left running as interrupted). On
shutdown, running turns are persisted as interrupted, then the hub sends ``server.shutdown`` to
every event stream, and the store's final checkpoint comes last.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from aiohttp import web

from .api.activity import Activity
from .api.keys import ACTIVITY, CONFIG, HUB, LOCK, SEARCH, STARTED, STORE, SYNC, TOKEN, TURNS
from .api.table import OPERATIONS
from .events.hub import EventHub
from .http import events as event_stream
from .http import health, openapi, ui
from .http.body import HANDLER_ARGS
from .http.operations import operation_routes
from .http.security import build_middlewares
from .providers import EchoProvider, ExternalBroker, ExternalProvider, OpenAIProvider, Provider
from .rpc import endpoint as rpc_endpoint
from .rpc.methods.chat import announce_turns
from .search import SearchIndex
from .service.turns import TurnConfig, TurnEngine
from .settings import ServerConfig
from .store import Store
from .store.lock import DataDirLock
from .tools import ToolRegistry, builtin_tools
from .watcher import watch_external_changes


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


async def _search_index(app: web.Application) -> AsyncIterator[None]:
    """After the store: the index opens beside it (fast; catching up runs in the background)
    and closes before it, once every queued change is written."""
    index = await SearchIndex.open(app[STORE])
    app[SEARCH] = index
    try:
        yield
    finally:
        await index.close()


def build_turn_engine(config: ServerConfig, store: Store) -> TurnEngine:
    """The turn engine with the configured provider and the built-in tools."""
    broker = ExternalBroker(config.external_claim_timeout)
    provider: Provider
    if config.provider == "echo":
        provider = EchoProvider(config.echo_chunk, config.echo_delay_ms)
    elif config.provider == "openai":
        provider = OpenAIProvider(
            config.openai_base_url,
            config.openai_model,
            config.openai_api_key,
            timeout_s=config.provider_timeout,
        )
    elif config.provider == "external":
        provider = ExternalProvider(broker)
    else:
        raise ValueError(f"unknown provider {config.provider!r}: use echo, openai or external")
    return TurnEngine(
        store,
        provider,
        ToolRegistry(builtin_tools(), config.tool_auto_approve),
        TurnConfig(
            retry_attempts=max(1, config.retry_attempts),
            retry_base_delay_s=config.retry_base_delay,
            tool_timeout_s=config.tool_timeout,
        ),
        broker=broker,
    )


async def _sync(app: web.Application) -> AsyncIterator[None]:
    """Sync with a hub when ``--sync-url`` is set (CONTRACT §10): started after the store is
    open, stopped before it closes; the driver is imported only then."""
    config = app[CONFIG]
    if not config.sync_url:
        yield
        return
    from .sync.config import SyncConfig
    from .sync.engine import SyncEngine

    engine = SyncEngine(app[STORE], SyncConfig(config.sync_url, config.device_name))
    await engine.start()
    app[SYNC] = engine
    try:
        yield
    finally:
        await engine.close()


async def _turns(app: web.Application) -> AsyncIterator[None]:
    engine = build_turn_engine(app[CONFIG], app[STORE])
    await engine.start()
    app[TURNS] = engine
    announce_turns(app)
    try:
        yield
    finally:
        await engine.close()
        if isinstance(engine.provider, OpenAIProvider):
            await engine.provider.close()


async def _stop_turns(app: web.Application) -> None:
    """Persist running turns as interrupted before the final ``server.shutdown`` event."""
    if TURNS in app:
        await app[TURNS].close()


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
        handler_args=HANDLER_ARGS,  # we inflate bodies ourselves, bounded (http/body.py)
    )
    app[CONFIG] = config
    app[TOKEN] = token
    app[ACTIVITY] = activity
    app[STARTED] = time.monotonic()
    if lock is not None:
        app[LOCK] = lock
    app.cleanup_ctx.append(_store_and_hub)
    app.cleanup_ctx.append(_search_index)
    app.cleanup_ctx.append(_sync)
    app.cleanup_ctx.append(_turns)
    app.on_shutdown.append(_stop_turns)
    app.on_shutdown.append(_announce_shutdown)
    app.add_routes(health.routes)
    app.add_routes(operation_routes(OPERATIONS))
    app.add_routes(openapi.routes)
    app.add_routes(ui.routes)
    event_stream.setup_routes(app)
    rpc_endpoint.setup(app)  # after _announce_shutdown: clients get server.shutdown, then 1001
    return app
