"""Undoing a migration run: what it created goes, what it merged in is taken out again."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest

from sidecar.service.exporter import export_conversation, export_document
from sidecar.service.import_runs import RUN_RECORD, rollback_run, run_folder
from sidecar.service.importer import import_document
from sidecar.store import Conflict, NotFound, Store, StoreConfig

from .conftest import fill_rich, without_exported_at
from .documents import chain, conversation, document, message


def comparable(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry as the user sees it, minus the revision (a rollback is a change of its own)."""
    return {key: value for key, value in entry.items() if key != "revision"}


async def test_created_conversations_are_removed_and_their_ids_stay_usable(store: Store) -> None:
    run = document(conversation("c", chain("a", "b")), run_id="run-1")
    assert (await import_document(store, run)).created == ["c"]
    entry = await export_conversation(store, "c")
    assert entry["source"] == {"kind": "import", "run_id": "run-1"}
    assert {m["source"]["run_id"] for m in entry["messages"]} == {"run-1"}
    record = orjson.loads((run_folder(store.data_dir, "run-1") / RUN_RECORD).read_bytes())
    assert record["conversations"] == ["c"]

    result = await rollback_run(store, "run-1")
    assert result.to_json() == {"run_id": "run-1", "removed": ["c"], "reverted": [], "refused": []}
    assert store.id_state("c") == "free" and store.list_conversations().items == []
    again = await rollback_run(store, "run-1")
    assert again.removed == [] and again.refused == []
    assert (await import_document(store, run)).created == ["c"]  # the run can simply run again


async def test_merged_messages_and_fields_are_reverted_exactly(store: Store) -> None:
    ids = await fill_rich(store, "rich")
    before = await export_conversation(store, "rich")
    incoming = await export_conversation(store, "rich")
    incoming.update(title="Migrated title", updated_at="2999-01-01T00:00:00.000Z")
    incoming["messages"] += [
        message("legacy-1", ids["final"], conversation_id="rich", source={"kind": "migration"}),
        message("legacy-2", "legacy-1", conversation_id="rich", role="assistant"),
        message("legacy-3", ids["side"], conversation_id="rich"),
    ]
    for branch in incoming["branches"]:
        if branch["name"] == "main":
            branch["head_message_id"] = "legacy-2"  # extends main: moves forward
        if branch["name"] == "branch-2":
            branch["head_message_id"] = "legacy-3"  # diverges from branch-2's head: import-1
    incoming["turns"].append(
        {"id": "legacy-turn", "state": "completed", "user_message_id": "legacy-1"}
    )
    result = await import_document(store, document(incoming), run_id="mig")
    assert result.merged == ["rich"]
    merged = await export_conversation(store, "rich")
    assert merged["title"] == "Migrated title"
    assert {b["name"]: b["head_message_id"] for b in merged["branches"]}["main"] == "legacy-2"
    assert "import-1" in {b["name"] for b in merged["branches"]}
    assert merged["messages"][-3]["source"] == {"kind": "migration", "run_id": "mig"}

    outcome = await rollback_run(store, "mig")
    assert outcome.reverted == ["rich"] and outcome.refused == []
    after = await export_conversation(store, "rich")
    assert comparable(after) == comparable(before)
    assert after["revision"] == merged["revision"] + 1


async def test_changed_since_the_run_is_refused_unless_forced(store: Store) -> None:
    await import_document(store, document(conversation("base", chain("a"), title="base")))
    await import_document(
        store,
        document(
            conversation("base", [*chain("a"), message("b", "a")], updated=20),
            conversation("made", chain("m", conversation_id="made")),
            conversation("touched", chain("t", conversation_id="touched")),
        ),
        run_id="r",
    )
    await store.append_message("touched", role="user", content="my own reply")
    await store.append_message("base", role="user", content="reply to imported b")
    result = await rollback_run(store, "r")
    assert result.to_json() == {
        "run_id": "r",
        "removed": ["made"],
        "reverted": [],
        "refused": ["base", "touched"],
    }
    assert len((await export_conversation(store, "base"))["messages"]) == 3
    forced = await rollback_run(store, "r", force=True)
    assert forced.removed == ["touched"] and forced.reverted == ["base"]
    base = await export_conversation(store, "base")
    assert [m["id"] for m in base["messages"]] == ["a"]  # the reply to b went with b
    assert base["branches"] == [{"name": "main", "head_message_id": "a"}]


async def test_an_unknown_run_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        await rollback_run(store, "never-ran")


async def test_import_then_rollback_survive_restarts_and_crashes(
    store: Store, tmp_path: Path, store_config: StoreConfig
) -> None:
    await import_document(store, document(conversation("keep", chain("a", conversation_id="keep"))))
    await store.checkpoint()
    await import_document(
        store,
        document(
            conversation("keep", [*chain("a", "b", conversation_id="keep")], updated=30),
            conversation("new", chain("n", conversation_id="new")),
        ),
        run_id="r",
    )
    data = store.data_dir
    await store.close()
    reopened = await Store.open(data, store_config)  # the run's bookkeeping is persisted
    try:
        result = await rollback_run(reopened, "r")
        assert (result.removed, result.reverted) == (["new"], ["keep"])
        expected = without_exported_at(await export_document(reopened))
        # What a kill -9 right after the rollback leaves: the reset and the drop are only in
        # the journal (a reset checkpoints *before* it is journalled, never after).
        shutil.copytree(data, tmp_path / "crashed")
        (tmp_path / "crashed" / "sidecar.lock").unlink()
    finally:
        await reopened.close()
    crashed = await Store.open(tmp_path / "crashed", store_config)
    try:
        assert crashed.replayed_records == 1  # the reset (a drop is not replayed: it voids)
        assert without_exported_at(await export_document(crashed)) == expected
        assert crashed.id_state("new") == "free"
        assert [m["id"] for m in (await export_conversation(crashed, "keep"))["messages"]] == ["a"]
    finally:
        await crashed.close()


async def test_a_drop_whose_folder_survived_a_crash_is_finished_at_start(
    store: Store, tmp_path: Path, store_config: StoreConfig
) -> None:
    await import_document(store, document(conversation("c", chain("a", "b"))), run_id="r")
    await store.checkpoint()
    folder = store.layout.shard("c")
    shutil.copytree(folder, tmp_path / "saved-shard")
    await rollback_run(store, "r")
    assert not folder.exists()
    # A crash between the drop's journal record and the folder's removal leaves both.
    shutil.copytree(store.data_dir, tmp_path / "crashed")
    (tmp_path / "crashed" / "sidecar.lock").unlink()
    shutil.copytree(tmp_path / "saved-shard", tmp_path / "crashed" / "conversations" / "c")
    crashed = await Store.open(tmp_path / "crashed", store_config)
    try:
        assert crashed.id_state("c") == "free" and crashed.list_conversations().items == []
        assert not (tmp_path / "crashed" / "conversations" / "c").exists()
        assert (await import_document(crashed, document(conversation("c", chain("z"))))).created
    finally:
        await crashed.close()
    again = await Store.open(tmp_path / "crashed", store_config)  # the re-created one stays
    try:
        assert [m["id"] for m in (await export_conversation(again, "c"))["messages"]] == ["z"]
    finally:
        await again.close()


async def test_a_revert_across_message_chunks_stays_consistent(
    store: Store, tmp_path: Path, store_config: StoreConfig
) -> None:
    """600 merged-in messages span two chunk files; the revert renumbers and empties the second,
    and appends after it (before any checkpoint) replay correctly after a crash."""
    await import_document(store, document(conversation("big", chain("a", "b", "c"))))
    many = [message(f"m{n}", "c" if n == 0 else f"m{n - 1}", at=5) for n in range(600)]
    grown = conversation("big", [*chain("a", "b", "c"), *many], updated=40)
    await import_document(store, document(grown), run_id="bulk")
    await store.checkpoint()
    assert (await rollback_run(store, "bulk")).reverted == ["big"]
    await store.append_message("big", role="user", content="after the rollback")
    await store.append_message("big", role="assistant", content="still fine")
    live = await export_conversation(store, "big")
    assert [m["content"] for m in live["messages"]][3:] == ["after the rollback", "still fine"]
    shutil.copytree(store.data_dir, tmp_path / "crashed")
    (tmp_path / "crashed" / "sidecar.lock").unlink()
    crashed = await Store.open(tmp_path / "crashed", store_config)
    try:
        assert await export_conversation(crashed, "big") == live
        assert await crashed.verify("big") == []
    finally:
        await crashed.close()
    data = store.data_dir
    await store.close()
    reopened = await Store.open(data, store_config)
    try:
        assert await export_conversation(reopened, "big") == live
        assert await reopened.verify("big") == []
        await reopened.append_message("big", role="user", content="one more")
        page, _ = await reopened.list_messages("big", limit=10)
        assert [m["content"] for m in page][-3:] == ["after the rollback", "still fine", "one more"]
    finally:
        await reopened.close()


async def test_a_branch_the_run_added_goes_unless_it_is_the_only_way_to_what_it_reaches(
    store: Store,
) -> None:
    await import_document(store, document(conversation("c", chain("a", "b"))))
    pointer = conversation("c", chain("a", "b"), branches={"main": "b", "at-a": "a"}, updated=20)
    await import_document(store, document(pointer), run_id="r1")
    assert (await rollback_run(store, "r1")).reverted == ["c"]
    assert heads_of(await export_conversation(store, "c")) == {"main": "b"}

    await import_document(store, document(pointer), run_id="r2")
    # After the run the user writes on the branch the run added, from a message of their own.
    await store.append_message("c", role="user", content="mine", parent_id="a", branch="at-a")
    assert (await rollback_run(store, "r2")).refused == ["c"]
    forced = await rollback_run(store, "r2", force=True)
    assert forced.reverted == ["c"]
    entry = await export_conversation(store, "c")
    mine = next(m["id"] for m in entry["messages"] if m["content"] == "mine")
    assert heads_of(entry) == {"main": "b", "at-a": mine}  # kept: nothing else reaches it


def heads_of(entry: dict[str, Any]) -> dict[str, Any]:
    return {b["name"]: b["head_message_id"] for b in entry["branches"]}


async def test_a_run_record_that_is_not_a_file_is_refused_not_opened(store: Store) -> None:
    """A FIFO in place of the run's record used to block the rollback forever (issue #15)."""
    run = document(conversation("c", chain("a", "b")), run_id="run-1")
    await import_document(store, run)
    record = run_folder(store.data_dir, "run-1") / RUN_RECORD
    record.unlink()
    os.mkfifo(record)
    with pytest.raises(Conflict, match="cannot be read: a FIFO"):
        await asyncio.wait_for(rollback_run(store, "run-1"), 10)
    assert [c["id"] for c in store.list_conversations().items] == ["c"], "nothing undone"
