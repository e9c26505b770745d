"""The REST face: GET .../export, POST /api/v1/import, POST /api/v1/migrations/{run_id}/rollback."""

from __future__ import annotations

from pathlib import Path

from sidecar.app import create_app
from sidecar.settings import ServerConfig
from sidecar.store import Change, ConversationEffect, Effect, ExternalEffect, MessageEffect

from ..http.conftest import AUTH, TOKEN, ClientFactory, call
from .conftest import Client, fill_rich, server_store, without_exported_at
from .documents import chain, conversation, document, message


async def test_export_then_import_into_another_sidecar(
    client: Client, aiohttp_client: ClientFactory, tmp_path: Path
) -> None:
    await fill_rich(server_store(client), "rich")
    exported = await call(client, "GET", "/api/v1/conversations/rich/export", status=200)
    assert exported["format"] == "chat-sidecar.export" and exported["version"] == 1
    assert [c["id"] for c in exported["conversations"]] == ["rich"]
    other = await aiohttp_client(
        create_app(ServerConfig(data_dir=tmp_path / "other", checkpoint_interval=3600), token=TOKEN)
    )
    result = await call(other, "POST", "/api/v1/import", exported, status=200)
    assert result == {"created": ["rich"], "merged": [], "unchanged": [], "skipped": []}
    again = await call(other, "GET", "/api/v1/conversations/rich/export?format=json", status=200)
    assert without_exported_at(again) == without_exported_at(exported)
    page = await call(other, "GET", "/api/v1/conversations/rich", status=200)
    assert page["starred"] and page["message_count"] == 3
    repeat = await call(other, "POST", "/api/v1/import", exported, status=200)
    assert repeat["unchanged"] == ["rich"]


async def test_markdown_export_is_plain_text_of_the_active_branch(client: Client) -> None:
    await fill_rich(server_store(client), "rich")
    response = await client.get("/api/v1/conversations/rich/export?format=markdown", headers=AUTH)
    assert response.status == 200
    assert response.content_type == "text/markdown" and response.charset == "utf-8"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    text = await response.text()
    assert text.startswith("# Ünïcødé 🧪 — «export»\n")
    assert "A side question" in text and "## Assistant · " in text and "(failed)" in text
    assert "Edited question" not in text  # another branch


async def test_export_errors(client: Client) -> None:
    missing = await call(client, "GET", "/api/v1/conversations/nope/export", status=404)
    assert missing["error"]["code"] == "not_found"
    await server_store(client).create_conversation(id="c")
    bad = await call(client, "GET", "/api/v1/conversations/c/export?format=xml", status=422)
    assert bad["error"]["details"]["field"] == "format"
    await call(client, "GET", "/api/v1/conversations/bad.id/export", status=422)


async def test_a_bad_document_is_422_with_its_path_and_writes_nothing(client: Client) -> None:
    store = server_store(client)
    seq = store.seq
    good = conversation("fine", chain("a"))
    bad = conversation("broken", [*chain("a", "b"), message("c", "b", role="robot")])
    body = await call(client, "POST", "/api/v1/import", document(good, bad), status=422)
    assert body["error"]["code"] == "validation_failed"
    assert body["error"]["details"]["field"] == "conversations[1].messages[2].role"
    assert store.seq == seq and store.list_conversations().items == []
    raw = await client.post(
        "/api/v1/import", data=b"{nope", headers={**AUTH, "Content-Type": "application/json"}
    )
    assert raw.status == 400
    listed = await call(client, "POST", "/api/v1/import", [document(good)], status=422)
    assert listed["error"]["details"]["field"] == "document"
    deep: object = "leaf"
    for _ in range(300):  # parses, but could not be journalled
        deep = {"k": deep}
    nested = conversation("deep", [message("a", None, metadata={"k": deep})])
    body = await call(client, "POST", "/api/v1/import", document(nested), status=422)
    assert body["error"]["details"]["field"] == "conversations[0].messages[0].metadata"
    assert store.seq == seq and store.list_conversations().items == []


async def test_bodies_over_the_limit_are_refused(
    aiohttp_client: ClientFactory, tmp_path: Path
) -> None:
    config = ServerConfig(data_dir=tmp_path / "d", checkpoint_interval=3600, max_body_bytes=2048)
    small = await aiohttp_client(create_app(config, token=TOKEN))
    big = document(conversation("c", [message("a", None, metadata={"pad": "x" * 4096})]))
    body = await call(small, "POST", "/api/v1/import", big, status=413)
    assert body["error"]["code"] == "payload_too_large"


async def test_imports_and_rollbacks_are_announced(client: Client) -> None:
    """A merge shows its new messages; a created or reverted conversation is to be read again
    (``store.changed`` naming it: the search index and open views re-read it whole)."""
    store = server_store(client)
    changes: list[Change] = []
    store.subscribe(changes.extend)

    def effects() -> list[tuple[str, object]]:
        change = changes.pop()
        assert changes == []
        return [kind_and_subject(e) for e in change.effects]

    def kind_and_subject(e: Effect) -> tuple[str, object]:
        if isinstance(e, ConversationEffect):
            return ("conversation", e.reason)
        if isinstance(e, ExternalEffect):
            return ("external", list(e.conversation_ids))
        assert isinstance(e, MessageEffect)
        return ("message", e.message["id"])

    run = document(conversation("c", chain("a")), run_id="r")
    await call(client, "POST", "/api/v1/import", run, status=200)
    assert effects() == [("conversation", "created"), ("external", ["c"])]
    await call(client, "POST", "/api/v1/import", document(conversation("c", chain("a", "b", "c"))))
    assert effects() == [("conversation", "updated"), ("message", "b"), ("message", "c")]
    await call(client, "POST", "/api/v1/migrations/r/rollback", {"force": True}, status=200)
    assert effects() == [("conversation", "purged")]


async def test_rollback_over_rest(client: Client) -> None:
    run = document(
        conversation("x", chain("a", conversation_id="x")),
        conversation("y", chain("b", conversation_id="y")),
        run_id="run-7",
    )
    created = await call(client, "POST", "/api/v1/import", run, status=200)
    assert created["created"] == ["x", "y"]
    await call(client, "POST", "/api/v1/conversations/y/messages", {"role": "user", "content": "!"})
    refused = await call(client, "POST", "/api/v1/migrations/run-7/rollback", status=409)
    assert refused["error"]["code"] == "conflict"
    assert refused["error"]["details"] == {
        "run_id": "run-7",
        "removed": ["x"],
        "reverted": [],
        "refused": ["y"],
    }
    await call(client, "GET", "/api/v1/conversations/x", status=404)
    await call(client, "GET", "/api/v1/conversations/y", status=200)
    forced = await call(
        client, "POST", "/api/v1/migrations/run-7/rollback", {"force": True}, status=200
    )
    assert forced["removed"] == ["y"]
    await call(client, "POST", "/api/v1/migrations/run-7/rollback", status=200)  # harmless again
    await call(client, "POST", "/api/v1/migrations/other/rollback", status=404)
    await call(client, "POST", "/api/v1/migrations/bad.id/rollback", status=422)
    wrong = await call(
        client, "POST", "/api/v1/migrations/run-7/rollback", {"force": "yes"}, status=422
    )
    assert wrong["error"]["details"]["field"] == "force"
