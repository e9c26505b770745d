"""Export -> import into an empty store -> export gives the same document; and it survives restarts."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sidecar.service.exporter import export_conversation, export_document
from sidecar.service.importer import import_document
from sidecar.store import Store, StoreConfig
from tests.store.helpers import put_turn

from .conftest import fill_rich, without_exported_at


async def _rich_store(store: Store) -> None:
    await fill_rich(store, "rich")
    await store.create_conversation(id="empty")
    await store.create_conversation(id="trashed", title="bin")
    await store.append_message("trashed", role="user", content="gone soon")
    await store.delete_conversation("trashed")
    await store.create_conversation(id="Archived-Case", title="archived")
    await store.update_conversation("Archived-Case", {"archived": True})


async def test_round_trip_is_lossless(
    store: Store, tmp_path: Path, store_config: StoreConfig
) -> None:
    await _rich_store(store)
    first = await export_document(store, include_deleted=True)
    ids = [c["id"] for c in first["conversations"]]
    assert sorted(ids) == sorted(["rich", "empty", "trashed", "Archived-Case"])
    # Oldest first, ties (created in the same millisecond on a fast machine) by id.
    created = {c["id"]: c["created_at"] for c in first["conversations"]}
    assert ids == sorted(ids, key=lambda cid: (created[cid], cid))
    other = await Store.open(tmp_path / "other", store_config)
    try:
        result = await import_document(other, first)
        assert result.created == ids  # in the document's order
        second = await export_document(other, include_deleted=True)
        assert without_exported_at(second) == without_exported_at(first)
        summary = await other.get_conversation("rich")
        original = await store.get_conversation("rich")
        assert summary == original  # derived fields (count, preview, state) agree too
    finally:
        await other.close()
    reopened = await Store.open(tmp_path / "other", store_config)
    try:
        third = await export_document(reopened, include_deleted=True)
        assert without_exported_at(third) == without_exported_at(first)
    finally:
        await reopened.close()


async def test_the_exported_entry_carries_everything(store: Store) -> None:
    ids = await fill_rich(store)
    entry = await export_conversation(store, "rich")
    assert set(entry) == {
        "id", "title", "created_at", "updated_at", "starred", "pinned", "archived",
        "deleted_at", "workspace", "tags", "metadata", "active_branch", "revision", "source",
        "branches", "messages", "turns",
    }  # fmt: skip
    assert {b["name"] for b in entry["branches"]} == {"main", "rewrite", "branch-2"}
    assert [m["id"] for m in entry["messages"]] == list(ids.values())
    assert entry["messages"][1]["tool_calls"][0]["result"] == {"text": "内容"}
    assert entry["messages"][2]["tool_call_id"] == "call-1"
    assert entry["turns"][0]["id"] == "turn-1" and entry["turns"][0]["conversation_id"] == "rich"
    assert entry["source"] == {"kind": "migration", "format": "legacy-v1", "legacy_id": "L-1"}
    assert not any(key.startswith("_") for m in entry["messages"] for key in m)


async def test_importing_the_same_document_twice_changes_nothing(store: Store) -> None:
    await fill_rich(store)
    document = await export_document(store)
    seq = store.seq
    result = await import_document(store, document)
    assert result.to_json() == {"created": [], "merged": [], "unchanged": ["rich"], "skipped": []}
    assert store.seq == seq  # nothing journalled


async def test_each_conversation_is_one_journal_record_and_replays_after_a_crash(
    store: Store, tmp_path: Path, store_config: StoreConfig
) -> None:
    await _rich_store(store)
    document = await export_document(store, include_deleted=True)
    target = await Store.open(tmp_path / "target", store_config)
    try:
        before = target.seq
        await import_document(target, document)
        assert target.seq == before + 8  # per conversation: created + re-read events
        # What a kill -9 right now leaves on disk: the journal, no checkpoint since.
        shutil.copytree(tmp_path / "target", tmp_path / "crashed")
        (tmp_path / "crashed" / "sidecar.lock").unlink()
    finally:
        await target.close()
    crashed = await Store.open(tmp_path / "crashed", store_config)
    try:
        assert crashed.replayed_records == 4  # exactly one journal record per conversation
        again = await export_document(crashed, include_deleted=True)
        assert without_exported_at(again) == without_exported_at(document)
    finally:
        await crashed.close()


@pytest.mark.parametrize("streaming_state", ["streaming", "awaiting_tool_approval"])
async def test_an_unfinished_turn_is_imported_as_interrupted(
    store: Store, streaming_state: str
) -> None:
    await store.create_conversation(id="live")
    user, _ = await store.append_message("live", role="user", content="q")
    reply, _ = await store.append_message(
        "live", role="assistant", content="par", status="streaming"
    )
    await put_turn(
        store,
        "live",
        {
            "id": "t",
            "user_message_id": user["id"],
            "assistant_message_id": reply["id"],
            "state": streaming_state,
            "created_at": user["created_at"],
            "updated_at": user["created_at"],
        },
    )
    document = await export_document(store)
    document["conversations"][0]["id"] = "copy"
    for item in document["conversations"][0]["messages"] + document["conversations"][0]["turns"]:
        item["conversation_id"] = "copy"
    await import_document(store, document)
    copy = await export_conversation(store, "copy")
    assert (
        copy["messages"][1]["status"] == "interrupted" and copy["messages"][1]["content"] == "par"
    )
    assert copy["turns"][0]["state"] == "interrupted"
    assert (await store.get_conversation("copy"))["state"] == "interrupted"
