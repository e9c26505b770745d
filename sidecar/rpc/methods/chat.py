"""``turns.*``: the ``external`` provider's methods (§7), over the same turn engine as REST. (The
action API ``chat.*`` comes from the table of operations, :mod:`sidecar.api.table`.)

A client that claims a turn is remembered on its connection; when it disconnects, the broker
fails its unfinished turns as transient (so they are retried and announced again).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ...api.keys import TURNS
from ...providers.external import ExternalBroker
from ...service.turns import TurnEngine
from ...store import NotFound
from ..connection import CONNECTIONS, Connection
from ..params import Params
from ..registry import Context, MethodTable

ID = frozenset({"conversation_id"})
CLAIMER = "chat.claimer"


def _engine(ctx: Context) -> TurnEngine:
    return ctx.app[TURNS]


def _broker(ctx: Context) -> ExternalBroker:
    broker = _engine(ctx).broker
    if broker is None:
        raise NotFound("this sidecar has no external provider")
    return broker


def _claimer(ctx: Context) -> str:
    """This connection's name as a claimer; the first claim arranges the disconnect cleanup."""
    connection = ctx.connection
    if CLAIMER not in connection.state:
        connection.state[CLAIMER] = f"rpc-{connection.number}"
        broker = _broker(ctx)

        def gone(closed: Connection) -> None:
            broker.client_gone(closed.state[CLAIMER])

        connection.add_close_callback(gone)
    return str(connection.state[CLAIMER])


async def claim(ctx: Context, params: dict[str, Any]) -> Any:
    p = Params(params, frozenset({"turn_id"}))
    return _broker(ctx).claim(p.id("turn_id"), _claimer(ctx))


async def push_delta(ctx: Context, params: dict[str, Any]) -> Any:
    p = Params(params, frozenset({"turn_id", "text"}))
    _broker(ctx).push_delta(p.id("turn_id"), _claimer(ctx), p.required("text"))
    return {"ok": True}


async def propose_tools(ctx: Context, params: dict[str, Any]) -> Any:
    p = Params(params, frozenset({"turn_id", "tool_calls"}))
    _broker(ctx).propose_tools(p.id("turn_id"), _claimer(ctx), p.required("tool_calls"))
    return {"ok": True}


async def complete(ctx: Context, params: dict[str, Any]) -> Any:
    p = Params(params, frozenset({"turn_id"}))
    _broker(ctx).complete(p.id("turn_id"), _claimer(ctx))
    return {"ok": True}


async def fail(ctx: Context, params: dict[str, Any]) -> Any:
    p = Params(params, frozenset({"turn_id", "transient", "message"}))
    message = p.text("message") or "the client could not write the reply"
    _broker(ctx).fail(
        p.id("turn_id"), _claimer(ctx), message[:1000], transient=p.boolean("transient", True)
    )
    return {"ok": True}


async def submit_tool_results(ctx: Context, params: dict[str, Any]) -> Any:
    p = Params(params, frozenset({"turn_id", "results"}))
    return await _engine(ctx).submit_tool_results(p.id("turn_id"), p.required("results"))


def announce_turns(app: web.Application) -> None:
    """Send ``turn.requested`` to the RPC clients subscribed to the turn's conversation."""
    engine = app[TURNS]
    if engine.broker is None or CONNECTIONS not in app:
        return
    connections = app[CONNECTIONS]
    engine.broker.on_request(
        lambda request: connections.broadcast(
            "turn.requested", request, conversation_id=request["conversation_id"]
        )
    )


def register(table: MethodTable) -> None:
    table.add("turns.claim", claim, cancellable=False)
    table.add("turns.pushDelta", push_delta, cancellable=False)
    table.add("turns.proposeTools", propose_tools, cancellable=False)
    table.add("turns.complete", complete, cancellable=False)
    table.add("turns.fail", fail, cancellable=False)
    table.add("turns.submitToolResults", submit_tool_results, cancellable=False)
