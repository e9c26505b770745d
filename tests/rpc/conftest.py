"""A real sidecar app on loopback (aiohttp's test server, real store in a temp dir) and RPC
clients connected to its ``/rpc`` WebSocket."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from sidecar.app import create_app
from sidecar.settings import ServerConfig
from tests.rpc_client import RpcClient

TOKEN = "rpc-test-token-0123456789abcdef0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

Client = TestClient[web.Request, web.Application]
ClientFactory = Callable[..., Awaitable[Client]]
Connect = Callable[..., Awaitable[RpcClient]]


@pytest.fixture
def server_config(tmp_path: Path) -> ServerConfig:
    return ServerConfig(
        data_dir=tmp_path / "data", heartbeat_interval=0.2, checkpoint_interval=3600
    )


@pytest.fixture
async def client(aiohttp_client: ClientFactory, server_config: ServerConfig) -> Client:
    return await aiohttp_client(create_app(server_config, token=TOKEN))


@pytest.fixture
async def connect(client: Client) -> AsyncIterator[Connect]:
    """Open an RPC connection to the app (authenticated unless told otherwise)."""
    opened: list[RpcClient] = []

    async def open_one(headers: dict[str, str] | None = None) -> RpcClient:
        ws = await client.ws_connect("/rpc", headers=AUTH if headers is None else headers)
        rpc = RpcClient(ws)
        opened.append(rpc)
        return rpc

    yield open_one
    for rpc in opened:
        await rpc.close()


@pytest.fixture
async def rpc(connect: Connect) -> RpcClient:
    return await connect()
