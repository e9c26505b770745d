"""``search.query``, ``conversations.export`` and ``import.conversations``: the same answers as
their REST twins, from the same index, exporter and importer."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.rpc_client import RpcCallError, RpcClient

from .conftest import AUTH, Client


async def seeded(rpc: RpcClient) -> dict[str, Any]:
    await rpc.request("conversations.create", {"id": "c1", "title": "Plans"})
    message: dict[str, Any] = await rpc.request(
        "messages.append",
        {"conversation_id": "c1", "role": "user", "content": "hello brave new world"},
    )
    return message


async def test_search_query_is_the_rest_search(rpc: RpcClient, client: Client) -> None:
    message = await seeded(rpc)
    found = await rpc.request("search.query", {"q": "brave", "limit": 5})
    assert [(i["conversation_id"], i["message_id"]) for i in found["items"]] == [
        ("c1", message["id"])
    ]
    item = found["items"][0]
    start, end = item["highlights"][0]
    assert item["snippet"][start:end] == "brave"
    response = await client.get("/api/v1/search?q=brave&limit=5", headers=AUTH)
    assert (await response.json())["items"] == found["items"]
    scoped = await rpc.request("search.query", {"q": "brave", "conversation_id": "other"})
    assert scoped["items"] == []
    with pytest.raises(RpcCallError) as caught:
        await rpc.request("search.query", {"q": ""})
    assert caught.value.code == -32602 and caught.value.data["field"] == "q"
    with pytest.raises(RpcCallError) as caught:
        await rpc.request("search.query", {"q": "x", "limit": 0})
    assert caught.value.data["field"] == "limit"


async def test_export_json_and_markdown(rpc: RpcClient, client: Client) -> None:
    await seeded(rpc)
    document = await rpc.request("conversations.export", {"conversation_id": "c1"})
    response = await client.get("/api/v1/conversations/c1/export", headers=AUTH)
    over_rest = await response.json()
    assert document["conversations"] == over_rest["conversations"]
    assert document["format"] == over_rest["format"]
    markdown = await rpc.request(
        "conversations.export", {"conversation_id": "c1", "format": "markdown"}
    )
    response = await client.get("/api/v1/conversations/c1/export?format=markdown", headers=AUTH)
    assert markdown == await response.text()
    assert "hello brave new world" in markdown
    with pytest.raises(RpcCallError) as caught:
        await rpc.request("conversations.export", {"conversation_id": "c1", "format": "pdf"})
    assert caught.value.data["field"] == "format"
    with pytest.raises(RpcCallError) as caught:
        await rpc.request("conversations.export", {"conversation_id": "nope"})
    assert caught.value.rest_code == "not_found"


async def test_import_creates_then_is_idempotent(rpc: RpcClient) -> None:
    message = await seeded(rpc)
    document = await rpc.request("conversations.export", {"conversation_id": "c1"})
    assert await rpc.request("import.conversations", document) == {
        "created": [],
        "merged": [],
        "unchanged": ["c1"],
        "skipped": [],
    }
    copied = copy.deepcopy(document)
    entry = copied["conversations"][0]
    entry["id"] = "c2"
    entry["messages"][0].update(conversation_id="c2", id="m-copied")
    entry["branches"][0]["head_message_id"] = "m-copied"
    result = await rpc.request("import.conversations", {**copied, "run_id": "run-1"})
    assert result["created"] == ["c2"]
    got = await rpc.request("conversations.get", {"conversation_id": "c2"})
    assert [m["content"] for m in got["messages"]] == [message["content"]]
    assert got["source"]["run_id"] == "run-1"


async def test_a_bad_import_names_the_path_and_writes_nothing(rpc: RpcClient) -> None:
    await seeded(rpc)
    document = await rpc.request("conversations.export", {"conversation_id": "c1"})
    broken = copy.deepcopy(document)
    broken["conversations"][0]["id"] = "c3"
    broken["conversations"][0]["messages"][0].update(conversation_id="c3", role="robot")
    with pytest.raises(RpcCallError) as caught:
        await rpc.request("import.conversations", broken)
    assert caught.value.code == -32602 and caught.value.rest_code == "validation_failed"
    assert "role" in caught.value.data["field"]
    listed = await rpc.request("conversations.list")
    assert [c["id"] for c in listed["items"]] == ["c1"]
