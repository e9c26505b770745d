"""Conversation API of the store: create, read, update, list, trash, purge, idempotency."""

from __future__ import annotations

from pathlib import Path

import pytest

from sidecar.store import (
    Conflict,
    ListQuery,
    NotFound,
    Store,
    StoreConfig,
    StoreLocked,
    ValidationFailed,
)
from sidecar.store.ids import path_name


async def test_create_get_and_survive_reopen(
    store: Store, data_dir: Path, store_config: StoreConfig
) -> None:
    created, is_new = await store.create_conversation(
        title="Plan", workspace="/w", tags=["a", "b"], metadata={"k": 1}
    )
    assert is_new
    assert created["title"] == "Plan" and created["revision"] == 1
    assert created["state"] == "idle" and created["active_branch"] == "main"
    assert created["message_count"] == 0 and created["last_message_preview"] == ""
    assert created["created_at"].endswith("Z") and len(created["created_at"]) == 24
    assert await store.get_conversation(created["id"]) == created
    seq = store.seq
    await store.close()
    reopened = await Store.open(data_dir, store_config)
    try:
        assert await reopened.get_conversation(created["id"]) == created
        assert reopened.seq == seq, "the event sequence survives restarts"
        await reopened.update_conversation(created["id"], {"title": "next"})
        assert reopened.seq > seq
    finally:
        await reopened.close()


async def test_client_id_create_is_idempotent(store: Store) -> None:
    first, new1 = await store.create_conversation(id="Conv-1", title="x")
    again, new2 = await store.create_conversation(id="Conv-1", title="x")
    assert new1 and not new2 and again == first
    with pytest.raises(Conflict) as caught:
        await store.create_conversation(id="Conv-1", title="other")
    assert caught.value.details["existing"]["id"] == "Conv-1"


async def test_ids_differing_in_case_are_different_conversations(
    store: Store, data_dir: Path
) -> None:
    await store.create_conversation(id="abc", title="lower")
    await store.create_conversation(id="ABC", title="upper")
    assert (await store.get_conversation("abc"))["title"] == "lower"
    assert (await store.get_conversation("ABC"))["title"] == "upper"
    await store.checkpoint()
    assert (data_dir / "conversations" / path_name("ABC")).is_dir()
    assert (data_dir / "conversations" / "abc").is_dir()


async def test_invalid_input_is_refused_and_changes_nothing(store: Store) -> None:
    seq = store.seq
    with pytest.raises(ValidationFailed) as caught:
        await store.create_conversation(id="../escape")
    assert caught.value.field == "id"
    with pytest.raises(ValidationFailed):
        await store.create_conversation(title=5)  # type: ignore[arg-type]
    with pytest.raises(ValidationFailed):
        await store.create_conversation(tags="not-a-list")  # type: ignore[arg-type]
    conversation, _ = await store.create_conversation()
    with pytest.raises(ValidationFailed) as caught:
        await store.update_conversation(conversation["id"], {"revision": 9})
    assert caught.value.field == "revision"
    with pytest.raises(ValidationFailed):
        await store.update_conversation(conversation["id"], {"starred": "yes"})
    assert store.seq == seq + 1
    with pytest.raises(NotFound):
        await store.get_conversation("missing")


async def test_update_bumps_revision_and_checks_if_match(store: Store) -> None:
    conversation, _ = await store.create_conversation(title="a")
    cid = conversation["id"]
    updated = await store.update_conversation(cid, {"title": "b", "starred": True}, if_revision=1)
    assert updated["revision"] == 2 and updated["title"] == "b" and updated["starred"]
    assert updated["updated_at"] >= conversation["updated_at"]
    with pytest.raises(Conflict) as caught:
        await store.update_conversation(cid, {"title": "c"}, if_revision=1)
    assert caught.value.details == {"revision": 2}
    unchanged = await store.update_conversation(cid, {"title": "b"})
    assert unchanged["revision"] == 2


async def test_trash_restore_and_purge(
    store: Store, data_dir: Path, store_config: StoreConfig
) -> None:
    _conversation, _ = await store.create_conversation(id="gone", title="t")
    await store.append_message("gone", role="user", content="hello")
    deleted = await store.delete_conversation("gone")
    assert deleted["deleted_at"] is not None
    assert [c["id"] for c in store.list_conversations().items] == []
    assert [c["id"] for c in store.list_conversations(ListQuery(deleted=True)).items] == ["gone"]
    with pytest.raises(Conflict):
        await store.append_message("gone", role="user", content="into the trash?")
    restored = await store.restore_conversation("gone")
    assert restored["deleted_at"] is None
    await store.checkpoint()
    await store.purge_conversation("gone")
    await store.purge_conversation("gone")
    assert not (data_dir / "conversations" / "gone").exists()
    with pytest.raises(NotFound):
        await store.get_conversation("gone")
    with pytest.raises(Conflict):
        await store.create_conversation(id="gone", title="t")
    await store.close()
    reopened = await Store.open(data_dir, store_config)
    try:
        with pytest.raises(Conflict):
            await reopened.create_conversation(id="gone", title="t")
        assert reopened.list_conversations(ListQuery(deleted=None)).items == []
    finally:
        await reopened.close()


async def test_list_orders_pinned_first_then_recent_and_pages_without_gaps(store: Store) -> None:
    made = [(await store.create_conversation(title=f"chat {i}"))[0]["id"] for i in range(23)]
    await store.update_conversation(made[3], {"pinned": True})
    await store.update_conversation(made[0], {"archived": True})
    seen: list[str] = []
    cursor = None
    while True:
        page = store.list_conversations(ListQuery(limit=5, cursor=cursor))
        seen.extend(c["id"] for c in page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen[0] == made[3]
    assert made[0] not in seen
    assert len(seen) == len(set(seen)) == 22
    rest = [cid for cid in seen[1:]]
    assert rest == sorted(rest, reverse=True)  # ulids sort by creation = by updated_at here
    archived = store.list_conversations(ListQuery(archived=True)).items
    assert [c["id"] for c in archived] == [made[0]]
    assert len(store.list_conversations(ListQuery(archived=None, limit=100)).items) == 23
    assert [c["title"] for c in store.list_conversations(ListQuery(q="CHAT 7")).items] == ["chat 7"]
    with pytest.raises(ValidationFailed):
        store.list_conversations(ListQuery(cursor="garbage!"))
    with pytest.raises(ValidationFailed):
        store.list_conversations(ListQuery(limit=0))


async def test_second_owner_is_refused(store: Store, data_dir: Path) -> None:
    with pytest.raises(StoreLocked):
        await Store.open(data_dir)


async def test_data_dir_is_private(store: Store, data_dir: Path) -> None:
    assert data_dir.stat().st_mode & 0o777 == 0o700
