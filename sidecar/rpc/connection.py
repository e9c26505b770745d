"""One JSON-RPC client on its WebSocket, and the app-wide set of them.

A :class:`Connection` owns what one client costs: its outgoing queue (one sender task writes it to
the socket in order, one message per text frame), its event subscriptions (one pump task each), the
requests it has in flight and whatever other areas keep for it in :attr:`Connection.state`. No pygls
here: the engine plugs its protocol in through :meth:`Connection.attach`.

Flow control, as for the SSE stream: publishing never waits for a client. Event pumps stop taking
events while the client's outgoing queue is above :data:`SEND_HIGH_WATER`, so a client that does
not read lets the hub's bounded queue fill, and the hub drops that subscription with ``resync``
(the client pulls and subscribes again). Responses cannot wait, so a client that keeps sending
requests without reading is cut off at :data:`SEND_LIMIT`, and one whose socket does not take a
frame for :data:`WRITE_TIMEOUT` seconds too.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, Final

from aiohttp import WSCloseCode, web

from ..events.hub import Subscription
from ..store.ids import new_id

log = logging.getLogger(__name__)

SEND_HIGH_WATER: Final = 256
SEND_LIMIT: Final = 16_384
WRITE_TIMEOUT: Final = 30.0
#: How long a closing connection gives its event pumps and its queue to drain (server shutdown).
END_GRACE: Final = 2.0
#: Events one pump hands to the queue at a time.
PUMP_BATCH: Final = 64

Notifier = Callable[[str, Any], None]
CloseCallback = Callable[["Connection"], None]

_numbers = itertools.count(1)


class _Stream:
    """An event subscription and the task that turns its events into notifications."""

    __slots__ = ("subscription", "task")

    def __init__(self, subscription: Subscription) -> None:
        self.subscription = subscription
        self.task: asyncio.Task[None] | None = None

    def covers(self, conversation_id: str | None) -> bool:
        if self.subscription.ended:
            return False
        wanted = self.subscription.conversation_id
        return conversation_id is None or wanted is None or wanted == conversation_id


class Connection:
    """One client. Created by the endpoint once the WebSocket is open."""

    def __init__(
        self, app: web.Application, request: web.Request, ws: web.WebSocketResponse
    ) -> None:
        self.number = next(_numbers)  # for log lines: never the client's data
        self.app = app
        self.ws = ws
        #: Per-connection state of other areas (e.g. the turns an external provider claimed).
        self.state: dict[str, Any] = {}
        self._request = request
        self._streams: dict[str, _Stream] = {}
        self._outgoing: deque[str] = deque()
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._draining = False
        self._closed = False
        self._notifier: Notifier | None = None
        self._requests: set[asyncio.Task[Any]] = set()
        self._close_callbacks: list[CloseCallback] = []
        self._sender = asyncio.create_task(self._send_loop())

    # ------------------------------------------------------------------ output

    @property
    def closed(self) -> bool:
        """Nothing more will be sent to this client."""
        return self._closed

    def attach(self, notifier: Notifier) -> None:
        """Called by the engine: how a notification becomes a JSON-RPC message."""
        self._notifier = notifier

    def send_text(self, text: str) -> None:
        """Queue one serialised JSON-RPC message (the engine's writer calls this)."""
        if self._closed:
            return
        if len(self._outgoing) >= SEND_LIMIT:
            log.warning("rpc client %d stopped reading; closing its connection", self.number)
            self._abort()
            return
        self._outgoing.append(text)
        self._wake.set()
        if len(self._outgoing) >= SEND_HIGH_WATER:
            self._room.clear()

    def notify(self, method: str, params: Any) -> bool:
        """Send a notification to this client; ``False`` if it is gone (nothing was sent)."""
        if self._closed or self._notifier is None:
            return False
        self._notifier(method, params)
        return True

    async def _send_loop(self) -> None:
        try:
            while True:
                if not self._outgoing:
                    if self._draining or self._closed:
                        return
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                text = self._outgoing.popleft()
                if len(self._outgoing) <= SEND_HIGH_WATER // 2:
                    self._room.set()
                async with asyncio.timeout(WRITE_TIMEOUT):
                    await self.ws.send_str(text)
        except TimeoutError:
            log.info(
                "rpc client %d did not read for %.0f s; closing it", self.number, WRITE_TIMEOUT
            )
            self._abort()
        except (ConnectionError, RuntimeError):
            self._abort()  # the socket is gone; nothing to tell the client

    def _abort(self) -> None:
        """Drop the client at once (abort, not close: close would wait for it to read)."""
        self._closed = True
        self._outgoing.clear()
        self._room.set()
        self._wake.set()
        transport = self._request.transport
        if transport is not None:
            transport.abort()

    # ------------------------------------------------------------------ event subscriptions

    def add_subscription(self, subscription: Subscription) -> str:
        """Hold ``subscription`` under a new id; its events flow once :meth:`start` is called
        (after the ``events.subscribe`` response, so no notification can overtake it)."""
        subscription_id = new_id()
        self._streams[subscription_id] = _Stream(subscription)
        return subscription_id

    def start(self, subscription_id: str) -> None:
        stream = self._streams.get(subscription_id)
        if stream is None or stream.task is not None:
            return
        if self._closed:
            self.unsubscribe(subscription_id)
            return
        stream.task = asyncio.create_task(self._pump(subscription_id, stream.subscription))

    def unsubscribe(self, subscription_id: str) -> bool:
        """End a subscription; ``False`` if this connection has none by that id."""
        stream = self._streams.pop(subscription_id, None)
        if stream is None:
            return False
        stream.subscription.close()
        if stream.task is not None:
            stream.task.cancel()
        return True

    @property
    def live_subscriptions(self) -> int:
        return sum(not stream.subscription.ended for stream in self._streams.values())

    def subscribed_to(self, conversation_id: str | None = None) -> bool:
        """Whether a live subscription of this client gets ``conversation_id``'s events
        (``None``: whether it has any live subscription)."""
        return any(stream.covers(conversation_id) for stream in self._streams.values())

    async def _pump(self, subscription_id: str, subscription: Subscription) -> None:
        """Events -> ``event`` notifications; the hub's ``resync`` / ``server.shutdown`` is the last
        one a subscription sends, after which it is gone (the client subscribes again)."""
        try:
            while not self._closed:
                await self._room.wait()
                if self._closed:
                    break
                batch = await subscription.next_batch(PUMP_BATCH)
                for event in batch:
                    params = {
                        "subscription_id": subscription_id,
                        "seq": event.seq,
                        "type": event.type,
                        "data": event.data,
                    }
                    if not self.notify("event", params):
                        break
        except StopAsyncIteration:
            pass
        finally:
            subscription.close()
            self._streams.pop(subscription_id, None)

    # ------------------------------------------------------------------ requests and lifecycle

    def track(self, task: asyncio.Task[Any]) -> None:
        """A request in flight: cancelled (or, for writes, awaited) when the client leaves."""
        self._requests.add(task)
        task.add_done_callback(self._requests.discard)

    def add_close_callback(self, callback: CloseCallback) -> None:
        """Run ``callback(connection)`` once, when the client has gone."""
        self._close_callbacks.append(callback)

    async def close(self, code: int = WSCloseCode.GOING_AWAY, message: bytes = b"") -> None:
        """Close gracefully: what the event pumps still hold (e.g. ``server.shutdown``) and the
        queued messages go out first, within :data:`END_GRACE` seconds, then the close frame."""
        pumps = [stream.task for stream in self._streams.values() if stream.task is not None]
        if pumps:
            await asyncio.wait(pumps, timeout=END_GRACE)
        self._draining = True
        self._wake.set()
        await asyncio.wait([self._sender], timeout=END_GRACE)
        self._closed = True
        try:
            # The close handshake waits for the client's answer; a stuck client is cut off.
            async with asyncio.timeout(END_GRACE):
                await self.ws.close(code=code, message=message)
        except TimeoutError:
            self._abort()
        except (ConnectionError, RuntimeError):
            pass  # already gone

    async def finish(self) -> None:
        """The client has gone (or was closed): free everything it held.

        Requests in flight are cancelled; a write is not interrupted by that (it finishes, see the
        engine), and is awaited here, so a shutdown closes the store only after it."""
        self._closed = True
        self._room.set()
        self._wake.set()
        for subscription_id in list(self._streams):
            self.unsubscribe(subscription_id)
        requests = list(self._requests)
        for task in requests:
            task.cancel()
        callbacks, self._close_callbacks = self._close_callbacks, []
        for callback in callbacks:
            try:
                callback(self)
            except Exception:
                log.exception("rpc close callback failed")
        self._sender.cancel()  # nothing more is sent, not even the answers of those writes
        with contextlib.suppress(asyncio.CancelledError):
            await self._sender
        if requests:
            await asyncio.wait(requests)


class Connections:
    """The open RPC connections of one app (``app[CONNECTIONS]``)."""

    def __init__(self) -> None:
        self._live: set[Connection] = set()

    def __len__(self) -> int:
        return len(self._live)

    def __iter__(self) -> Iterator[Connection]:
        return iter(list(self._live))

    @property
    def subscription_count(self) -> int:
        """Live event subscriptions over JSON-RPC (the hub counts them among its subscribers)."""
        return sum(connection.live_subscriptions for connection in self._live)

    def add(self, connection: Connection) -> None:
        self._live.add(connection)

    def discard(self, connection: Connection) -> None:
        self._live.discard(connection)

    def broadcast(
        self,
        method: str,
        params: Any,
        *,
        conversation_id: str | None = None,
        subscribed_only: bool = True,
    ) -> int:
        """Notify every client with a live event subscription that covers ``conversation_id``
        (any subscription when ``None``; every client when ``subscribed_only`` is false).
        Returns how many were sent it, so a caller can tell that nobody is listening."""
        sent = 0
        for connection in self:
            if subscribed_only and not connection.subscribed_to(conversation_id):
                continue
            sent += connection.notify(method, params)
        return sent

    async def close_all(self, code: int = WSCloseCode.GOING_AWAY, message: bytes = b"") -> None:
        connections = list(self._live)
        if connections:
            await asyncio.gather(*(c.close(code, message) for c in connections))


CONNECTIONS: Final = web.AppKey("rpc_connections", Connections)
