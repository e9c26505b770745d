"""``chat-migrate``: turn legacy localStorage chat exports into sidecar conversations, once.

Exit codes (CONTRACT §8): 0 success; 1 ``validate`` found differences or ``rollback`` refused
some conversations; 2 bad input or usage, with a one-line reason naming the file.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from .cliargs import (
    DataDir,
    DryRun,
    DupWindow,
    Exports,
    FromFormat,
    Json,
    Quiet,
    Sources,
    Url,
    dup_window_for,
    emit_json,
    export_paths,
    fail,
    peer_reading,
    plan_exports,
    readable,
    say,
)
from .connect import open_target
from .dedupe import plan_dedupe
from .discover import discover as discover_histories
from .normalize import DEFAULT_DUP_WINDOW_MS
from .peerrun import peer_import_run, peer_validate
from .problems import BadInput
from .progress import Reporter
from .run import dedupe_run, import_run
from .shelf import message_count
from .target import Target, TargetError
from .validate import validate as validate_store

T = TypeVar("T")

app = typer.Typer(
    name="chat-migrate",
    help=(
        "Import legacy localStorage chat exports (navi, memory-loop, zustand, redux-persist, "
        "chat-sidecar) into the sidecar store exactly once: nothing lost, nothing doubled."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _check_source(data_dir: Path | None, url: str | None) -> None:
    if data_dir is not None and url is not None:
        fail("give --data-dir or --url, not both")


def _run(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run ``work``; bad input and refusals become exit 2 with their one-line reason."""
    try:
        return asyncio.run(work())
    except BadInput as exc:
        fail(str(exc))
    except TargetError as exc:
        fail(str(exc))


async def _with_target(
    data_dir: Path | None,
    url: str | None,
    work: Callable[[Target], Awaitable[T]],
    *,
    create: bool = False,
) -> T:
    target = await open_target(data_dir, url, create=create)
    try:
        return await work(target)
    finally:
        await target.close()


@app.command()
def inspect(exports: Exports, json_out: Json = False, quiet: Quiet = False) -> None:
    """Show what each export holds: apps detected, conversations, messages, ignored keys, problems.

    Reads only the files (the store is not touched). Also lists the merges and possible
    duplicates an import would make.
    """
    reporter = Reporter(not (quiet or json_out))
    with readable(exports) as inputs, reporter.live():
        plan = plan_exports(inputs, DEFAULT_DUP_WINDOW_MS / 1000, False, reporter)
    if json_out:
        emit_json(
            {
                "inputs": [i.to_json() for i in plan.inputs],
                "conversations": len(plan.conversations) + len(plan.documents),
                "messages": sum(message_count(c) for c in plan.conversations),
                "dropped_as_duplicates": plan.dropped,
                "notes": [n.to_json() for n in plan.notes],
            }
        )
        return
    for item in plan.inputs:
        say(quiet, f"{item.path}: {item.shape}, {item.size:,} bytes")
        say(quiet, f"  apps: {', '.join(item.apps)}")
        say(quiet, f"  conversations: {item.conversations}, messages: {item.messages}")
        if item.unrelated_keys:
            say(quiet, f"  unrelated keys (ignored): {', '.join(item.unrelated_keys)}")
        for problem in item.problems:
            say(quiet, f"  {problem.severity}: [{problem.key or '-'}] {problem.message}")
    kept = sum(message_count(c) for c in plan.conversations)
    say(
        quiet,
        f"after the rules: {len(plan.conversations) + len(plan.documents)} conversations, "
        f"{kept} messages, {plan.dropped} re-saves collapsed",
    )
    for note in plan.notes:
        say(quiet, f"  {note.message}")


@app.command("import")
def import_(
    exports: Sources = None,
    from_format: FromFormat = None,
    dry_run: DryRun = False,
    json_out: Json = False,
    strict: Annotated[
        bool, typer.Option("--strict", help="Any bad key makes the whole run fail (exit 2).")
    ] = False,
    dup_window: DupWindow = None,
    data_dir: DataDir = None,
    url: Url = None,
    quiet: Quiet = False,
) -> None:
    """Import exports (or, with --from, another tool's history) into the store, exactly once.

    Each run gets an id and a folder DATA_DIR/migrations/<run_id>/ with a copy of every input and
    report.json. A bad export file (not JSON, truncated, no known app's keys) stops everything
    before anything is written (exit 2). With --from, one bad file or session of the tool's is
    reported with its path and skipped (--strict: fatal, nothing written).
    """
    _check_source(data_dir, url)
    window = dup_window_for(from_format, dup_window)
    started = int(time.time() * 1000)
    reporter = Reporter(not (quiet or json_out))
    with ExitStack() as stack:
        if from_format is None:
            inputs = stack.enter_context(readable(export_paths(exports)))
            stack.enter_context(reporter.live())
            plan = plan_exports(inputs, window, strict, reporter)

            async def work(target: Target) -> dict[str, Any]:
                return await import_run(
                    plan, inputs, target, dry_run=dry_run, started_ms=started, reporter=reporter
                )
        else:
            stack.enter_context(reporter.live())
            reading = peer_reading(from_format, exports, strict, reporter)

            async def work(target: Target) -> dict[str, Any]:
                return await peer_import_run(
                    reading, target, dry_run=dry_run, started_ms=started, reporter=reporter
                )

        result = _run(lambda: _with_target(data_dir, url, work, create=not dry_run))
    if json_out:
        emit_json(result)
        return
    if result.get("dry_run"):
        say(quiet, f"dry run (nothing written; would go through the {result['write_path']} path):")
        for action in result["actions"]:
            note = f" - {action['note']}" if action["note"] else ""
            say(
                quiet,
                f"  {action['action']:9} {action['id']} ({action['identity']}, "
                f"{action['messages']} messages){note}",
            )
    else:
        conversations = result["conversations"]
        say(
            quiet,
            f"run {result['run_id']} ({result['write_path']}): "
            f"{len(conversations['created'])} created, {len(conversations['merged'])} merged, "
            f"{len(conversations['unchanged'])} unchanged",
        )
    messages = result["messages"]
    say(
        quiet,
        f"messages: {messages['imported']} imported, "
        f"{messages['dropped_as_duplicates']} re-saves dropped as duplicates, "
        f"{messages['same_in_another_copy']} already in another copy",
    )
    if result["hidden_skipped"] or result["large_parts_replaced"]:
        say(
            quiet,
            f"hidden messages skipped: {result['hidden_skipped']}, "
            f"binary parts over 1 MiB replaced by a note: {result['large_parts_replaced']}",
        )
    for problem in result["problems"]:
        line = f"{problem['severity']}: {problem['file']} [{problem['key'] or '-'}]: {problem['message']}"
        if problem["severity"] == "error":
            typer.echo(line, err=True)  # even with --quiet: something was not imported
        elif problem["severity"] == "warning":
            say(quiet, line)
    if not result.get("dry_run"):
        say(quiet, f"report: {result['report']}")


@app.command()
def validate(
    exports: Sources = None,
    from_format: FromFormat = None,
    json_out: Json = False,
    dup_window: DupWindow = None,
    data_dir: DataDir = None,
    url: Url = None,
    quiet: Quiet = False,
) -> None:
    """Check the store against the exports (same rules as import); exit 1 on any difference.

    Every conversation present; every message on its main branch, in order, with the same role,
    content and time; titles and flags kept. Prints one line per difference.
    """
    _check_source(data_dir, url)
    window = dup_window_for(from_format, dup_window)
    reporter = Reporter(not (quiet or json_out))
    with ExitStack() as stack:
        if from_format is None:
            inputs = stack.enter_context(readable(export_paths(exports)))
            stack.enter_context(reporter.live())
            plan = plan_exports(inputs, window, False, reporter)

            async def work(target: Target) -> Any:
                total = len(plan.conversations) + len(plan.documents)
                bar = reporter.bar("validating", total=total)
                return await validate_store(plan, target, advance=bar.advance)
        else:
            stack.enter_context(reporter.live())
            reading = peer_reading(from_format, exports, False, reporter)

            async def work(target: Target) -> Any:
                bar = reporter.bar("validating", total=None)
                return await peer_validate(reading, target, advance=bar.advance)

        checked = _run(lambda: _with_target(data_dir, url, work))
    if json_out:
        emit_json(
            {
                "differences": checked.differences,
                "conversations": checked.conversations,
                "messages": checked.messages,
            }
        )
    else:
        for line in checked.differences:
            typer.echo(line)
        say(
            quiet,
            f"checked {checked.conversations} conversations, {checked.messages} messages: "
            f"{len(checked.differences)} difference(s)",
        )
    if checked.differences:
        raise typer.Exit(1)


@app.command()
def dedupe(
    dry_run: DryRun = False,
    json_out: Json = False,
    data_dir: DataDir = None,
    url: Url = None,
    quiet: Quiet = False,
) -> None:
    """Find conversations already in the store that are copies of another and merge them.

    A copy (>= 3 messages whose roles and contents equal or start another conversation, and only
    one) is recorded in the survivor's metadata and moved to the trash (restorable). The plan is
    printed first; --dry-run stops there. A dedupe that merges is a run with an id, undone by
    `rollback RUN_ID` like an import.
    """
    _check_source(data_dir, url)
    reporter = Reporter(not (quiet or json_out))

    started = int(time.time() * 1000)

    async def work(target: Target) -> tuple[Any, dict[str, Any] | None]:
        with reporter.live():
            summaries = len(await target.summaries())
            bar = reporter.bar("scanning", total=summaries)
            plan = await plan_dedupe(target, advance=bar.advance)
        if not json_out:
            for merge in plan.merges:
                say(quiet, ("would " if dry_run else "") + merge.line())
            for line in plan.possible:
                say(quiet, line)
        if dry_run or not plan.merges:
            return plan, None
        return plan, await dedupe_run(plan, target, started)

    plan, run = _run(lambda: _with_target(data_dir, url, work))
    if json_out:
        emit_json(
            {
                "dry_run": dry_run,
                "run_id": run["run_id"] if run else None,
                "scanned": plan.scanned,
                "merges": [
                    {"from": m.source.store_id, "into": m.target.store_id, "identity": m.identity}
                    for m in plan.merges
                ],
                "possible_duplicates": plan.possible,
            }
        )
        return
    verb = "would merge" if dry_run else "merged"
    say(quiet, f"scanned {plan.scanned} conversations: {verb} {len(plan.merges)}")
    if run is not None:
        say(quiet, f"run {run['run_id']} (undo: chat-migrate rollback {run['run_id']})")
        say(quiet, f"report: {run['report']}")


@app.command()
def rollback(
    run_id: Annotated[str, typer.Argument(help="The run to undo (from its report).")],
    force: Annotated[
        bool,
        typer.Option("--force", help="Also undo conversations that changed since the run."),
    ] = False,
    json_out: Json = False,
    data_dir: DataDir = None,
    url: Url = None,
    quiet: Quiet = False,
) -> None:
    """Remove what a run added (conversations it created, messages it merged in), nothing else.

    A conversation changed since the run is left alone and listed (exit 1), unless --force.
    """
    _check_source(data_dir, url)
    from sidecar.store.ids import ID_PATTERN

    if not ID_PATTERN.fullmatch(run_id):
        fail(f"{run_id!r} is not a run id (it must match {ID_PATTERN.pattern})")

    async def work(target: Target) -> tuple[bool, dict[str, Any]]:
        return await target.rollback(run_id, force)

    refused, body = _run(lambda: _with_target(data_dir, url, work))
    if json_out:
        emit_json({"run_id": run_id, "refused_any": refused, **body})
    else:
        for name in ("removed", "reverted"):
            items = body.get(name) or []
            say(
                quiet,
                f"{name}: {len(items)}" + (f" ({', '.join(map(str, items))})" if items else ""),
            )
        for item in body.get("refused") or []:
            typer.echo(f"refused (changed since the run; use --force): {item}")
    if refused:
        raise typer.Exit(1)


@app.command()
def discover(json_out: Json = False, quiet: Quiet = False) -> None:
    """List every history of other tools found on this machine: format, path, conversations,
    messages, newest date. Reads only; looks in the tools' usual places for this user
    ($HOME, $XDG_CONFIG_HOME; VS Code, Insiders and VSCodium; ~/Downloads for exports)."""
    reporter = Reporter(not (quiet or json_out))
    with reporter.live():
        bar = reporter.bar("looking", total=None)
        found = discover_histories(on_place=lambda place: bar.describe(f"reading {place}"))
    if json_out:
        emit_json({"histories": [f.to_json() for f in found]})
        return
    if not found:
        say(quiet, "no other tool's history found in the usual places")
    for row in found:
        newest = row.to_json()["newest"] or "-"
        say(
            quiet,
            f"{row.format:12} {row.conversations:6} conversations {row.messages:8} messages  "
            f"newest {newest}  {row.path}",
        )
        for problem in row.problems:
            typer.echo(f"  error: {problem}", err=True)


def main() -> None:
    app()
