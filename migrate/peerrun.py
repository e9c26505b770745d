"""An import run (and a validation) of another tool's history, one chunk at a time.

The run is the same as for legacy exports (:mod:`migrate.run`): one run id, a folder
``DATA_DIR/migrations/<run_id>/`` with a copy of every input and ``report.json``, the same
actions and importer. What differs is that the conversations come in chunks
(:meth:`migrate.peerplan.PeerReading.chunks`): each chunk is compared with the store and written
before the next is read, so memory stays flat however big the history is. With ``--strict`` the
caller reads the whole history once first (:meth:`PeerReading.check`), so a bad unit anywhere
means nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable
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
from .peercheck import structure_differences
from .peerplan import PeerReading
from .progress import Reporter
from .run import dry_run_answer, refuse_if_failed
from .target import Target, TargetError
from .validate import Checked, validate


def _absorb(total: Outcome, part: Outcome) -> None:
    total.created += part.created
    total.merged += part.merged
    total.unchanged += part.unchanged
    total.skipped += part.skipped
    total.failed += part.failed
    total.imported_messages += part.imported_messages


async def peer_import_run(
    reading: PeerReading,
    target: Target,
    *,
    dry_run: bool,
    started_ms: int,
    reporter: Reporter,
) -> dict[str, Any]:
    """Carry the reading into ``target``; the report (or, for a dry run, what would be done)."""
    run_id = None if dry_run else new_run_id()
    folder = None
    copies: list[str] = []
    if not dry_run:
        if target.data_dir is None:
            raise TargetError("the sidecar did not say where its data dir is")
        folder = run_folder(target.data_dir, run_id or "")
        copies = copy_inputs(folder, reading.units)
    bar = reporter.bar("importing", total=None)
    actions: list[Action] = []
    outcome = Outcome()
    error: str | None = None
    try:
        for chunk in reading.chunks():
            plan = reading.plan(chunk)
            done = await plan_actions(plan, target, run_id)
            actions += done
            if run_id is not None:
                part = Outcome()
                try:
                    await execute(done, target, run_id, advance=bar.advance, outcome=part)
                finally:
                    _absorb(outcome, part)
            else:
                bar.advance(len(done))
    except TargetError as exc:
        error = str(exc)
        raise TargetError(f"{exc} (run {run_id}: what was imported is in its report)") from None
    finally:
        if folder is not None and run_id is not None:
            report = build_report(
                run_id=run_id,
                plan=reading.plan([]),
                actions=actions,
                outcome=outcome,
                path=target.kind,
                data_dir=target.data_dir,
                started_ms=started_ms,
                copies=copies,
                error=error,
            )
            report["report"] = str(write_report(folder, report))
    if run_id is None:
        return dry_run_answer(reading.plan([]), actions, target)
    refuse_if_failed(outcome, report)
    return report


async def peer_validate(
    reading: PeerReading, target: Target, *, advance: Callable[[int], None] | None = None
) -> Checked:
    """``validate`` of each chunk in turn, and the tools' branches and tool calls
    (:mod:`migrate.peercheck`): the differences of all of them."""
    total = Checked()
    for chunk in reading.chunks():
        part = await validate(reading.plan(chunk), target, advance=advance)
        total.differences += part.differences
        total.differences += await structure_differences(chunk, target)
        total.conversations += part.conversations
        total.messages += part.messages
    return total
