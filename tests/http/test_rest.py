"""REST v1 (CONTRACT §5): every row in scope, with cursors, event_seq, If-Match and idempotency."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient

from sidecar.api.keys import HUB

from .conftest import call

Client = TestClient[web.Request, web.Application]
BASE = "/api/v1/conversations"


async def test_create_is_idempotent_by_client_id(client: Client) -> None:
    created = await call(
        client, "POST", BASE, {"id": "c1", "title": "t", "tags": ["x"]}, status=201
    )
    assert created["id"] == "c1" and created["revision"] == 1
    again = await call(client, "POST", BASE, {"id": "c1", "title": "t", "tags": ["x"]}, status=200)
    assert again == created
    clash = await call(client, "POST", BASE, {"id": "c1", "title": "other"}, status=409)
    assert clash["error"]["code"] == "conflict"
    assert clash["error"]["details"]["existing"]["id"] == "c1"
    server_made = await call(client, "POST", BASE, {}, status=201)
    assert len(server_made["id"]) == 26


async def test_list_filters_pages_and_carries_event_seq(client: Client) -> None:
    for i in range(7):
        await call(client, "POST", BASE, {"id": f"c{i}", "title": f"chat {i}"}, status=201)
    await call(client, "PATCH", f"{BASE}/c2", {"pinned": True}, status=200)
    await call(client, "PATCH", f"{BASE}/c3", {"archived": True, "starred": True}, status=200)
    first = await call(client, "GET", f"{BASE}?limit=3", status=200)
    assert first["event_seq"] == client.app[HUB].last_seq
    assert [c["id"] for c in first["items"]] == ["c2", "c6", "c5"]
    second = await call(client, "GET", f"{BASE}?limit=3&cursor={first['next_cursor']}", status=200)
    assert [c["id"] for c in second["items"]] == ["c4", "c1", "c0"]
    assert second["next_cursor"] is None
    archived = await call(client, "GET", f"{BASE}?archived=true", status=200)
    assert [c["id"] for c in archived["items"]] == ["c3"]
    starred = await call(client, "GET", f"{BASE}?archived=any&starred=true", status=200)
    assert [c["id"] for c in starred["items"]] == ["c3"]
    found = await call(client, "GET", f"{BASE}?q=CHAT%205", status=200)
    assert [c["id"] for c in found["items"]] == ["c5"]
    bad = await call(client, "GET", f"{BASE}?archived=maybe", status=422)
    assert bad["error"]["details"]["field"] == "archived"
    bad = await call(client, "GET", f"{BASE}?limit=0", status=422)
    assert bad["error"]["details"]["field"] == "limit"
    bad = await call(client, "GET", f"{BASE}?cursor=zzz", status=422)
    assert bad["error"]["details"]["field"] == "cursor"


async def test_get_conversation_pages_its_active_branch(client: Client) -> None:
    await call(client, "POST", BASE, {"id": "c"}, status=201)
    for i in range(60):
        await call(
            client, "POST", f"{BASE}/c/messages", {"role": "user", "content": str(i)}, status=201
        )
    page = await call(client, "GET", f"{BASE}/c", status=200)
    assert page["message_count"] == 60 and page["has_more"] is True
    assert [m["content"] for m in page["messages"]] == [str(i) for i in range(10, 60)]
    assert page["event_seq"] == client.app[HUB].last_seq
    older = await call(client, "GET", f"{BASE}/c?limit=20&before={page['messages'][0]['id']}")
    assert [m["content"] for m in older["messages"]] == [str(i) for i in range(10)]
    assert older["has_more"] is False
    listed = await call(client, "GET", f"{BASE}/c/messages?limit=5", status=200)
    assert [m["content"] for m in listed["items"]] == ["55", "56", "57", "58", "59"]
    after = await call(client, "GET", f"{BASE}/c/messages?limit=2&after={listed['items'][0]['id']}")
    assert [m["content"] for m in after["items"]] == ["56", "57"] and after["has_more"]
    missing = await call(client, "GET", f"{BASE}/nope", status=404)
    assert missing["error"]["code"] == "not_found" and "nope" in missing["error"]["message"]


async def test_patch_with_if_match(client: Client) -> None:
    await call(client, "POST", BASE, {"id": "c", "title": "a"}, status=201)
    renamed = await call(client, "PATCH", f"{BASE}/c", {"title": "b"}, headers={"If-Match": "1"})
    assert renamed["title"] == "b" and renamed["revision"] == 2
    stale = await call(
        client, "PATCH", f"{BASE}/c", {"title": "c"}, headers={"If-Match": "1"}, status=409
    )
    assert stale["error"]["details"] == {"revision": 2}
    bad = await call(
        client, "PATCH", f"{BASE}/c", {"title": "c"}, headers={"If-Match": "x"}, status=422
    )
    assert bad["error"]["details"]["field"] == "If-Match"
    refused = await call(client, "PATCH", f"{BASE}/c", {"revision": 7}, status=422)
    assert refused["error"]["details"]["field"] == "revision"
    assert (await call(client, "GET", f"{BASE}/c"))["revision"] == 2


async def test_trash_restore_purge(client: Client) -> None:
    await call(client, "POST", BASE, {"id": "c"}, status=201)
    await call(client, "DELETE", f"{BASE}/c", status=204)
    assert (await call(client, "GET", BASE))["items"] == []
    trash = await call(client, "GET", f"{BASE}?deleted=true")
    assert [c["id"] for c in trash["items"]] == ["c"] and trash["items"][0]["deleted_at"]
    restored = await call(client, "POST", f"{BASE}/c/restore", status=200)
    assert restored["deleted_at"] is None
    await call(client, "DELETE", f"{BASE}/c?purge=true", status=204)
    await call(client, "GET", f"{BASE}/c", status=404)
    await call(client, "DELETE", f"{BASE}/c?purge=true", status=204)
    reserved = await call(client, "POST", BASE, {"id": "c"}, status=409)
    assert reserved["error"]["code"] == "conflict"


async def test_messages_append_patch_and_idempotency(client: Client) -> None:
    await call(client, "POST", BASE, {"id": "c"}, status=201)
    body = {"role": "user", "content": "hi", "client_message_id": "m1"}
    sent = await call(client, "POST", f"{BASE}/c/messages", body, status=201)
    assert sent["status"] == "complete" and sent["client_message_id"] == "m1"
    assert await call(client, "POST", f"{BASE}/c/messages", body, status=200) == sent
    clash = await call(client, "POST", f"{BASE}/c/messages", {**body, "content": "ho"}, status=409)
    assert clash["error"]["details"]["existing"]["id"] == sent["id"]
    edited = await call(client, "PATCH", f"{BASE}/c/messages/{sent['id']}", {"content": "hey"})
    assert edited["content"] == "hey"
    bad = await call(
        client, "POST", f"{BASE}/c/messages", {"role": "robot", "content": "x"}, status=422
    )
    assert bad["error"]["details"]["field"] == "role"
    await call(client, "PATCH", f"{BASE}/c/messages/nope", {"content": "x"}, status=404)
    await call(
        client, "POST", f"{BASE}/missing/messages", {"role": "user", "content": "x"}, status=404
    )


async def test_branches_rows(client: Client) -> None:
    await call(client, "POST", BASE, {"id": "c"}, status=201)
    a = await call(
        client, "POST", f"{BASE}/c/messages", {"role": "user", "content": "a"}, status=201
    )
    b = await call(client, "POST", f"{BASE}/c/messages", {"role": "assistant", "content": "b"})
    edit = {"role": "user", "content": "a2", "parent_id": None}
    await call(client, "POST", f"{BASE}/c/messages", edit, status=201)
    branches = await call(client, "GET", f"{BASE}/c/branches", status=200)
    assert {br["name"]: br["active"] for br in branches} == {"main": False, "branch-1": True}
    made = await call(
        client, "POST", f"{BASE}/c/branches", {"from_message_id": a["id"], "name": "x"}, status=201
    )
    assert made == {"name": "x", "head_message_id": a["id"], "active": False}
    again = await call(
        client, "POST", f"{BASE}/c/branches", {"from_message_id": a["id"], "name": "x"}, status=200
    )
    assert again == made
    await call(
        client, "POST", f"{BASE}/c/branches", {"from_message_id": b["id"], "name": "x"}, status=409
    )
    switched = await call(client, "PUT", f"{BASE}/c/branches/main", status=200)
    assert switched["active_branch"] == "main" and switched["message_count"] == 2
    page = await call(client, "GET", f"{BASE}/c/messages?branch=x")
    assert [m["content"] for m in page["items"]] == ["a"]
    await call(client, "PUT", f"{BASE}/c/branches/nope", status=404)
