"""A real sidecar app on loopback (aiohttp's test server) with a real store in a temp dir."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from sidecar.app import create_app
from sidecar.settings import ServerConfig

TOKEN = "test-token-0123456789abcdef0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

ClientFactory = Callable[..., Awaitable[TestClient[web.Request, web.Application]]]


@pytest.fixture
def server_config(tmp_path: Path) -> ServerConfig:
    return ServerConfig(
        data_dir=tmp_path / "data", heartbeat_interval=0.2, checkpoint_interval=3600
    )


@pytest.fixture
async def client(
    aiohttp_client: ClientFactory, server_config: ServerConfig
) -> TestClient[web.Request, web.Application]:
    return await aiohttp_client(create_app(server_config, token=TOKEN))


async def call(
    client: TestClient[web.Request, web.Application],
    method: str,
    path: str,
    body: Any = None,
    *,
    status: int | None = None,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> Any:
    """One authenticated JSON request; asserts the status when given; returns the JSON body."""
    response = await client.request(
        method, path, json=body, headers={**AUTH, **(headers or {})}, **kwargs
    )
    text = await response.text()
    if status is not None:
        assert response.status == status, f"{method} {path}: {response.status} {text}"
    return await response.json() if text else None
