"""``request_id`` idempotency in the store (CONTRACT §4): a retry is answered, never run twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from sidecar.store import Conflict, Store, StoreConfig, ValidationFailed
from sidecar.store.shard import REMEMBERED_REQUESTS


async def test_retry_answers_from_the_first_and_a_different_request_clashes(store: Store) -> None:
    conversation, _ = await store.create_conversation(title="a")
    cid = conversation["id"]
    first = await store.update_conversation(cid, {"title": "b"}, request_id="r1")
    seq = store.seq
    # Someone else renames in between; the retry does not rename back, it reports the state.
    other = await store.update_conversation(cid, {"title": "c"})
    again = await store.update_conversation(cid, {"title": "b"}, request_id="r1")
    assert again == other and again["title"] == "c" and first["revision"] < again["revision"]
    assert store.seq == seq + 1, "the retry wrote nothing"
    with pytest.raises(Conflict) as clash:
        await store.update_conversation(cid, {"title": "x"}, request_id="r1")
    assert clash.value.details["existing"]["title"] == "c"
    with pytest.raises(Conflict):
        await store.delete_conversation(cid, request_id="r1")
    assert (await store.get_conversation(cid))["deleted_at"] is None


async def test_a_retry_beats_a_stale_if_match(store: Store) -> None:
    conversation, _ = await store.create_conversation()
    cid = conversation["id"]
    revision = conversation["revision"]
    await store.update_conversation(cid, {"starred": True}, if_revision=revision, request_id="s")
    # The answer was lost; the client retries with the same If-Match, now stale.
    answer = await store.update_conversation(
        cid, {"starred": True}, if_revision=revision, request_id="s"
    )
    assert answer["starred"] is True


async def test_a_request_that_changed_nothing_is_remembered_too(store: Store) -> None:
    conversation, _ = await store.create_conversation(title="same")
    cid = conversation["id"]
    published: list[object] = []
    store.subscribe(published.extend)
    await store.update_conversation(cid, {"title": "same"}, request_id="n")
    assert (await store.get_conversation(cid))["revision"] == conversation["revision"]
    assert published == [], "no event for a request that changed nothing"
    with pytest.raises(Conflict):
        await store.update_conversation(cid, {"title": "different"}, request_id="n")


async def test_messages_branches_trash_are_idempotent(store: Store) -> None:
    conversation, _ = await store.create_conversation()
    cid = conversation["id"]
    m1, _ = await store.append_message(cid, role="user", content="one")
    m2, _ = await store.append_message(cid, role="assistant", content="two")
    edited = await store.update_message(cid, m2["id"], content="2", request_id="e")
    assert await store.update_message(cid, m2["id"], content="2", request_id="e") == edited
    with pytest.raises(Conflict):
        await store.update_message(cid, m1["id"], content="2", request_id="e")
    branch, new = await store.create_branch(cid, m1["id"], request_id="b")
    assert new
    again, new_again = await store.create_branch(cid, m1["id"], request_id="b")
    assert (again, new_again) == (branch, False), "no second unnamed branch"
    assert len(await store.list_branches(cid)) == 2
    switched = await store.switch_branch(cid, branch["name"], request_id="w")
    assert await store.switch_branch(cid, branch["name"], request_id="w") == switched
    deleted = await store.delete_conversation(cid, request_id="d")
    restored = await store.restore_conversation(cid, request_id="u")
    assert restored["deleted_at"] is None
    # A late retry of the deletion does not put it back in the trash.
    assert (await store.delete_conversation(cid, request_id="d"))["deleted_at"] is None
    assert deleted["deleted_at"] is not None
    with pytest.raises(ValidationFailed) as bad:
        await store.restore_conversation(cid, request_id="not ok!")
    assert bad.value.field == "request_id"


async def test_remembered_across_restart_and_checkpoint(
    store: Store, data_dir: Path, store_config: StoreConfig
) -> None:
    conversation, _ = await store.create_conversation()
    cid = conversation["id"]
    await store.update_conversation(cid, {"pinned": True}, request_id="p")
    await store.close()
    reopened = await Store.open(data_dir, store_config)  # from the journal
    try:
        with pytest.raises(Conflict):
            await reopened.update_conversation(cid, {"pinned": False}, request_id="p")
        await reopened.checkpoint()
    finally:
        await reopened.close()
    from_files = await Store.open(data_dir, store_config)  # from the shard's meta file
    try:
        answer = await from_files.update_conversation(cid, {"pinned": True}, request_id="p")
        assert answer["pinned"] is True
        with pytest.raises(Conflict):
            await from_files.update_conversation(cid, {"pinned": False}, request_id="p")
    finally:
        await from_files.close()


async def test_memory_is_bounded_oldest_first(store: Store) -> None:
    conversation, _ = await store.create_conversation()
    cid = conversation["id"]
    for i in range(REMEMBERED_REQUESTS + 1):
        await store.update_conversation(cid, {"tags": [str(i)]}, request_id=f"q{i}")
    # q0 is forgotten: reusing it runs as a new request instead of clashing.
    answer = await store.update_conversation(cid, {"tags": ["again"]}, request_id="q0")
    assert answer["tags"] == ["again"]
    with pytest.raises(Conflict):
        await store.update_conversation(cid, {"tags": ["x"]}, request_id=f"q{REMEMBERED_REQUESTS}")
