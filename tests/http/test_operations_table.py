"""The table of operations is the one declaration: REST routes, JSON-RPC methods, the OpenAPI
paths and the clients' id table all come from it, and a doc that drifts from it is refused."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sidecar.api.client_table import (
    JS_PATH,
    TS_PATH,
    mutation_ids_js,
    mutation_ids_ts,
    write,
)
from sidecar.api.operations import Field, Operation, idempotency_table
from sidecar.api.table import OPERATIONS
from sidecar.app import create_app
from sidecar.http.openapi import table_paths
from sidecar.rpc.methods import default_methods
from sidecar.settings import ServerConfig

from .conftest import AUTH, TOKEN

#: The table the extension and the webview client each wrote by hand before it was generated.
FORMER_HAND_WRITTEN = {
    "conversations.create": "id",
    "conversations.update": "request_id",
    "conversations.delete": "request_id",
    "conversations.restore": "request_id",
    "messages.append": "client_message_id",
    "messages.update": "request_id",
    "chat.sendMessage": "client_message_id",
    "chat.approveTools": "request_id",
    "chat.cancel": "request_id",
    "chat.retry": "request_id",
    "branches.create": "request_id",
    "branches.switch": "request_id",
    "import.conversations": "run_id",
}
ENTRY = re.compile(r'^\s+"([^"]+)": "([^"]+)",$', re.M)
EXTENSION = Path(__file__).resolve().parents[2] / "extension-bridge"


def _entries(text: str) -> dict[str, str]:
    return dict(ENTRY.findall(text))


def test_the_idempotency_table_is_what_the_clients_had() -> None:
    assert idempotency_table(OPERATIONS) == FORMER_HAND_WRITTEN


@pytest.mark.parametrize("render", [mutation_ids_js, mutation_ids_ts])
def test_the_generated_client_tables_say_what_the_operations_table_says(render) -> None:  # type: ignore[no-untyped-def]
    assert _entries(render()) == idempotency_table(OPERATIONS)


def test_write_makes_both_files_and_a_built_checkout_is_current(tmp_path: Path) -> None:
    assert sorted(write(tmp_path)) == sorted([tmp_path / JS_PATH, tmp_path / TS_PATH])
    assert write(tmp_path) == []  # unchanged: not rewritten (no needless rebuild)
    for relative in (JS_PATH, TS_PATH):
        built = EXTENSION / relative
        if built.exists():  # the build made it: it must not be stale
            assert built.read_text() == (tmp_path / relative).read_text(), f"{built} is stale"


async def test_the_ui_serves_the_table_client_js_imports(client) -> None:  # type: ignore[no-untyped-def]
    response = await client.get("/ui/mutation_ids.js", headers=AUTH)
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/javascript")
    assert await response.text() == mutation_ids_js()


def test_every_operation_is_a_route_and_a_method(tmp_path: Path) -> None:
    app = create_app(ServerConfig(data_dir=tmp_path / "data"), token=TOKEN)
    routed = {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None
    }
    methods = default_methods()
    for op in OPERATIONS:
        if op.rest is not None:
            assert op.rest in routed, op.name
        if op.rpc is not None:
            method = methods.get(op.rpc)
            assert method is not None, op.name
            assert method.cancellable == op.cancellable, op.name
    assert any(op.rest is None for op in OPERATIONS)  # JSON-RPC only (sidecar.health)
    assert any(op.rpc is None for op in OPERATIONS)  # REST only (the migration rollback)


async def _nothing(app: object, args: object) -> None:
    return None


def test_an_openapi_doc_that_drifts_from_the_table_is_refused() -> None:
    listed = next(op for op in OPERATIONS if op.name == "conversations.list")
    extra = Operation(
        listed.name,
        _nothing,
        (*listed.fields, Field("colour", "text", "query")),
        rest=listed.rest,
    )
    with pytest.raises(KeyError):
        table_paths((extra,))
    created = next(op for op in OPERATIONS if op.name == "conversations.create")
    more_body = Operation(
        created.name, _nothing, (*created.fields, Field("colour")), rest=created.rest
    )
    with pytest.raises(ValueError, match="does not match"):
        table_paths((more_body,))
