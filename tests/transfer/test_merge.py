"""Importing into a store that already has the conversation: identity by id, nothing lost."""

from __future__ import annotations

import pytest

from sidecar.service.exporter import export_conversation
from sidecar.service.importer import import_document
from sidecar.store import Conflict, Store
from tests.store.helpers import put_turn

from .documents import chain, conversation, document, message


def heads(entry: dict[str, object]) -> dict[str, object]:
    branches = entry["branches"]
    assert isinstance(branches, list)
    return {b["name"]: b["head_message_id"] for b in branches}


async def test_missing_messages_are_added_and_a_branch_that_extends_moves_forward(
    store: Store,
) -> None:
    await import_document(store, document(conversation("c", chain("a", "b"))))
    result = await import_document(store, document(conversation("c", chain("a", "b", "c", "d"))))
    assert result.merged == ["c"]
    entry = await export_conversation(store, "c")
    assert [m["id"] for m in entry["messages"]] == ["a", "b", "c", "d"]
    assert heads(entry) == {"main": "d"}
    assert entry["revision"] == 2
    summary = await store.get_conversation("c")
    assert summary["message_count"] == 4 and summary["last_message_preview"] == "text of d"


async def test_a_diverging_head_is_kept_on_an_import_branch_and_a_second_import_is_a_no_op(
    store: Store,
) -> None:
    await import_document(store, document(conversation("c", chain("a", "b", "x"))))
    diverging = document(conversation("c", [*chain("a", "b"), message("y", "b", at=3)]))
    assert (await import_document(store, diverging)).merged == ["c"]
    entry = await export_conversation(store, "c")
    assert heads(entry) == {"main": "x", "import-1": "y"}
    seq = store.seq
    assert (await import_document(store, diverging)).unchanged == ["c"]
    assert store.seq == seq


async def test_an_older_copy_changes_nothing(store: Store) -> None:
    await import_document(store, document(conversation("c", chain("a", "b", "c"), title="new")))
    older = document(conversation("c", chain("a", "b"), updated=5, title="old"))
    assert (await import_document(store, older)).unchanged == ["c"]
    entry = await export_conversation(store, "c")
    assert entry["title"] == "new" and heads(entry) == {"main": "c"}


async def test_title_and_flags_come_from_the_later_copy(store: Store) -> None:
    await import_document(
        store, document(conversation("c", chain("a"), title="stored", updated=10, tags=["s"]))
    )
    await store.update_conversation("c", {"title": "renamed here"})  # updated_at: now (2026-12)
    older = conversation("c", chain("a", "b"), title="theirs", starred=True, updated=20)
    await import_document(store, document(older))
    entry = await export_conversation(store, "c")
    assert entry["title"] == "renamed here" and entry["starred"] is False  # ours is later
    assert [m["id"] for m in entry["messages"]] == ["a", "b"]  # messages are merged anyway
    later = conversation(
        "c", chain("a", "b"), title="theirs", starred=True, archived=True, updated=59
    )
    later["updated_at"] = "2999-01-01T00:00:00.000Z"
    await import_document(store, document(later))
    entry = await export_conversation(store, "c")
    assert (entry["title"], entry["starred"], entry["archived"]) == ("theirs", True, True)
    assert entry["updated_at"] == "2999-01-01T00:00:00.000Z"


async def test_new_branches_and_turns_are_added_and_the_later_active_branch_wins(
    store: Store,
) -> None:
    await import_document(store, document(conversation("c", chain("a", "b"))))
    side = message("s", "a", at=5)
    turn = {
        "id": "t1",
        "user_message_id": "a",
        "assistant_message_id": "b",
        "state": "completed",
        "created_at": "2026-01-01T00:00:02.000Z",
    }
    incoming = conversation(
        "c",
        [*chain("a", "b"), side],
        branches={"main": "b", "side": "s"},
        active_branch="side",
        turns=[turn],
        updated=30,
    )
    assert (await import_document(store, document(incoming))).merged == ["c"]
    entry = await export_conversation(store, "c")
    assert heads(entry) == {"main": "b", "side": "s"} and entry["active_branch"] == "side"
    assert [t["id"] for t in entry["turns"]] == ["t1"]
    assert (await store.get_conversation("c"))["state"] == "completed"


async def test_a_conflict_anywhere_writes_nothing_at_all(store: Store) -> None:
    await import_document(store, document(conversation("c", chain("a"))))
    await store.append_message("c", role="user", content="mine", client_message_id="k")
    seq = store.seq
    clash = conversation("c", [*chain("a"), message("z", "a", client_message_id="k")])
    with pytest.raises(Conflict) as caught:
        await import_document(store, document(conversation("new", []), clash))
    assert caught.value.details["message_id"] == "z"
    assert store.seq == seq and store.id_state("new") == "free"


async def test_a_conversation_with_a_turn_in_progress_is_not_merged(store: Store) -> None:
    await import_document(store, document(conversation("c", chain("a"))))
    await put_turn(store, "c", {"id": "t", "state": "streaming", "user_message_id": "a"})
    with pytest.raises(Conflict) as caught:
        await import_document(store, document(conversation("c", chain("a", "b"))))
    assert caught.value.details["state"] == "streaming"


async def test_purged_ids_stay_reserved_and_are_reported_as_skipped(store: Store) -> None:
    await import_document(store, document(conversation("gone", chain("a", conversation_id="gone"))))
    await store.purge_conversation("gone")
    result = await import_document(
        store,
        document(
            conversation("gone", chain("a", conversation_id="gone")),
            conversation("fresh", chain("b", conversation_id="fresh")),
        ),
    )
    assert result.to_json() == {
        "created": ["fresh"],
        "merged": [],
        "unchanged": [],
        "skipped": [{"id": "gone", "reason": "purged"}],
    }
    assert store.id_state("gone") == "reserved"


async def test_many_conversations_are_written_together_and_reported_in_document_order(
    store: Store,
) -> None:
    await import_document(store, document(conversation("c-50", chain("a"))))
    many = [conversation(f"c-{n}", chain("a", "b")) for n in range(100)]
    result = await import_document(store, document(*many))
    assert result.created == [f"c-{n}" for n in range(100) if n != 50]
    assert result.merged == ["c-50"]
    assert len(store.list_conversations().items) == 50  # the first page of 100
    assert (await store.get_conversation("c-99"))["message_count"] == 2
