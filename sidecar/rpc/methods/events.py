"""``events.subscribe`` / ``events.unsubscribe``: the SSE stream of CONTRACT §6 as notifications.

The same hub subscription as ``GET /api/v1/events``, so the same replay and resync rules:
``since`` = the ``event_seq`` of a pull replays every later event (nothing missed, nothing
repeated); a ``since`` the hub no longer holds gets ``resync`` first. Each event arrives as
``event {subscription_id, seq, type, data}``, only after the ``events.subscribe`` response.
A ``since`` the hub cannot replay gets ``resync`` first, then live events. A client that falls
behind gets ``resync`` (reason ``overflow``) as the subscription's last event, as every client gets
``server.shutdown`` at a graceful exit: the subscription is then gone, and the client pulls and
subscribes again. A client may hold several subscriptions (e.g. one per open conversation).
"""

from __future__ import annotations

from typing import Any

from ...api.keys import TURNS
from ..params import Params
from ..registry import Context, MethodTable

#: Seqs are 64-bit on the wire (the SSE ``id`` allows 20 digits; JSON numbers stop earlier).
MAX_SEQ = 2**63 - 1


async def subscribe(ctx: Context, params: dict[str, Any]) -> Any:
    p = Params(params, frozenset({"conversation_id", "since"}))
    conversation_id = p.optional_id("conversation_id")
    since = p.optional_integer("since", 0, MAX_SEQ)
    connection = ctx.connection
    subscription = ctx.hub.subscribe(conversation_id, since)
    last_seq = ctx.hub.last_seq
    subscription_id = connection.add_subscription(subscription)

    def after(ok: bool) -> None:
        if ok:
            connection.start(subscription_id)
            announce_pending_turns(ctx, conversation_id)
        else:
            connection.unsubscribe(subscription_id)

    ctx.after_response(after)
    return {"subscription_id": subscription_id, "last_seq": last_seq}


def announce_pending_turns(ctx: Context, conversation_id: str | None) -> None:
    """A client that subscribes late (a window that was reloading) still hears of the turns no
    one has claimed yet: ``turn.requested`` for each, as the broadcast would have sent it."""
    engine = ctx.app.get(TURNS)
    if engine is None or engine.broker is None:
        return
    for announcement in engine.broker.pending():
        if conversation_id in (None, announcement["conversation_id"]):
            ctx.connection.notify("turn.requested", announcement)


async def unsubscribe(ctx: Context, params: dict[str, Any]) -> Any:
    """``{"unsubscribed": false}`` when it had already ended (after ``resync``): not an error."""
    p = Params(params, frozenset({"subscription_id"}))
    return {"unsubscribed": ctx.connection.unsubscribe(p.id("subscription_id"))}


def register(table: MethodTable) -> None:
    table.add("events.subscribe", subscribe)
    table.add("events.unsubscribe", unsubscribe)
