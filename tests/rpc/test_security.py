"""CONTRACT §2 on ``/rpc``: the token (header or ``?access_token=``), Host and Origin are checked
before the upgrade, so a refused client never gets a WebSocket."""

from __future__ import annotations

import aiohttp
import pytest

from tests.rpc_client import RpcClient

from .conftest import AUTH, TOKEN, Client


async def refused(client: Client, path: str, headers: dict[str, str]) -> int:
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await client.ws_connect(path, headers=headers)
    return caught.value.status


async def test_no_token_or_a_wrong_one_is_401_before_the_upgrade(client: Client) -> None:
    assert await refused(client, "/rpc", {}) == 401
    assert await refused(client, "/rpc", {"Authorization": "Bearer wrong"}) == 401
    assert await refused(client, "/rpc?access_token=wrong", {}) == 401
    assert await refused(client, "/rpc", {"Authorization": f"Basic {TOKEN}"}) == 401
    # The refusal is the §3 error body, not an upgrade.
    response = await client.get("/rpc", headers={"Upgrade": "websocket", "Connection": "Upgrade"})
    assert response.status == 401
    assert (await response.json())["error"]["code"] == "unauthorized"


async def test_the_token_may_come_in_the_query(client: Client) -> None:
    rpc = RpcClient(await client.ws_connect(f"/rpc?access_token={TOKEN}"))
    try:
        assert (await rpc.request("sidecar.health"))["status"] == "ok"
    finally:
        await rpc.close()


async def test_foreign_origin_and_host_are_403(client: Client) -> None:
    evil = {**AUTH, "Origin": "https://attacker.example"}
    assert await refused(client, "/rpc", evil) == 403
    assert await refused(client, f"/rpc?access_token={TOKEN}", {"Origin": "null"}) == 403
    assert await refused(client, "/rpc", {**AUTH, "Host": "attacker.example:80"}) == 403


async def test_webview_and_own_origins_are_allowed(client: Client) -> None:
    port = client.port
    for origin in ("vscode-webview://abc123", f"http://127.0.0.1:{port}"):
        rpc = RpcClient(await client.ws_connect("/rpc", headers={**AUTH, "Origin": origin}))
        try:
            assert (await rpc.request("conversations.list"))["items"] == []
        finally:
            await rpc.close()


async def test_a_plain_get_is_a_400_not_a_crash(client: Client) -> None:
    response = await client.get("/rpc", headers=AUTH)
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "bad_request"
    response = await client.post("/rpc", headers=AUTH)
    assert response.status == 400  # 405 answered as bad_request, as on every route
