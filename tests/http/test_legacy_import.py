"""``POST /api/v1/legacy-import`` and ``legacy.import``: a webview's old localStorage, once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.http.conftest import AUTH, call
from tests.migrate.conftest import FIXTURES
from tests.rpc_client import RpcClient

Client = TestClient[web.Request, web.Application]


def envelope(items: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "localstorage-export",
        "version": 1,
        "origin": "vscode-webview://panel",
        "exported_at": "2026-12-01T08:00:00.000Z",
        "items": items,
    }


def navi_storage() -> dict[str, Any]:
    storage = orjson.loads((FIXTURES / "navi-export.json").read_bytes())
    return {**storage, "theme": "dark"}  # an unrelated key, as real storage has


async def test_storage_is_saved_and_imported_once(client: Client, tmp_path: Path) -> None:
    first = await call(
        client, "POST", "/api/v1/legacy-import", envelope(navi_storage()), status=200
    )
    assert first["imported"] is True and first["created"] and first["messages"] > 0
    saved = tmp_path / "data" / first["saved"]
    assert saved.is_file() and saved.stat().st_mode & 0o777 == 0o600
    report = tmp_path / "data" / "migrations" / first["run_id"] / "report.json"
    assert orjson.loads(report.read_bytes())["conversations"]["created"] == first["created"]
    listed = await call(client, "GET", "/api/v1/conversations?limit=500&archived=any", status=200)
    ids = {item["id"] for item in listed["items"]}
    assert set(first["created"]) <= ids
    one = await call(client, "GET", f"/api/v1/conversations/{first['created'][0]}", status=200)
    assert one["source"]["kind"] == "migration" and one["source"]["format"] == "navi"
    again = await call(
        client, "POST", "/api/v1/legacy-import", envelope(navi_storage()), status=200
    )
    assert again["created"] == [] and again["merged"] == []
    assert sorted(again["unchanged"]) == sorted(first["created"])


async def test_storage_without_chats_is_not_kept(client: Client, tmp_path: Path) -> None:
    answer = await call(
        client, "POST", "/api/v1/legacy-import", envelope({"theme": "dark"}), status=200
    )
    assert answer["imported"] is False and "no known" in answer["reason"]
    assert not list((tmp_path / "data" / "legacy-exports").iterdir())


async def test_bad_envelopes_name_the_field_and_change_nothing(client: Client) -> None:
    bad_kind = {**envelope({}), "kind": "cookies"}
    refused = await call(client, "POST", "/api/v1/legacy-import", bad_kind, status=422)
    assert refused["error"]["details"]["field"] == "kind"
    no_items = {**envelope({}), "items": ["a"]}
    refused = await call(client, "POST", "/api/v1/legacy-import", no_items, status=422)
    assert refused["error"]["details"]["field"] == "items"
    listed = await call(client, "GET", "/api/v1/conversations", status=200)
    assert listed["items"] == []


async def test_the_rpc_twin_imports_the_same_way(client: Client) -> None:
    rpc = RpcClient(await client.ws_connect("/rpc", headers=AUTH))
    try:
        answer = await rpc.request("legacy.import", envelope(navi_storage()))
        assert answer["imported"] is True and answer["created"]
    finally:
        await rpc.close()
