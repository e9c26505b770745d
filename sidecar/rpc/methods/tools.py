"""``tools.register`` (CONTRACT §4): a client declares the tools it runs (``tools.list`` comes from
the table of operations).

A connection's declaration replaces its previous one and lasts until the connection closes, so a
webview that reloads (and reconnects) declares again and a client that dies leaves nothing behind:
a call to one of its tools then fails at once as ``unknown tool``.
"""

from __future__ import annotations

from typing import Any

from ...api.answers import tools_body
from ...api.keys import TURNS
from ..connection import Connection
from ..params import Params
from ..registry import Context, MethodTable

DECLARED = "tools.declared"


async def register_tools(ctx: Context, params: dict[str, Any]) -> Any:
    p = Params(params, frozenset({"tools"}))
    registry = ctx.app[TURNS].tools
    connection = ctx.connection
    client = f"rpc-{connection.number}"
    if connection.closed:
        # The client left before this ran (its close callbacks are done): keep nothing.
        return tools_body(ctx.app)
    registry.register(client, p.required("tools"))
    if DECLARED not in connection.state:
        connection.state[DECLARED] = client

        def gone(closed: Connection) -> None:
            registry.unregister(client)

        connection.add_close_callback(gone)
    return tools_body(ctx.app)


def register(table: MethodTable) -> None:
    table.add("tools.register", register_tools, cancellable=False)
