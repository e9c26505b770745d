"""Messages, branches, streaming growth and turns."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pytest

from sidecar.store import (
    Change,
    Conflict,
    ConversationEffect,
    MessageEffect,
    NotFound,
    Store,
    StoreConfig,
    ValidationFailed,
)
from sidecar.store.model import preview_of
from sidecar.store.shard import MESSAGES_PER_CHUNK
from tests.store.helpers import put_turn


async def _conversation(store: Store, cid: str = "c") -> str:
    await store.create_conversation(id=cid)
    return cid


async def test_append_grows_the_active_branch_and_updates_the_summary(store: Store) -> None:
    cid = await _conversation(store)
    first, _ = await store.append_message(cid, role="user", content="hello   there\nfriend")
    second, _ = await store.append_message(cid, role="assistant", content="hi")
    assert first["parent_id"] is None and second["parent_id"] == first["id"]
    summary = await store.get_conversation(cid)
    assert summary["message_count"] == 2 and summary["revision"] == 3
    assert summary["last_message_preview"] == "hi"
    items, has_more = await store.list_messages(cid)
    assert [m["id"] for m in items] == [first["id"], second["id"]] and not has_more
    assert store.list_conversations().items[0]["message_count"] == 2


async def test_client_message_id_makes_a_retry_harmless(store: Store) -> None:
    cid = await _conversation(store)
    sent, new1 = await store.append_message(cid, role="user", content="x", client_message_id="q1")
    again, new2 = await store.append_message(cid, role="user", content="x", client_message_id="q1")
    assert new1 and not new2 and again == sent
    with pytest.raises(Conflict) as caught:
        await store.append_message(cid, role="user", content="y", client_message_id="q1")
    assert caught.value.details["existing"]["id"] == sent["id"]
    assert (await store.get_conversation(cid))["message_count"] == 1


async def test_concurrent_appends_to_one_conversation_form_a_chain(store: Store) -> None:
    cid = await _conversation(store)
    sent = await asyncio.gather(
        *(store.append_message(cid, role="user", content=f"m{i}") for i in range(40))
    )
    items, _ = await store.list_messages(cid, limit=100)
    assert len(items) == 40 == len({m["id"] for m, _ in sent})
    for previous, current in itertools.pairwise(items):
        assert current["parent_id"] == previous["id"]


async def test_paging_back_and_forth(store: Store) -> None:
    cid = await _conversation(store)
    for i in range(120):
        await store.append_message(cid, role="user", content=str(i))
    last, more = await store.list_messages(cid, limit=50)
    assert [m["content"] for m in last] == [str(i) for i in range(70, 120)] and more
    older, more = await store.list_messages(cid, limit=50, before=last[0]["id"])
    assert [m["content"] for m in older] == [str(i) for i in range(20, 70)] and more
    oldest, more = await store.list_messages(cid, limit=50, before=older[0]["id"])
    assert [m["content"] for m in oldest] == [str(i) for i in range(20)] and not more
    after, more = await store.list_messages(cid, limit=10, after=oldest[-1]["id"])
    assert [m["content"] for m in after] == [str(i) for i in range(20, 30)] and more
    with pytest.raises(NotFound):
        await store.list_messages(cid, before="nope")
    with pytest.raises(ValidationFailed):
        await store.list_messages(cid, limit=0)


async def test_branches_follow_the_contract(store: Store) -> None:
    cid = await _conversation(store)
    a, _ = await store.append_message(cid, role="user", content="a")
    b, _ = await store.append_message(cid, role="assistant", content="b")
    # edit a and resend: parent is a's parent (null) -> new root on a new branch, made active
    a2, _ = await store.append_message(cid, role="user", content="a edited", parent_id=None)
    summary = await store.get_conversation(cid)
    assert summary["active_branch"] == "branch-1" and summary["message_count"] == 1
    # parent = head of main -> main grows and becomes active
    c, _ = await store.append_message(cid, role="user", content="c", parent_id=b["id"])
    assert (await store.get_conversation(cid))["active_branch"] == "main"
    items, _ = await store.list_messages(cid)
    assert [m["content"] for m in items] == ["a", "b", "c"]
    # parent = a message inside main -> a new branch from there, named as asked
    d, _ = await store.append_message(
        cid, role="assistant", content="d", parent_id=a["id"], branch="alt"
    )
    branches = {b["name"]: b for b in await store.list_branches(cid)}
    assert branches["alt"]["active"] and branches["alt"]["head_message_id"] == d["id"]
    assert branches["main"]["head_message_id"] == c["id"]
    assert branches["branch-1"]["head_message_id"] == a2["id"]
    items, _ = await store.list_messages(cid, branch="main")
    assert [m["content"] for m in items] == ["a", "b", "c"]
    items, _ = await store.list_messages(cid)
    assert [m["content"] for m in items] == ["a", "d"]
    made, new = await store.create_branch(cid, b["id"])
    assert new and made == {"name": "branch-3", "head_message_id": b["id"], "active": False}
    assert await store.create_branch(cid, b["id"], name="branch-3") == (made, False)
    with pytest.raises(Conflict):
        await store.create_branch(cid, b["id"], name="alt")
    with pytest.raises(ValidationFailed):
        await store.create_branch(cid, "missing")
    switched = await store.switch_branch(cid, "branch-3")
    assert switched["active_branch"] == "branch-3" and switched["last_message_preview"] == "b"
    with pytest.raises(NotFound):
        await store.switch_branch(cid, "nope")
    with pytest.raises(ValidationFailed):
        await store.append_message(cid, role="user", content="x", parent_id="missing")


async def test_streaming_growth_keeps_revision_and_survives_reopen(
    store: Store, data_dir: Path, store_config: StoreConfig
) -> None:
    cid = await _conversation(store)
    reply, _ = await store.append_message(cid, role="assistant", content="", status="streaming")
    revision = (await store.get_conversation(cid))["revision"]
    updated_at = (await store.get_conversation(cid))["updated_at"]
    text = ""
    for i in range(30):
        chunk = f"part{i} "
        assert await store.append_text(cid, reply["id"], len(text), chunk) == len(text) + len(chunk)
        text += chunk
    summary = await store.get_conversation(cid)
    assert summary["revision"] == revision and summary["updated_at"] == updated_at
    assert summary["last_message_preview"] == preview_of(text)
    assert len(preview_of(text)) == 140 and preview_of(text).endswith("…")
    with pytest.raises(ValidationFailed):
        await store.append_text(cid, reply["id"], len(text) + 5, "gap")
    await store.append_text(cid, reply["id"], 5, "X")  # a rewrite from an earlier offset
    await store.close()
    reopened = await Store.open(data_dir, store_config)
    try:
        assert (await reopened.get_message(cid, reply["id"]))["content"] == text[:5] + "X"
        done = await reopened.update_message(cid, reply["id"], status="complete")
        assert done["status"] == "complete"
        with pytest.raises(Conflict):
            await reopened.append_text(cid, reply["id"], 0, "late")
    finally:
        await reopened.close()


async def test_update_message_and_validation(store: Store) -> None:
    cid = await _conversation(store)
    message, _ = await store.append_message(cid, role="user", content="typo")
    fixed = await store.update_message(cid, message["id"], content="fixed", metadata={"e": 1})
    assert fixed["content"] == "fixed" and fixed["metadata"] == {"e": 1}
    assert (await store.get_conversation(cid))["last_message_preview"] == "fixed"
    for bad in ({"role": "wizard"}, {"content": 3}, {"status": "done"}, {"tool_calls": [1]}):
        args = {"role": "user", "content": "x", **bad}
        with pytest.raises(ValidationFailed) as caught:
            await store.append_message(cid, **args)  # type: ignore[arg-type]
        assert caught.value.field == next(iter(bad))
    with pytest.raises(NotFound):
        await store.get_message(cid, "nope")


async def test_turns_persist_and_drive_the_conversation_state(
    store: Store, data_dir: Path, store_config: StoreConfig
) -> None:
    cid = await _conversation(store)
    turn = {"id": "t1", "state": "streaming", "attempts": [], "error": None}
    await put_turn(store, cid, turn)
    assert (await store.get_conversation(cid))["state"] == "streaming"
    await put_turn(store, cid, {**turn, "state": "completed"})
    await store.close()
    reopened = await Store.open(data_dir, store_config)
    try:
        assert (await reopened.get_conversation(cid))["state"] == "completed"
        assert (await reopened.get_turn(cid, "t1"))["state"] == "completed"
        assert [t["id"] for t in await reopened.list_turns(cid)] == ["t1"]
    finally:
        await reopened.close()


async def test_listeners_see_every_commit_in_seq_order(store: Store) -> None:
    seen: list[Change] = []
    unsubscribe = store.subscribe(seen.extend)
    cid = await _conversation(store)
    await asyncio.gather(
        *(store.create_conversation(id=f"other{i}") for i in range(10)),
        store.append_message(cid, role="user", content="hi"),
    )
    unsubscribe()
    await store.create_conversation(id="unseen")
    effects = [effect for change in seen for effect in change.effects]
    seqs = [effect.seq for effect in effects]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "one seq per effect, no gaps"
    assert len(seen) == 12 and store.seq == seqs[-1] + 1  # + the unseen create
    first = seen[0].effects[0]
    assert isinstance(first, ConversationEffect) and first.reason == "created"
    [message_change] = [c for c in seen if len(c.effects) == 2]
    conversation_effect, message_effect = message_change.effects
    assert isinstance(conversation_effect, ConversationEffect)
    assert conversation_effect.conversation is not None
    assert conversation_effect.conversation["message_count"] == 1
    assert isinstance(message_effect, MessageEffect) and message_effect.created is True
    assert "_request" not in message_effect.message


async def test_long_conversations_open_lazily(data_dir: Path, store_config: StoreConfig) -> None:
    store = await Store.open(data_dir, store_config)
    cid = await _conversation(store)
    total = MESSAGES_PER_CHUNK * 3 + 10
    for start in range(0, total, 100):
        await asyncio.gather(
            *(
                store.append_message(cid, role="user", content=str(i))
                for i in range(start, min(start + 100, total))
            )
        )
    await store.close()
    store = await Store.open(data_dir, store_config)
    try:
        items, more = await store.list_messages(cid, limit=50)
        assert more and len(items) == 50
        shard = store._cache.shards[cid]
        assert set(shard.chunks) == {2, 3}, "only the chunks of the last page are read"
    finally:
        await store.close()
