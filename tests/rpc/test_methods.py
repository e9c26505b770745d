"""Every JSON-RPC method of CONTRACT §7 against the real app, checked against its REST twin."""

from __future__ import annotations

from typing import Any

import pytest

from sidecar.rpc.methods import default_methods
from tests.rpc_client import RpcCallError, RpcClient

from .conftest import AUTH, Client


async def rest(client: Client, method: str, path: str, body: Any = None) -> Any:
    response = await client.request(method, path, json=body, headers=AUTH)
    assert response.status < 300, await response.text()
    return await response.json() if response.status != 204 else None


async def failure(rpc: RpcClient, method: str, params: Any = None) -> RpcCallError:
    with pytest.raises(RpcCallError) as caught:
        await rpc.request(method, params)
    return caught.value


def test_the_table_has_every_method_of_the_contract() -> None:
    expected = {
        "sidecar.health",
        *(f"conversations.{verb}" for verb in ("list", "create", "get", "update")),
        "conversations.delete",
        "conversations.restore",
        "messages.list",
        "messages.append",
        "messages.update",
        "branches.list",
        "branches.create",
        "branches.switch",
        "events.subscribe",
        "events.unsubscribe",
    }
    assert expected <= set(default_methods().names())


async def test_health_is_the_rest_health_with_the_token(rpc: RpcClient, client: Client) -> None:
    health = await rpc.request("sidecar.health")
    expected = await rest(client, "GET", "/health")
    volatile = {"uptime_s"}
    assert {k: v for k, v in health.items() if k not in volatile} == {
        k: v for k, v in expected.items() if k not in volatile
    }
    assert health["clients"]["rpc"] == 1
    assert (await failure(rpc, "sidecar.health", {"verbose": True})).data["field"] == "verbose"


async def test_conversation_lifecycle(rpc: RpcClient, client: Client) -> None:
    created = await rpc.request(
        "conversations.create",
        {"id": "c1", "title": "First", "workspace": "/w", "tags": ["a"], "metadata": {"k": 1}},
    )
    assert created["id"] == "c1" and created["title"] == "First" and created["revision"] == 1
    # Repeating a create with the client's id answers the same conversation (idempotent).
    again = await rpc.request(
        "conversations.create",
        {"id": "c1", "title": "First", "workspace": "/w", "tags": ["a"], "metadata": {"k": 1}},
    )
    assert again == created
    other = await rpc.request("conversations.create", {})
    assert other["id"] != "c1"

    got = await rpc.request("conversations.get", {"conversation_id": "c1"})
    assert got == await rest(client, "GET", "/api/v1/conversations/c1")
    assert got["messages"] == [] and got["has_more"] is False and "event_seq" in got

    listed = await rpc.request("conversations.list", {"limit": 1})
    assert len(listed["items"]) == 1 and listed["next_cursor"] is not None
    rest_list = await rest(client, "GET", "/api/v1/conversations?limit=1")
    assert listed == rest_list
    rest_rest = await rest(client, "GET", f"/api/v1/conversations?cursor={listed['next_cursor']}")
    assert (await rpc.request("conversations.list", {"cursor": listed["next_cursor"]})) == rest_rest

    updated = await rpc.request(
        "conversations.update",
        {"conversation_id": "c1", "title": "Renamed", "starred": True, "if_revision": 1},
    )
    assert updated["title"] == "Renamed" and updated["starred"] is True
    assert updated["revision"] == 2
    starred = await rpc.request("conversations.list", {"starred": True})
    assert [item["id"] for item in starred["items"]] == ["c1"]

    assert await rpc.request("conversations.delete", {"conversation_id": "c1"}) is None
    assert (await rpc.request("conversations.get", {"conversation_id": "c1"}))["deleted_at"]
    trash = await rpc.request("conversations.list", {"deleted": True})
    assert [item["id"] for item in trash["items"]] == ["c1"]
    everything = await rpc.request("conversations.list", {"deleted": "any"})
    assert {item["id"] for item in everything["items"]} == {"c1", other["id"]}

    restored = await rpc.request("conversations.restore", {"conversation_id": "c1"})
    assert restored["deleted_at"] is None

    await rpc.request("conversations.delete", {"conversation_id": "c1", "purge": True})
    gone = await failure(rpc, "conversations.get", {"conversation_id": "c1"})
    assert gone.rest_code == "not_found"
    response = await client.get("/api/v1/conversations/c1", headers=AUTH)
    assert response.status == 404


async def test_messages_and_branches(rpc: RpcClient, client: Client) -> None:
    await rpc.request("conversations.create", {"id": "c"})
    first = await rpc.request(
        "messages.append",
        {"conversation_id": "c", "role": "user", "content": "hello", "client_message_id": "m1"},
    )
    assert first["content"] == "hello" and first["parent_id"] is None
    repeat = await rpc.request(
        "messages.append",
        {"conversation_id": "c", "role": "user", "content": "hello", "client_message_id": "m1"},
    )
    assert repeat == first
    second = await rpc.request(
        "messages.append",
        {"conversation_id": "c", "role": "assistant", "content": "hi", "metadata": {"x": 1}},
    )
    assert second["parent_id"] == first["id"]
    # parent_id = the first message (not a head): a new branch starts there and becomes active.
    alt = await rpc.request(
        "messages.append",
        {"conversation_id": "c", "role": "assistant", "content": "alt", "parent_id": first["id"]},
    )
    branches = await rpc.request("branches.list", {"conversation_id": "c"})
    assert branches == await rest(client, "GET", "/api/v1/conversations/c/branches")
    active = [b for b in branches if b["active"]]
    assert len(branches) == 2 and active[0]["head_message_id"] == alt["id"]
    # parent_id = null: a new root on a new branch.
    root = await rpc.request(
        "messages.append",
        {"conversation_id": "c", "role": "user", "content": "fresh", "parent_id": None},
    )
    assert root["parent_id"] is None

    page = await rpc.request("messages.list", {"conversation_id": "c", "branch": "main"})
    assert [m["id"] for m in page["items"]] == [first["id"], second["id"]]
    assert page == await rest(client, "GET", "/api/v1/conversations/c/messages?branch=main")
    older = await rpc.request(
        "messages.list",
        {"conversation_id": "c", "branch": "main", "limit": 1, "before": second["id"]},
    )
    assert [m["id"] for m in older["items"]] == [first["id"]] and older["has_more"] is False
    newer = await rpc.request(
        "messages.list", {"conversation_id": "c", "branch": "main", "after": first["id"]}
    )
    assert [m["id"] for m in newer["items"]] == [second["id"]]

    edited = await rpc.request(
        "messages.update",
        {"conversation_id": "c", "message_id": second["id"], "content": "hey"},
    )
    assert edited["content"] == "hey" and edited["id"] == second["id"]

    named = await rpc.request(
        "branches.create", {"conversation_id": "c", "from_message_id": first["id"], "name": "b"}
    )
    assert named == {"name": "b", "head_message_id": first["id"], "active": False}
    switched = await rpc.request("branches.switch", {"conversation_id": "c", "name": "main"})
    assert switched["active_branch"] == "main"
    got = await rpc.request("conversations.get", {"conversation_id": "c", "limit": 1})
    assert [m["id"] for m in got["messages"]] == [second["id"]] and got["has_more"] is True
    assert got == await rest(client, "GET", "/api/v1/conversations/c?limit=1")


async def test_request_ids_make_retries_harmless(rpc: RpcClient) -> None:
    await rpc.request("conversations.create", {"id": "c"})
    params = {"conversation_id": "c", "title": "t", "request_id": "r1"}
    first = await rpc.request("conversations.update", params)
    assert await rpc.request("conversations.update", params) == first
    clash = await failure(
        rpc, "conversations.update", {"conversation_id": "c", "title": "u", "request_id": "r1"}
    )
    assert clash.rest_code == "conflict"
    assert clash.data["details"]["existing"] == first


async def test_a_request_without_params_gets_empty_params(rpc: RpcClient) -> None:
    await rpc.send_raw('{"jsonrpc": "2.0", "id": "x", "method": "conversations.list"}')
    answer = await rpc.unmatched.get()
    assert answer["id"] == "x" and answer["result"]["items"] == []
