"""What the chat UI's "New chat" and trash rely on, over the real REST and RPC faces."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.rpc_client import RpcClient

from .conftest import AUTH, call

Client = TestClient[web.Request, web.Application]
BASE = "/api/v1/conversations"


async def ids(client: Client, query: str) -> list[str]:
    page = await call(client, "GET", f"{BASE}?{query}", status=200)
    return [item["id"] for item in page["items"]]


async def test_new_chat_finds_an_empty_conversation_to_reuse(client: Client) -> None:
    for cid in ("old-empty", "used", "new-empty"):
        await call(client, "POST", BASE, {"id": cid}, status=201)
    await call(
        client, "POST", f"{BASE}/used/messages", {"role": "user", "content": "hi"}, status=201
    )
    assert await ids(client, "empty=true") == ["new-empty", "old-empty"]
    assert await ids(client, "empty=false") == ["used"]
    assert await ids(client, "empty=any") == await ids(client, "")
    refused = await call(client, "GET", f"{BASE}?empty=maybe", status=422)
    assert refused["error"]["details"]["field"] == "empty"
    rpc = RpcClient(await client.ws_connect("/rpc", headers=AUTH))
    try:
        listed = await rpc.request("conversations.list", {"empty": True})
        assert [item["id"] for item in listed["items"]] == ["new-empty", "old-empty"]
    finally:
        await rpc.close()


async def test_the_trash_lists_archived_ones_too_and_refuses_new_messages(
    client: Client,
) -> None:
    await call(client, "POST", BASE, {"id": "a"}, status=201)
    await call(client, "POST", BASE, {"id": "b"}, status=201)
    await call(client, "PATCH", f"{BASE}/b", {"archived": True}, status=200)
    for cid in ("a", "b"):
        await call(client, "DELETE", f"{BASE}/{cid}", status=204)
    # The trash is every deleted conversation: archived ones need archived=any.
    assert await ids(client, "deleted=true") == ["a"]
    assert sorted(await ids(client, "deleted=true&archived=any")) == ["a", "b"]
    await call(client, "POST", f"{BASE}/a/actions/send_message", {"content": "x"}, status=409)
    await call(client, "POST", f"{BASE}/a/restore", status=200)
    await call(client, "DELETE", f"{BASE}/b?purge=true", status=204)
    assert await ids(client, "deleted=true&archived=any") == []
    assert await ids(client, "") == ["a"]


async def test_health_names_the_provider_for_the_first_use_screen(client: Client) -> None:
    full = await call(client, "GET", "/health", status=200)
    assert full["provider"] == "echo"
    rpc = RpcClient(await client.ws_connect("/rpc", headers=AUTH))
    try:
        assert (await rpc.request("sidecar.health", {}))["provider"] == "echo"
    finally:
        await rpc.close()
