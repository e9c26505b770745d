"""Fixtures for export/import tests: a real server on loopback and a conversation worth exporting."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from sidecar.api.keys import STORE
from sidecar.app import create_app
from sidecar.settings import ServerConfig
from sidecar.store import Store
from tests.store.helpers import put_turn

from ..http.conftest import TOKEN, ClientFactory

Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def client(aiohttp_client: ClientFactory, tmp_path: Any) -> Client:
    config = ServerConfig(data_dir=tmp_path / "server", checkpoint_interval=3600)
    return await aiohttp_client(create_app(config, token=TOKEN))


def server_store(client: Client) -> Store:
    """The real store behind the test server (to check what a request did or did not write)."""
    assert client.app is not None
    return client.app[STORE]


async def fill_rich(store: Store, conversation_id: str = "rich") -> dict[str, str]:
    """A conversation with everything the format must carry: three branches (one of them
    active and not ``main``), tool calls and a tool result, turns, nested metadata, unicode,
    flags, tags, a non-null source. Returns the message ids by name."""
    await store.create_conversation(
        id=conversation_id,
        title="Ünïcødé 🧪 — «export»",
        workspace="/home/ü/project",
        tags=["alpha", "βeta"],
        metadata={"nested": {"list": [1, 2.5, None, {"deep": ["x"]}]}, "emoji": "🙂"},
        source={"kind": "migration", "format": "legacy-v1", "legacy_id": "L-1"},
    )
    ids: dict[str, str] = {}
    user, _ = await store.append_message(
        conversation_id, role="user", content="Hello\n\nwith ```fences``` and `ticks`"
    )
    ids["user"] = user["id"]
    assistant, _ = await store.append_message(
        conversation_id,
        role="assistant",
        content="Let me look.",
        tool_calls=[
            {
                "id": "call-1",
                "name": "read_file",
                "arguments": {"path": "a.txt", "lines": [1, 2]},
                "status": "succeeded",
                "result": {"text": "内容"},
                "error": None,
            }
        ],
        metadata={"model": "echo", "usage": {"tokens": 12}},
    )
    ids["assistant"] = assistant["id"]
    tool, _ = await store.append_message(
        conversation_id, role="tool", content='{"text": "内容"}', tool_call_id="call-1"
    )
    ids["tool"] = tool["id"]
    final, _ = await store.append_message(conversation_id, role="assistant", content="Done ✅")
    ids["final"] = final["id"]
    await put_turn(
        store,
        conversation_id,
        {
            "id": "turn-1",
            "user_message_id": user["id"],
            "assistant_message_id": final["id"],
            "state": "completed",
            "attempts": [],
            "error": None,
            "created_at": user["created_at"],
            "updated_at": final["created_at"],
        },
    )
    edit, _ = await store.append_message(
        conversation_id, role="user", content="Edited question", parent_id=None, branch="rewrite"
    )
    ids["edit"] = edit["id"]
    side, _ = await store.append_message(
        conversation_id, role="user", content="A side question", parent_id=user["id"]
    )
    ids["side"] = side["id"]
    failed, _ = await store.append_message(
        conversation_id, role="assistant", content="partial", status="failed"
    )
    ids["failed"] = failed["id"]
    await store.update_conversation(conversation_id, {"starred": True, "pinned": True})
    return ids


def without_exported_at(document: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in document.items() if key != "exported_at"}
