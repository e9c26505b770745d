"""``request_id`` over REST (CONTRACT §4): same fields → 200 with the existing result; different
fields → 409 ``conflict`` with ``details.existing``; never run twice."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient

from .conftest import call

Client = TestClient[web.Request, web.Application]
BASE = "/api/v1/conversations"


async def test_patch_conversation_retry_and_clash(client: Client) -> None:
    await call(client, "POST", BASE, {"id": "c", "title": "a"}, status=201)
    first = await call(client, "PATCH", f"{BASE}/c", {"title": "b", "request_id": "r"}, status=200)
    retry = await call(
        client,
        "PATCH",
        f"{BASE}/c",
        {"title": "b", "request_id": "r"},
        headers={"If-Match": str(first["revision"] - 1)},  # the retry's If-Match is stale now
        status=200,
    )
    assert retry == first
    clash = await call(client, "PATCH", f"{BASE}/c", {"title": "z", "request_id": "r"}, status=409)
    assert clash["error"]["code"] == "conflict"
    assert clash["error"]["details"]["existing"]["title"] == "b"
    bad = await call(client, "PATCH", f"{BASE}/c", {"title": "z", "request_id": "a b"}, status=422)
    assert bad["error"]["details"]["field"] == "request_id"


async def test_trash_restore_message_and_branch_requests(client: Client) -> None:
    await call(client, "POST", BASE, {"id": "c"}, status=201)
    m1 = await call(client, "POST", f"{BASE}/c/messages", {"role": "user", "content": "hi"})
    await call(client, "DELETE", f"{BASE}/c?request_id=d1", status=204)
    await call(client, "POST", f"{BASE}/c/restore", {"request_id": "u1"}, status=200)
    await call(client, "DELETE", f"{BASE}/c?request_id=d1", status=204)  # a late retry
    assert (await call(client, "GET", f"{BASE}/c"))["deleted_at"] is None
    clash = await call(client, "POST", f"{BASE}/c/restore", {"request_id": "d1"}, status=409)
    assert clash["error"]["details"]["existing"]["id"] == "c"

    path = f"{BASE}/c/messages/{m1['id']}"
    edited = await call(client, "PATCH", path, {"content": "hey", "request_id": "e"}, status=200)
    assert await call(client, "PATCH", path, {"content": "hey", "request_id": "e"}) == edited
    clash = await call(client, "PATCH", path, {"content": "yo", "request_id": "e"}, status=409)
    assert clash["error"]["details"]["existing"]["content"] == "hey"

    body = {"from_message_id": m1["id"], "request_id": "b"}
    branch = await call(client, "POST", f"{BASE}/c/branches", body, status=201)
    assert await call(client, "POST", f"{BASE}/c/branches", body, status=200) == branch
    assert len(await call(client, "GET", f"{BASE}/c/branches")) == 2
    switch = f"{BASE}/c/branches/{branch['name']}"
    switched = await call(client, "PUT", switch, {"request_id": "s"}, status=200)
    assert await call(client, "PUT", switch, {"request_id": "s"}, status=200) == switched
    clash = await call(client, "PUT", f"{BASE}/c/branches/main", {"request_id": "s"}, status=409)
    assert clash["error"]["details"]["existing"]["active_branch"] == branch["name"]
