"""Flow control: a client that sends requests but never reads is cut off; nobody else notices."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
import pytest

from sidecar.app import create_app
from sidecar.rpc import CONNECTIONS, METHODS, Context
from sidecar.rpc import connection as connection_module
from sidecar.settings import ServerConfig
from tests.rpc_client import RpcClient

from .conftest import AUTH, TOKEN, ClientFactory

BIG = "x" * 256 * 1024


async def big(ctx: Context, params: dict[str, Any]) -> Any:
    return BIG


async def test_a_client_that_never_reads_is_cut_off(
    aiohttp_client: ClientFactory,
    server_config: ServerConfig,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="sidecar.rpc.connection")
    monkeypatch.setattr(connection_module, "SEND_LIMIT", 8)
    app = create_app(server_config, token=TOKEN)
    app[METHODS].add("test.big", big)
    client = await aiohttp_client(app)
    stuck = await client.ws_connect("/rpc", headers=AUTH)
    healthy = RpcClient(await client.ws_connect("/rpc", headers=AUTH))
    assert len(app[CONNECTIONS]) == 2
    # ~64 MiB of answers the client never reads: socket buffers fill, then the queue.
    for number in range(256):
        request = {"jsonrpc": "2.0", "id": number, "method": "test.big"}
        await stuck.send_str(orjson.dumps(request).decode())
    for _ in range(400):
        if len(app[CONNECTIONS]) == 1:
            break
        await asyncio.sleep(0.05)
    assert len(app[CONNECTIONS]) == 1
    assert any("stopped reading" in r.getMessage() for r in caplog.records)
    # The other client was served all along.
    assert (await healthy.request("conversations.list"))["items"] == []
    await healthy.close()
    await stuck.close()
