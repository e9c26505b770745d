"""The extension points other areas build on: the method table, per-connection notifications and
state, broadcasts to subscribed clients, close callbacks; and the frame-size limit."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest
from aiohttp import WSCloseCode, web

from sidecar.app import create_app
from sidecar.rpc import CONNECTIONS, METHODS, Context, MethodTable
from sidecar.settings import ServerConfig
from tests.rpc_client import RpcClient

from .conftest import AUTH, TOKEN, ClientFactory

CLOSED = web.AppKey("test_closed", list)


async def noop(ctx: Context, params: dict[str, Any]) -> Any:
    return None


def test_the_table_refuses_duplicates_and_reserved_names() -> None:
    table = MethodTable()
    table.add("area.verb", noop)
    with pytest.raises(ValueError, match="twice"):
        table.add("area.verb", noop)
    for name in ("", "rpc.discover", "$/cancelRequest"):
        with pytest.raises(ValueError):
            table.add(name, noop)

    @table.method("area.other", cancellable=False)
    async def other(ctx: Context, params: dict[str, Any]) -> Any:
        return 1

    method = table.get("area.other")
    assert method is not None and method.handler is other and method.cancellable is False
    assert table.names() == ["area.other", "area.verb"] and "area.verb" in table


async def test_notify_broadcast_state_and_close_callbacks(
    aiohttp_client: ClientFactory, server_config: ServerConfig
) -> None:
    app = create_app(server_config, token=TOKEN)
    app[CLOSED] = []

    async def hello(ctx: Context, params: dict[str, Any]) -> Any:
        ctx.connection.state["name"] = params["name"]
        ctx.connection.add_close_callback(
            lambda connection: connection.app[CLOSED].append(connection.state["name"])
        )
        # A notification to this client only, sent after the response.
        ctx.after_response(lambda ok: ctx.connection.notify("test.welcome", {"ok": ok}))
        return "hi"

    async def shout(ctx: Context, params: dict[str, Any]) -> Any:
        return ctx.app[CONNECTIONS].broadcast(
            "test.shout", {"text": params["text"]}, conversation_id=params.get("conversation_id")
        )

    app[METHODS].add("test.hello", hello)
    app[METHODS].add("test.shout", shout)
    client = await aiohttp_client(app)

    async def connected(name: str) -> RpcClient:
        rpc = RpcClient(await client.ws_connect("/rpc", headers=AUTH))
        assert await rpc.request("test.hello", {"name": name}) == "hi"
        assert await rpc.notification("test.welcome") == {"ok": True}
        return rpc

    everything, only_c, silent = [await connected(n) for n in ("all", "c", "none")]
    await everything.request("events.subscribe")
    await only_c.request("events.subscribe", {"conversation_id": "c"})

    # Only clients whose subscription covers the conversation hear it.
    assert await silent.request("test.shout", {"text": "t1", "conversation_id": "d"}) == 1
    assert await everything.notification("test.shout") == {"text": "t1"}
    assert await silent.request("test.shout", {"text": "t2", "conversation_id": "c"}) == 2
    assert await everything.notification("test.shout") == {"text": "t2"}
    assert await only_c.notification("test.shout") == {"text": "t2"}
    assert await silent.request("test.shout", {"text": "t3"}) == 2
    assert silent.notifications.empty()

    assert len(app[CONNECTIONS]) == 3
    await only_c.close()
    for _ in range(100):
        if app[CLOSED]:
            break
        await asyncio.sleep(0.02)
    assert app[CLOSED] == ["c"]
    assert await silent.request("test.shout", {"text": "t4", "conversation_id": "c"}) == 1
    await everything.close()
    await silent.close()


async def test_a_frame_over_the_body_limit_closes_with_1009(
    aiohttp_client: ClientFactory, server_config: ServerConfig
) -> None:
    config = dataclasses.replace(server_config, max_body_bytes=4096)
    client = await aiohttp_client(create_app(config, token=TOKEN))
    rpc = RpcClient(await client.ws_connect("/rpc", headers=AUTH))
    big = {"id": "c", "title": "x", "metadata": {"blob": "y" * 8192}}
    with pytest.raises(ConnectionError):
        await rpc.request("conversations.create", big)
    assert rpc.close_code == WSCloseCode.MESSAGE_TOO_BIG
    # Nothing was written.
    rpc = RpcClient(await client.ws_connect("/rpc", headers=AUTH))
    assert (await rpc.request("conversations.list"))["items"] == []
    await rpc.close()
