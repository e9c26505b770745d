"""Typed application keys: what the app factory puts on the app and handlers take from it."""

from __future__ import annotations

from aiohttp import web

from ..events.hub import EventHub
from ..service.turns import TurnEngine
from ..settings import ServerConfig
from ..store import Store
from ..sync.status import SyncStatus

CONFIG = web.AppKey("config", ServerConfig)
STORE = web.AppKey("store", Store)
HUB = web.AppKey("hub", EventHub)
TURNS = web.AppKey("turns", TurnEngine)
STARTED = web.AppKey("started", float)
TOKEN = web.AppKey("token", str)
SYNC = web.AppKey("sync", SyncStatus)
AUTHENTICATED = web.RequestKey("authenticated", bool)
