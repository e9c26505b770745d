"""A conversation a migration run changes is in the run's record before the change is written,
even when it was unchanged at the dry run and another write made the import change it after.

The record is what a rollback reads (``import_runs``): written up front so that a crash mid-import
still leaves every conversation it touched findable. A conversation that changed between the
dry run and the write used to be recorded only once every write had finished, so a crash or a
cancelled request in between left it changed by the run and unknown to its rollback. The test
holds the record's lock to let the other write land between the dry run and the write, and
reads the record from the store's change feed at the moment the run's write is committed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import orjson

from sidecar.service import import_runs
from sidecar.service.import_runs import RUN_RECORD, rollback_run, run_folder
from sidecar.service.importer import import_document
from sidecar.store import Change, Store

from .documents import chain, conversation, document


def _recorded(store: Store, run_id: str) -> list[str]:
    path = run_folder(store.data_dir, run_id) / RUN_RECORD
    return list(orjson.loads(path.read_bytes())["conversations"]) if path.exists() else []


async def test_a_conversation_changed_after_the_dry_run_is_recorded_before_it_is_written(
    store: Store,
) -> None:
    later = conversation("c", chain("a", "b"), title="theirs")
    later["updated_at"] = "2999-01-01T00:00:00.000Z"  # later than any change made here
    await import_document(store, document(later))
    assert (await import_document(store, document(later), run_id="probe")).unchanged == ["c"]

    seen: list[tuple[str, bool]] = []

    def on_change(changes: Sequence[Change]) -> None:
        for change in changes:
            seen.append((change.conversation_id, "c" in _recorded(store, "run-1")))

    lock = import_runs._run_record_lock
    lock.acquire()
    try:
        run = asyncio.create_task(import_document(store, document(later), run_id="run-1"))
        for _ in range(50):  # until the dry run is over and the import waits to record it
            await asyncio.sleep(0.01)
        assert not run.done()
        await store.update_conversation("c", {"title": "renamed here"})  # the import now merges
        unsubscribe = store.subscribe(on_change)
    finally:
        lock.release()
    try:
        result = await run
    finally:
        unsubscribe()
    assert result.merged == ["c"]
    assert ("c", True) in seen and ("c", False) not in seen, seen
    assert (await store.get_conversation("c"))["title"] == "theirs"
    rolled_back = await rollback_run(store, "run-1")
    assert rolled_back.reverted == ["c"]
    assert (await store.get_conversation("c"))["title"] == "renamed here"
