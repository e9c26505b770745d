"""The browser client's JSON-RPC -> REST route map (``extension-bridge/media/rest_routes_table.js``,
read by ``rest_routes.js``'s ``restRoute``) is the table of operations': the committed file is what
``python -m sidecar.api.client_routes`` writes now, each of its routes is served by the operation
the table names, and a request ``restRoute`` builds (run by node, from the committed files) gets
from the REST face what the same call gets from JSON-RPC."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest

from sidecar.api.client_routes import COMMAND, JS_PATH, main, rest_routes_js
from sidecar.api.table import OPERATIONS
from sidecar.app import create_app
from sidecar.settings import ServerConfig
from tests.rpc_client import RpcCallError, RpcClient

from .conftest import AUTH, TOKEN, Client

MEDIA = Path(__file__).resolve().parents[2] / "extension-bridge" / "media"
COMMITTED = MEDIA.parent / JS_PATH
ENTRY = re.compile(r'^  ("[^"]+"): (\{.*\}),$', re.M)
#: Runs restRoute on each [method, params] read from stdin: the route, or the error's code.
RUN_ROUTES = """
const { restRoute } = await import(process.argv[1]);
let input = '';
process.stdin.on('data', (chunk) => (input += chunk)).on('end', () => {
  const routes = JSON.parse(input).map(([method, params]) => {
    try {
      return restRoute(method, params);
    } catch (error) {
      return { error: error.code };
    }
  });
  process.stdout.write(JSON.stringify(routes));
});
"""


def committed_entries() -> dict[str, Any]:
    text = COMMITTED.read_text(encoding="utf-8")
    return {json.loads(method): json.loads(spec) for method, spec in ENTRY.findall(text)}


def test_the_committed_route_table_is_what_the_operations_table_writes() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == rest_routes_js(), (
        f"{COMMITTED} is out of date with sidecar/api/table.py: run `{COMMAND}` and commit it"
    )


def test_the_command_writes_the_file_only_when_it_changed(tmp_path: Path) -> None:
    (tmp_path / JS_PATH).parent.mkdir()
    assert main([str(tmp_path)]) == 0
    written = tmp_path / JS_PATH
    assert written.read_text(encoding="utf-8") == rest_routes_js()
    os.utime(written, ns=(0, 0))
    assert main([str(tmp_path)]) == 0
    assert written.stat().st_mtime_ns == 0  # unchanged: not rewritten (no needless rebuild)
    assert main(["a", "b"]) == 2


def test_every_json_rpc_method_rest_serves_is_in_it_as_the_table_says(tmp_path: Path) -> None:
    """Each entry is a real route of the app, handled by the operation whose JSON-RPC method it
    is, with that operation's fields in the places REST reads them from."""
    entries = committed_entries()
    app = create_app(ServerConfig(data_dir=tmp_path / "data"), token=TOKEN)
    handlers = {
        (route.method, route.resource.canonical): route.handler.__name__
        for route in app.router.routes()
        if route.resource is not None
    }
    expected = {op.rpc for op in OPERATIONS if op.rpc and (op.rest or op.rest_elsewhere)}
    assert set(entries) == expected
    for op in OPERATIONS:
        if op.rpc not in entries:
            continue
        spec = entries[op.rpc]
        route = (spec["verb"], spec["path"])
        assert route == (op.rest or op.rest_elsewhere), op.name
        handler = handlers.get(route)
        # sidecar.health's REST route is /health's own handler (outside the table).
        assert handler == (op.name.replace(".", "_") if op.rest else "health"), op.name
        placed = {
            where: [f.name for f in op.fields if f.where == where]
            for where in ("path", "query", "body", "header")
        }
        assert sorted(spec["path_params"]) == sorted(placed["path"]), op.name
        assert spec["query"] == placed["query"], op.name
        assert (spec["body"] or []) == placed["body"], op.name
        assert spec["document"] is op.document, op.name
        assert spec["headers"] == {f.name: f.header for f in op.fields if f.where == "header"}
        assert all(spec["headers"].values()), op.name


def rest_routes(tmp_path: Path, calls: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """What ``restRoute`` makes of each call: the committed modules, run as ES modules by node."""
    modules = tmp_path / "media"
    modules.mkdir(parents=True)
    for name in ("rest_routes.js", "rest_routes_table.js", "sidecar_error.js"):
        shutil.copy(MEDIA / name, modules / name)
    (modules / "package.json").write_text('{"type": "module"}')
    done = subprocess.run(
        ["node", "--input-type=module", "-e", RUN_ROUTES, (modules / "rest_routes.js").as_uri()],
        input=json.dumps(calls),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    routes: list[dict[str, Any]] = json.loads(done.stdout)
    return routes


async def rest_answer(client: Client, route: dict[str, Any]) -> tuple[int, Any]:
    """Send a request as the browser transport does: the token, a JSON body, the route's headers."""
    body = route.get("body")
    response = await client.request(
        route["verb"],
        route["path"],
        data=None if body is None else orjson.dumps(body),
        headers={
            **AUTH,
            **({"Content-Type": "application/json"} if body is not None else {}),
            **route.get("headers", {}),
        },
    )
    text = await response.text()
    if response.content_type == "application/json":
        return response.status, json.loads(text)
    return response.status, text or None


async def rpc_answer(rpc: RpcClient, method: str, params: dict[str, Any]) -> Any:
    try:
        return await rpc.request(method, params)
    except RpcCallError as error:
        return {"rpc_error": error.rest_code}


def comparable(method: str, answer: Any) -> Any:
    if method == "sidecar.health":
        return {k: v for k, v in answer.items() if k != "uptime_s"}
    if method == "search.query":
        return answer["items"]
    return answer


@pytest.fixture
async def seeded(rpc: RpcClient) -> dict[str, Any]:
    """Two conversations (one of them empty) and a user message with its assistant reply."""
    await rpc.request("conversations.create", {"id": "c_routes", "title": "Routes/plans"})
    await rpc.request("conversations.create", {"id": "c_empty", "title": "Nothing yet"})
    first = await rpc.request(
        "messages.append",
        {"conversation_id": "c_routes", "role": "user", "content": "hello brave routes"},
    )
    second = await rpc.request(
        "messages.append",
        {"conversation_id": "c_routes", "role": "assistant", "content": "brave answer"},
    )
    return {"first": first, "second": second}


async def test_reads_restroute_builds_answer_as_json_rpc_does(
    rpc: RpcClient, client: Client, seeded: dict[str, Any], tmp_path: Path
) -> None:
    """Reads with a param in each place REST takes one (path, query); the params the former
    hand-written map dropped (``empty``, ``role``) would make the answers differ."""
    c = "c_routes"
    calls: list[tuple[str, dict[str, Any]]] = [
        ("sidecar.health", {}),
        ("tools.list", {}),
        ("conversations.list", {"limit": 10, "empty": False}),
        ("conversations.list", {"q": "Nothing", "archived": "any"}),
        ("conversations.get", {"conversation_id": c, "limit": 1}),
        ("messages.list", {"conversation_id": c, "limit": 5, "after": seeded["first"]["id"]}),
        ("branches.list", {"conversation_id": c}),
        ("conversations.export", {"conversation_id": c, "format": "markdown"}),
        ("search.query", {"q": "brave", "role": "assistant", "limit": 5}),
        ("search.query", {"q": "brave", "conversation_id": "c_empty"}),
        ("conversations.get", {"conversation_id": "c_missing"}),
    ]
    routes = rest_routes(tmp_path, calls)
    for (method, params), route in zip(calls, routes, strict=True):
        status, rest = await rest_answer(client, route)
        expected = await rpc_answer(rpc, method, params)
        if isinstance(expected, dict) and "rpc_error" in expected:
            assert (status, rest["error"]["code"]) == (404, expected["rpc_error"]), method
            continue
        assert status == 200, (method, route, rest)
        assert comparable(method, rest) == comparable(method, expected), (method, route)
    # Not vacuous: the filters took effect (the two faces could agree on an unfiltered answer).
    listed = await rpc.request("conversations.list", {"limit": 10, "empty": False})
    assert [item["id"] for item in listed["items"]] == [c]
    found = await rpc.request("search.query", {"q": "brave", "role": "assistant"})
    assert [item["message_id"] for item in found["items"]] == [seeded["second"]["id"]]


async def test_writes_restroute_builds_do_what_the_table_says(
    rpc: RpcClient, client: Client, seeded: dict[str, Any], tmp_path: Path
) -> None:
    """A header (``If-Match`` from ``if_revision``), a query flag on DELETE (``purge``), a path
    name (``branches.switch``) and a whole-document body (``import.conversations``)."""
    c = "c_routes"
    revision = (await rpc.request("conversations.get", {"conversation_id": c}))["revision"]
    document = await rpc.request("conversations.export", {"conversation_id": c})
    document["conversations"][0]["id"] = "c_imported"
    for message in document["conversations"][0]["messages"]:
        message["conversation_id"] = "c_imported"
    document["run_id"] = "run_routes"
    calls: list[tuple[str, dict[str, Any]]] = [
        ("conversations.update", {"conversation_id": c, "title": "Stale", "if_revision": 0}),
        ("conversations.update", {"conversation_id": c, "title": "Now", "if_revision": revision}),
        ("branches.create", {"conversation_id": c, "from_message_id": seeded["first"]["id"]}),
        ("conversations.delete", {"conversation_id": "c_empty", "purge": True}),
        ("import.conversations", document),
        (
            "messages.update",
            {"conversation_id": c, "message_id": seeded["second"]["id"], "content": "edited"},
        ),
        ("messages.update", {"conversation_id": c, "message_id": "m_none", "content": "x"}),
    ]
    routes = rest_routes(tmp_path, calls)
    answers = [await rest_answer(client, route) for route in routes]
    stale, updated, branched, deleted, imported, edited, missing = answers
    assert stale[0] == 409 and stale[1]["error"]["code"] == "conflict"
    assert updated[0] == 200 and updated[1]["title"] == "Now"
    assert branched[0] == 201
    name = branched[1]["name"]
    (switch,) = rest_routes(
        tmp_path / "again", [("branches.switch", {"conversation_id": c, "name": name})]
    )
    status, switched = await rest_answer(client, switch)
    assert status == 200, switched
    branches = await rpc.request("branches.list", {"conversation_id": c})
    assert [b["name"] for b in branches if b["active"]] == [name]
    assert deleted == (204, None)
    trash = await rpc.request("conversations.list", {"deleted": True})
    assert trash["items"] == []  # purged, not trashed: the flag reached the operation
    assert imported[0] == 200, imported
    assert (await rpc.request("conversations.get", {"conversation_id": "c_imported"}))["title"]
    assert edited[0] == 200 and edited[1]["content"] == "edited", edited
    # The operation's not_found (naming the message), not a route's.
    assert missing[0] == 404 and "m_none" in missing[1]["error"]["message"], missing
