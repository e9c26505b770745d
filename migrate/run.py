"""One import run, from a plan to a report: the same for ``chat-migrate import`` and for the
sidecar's one-time legacy export from a webview (``POST /api/v1/legacy-import``).

Each run gets an id and a folder ``DATA_DIR/migrations/<run_id>/`` with a copy of every input
and ``report.json`` (LEGACY_FORMATS.md §6). A dry run compares with the store and writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .apply import (
    Action,
    Outcome,
    build_report,
    copy_inputs,
    execute,
    new_run_id,
    plan_actions,
    run_folder,
    write_report,
)
from .dedupe import DedupePlan, apply_dedupe
from .inputs import Input
from .normalize import format_ms
from .plan import Plan
from .progress import Reporter
from .target import Target, TargetError


async def import_run(
    plan: Plan,
    exports: Sequence[Path | Input],
    target: Target,
    *,
    dry_run: bool,
    started_ms: int,
    reporter: Reporter,
) -> dict[str, Any]:
    """Carry out ``plan`` on ``target``; the report (or, for a dry run, what would be done)."""
    run_id = None if dry_run else new_run_id()
    total = len(plan.conversations) + len(plan.documents)
    bar = reporter.bar("comparing with the store", total=total)
    actions = await plan_actions(plan, target, run_id, advance=bar.advance)
    if dry_run:
        return dry_run_answer(plan, actions, target)
    assert run_id is not None
    if target.data_dir is None:
        raise TargetError("the sidecar did not say where its data dir is")
    folder = run_folder(target.data_dir, run_id)
    copies = copy_inputs(folder, exports)
    bar = reporter.bar("importing", total=len(actions))
    outcome = Outcome()
    error: str | None = None
    try:
        await execute(actions, target, run_id, advance=bar.advance, outcome=outcome)
    except TargetError as exc:
        error = str(exc)
        raise TargetError(f"{exc} (run {run_id}: what was imported is in its report)") from None
    finally:
        report = build_report(
            run_id=run_id,
            plan=plan,
            actions=actions,
            outcome=outcome,
            path=target.kind,
            data_dir=target.data_dir,
            started_ms=started_ms,
            copies=copies,
            error=error,
        )
        report["report"] = str(write_report(folder, report))
    refuse_if_failed(outcome, report)
    return report


def dry_run_answer(plan: Plan, actions: list[Action], target: Target) -> dict[str, Any]:
    """What a dry run answers, for legacy and other tools' imports alike: the actions it would
    take and the plan's counts; nothing is written."""
    return {
        "dry_run": True,
        "write_path": target.kind,
        "actions": [a.to_json() for a in actions],
        "messages": {
            "imported": sum(a.messages for a in actions if a.kind != "unchanged"),
            "dropped_as_duplicates": plan.dropped,
            "same_in_another_copy": plan.shared,
        },
        "hidden_skipped": plan.hidden_skipped,
        "large_parts_replaced": plan.large_parts_replaced,
        "problems": [p.to_json() for p in plan.problems],
    }


def refuse_if_failed(outcome: Outcome, report: dict[str, Any]) -> None:
    """A run in which the store refused some conversations fails once its report is written."""
    if outcome.failed:
        first = outcome.failed[0]
        raise TargetError(
            f"{len(outcome.failed)} conversation(s) refused by the store, the rest "
            f"imported (first: {first['id']}: {first['reason']}); report: {report['report']}"
        )


async def dedupe_run(plan: DedupePlan, target: Target, started_ms: int) -> dict[str, Any]:
    """Carry out a dedupe plan as a run of its own: its id, folder and ``report.json``."""
    if target.data_dir is None:
        raise TargetError("the sidecar did not say where its data dir is")
    run_id = new_run_id()
    folder = run_folder(target.data_dir, run_id)
    folder.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "kind": "dedupe",
        "run_id": run_id,
        "started_at": format_ms(started_ms),
        "write_path": target.kind,
        "data_dir": str(target.data_dir),
        "merges": [
            {"from": m.source.store_id, "into": m.target.store_id, "identity": m.identity}
            for m in plan.merges
        ],
        "possible_duplicates": plan.possible,
        "error": None,
    }
    try:
        report["changed"] = await apply_dedupe(plan, target, run_id, started_ms)
    except TargetError as exc:
        report["error"] = str(exc)
        raise TargetError(f"{exc} (run {run_id}: rollback undoes what was done)") from None
    finally:
        report["report"] = str(write_report(folder, report))
    return report
