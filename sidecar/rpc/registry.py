"""The method table: JSON-RPC method name -> ``async handler(ctx, params) -> result``.

Each area has one module under :mod:`sidecar.rpc.methods` with a ``register(table)`` function;
:func:`sidecar.rpc.methods.default_methods` calls them all. A handler gets a :class:`Context` and
the request's params as a plain dict (``{}`` when the request has none), returns a JSON-able result,
and fails by raising :class:`~sidecar.rpc.errors.RpcError` or a store error (any other exception is
answered as ``internal`` and logged without the request's data).

``cancellable`` says what ``$/cancelRequest`` does to a request of that method that has started:
a read is cancelled (answered -32800); a write (``cancellable=False``) runs to its end and answers
normally, since a half-done write is worse than a late answer, and the store commits atomically.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from aiohttp import web

from ..api.keys import CONFIG, HUB, STORE
from ..events.hub import EventHub
from ..settings import ServerConfig
from ..store import Store

if TYPE_CHECKING:
    from .connection import Connection

Handler = Callable[["Context", dict[str, Any]], Awaitable[Any]]
#: Called with whether the request succeeded, after its response has been queued.
AfterResponse = Callable[[bool], object]


class Context:
    """What a handler knows besides its params: the app, the client, the method."""

    __slots__ = ("_request_task", "connection", "method")

    def __init__(
        self, connection: Connection, method: str, request_task: asyncio.Task[Any] | None
    ) -> None:
        self.connection = connection
        self.method = method
        self._request_task = request_task

    @property
    def app(self) -> web.Application:
        return self.connection.app

    @property
    def store(self) -> Store:
        return self.connection.app[STORE]

    @property
    def hub(self) -> EventHub:
        return self.connection.app[HUB]

    @property
    def config(self) -> ServerConfig:
        return self.connection.app[CONFIG]

    def after_response(self, callback: AfterResponse) -> None:
        """Run ``callback(ok)`` once this request's response is queued, so that whatever it
        sends (e.g. the first events of a subscription) comes after the response."""
        task = self._request_task
        if task is None:
            raise RuntimeError("after_response needs the request's task")

        def done(finished: asyncio.Task[Any]) -> None:
            callback(not finished.cancelled() and finished.exception() is None)

        # The engine's own done callback (which sends the response) was added first, and done
        # callbacks run in the order they were added.
        task.add_done_callback(done)


@dataclass(frozen=True, slots=True)
class Method:
    name: str
    handler: Handler
    cancellable: bool = True


#: JSON-RPC reserves ``rpc.*``; ``$/`` is the protocol's own (``$/cancelRequest``).
RESERVED_PREFIXES: Final = ("rpc.", "$/")


class MethodTable:
    """The methods one app serves (``app[METHODS]``); add to it before the first connection."""

    def __init__(self) -> None:
        self._methods: dict[str, Method] = {}

    def add(self, name: str, handler: Handler, *, cancellable: bool = True) -> None:
        if not name or name.startswith(RESERVED_PREFIXES):
            raise ValueError(f"{name!r} cannot be a method name")
        if name in self._methods:
            raise ValueError(f"method {name!r} is registered twice")
        self._methods[name] = Method(name, handler, cancellable)

    def method(self, name: str, *, cancellable: bool = True) -> Callable[[Handler], Handler]:
        """``@table.method("area.verb")`` on a handler: :meth:`add` as a decorator."""

        def register(handler: Handler) -> Handler:
            self.add(name, handler, cancellable=cancellable)
            return handler

        return register

    def get(self, name: str) -> Method | None:
        return self._methods.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._methods

    def __iter__(self) -> Iterator[Method]:
        return iter(list(self._methods.values()))

    def names(self) -> list[str]:
        return sorted(self._methods)


METHODS: Final = web.AppKey("rpc_methods", MethodTable)
