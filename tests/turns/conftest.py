"""A real sidecar app (store, hub, turn engine) on loopback, with helpers to drive turns."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from sidecar.api.keys import STORE, TURNS
from sidecar.app import create_app
from sidecar.service.turns import TurnEngine
from sidecar.settings import ServerConfig
from sidecar.store import Store
from tests.http.conftest import AUTH, TOKEN
from tests.sse import frame

Client = TestClient[web.Request, web.Application]


@dataclass
class Sidecar:
    client: Client

    @property
    def store(self) -> Store:
        return self.client.app[STORE]  # type: ignore[index]

    @property
    def engine(self) -> TurnEngine:
        return self.client.app[TURNS]  # type: ignore[index]

    async def call(
        self, method: str, path: str, body: Any = None, status: int | None = None
    ) -> Any:
        response = await self.client.request(method, path, json=body, headers=AUTH)
        text = await response.text()
        if status is not None:
            assert response.status == status, f"{method} {path}: {response.status} {text}"
        return await response.json() if text else None

    async def conversation(self, title: str = "chat") -> str:
        created = await self.call("POST", "/api/v1/conversations", {"title": title}, 201)
        return str(created["id"])

    async def send(self, cid: str, content: str, status: int = 202, **fields: Any) -> Any:
        body = {"content": content, **fields}
        return await self.call(
            "POST", f"/api/v1/conversations/{cid}/actions/send_message", body, status
        )

    async def action(self, cid: str, name: str, body: Any, status: int = 200) -> Any:
        return await self.call("POST", f"/api/v1/conversations/{cid}/actions/{name}", body, status)

    async def get(self, cid: str, **query: Any) -> Any:
        response = await self.client.get(f"/api/v1/conversations/{cid}", params=query, headers=AUTH)
        assert response.status == 200, await response.text()
        return await response.json()

    async def turn(self, cid: str, turn_id: str) -> dict[str, Any]:
        return await self.store.get_turn(cid, turn_id)

    async def wait_state(self, cid: str, turn_id: str, *states: str) -> dict[str, Any]:
        """The turn once it is in one of ``states`` (at most 10 s)."""
        async with asyncio.timeout(10):
            while True:
                turn = await self.turn(cid, turn_id)
                if turn["state"] in states:
                    return turn
                await asyncio.sleep(0.01)

    async def wait_content(self, cid: str, message_id: str, length: int) -> dict[str, Any]:
        """The message once its content has at least ``length`` characters (at most 10 s)."""
        async with asyncio.timeout(10):
            while True:
                message = await self.store.get_message(cid, message_id)
                if len(message["content"]) >= length:
                    return message
                await asyncio.sleep(0.01)

    async def stream(self, query: str = "") -> aiohttp.ClientResponse:
        response = await self.client.get(f"/api/v1/events{query}", headers=AUTH)
        assert response.status == 200
        assert await frame(response) == {"comment": "connected"}
        return response


SidecarFactory = Callable[..., Awaitable[Sidecar]]


async def until(response: aiohttp.ClientResponse, event: str, **match: Any) -> list[dict[str, Any]]:
    """Every event up to and including the first ``event`` whose data has ``match``."""
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(10):
        while True:
            got = await frame(response, within=10)
            if "comment" in got:
                continue
            seen.append(got)
            data = got["data"]
            if got["event"] == event and all(data.get(k) == v for k, v in match.items()):
                return seen


@pytest.fixture
def make_sidecar(
    tmp_path: Path, aiohttp_client: Callable[..., Awaitable[Client]]
) -> SidecarFactory:
    async def make(**settings: Any) -> Sidecar:
        config = ServerConfig(
            data_dir=tmp_path / "data",
            heartbeat_interval=0.2,
            checkpoint_interval=3600,
            echo_delay_ms=settings.pop("echo_delay_ms", 0.0),
            retry_base_delay=settings.pop("retry_base_delay", 0.01),
            **settings,
        )
        return Sidecar(await aiohttp_client(create_app(config, token=TOKEN)))

    return make


__all__ = ["AUTH", "Sidecar", "SidecarFactory"]
