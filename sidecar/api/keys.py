"""Typed application keys: what the app factory puts on the app and both faces take from it.

One neutral module, so REST handlers, JSON-RPC methods, the app factory and the server share them
without importing each other. Two keys stay with the JSON-RPC face, because their values are that
face's own state that nothing else may touch: its method table (``rpc.registry.METHODS``) and its
open connections (``rpc.connection.CONNECTIONS``; ``/health`` counts them through
:data:`RPC_CLIENTS` here).
"""

from __future__ import annotations

from typing import Final, Protocol

from aiohttp import web

from ..events.hub import EventHub
from ..search import SearchIndex
from ..service.turns import TurnEngine
from ..settings import ServerConfig
from ..store import Store
from ..store.lock import DataDirLock
from ..sync.status import SyncStatus
from .activity import Activity


class ClientCount(Protocol):
    """What ``/health`` reports of the JSON-RPC clients (the RPC face's open connections)."""

    @property
    def subscription_count(self) -> int: ...

    def __len__(self) -> int: ...


CONFIG: Final = web.AppKey("config", ServerConfig)
STORE: Final = web.AppKey("store", Store)
HUB: Final = web.AppKey("hub", EventHub)
TURNS: Final = web.AppKey("turns", TurnEngine)
SEARCH: Final = web.AppKey("search", SearchIndex)
STARTED: Final = web.AppKey("started", float)
TOKEN: Final = web.AppKey("token", str)
SYNC: Final = web.AppKey("sync", SyncStatus)
#: Set by the JSON-RPC face (its connections), read by ``/health``.
RPC_CLIENTS: Final = web.AppKey[ClientCount]("rpc_clients")
#: Counted by the HTTP middleware, watched by the server for ``--idle-timeout``.
ACTIVITY: Final = web.AppKey("activity", Activity)
#: The data dir's lock when the server holds it (the store opens under it).
LOCK: Final = web.AppKey("lock", DataDirLock)
AUTHENTICATED: Final = web.RequestKey("authenticated", bool)
