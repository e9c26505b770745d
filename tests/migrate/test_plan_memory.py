"""What a planned message costs in memory (LEGACY_FORMATS §5: a huge export must not take
several copies of itself). Measured with tracemalloc, so it does not depend on the machine's load
or on the allocator: the bytes the plan keeps, per message, against the export's own bytes.
"""

from __future__ import annotations

import gc
import tracemalloc
from pathlib import Path

from benchmarks.migrate_bench import generate_navi_export
from migrate.apply import execute, new_run_id, plan_actions
from migrate.plan import build_plan
from migrate.shelf import loaded, message_count
from sidecar.service.direct_target import DirectTarget

#: Measured on this shape (per message, with its share of the conversation): 658 bytes with an
#: empty metadata dict and tool-call list made for every message, 540 without them, 509 with the
#: rarely set fields in one object made on demand (the content alone is ~220). A plan no longer
#: holds messages (they are shelved), but they are loaded this way to be compared and sent.
MAX_BYTES_PER_MESSAGE = 525
MAX_IMPORT_BYTES_PER_MESSAGE = 2300
#: What the plan itself keeps per byte of the export (measured on this shape): 1.9 when it held
#: every conversation's messages, ~0.16 with them shelved (fields, fingerprints).
MAX_PLAN_BYTES_PER_EXPORT_BYTE = 0.3
#: The most planning takes at once per byte of the export (measured on 13 MB of this shape,
#: with ~6 MB of it the reader's fixed buffers): 2.1 when the file's values were all held until
#: the adapters had read them and the plan kept every message, 0.35 with both on disk.
MAX_PLANNING_PEAK_PER_EXPORT_BYTE = 0.6


def _warm_up(tmp_path: Path) -> None:
    """Plan a tiny export first: the modules planning imports are not the plan's."""
    warm_up = tmp_path / "small.json"
    generate_navi_export(warm_up, 1, 5, 160)
    build_plan([warm_up], window_ms=2000)


def test_a_plan_holds_no_message_content(tmp_path: Path) -> None:
    """LEGACY_FORMATS §5 / issue #15: planning a huge export keeps its conversations' fields and
    fingerprints, not their messages, so the plan is a small fraction of the file; and reading
    it never holds the file's values all at once either."""
    _warm_up(tmp_path)
    export = tmp_path / "navi.json"
    shape = generate_navi_export(export, 1000, 50, 160)
    gc.collect()
    tracemalloc.start()
    try:
        plan = build_plan([export], window_ms=2000)
        gc.collect()
        kept, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sum(message_count(c) for c in plan.conversations) == shape["messages"]
    ratio = kept / shape["bytes"]
    assert ratio <= MAX_PLAN_BYTES_PER_EXPORT_BYTE, f"plan: {ratio:.2f} bytes per export byte"
    ratio = peak / shape["bytes"]
    assert ratio <= MAX_PLANNING_PEAK_PER_EXPORT_BYTE, f"peak: {ratio:.2f} bytes per export byte"


def test_planned_messages_hold_no_empty_metadata_or_tool_calls(tmp_path: Path) -> None:
    _warm_up(tmp_path)
    export = tmp_path / "navi.json"
    shape = generate_navi_export(export, 40, 50, 160)
    plan = build_plan([export], window_ms=2000)
    gc.collect()
    tracemalloc.start()
    try:
        conversations = [loaded(c) for c in plan.conversations]
        gc.collect()
        kept, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    messages = sum(len(c.messages) for c in conversations)
    assert messages == shape["messages"]
    assert kept / messages <= MAX_BYTES_PER_MESSAGE, f"{kept / messages:.0f} bytes a message"
    first = conversations[0].messages[0]
    assert first.metadata_view() == {} and first.tool_calls_view() == []


async def test_a_direct_import_holds_few_batches_of_documents_at_once(tmp_path: Path) -> None:
    """The import's own peak, above the plan it carries out: the batches in flight (documents
    and the store's copies of them). 24,000 messages make 12 batches; with 16 in flight at once
    this peaked 3.2 KB a message above the start, 1.7 KB with 4 (measured)."""
    export = tmp_path / "navi.json"
    shape = generate_navi_export(export, 480, 50, 160)
    plan = build_plan([export], window_ms=2000)
    target = await DirectTarget.open(tmp_path / "data")
    try:
        run_id = new_run_id()
        actions = await plan_actions(plan, target, run_id)
        del plan
        gc.collect()
        tracemalloc.start()
        try:
            start, _ = tracemalloc.get_traced_memory()
            outcome = await execute(actions, target, run_id)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    finally:
        await target.close()
    assert len(outcome.created) == shape["sessions"]
    extra = (peak - start) / shape["messages"]
    assert extra <= MAX_IMPORT_BYTES_PER_MESSAGE, f"{extra:.0f} bytes a message"
