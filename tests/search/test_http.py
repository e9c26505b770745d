"""``GET /api/v1/search`` on the real server (loopback, real store and index in a temp dir)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from sidecar.api.keys import SEARCH
from sidecar.app import create_app
from sidecar.settings import ServerConfig
from tests.http.conftest import TOKEN, ClientFactory, call

from .conftest import highlighted

Client = TestClient[web.Request, web.Application]
BASE = "/api/v1/conversations"


@pytest.fixture
async def client(aiohttp_client: ClientFactory, tmp_path: Path) -> Client:
    config = ServerConfig(data_dir=tmp_path / "data", checkpoint_interval=3600)
    return await aiohttp_client(create_app(config, token=TOKEN))


async def search(client: Client, query: str, status: int = 200) -> Any:
    return await call(client, "GET", f"/api/v1/search?{query}", status=status)


async def test_a_write_is_found_by_the_next_search(client: Client) -> None:
    await call(client, "POST", BASE, {"id": "c1", "title": "Trip to Zürich"}, status=201)
    message = await call(
        client,
        "POST",
        f"{BASE}/c1/messages",
        {"role": "user", "content": "Book the TRAIN to zurich, then a café"},
        status=201,
    )
    body = await search(client, "q=zurich")
    assert set(body) == {"items", "event_seq", "indexing"}
    assert body["event_seq"] >= 2
    assert [item["message_id"] for item in body["items"]] == [None, message["id"]]
    title, hit = body["items"]
    assert title == {
        "conversation_id": "c1",
        "message_id": None,
        "snippet": "Trip to Zürich",
        "highlights": [[8, 14]],
        "created_at": title["created_at"],
        "role": None,
        "conversation_title": "Trip to Zürich",
    }
    assert hit["created_at"] == message["created_at"]
    assert (hit["role"], hit["conversation_title"]) == ("user", "Trip to Zürich")
    assert highlighted(hit) == ["zurich"]
    body = await search(client, "q=%22the%20train%22&role=user&limit=1")
    assert [item["message_id"] for item in body["items"]] == [message["id"]]


async def test_trash_is_excluded_unless_asked(client: Client) -> None:
    await call(client, "POST", BASE, {"id": "c1"}, status=201)
    await call(
        client, "POST", f"{BASE}/c1/messages", {"role": "user", "content": "binned"}, status=201
    )
    await call(client, "DELETE", f"{BASE}/c1", status=204)
    assert (await search(client, "q=binned"))["items"] == []
    assert len((await search(client, "q=binned&deleted=true"))["items"]) == 1
    assert len((await search(client, "q=binned&deleted=any"))["items"]) == 1


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("", "q"),
        ("q=", "q"),
        ("q=%20%20", "q"),
        ("q=x&limit=0", "limit"),
        ("q=x&limit=ten", "limit"),
        ("q=x&role=robot", "role"),
        ("q=x&archived=maybe", "archived"),
        ("q=x&deleted=2", "deleted"),
        ("q=x&conversation_id=a.b", "conversation_id"),
        ("q=x&from=monday", "from"),
        ("q=x&to=2026-13-01", "to"),
    ],
)
async def test_bad_parameters_are_422_naming_the_field(
    client: Client, query: str, field: str
) -> None:
    body = await search(client, query, status=422)
    assert body["error"]["code"] == "validation_failed"
    assert body["error"]["details"]["field"] == field


@pytest.mark.parametrize(
    "q",
    ["%22", "*", "NEAR(", "a%3Ab", "%7Bx%7D", "%5E", "-", "'", "AND", "%00", "%F0%9F%98%80", "(("],
)
async def test_hostile_query_syntax_is_never_a_server_error(client: Client, q: str) -> None:
    body = await search(client, f"q={q}")
    assert body["items"] == []


async def test_results_survive_a_server_restart(
    aiohttp_client: ClientFactory, tmp_path: Path
) -> None:
    config = ServerConfig(data_dir=tmp_path / "data", checkpoint_interval=3600)
    app = create_app(config, token=TOKEN)
    client = await aiohttp_client(app)
    await call(client, "POST", BASE, {"id": "c1", "title": "before restart"}, status=201)
    await client.close()
    assert (tmp_path / "data" / "search" / "index.sqlite3").exists()
    app = create_app(config, token=TOKEN)
    client = await aiohttp_client(app)
    await app[SEARCH].idle()
    body = await search(client, "q=restart")
    assert [item["conversation_id"] for item in body["items"]] == ["c1"]
    assert body["indexing"] is False


async def test_an_index_that_cannot_open_leaves_the_rest_working(
    aiohttp_client: ClientFactory, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "search").write_text("a file where the index folder should be")
    config = ServerConfig(data_dir=data_dir, checkpoint_interval=3600)
    client = await aiohttp_client(create_app(config, token=TOKEN))
    await call(client, "POST", BASE, {"id": "c1", "title": "still works"}, status=201)
    body = await search(client, "q=works", status=503)
    assert body["error"]["code"] == "unavailable"
    assert (data_dir / "search").read_text().startswith("a file")


async def test_each_hit_names_its_role_and_its_conversations_title_archived_or_trashed(
    client: Client,
) -> None:
    for cid, title in (("live", "Fruit salad"), ("old", "Archived fruit"), ("bin", None)):
        await call(client, "POST", BASE, {"id": cid, "title": title}, status=201)
        for role in ("user", "assistant"):
            await call(
                client,
                "POST",
                f"{BASE}/{cid}/messages",
                {"role": role, "content": f"{role} likes pineapple"},
                status=201,
            )
    await call(client, "PATCH", f"{BASE}/old", {"archived": True}, status=200)
    await call(client, "DELETE", f"{BASE}/bin", status=204)
    items = (await search(client, "q=pineapple&deleted=any&limit=100"))["items"]
    found = sorted((i["conversation_id"], i["role"], i["conversation_title"]) for i in items)
    assert found == [
        ("bin", "assistant", None),
        ("bin", "user", None),
        ("live", "assistant", "Fruit salad"),
        ("live", "user", "Fruit salad"),
        ("old", "assistant", "Archived fruit"),
        ("old", "user", "Archived fruit"),
    ]
    # One hit per message: no message appears twice.
    assert len({i["message_id"] for i in items}) == len(items)


async def test_the_word_being_typed_matches_as_a_prefix(client: Client) -> None:
    await call(client, "POST", BASE, {"id": "c1", "title": "Pineapple pizza"}, status=201)
    message = await call(
        client,
        "POST",
        f"{BASE}/c1/messages",
        {"role": "user", "content": "Is a pineapple a berry?"},
        status=201,
    )
    for query in ("q=pine", "q=Pinea", "q=a%20pine", "q=berry%20pine"):
        items = (await search(client, query))["items"]
        assert [i["message_id"] for i in items if i["message_id"]] == [message["id"]], query
    title_hit = (await search(client, "q=pine"))["items"][0]
    assert title_hit["message_id"] is None
    assert title_hit["snippet"][slice(*title_hit["highlights"][0])] == "Pineapple"
    # Only the last word is a prefix; a finished word before it is matched whole.
    assert (await search(client, "q=pine%20berry"))["items"] == []
    # Quoted, a word is exact.
    assert (await search(client, "q=%22pine%22"))["items"] == []
