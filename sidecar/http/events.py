"""``GET /api/v1/events``: the hub's events as Server-Sent Events (CONTRACT §6).

Hand-rolled on :class:`aiohttp.web.StreamResponse`: the frames come ready-made from the hub, and
owning the loop keeps heartbeats, disconnect detection and the end of the stream in one place.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re

from aiohttp import web

from ..api.keys import CONFIG, HUB
from ..events.hub import Subscription
from ..store.errors import ValidationFailed
from ..store.ids import check_id
from .errors import from_exception

log = logging.getLogger(__name__)

EVENTS_PATH = "/api/v1/events"

HEADERS = {
    "Cache-Control": "no-cache",
    # Tells a buffering reverse proxy (nginx) to pass each event through at once.
    "X-Accel-Buffering": "no",
}

# aiohttp sends the headers with the first body bytes; this comment opens the stream at once so a
# client knows it is subscribed before any event happens.
OPENING = b": connected\n\n"
PING = b": ping\n\n"

# aiohttp does not tell a handler that its client went away (it only fails the next write), so the
# loop also looks at the transport this often: a closed tab frees its subscription within a second
# rather than at the next heartbeat.
DISCONNECT_POLL = 1.0
# A single write may wait this long for a client that is not reading before it is cut off...
WRITE_TIMEOUT = 30.0
# ...and only this long once its subscription has ended (overflow, shutdown), so a stuck client
# cannot hold up a graceful exit.
END_GRACE = 2.0

_SEQ = re.compile(r"[0-9]{1,20}", re.ASCII)


def _parse_seq(raw: str, field: str) -> int:
    if not _SEQ.fullmatch(raw):
        raise ValidationFailed(field, f"{field} must be a non-negative integer (an event id)")
    return int(raw)


def parse_since(request: web.Request) -> int | None:
    """The seq to resume after: ``Last-Event-ID`` (sent by a browser's automatic reconnect) wins
    over ``?since=``. An empty header counts as absent, as EventSource only sends a non-empty one."""
    header = request.headers.get("Last-Event-ID", "").strip()
    if header:
        return _parse_seq(header, "Last-Event-ID")
    if "since" in request.query:
        return _parse_seq(request.query["since"].strip(), "since")
    return None


def parse_conversation_id(request: web.Request) -> str | None:
    if "conversation_id" not in request.query:
        return None
    return check_id(request.query["conversation_id"], "conversation_id")


def _gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


async def events_handler(request: web.Request) -> web.StreamResponse:
    """Stream events until the client leaves or the hub ends the subscription.

    Everything that can fail is checked before the stream starts, so errors are ordinary JSON.
    """
    hub = request.app[HUB]
    heartbeat = max(0.01, request.app[CONFIG].heartbeat_interval)
    try:
        since = parse_since(request)
        conversation_id = parse_conversation_id(request)
    except ValidationFailed as exc:
        return from_exception(exc)
    subscription = hub.subscribe(conversation_id, since)
    try:
        return await _stream(request, subscription, heartbeat)
    finally:
        subscription.close()


async def _stream(
    request: web.Request, subscription: Subscription, heartbeat: float
) -> web.StreamResponse:
    response = web.StreamResponse(headers=HEADERS)
    response.content_type = "text/event-stream"
    loop = asyncio.get_running_loop()
    writing: asyncio.Timeout | None = None
    ended_at: float | None = None

    def on_end() -> None:
        nonlocal ended_at
        ended_at = loop.time()
        if writing is not None:
            _tighten(writing, ended_at + END_GRACE)

    subscription.add_end_callback(on_end)

    async def write(data: bytes) -> None:
        nonlocal writing
        limit = WRITE_TIMEOUT if ended_at is None else END_GRACE
        try:
            async with asyncio.timeout(limit) as writing:
                await response.write(data)
        finally:
            writing = None

    poll = min(heartbeat, DISCONNECT_POLL)
    try:
        await response.prepare(request)
        await write(OPENING)
        idle_since = loop.time()
        while not _gone(request):
            wait = min(poll, idle_since + heartbeat - loop.time())
            try:
                async with asyncio.timeout(max(0.0, wait)):
                    batch = await subscription.next_batch()
            except StopAsyncIteration:
                break
            except TimeoutError:
                batch = []
            if batch:
                await write(b"".join(event.frame() for event in batch))
                idle_since = loop.time()
            elif loop.time() - idle_since >= heartbeat:
                await write(PING)
                idle_since = loop.time()
    except ConnectionError:
        pass  # the client went away; nothing to tell it
    except TimeoutError:
        log.info("event stream client stopped reading; closing its connection")
        transport = request.transport
        if transport is not None:
            # abort, not close: close would wait to flush what the client is not reading.
            transport.abort()
    return response


def _tighten(timeout: asyncio.Timeout, when: float) -> None:
    current = timeout.when()
    if current is None or when < current:
        with contextlib.suppress(RuntimeError):
            timeout.reschedule(when)


def setup_routes(app: web.Application) -> None:
    app.router.add_get(EVENTS_PATH, events_handler, allow_head=False)
