"""Property: pipelined appends interleaved with other mutations of one conversation end in the
state that running the same mutations one at a time, in the order of their seqs, leaves.

Appends (to the active branch, or forking a new branch from the first message) pipeline; edits,
title changes and branch switches wait for the queued appends to land. The order of seqs is read
from the store's announcements (each mutation leaves a mark of its own in them), then replayed
serially on a fresh store and the two states compared.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sidecar.store import Store, StoreConfig
from sidecar.store.effects import Change, ConversationEffect, MessageEffect

KINDS = ("append", "append", "append", "fork", "edit", "title", "switch")
Op = tuple[str, int]  # kind, how many loop steps it waits before it starts

CID = "c"


async def setup(data_dir: Path) -> tuple[Store, str]:
    store = await Store.open(data_dir, StoreConfig(checkpoint_interval=3600))
    await store.create_conversation(id=CID)
    root, _ = await store.append_message(CID, role="user", content="root")
    return store, root["id"]


async def run(store: Store, root: str, index: int, kind: str) -> None:
    if kind == "append":
        await store.append_message(CID, role="user", content=f"append{index}")
    elif kind == "fork":
        await store.append_message(CID, role="user", content=f"fork{index}", parent_id=root)
    elif kind == "edit":
        await store.update_message(CID, root, content=f"edit{index}")
    elif kind == "title":
        await store.update_conversation(CID, {"title": f"title{index}"})
    else:
        await store.switch_branch(CID, "main")


def mutation_of(change: Change, title: str | None) -> str:
    """Which kind of mutation (and which one) left this change."""
    for effect in change.effects:
        if isinstance(effect, MessageEffect):
            return str(effect.message["content"])
    summary = next(e for e in change.effects if isinstance(e, ConversationEffect)).conversation
    assert summary is not None
    return str(summary["title"]) if summary["title"] != title else "switch"


async def state(store: Store) -> dict[str, Any]:
    summary, messages = await store.all_messages(CID)
    content = {m["id"]: m["content"] for m in messages}
    branches = await store.list_branches(CID)
    return {
        "conversation": {
            k: summary[k]
            for k in ("title", "active_branch", "revision", "message_count", "last_message_preview")
        },
        "messages": [(m["content"], content.get(m["parent_id"])) for m in messages],
        "branches": {b["name"]: content[b["head_message_id"]] for b in branches},
    }


async def concurrently(folder: Path, ops: list[Op]) -> tuple[dict[str, Any], list[str]]:
    store, root = await setup(folder)
    marks: list[str] = []
    title: list[str | None] = [None]

    def note(changes: Sequence[Change]) -> None:
        for change in changes:
            marks.append(mutation_of(change, title[0]))
            if marks[-1].startswith("title"):
                title[0] = marks[-1]

    store.subscribe(note)

    async def one(index: int, kind: str, delay: int) -> None:
        for _ in range(delay):
            await asyncio.sleep(0)
        await run(store, root, index, kind)

    try:
        await asyncio.gather(*(one(i, kind, delay) for i, (kind, delay) in enumerate(ops)))
        return await state(store), marks
    finally:
        await store.close()


async def serially(folder: Path, ops: list[Op], marks: list[str]) -> dict[str, Any]:
    store, root = await setup(folder)
    try:
        for mark in marks:
            if mark == "switch":
                await store.switch_branch(CID, "main")
                continue
            index = int(mark.lstrip("abcdefghijklmnopqrstuvwxyz"))
            await run(store, root, index, ops[index][0])
        return await state(store)
    finally:
        await store.close()


@given(ops=st.lists(st.tuples(st.sampled_from(KINDS), st.integers(0, 3)), min_size=1, max_size=14))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_interleaved_mutations_end_as_their_serial_run_in_seq_order(ops: list[Op]) -> None:
    async def check() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            together, marks = await concurrently(Path(tmp) / "together", ops)
            one_by_one = await serially(Path(tmp) / "serial", ops, marks)
        assert together == one_by_one
        written = [m for m in marks if m != "switch"]
        assert sorted(written) == sorted(
            f"{kind}{i}" for i, (kind, _) in enumerate(ops) if kind != "switch"
        )

    asyncio.run(check())
