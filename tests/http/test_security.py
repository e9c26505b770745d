"""Every refusal of CONTRACT §2, in the §3 error shape, and that a refused request changes nothing."""

from __future__ import annotations

import errno
import os

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from sidecar.app import create_app
from sidecar.settings import ServerConfig

from .conftest import AUTH, TOKEN, ClientFactory, call

Client = TestClient[web.Request, web.Application]


def assert_error(body: dict[str, object], code: str) -> None:
    assert set(body) == {"error"}
    error = body["error"]
    assert isinstance(error, dict) and error["code"] == code
    assert isinstance(error["message"], str) and isinstance(error["details"], dict)


async def test_token_is_required_everywhere(client: Client) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        response = await client.get("/api/v1/conversations", headers=headers)
        assert response.status == 401
        assert_error(await response.json(), "unauthorized")
    response = await client.get("/api/v1/conversations", headers=AUTH)
    assert response.status == 200


async def test_query_token_only_where_a_browser_cannot_set_a_header(client: Client) -> None:
    response = await client.get(f"/api/v1/conversations?access_token={TOKEN}")
    assert response.status == 401
    response = await client.get(f"/api/v1/events?access_token={TOKEN}")
    assert response.status == 200
    response.close()


async def test_health_without_token_says_only_the_status(client: Client) -> None:
    response = await client.get("/health")
    assert response.status == 200 and await response.json() == {"status": "ok"}
    full = await call(client, "GET", "/health", status=200)
    assert full["status"] == "ok" and full["pid"] == os.getpid()
    assert set(full["store"]) == {"conversations", "messages", "writable", "quarantined"}
    assert set(full["clients"]) == {"event_streams", "rpc"}
    assert full["version"] and full["uptime_s"] >= 0 and full["data_dir"]


async def test_host_header_must_name_us(client: Client) -> None:
    port = client.port
    for host in (f"evil.example:{port}", "127.0.0.1", f"127.0.0.1:{port + 1}", f"::1:{port}"):
        response = await client.get("/api/v1/conversations", headers={**AUTH, "Host": host})
        assert response.status == 403, host
        assert_error(await response.json(), "forbidden")
    for host in (f"localhost:{port}", f"127.0.0.1:{port}"):
        response = await client.get("/api/v1/conversations", headers={**AUTH, "Host": host})
        assert response.status == 200, host
    response = await client.get("/health", headers={"Host": f"rebind.example:{port}"})
    assert response.status == 403


async def test_origin_allow_list_and_cors(client: Client) -> None:
    response = await client.get(
        "/api/v1/conversations", headers={**AUTH, "Origin": "https://evil.example"}
    )
    assert response.status == 403
    assert_error(await response.json(), "forbidden")
    webview = "vscode-webview://1234abcd"
    response = await client.get("/api/v1/conversations", headers={**AUTH, "Origin": webview})
    assert response.status == 200
    assert response.headers["Access-Control-Allow-Origin"] == webview
    own = f"http://127.0.0.1:{client.port}"
    response = await client.get("/api/v1/conversations", headers={**AUTH, "Origin": own})
    assert response.status == 200
    preflight = await client.options(
        "/api/v1/conversations",
        headers={"Origin": webview, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status == 204
    allowed = preflight.headers["Access-Control-Allow-Headers"].split(", ")
    assert {"Authorization", "Content-Type", "If-Match", "Last-Event-ID"} <= set(allowed)
    assert "*" not in preflight.headers["Access-Control-Allow-Origin"]


async def test_extra_origins_come_from_settings(
    aiohttp_client: ClientFactory, server_config: ServerConfig
) -> None:
    config = ServerConfig(data_dir=server_config.data_dir, allow_origin=("http://127.0.0.1:9999",))
    client = await aiohttp_client(create_app(config, token=TOKEN))
    response = await client.get(
        "/api/v1/conversations", headers={**AUTH, "Origin": "http://127.0.0.1:9999"}
    )
    assert response.status == 200


async def test_bodies_are_limited_typed_and_validated(
    aiohttp_client: ClientFactory, server_config: ServerConfig
) -> None:
    config = ServerConfig(data_dir=server_config.data_dir, max_body_bytes=1024)
    client = await aiohttp_client(create_app(config, token=TOKEN))
    path = "/api/v1/conversations"
    response = await client.post(path, json={"title": "x" * 2000}, headers=AUTH)
    assert response.status == 413
    assert_error(await response.json(), "payload_too_large")
    response = await client.post(path, data="title=x", headers=AUTH)
    assert response.status == 415
    assert_error(await response.json(), "unsupported_media_type")
    response = await client.post(
        path, data="{not json", headers={**AUTH, "Content-Type": "application/json"}
    )
    assert response.status == 400
    assert_error(await response.json(), "bad_request")
    body = await call(client, "POST", path, [1, 2], status=422)
    assert body["error"]["details"]["field"] == "body"
    body = await call(client, "POST", path, {"titel": "typo"}, status=422)
    assert body["error"]["details"]["field"] == "titel"
    body = await call(client, "POST", path, {"id": "../../etc"}, status=422)
    assert body["error"]["details"]["field"] == "id"
    body = await call(client, "GET", "/api/v1/conversations/bad.id", status=422)
    assert body["error"]["details"]["field"] == "conversation_id"
    assert (await call(client, "GET", path, status=200))["items"] == []


async def test_unknown_routes_and_methods_answer_in_the_error_shape(client: Client) -> None:
    assert_error(await call(client, "GET", "/api/v1/nothing", status=404), "not_found")
    assert_error(await call(client, "PUT", "/api/v1/conversations", status=400), "bad_request")


async def test_a_disk_that_refuses_writes_gives_503_and_reads_keep_working(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    await call(client, "POST", "/api/v1/conversations", {"id": "c"}, status=201)

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    real = os.fdatasync
    monkeypatch.setattr(os, "fdatasync", full)
    body = await call(
        client,
        "POST",
        "/api/v1/conversations/c/messages",
        {"role": "user", "content": "x"},
        status=503,
    )
    assert_error(body, "unavailable")
    assert (await call(client, "GET", "/api/v1/conversations/c", status=200))["messages"] == []
    assert (await client.get("/health")).status == 200
    assert (await call(client, "GET", "/health"))["status"] == "degraded"
    monkeypatch.setattr(os, "fdatasync", real)
    await call(
        client,
        "POST",
        "/api/v1/conversations/c/messages",
        {"role": "user", "content": "y"},
        status=201,
    )
    assert (await call(client, "GET", "/health"))["status"] == "ok"
