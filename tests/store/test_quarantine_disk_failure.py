"""Moving a damaged conversation aside while the store runs, on a disk that fails to take
memory's copy of it: the writes acknowledged before the damage was found are still never lost.

``ShardCache.quarantine_live`` drops the shard from memory and seals the journal, then moves
the folder aside and writes a copy of what memory held. When that copy could not be written
(disk full, EIO), the next checkpoint still deleted the journal segments holding the writes
the copy was to carry, and they were gone. The failure is injected where the disk raises it
(``os.open`` of the copy's files).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest

from sidecar.store import NotFound, Store
from sidecar.store.values import StoreConfig

from .helpers import damage_lazily_read_turns, found_anywhere

ACKNOWLEDGED = "acknowledged-before-a-full-disk-5d1e"


def _full_disk_for_copies(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every file open under a quarantine slot's ``in-memory`` folder fails with ENOSPC."""
    real_open = os.open
    refused: list[str] = []

    def open_(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if "in-memory" in Path(path).parts:
            refused.append(str(path))
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", open_)
    return refused


@pytest.mark.parametrize("disk_recovers", [True, False], ids=["room-again", "full-until-exit"])
async def test_writes_acknowledged_before_the_damage_survive_a_failed_copy(
    data_dir: Path, store_config: StoreConfig, monkeypatch: pytest.MonkeyPatch, disk_recovers: bool
) -> None:
    await damage_lazily_read_turns(data_dir, store_config, "victim")

    store = await Store.open(data_dir, store_config)
    try:
        await store.append_message("victim", role="user", content=ACKNOWLEDGED)
        refused = _full_disk_for_copies(monkeypatch)
        with pytest.raises(NotFound):  # found damaged and moved aside, as without the failure
            await store.list_turns("victim")
        assert refused, "the copy was never attempted"
        await store.checkpoint()  # the disk is still full: the segments with the write stay
        if disk_recovers:
            monkeypatch.undo()
            await store.checkpoint()  # writes the copy, then drops the segments
    finally:
        await store.close()
        monkeypatch.undo()

    store = await Store.open(data_dir, store_config)  # recovery, with any segments kept
    try:
        state = store.id_state("victim")
        await store.checkpoint()
    finally:
        await store.close()
    assert state == "quarantined"  # not brought back half from the kept records
    found = found_anywhere(data_dir, ACKNOWLEDGED)
    assert found and all(path.startswith("quarantine/") for path in found), found
