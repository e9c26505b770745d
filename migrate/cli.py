"""``chat-migrate``: turn legacy localStorage chat exports into sidecar conversations, once.

Exit codes (CONTRACT §8): 0 success; 1 ``validate`` found differences or ``rollback`` refused
some conversations; 2 bad input or usage, with a one-line reason naming the file.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import orjson
import typer

from .adapters.peers import PEER_FORMATS
from .dedupe import plan_dedupe
from .discover import default_paths, places
from .discover import discover as discover_histories
from .heap import big_strings_mapped
from .inputs import Input, readable_inputs
from .normalize import DEFAULT_DUP_WINDOW_MS
from .peerplan import PeerReading
from .peerrun import peer_import_run, peer_validate
from .plan import Plan, build_plan
from .problems import BadInput
from .progress import Reporter
from .run import dedupe_run, import_run
from .shelf import message_count
from .target import TOKEN_ENV, Target, TargetError, open_target
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

Exports = Annotated[
    list[Path],
    typer.Argument(
        help="Export files (JSON: a flat localStorage object or an envelope); a pipe or '-' "
        "(standard input) is read too.",
        show_default=False,
    ),
]
Sources = Annotated[
    list[Path] | None,
    typer.Argument(
        help="Export files; with --from, the tool's files or folders (none: its usual places).",
        show_default=False,
    ),
]
FromFormat = Annotated[
    str | None,
    typer.Option(
        "--from",
        metavar="FORMAT",
        help=f"Another tool's history instead of exports: {', '.join(PEER_FORMATS)}.",
    ),
]
DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        envvar="CHAT_SIDECAR_DATA_DIR",
        help="The sidecar's data dir (default: the sidecar's default). When a sidecar owns it, "
        "the work goes through that sidecar's API; otherwise the store is opened directly.",
    ),
]
Url = Annotated[
    str | None,
    typer.Option(
        "--url",
        help=f"A running sidecar's URL instead of a data dir (token in {TOKEN_ENV}).",
    ),
]
Quiet = Annotated[
    bool, typer.Option("--quiet", "-q", help="Print only errors (and --json output).")
]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Write nothing; print what would be done.")]


def _fail(reason: str) -> NoReturn:
    typer.echo(f"chat-migrate: {reason}", err=True)
    raise typer.Exit(2)


def _say(quiet: bool, text: str) -> None:
    if not quiet:
        typer.echo(text)


def _emit_json(body: Any) -> None:
    sys.stdout.write(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode() + "\n")


def _check_source(data_dir: Path | None, url: str | None) -> None:
    if data_dir is not None and url is not None:
        _fail("give --data-dir or --url, not both")


def _run(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run ``work``; bad input and refusals become exit 2 with their one-line reason."""
    try:
        return asyncio.run(work())
    except BadInput as exc:
        _fail(str(exc))
    except TargetError as exc:
        _fail(str(exc))


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


@contextmanager
def _readable(exports: list[Path]) -> Iterator[list[Input]]:
    """The exports made readable twice (pipes and stdin spooled); a bad one is exit 2."""
    stack = ExitStack()
    try:
        inputs = stack.enter_context(readable_inputs(exports))
    except BadInput as exc:
        _fail(str(exc))
    with stack:
        yield inputs


def _plan(exports: list[Input], window: float, strict: bool, reporter: Reporter) -> Plan:
    bar = reporter.bar("reading", total=len(exports))

    def on_file(label: str) -> None:
        bar.describe(f"reading {Path(label).name}")
        bar.advance(1)

    try:
        with big_strings_mapped():
            return build_plan(
                exports, window_ms=round(window * 1000), strict=strict, on_file=on_file
            )
    except BadInput as exc:
        _fail(str(exc))


def _exports(exports: list[Path] | None) -> list[Path]:
    if not exports:
        _fail("give export files, or --from FORMAT for another tool's history")
    return list(exports)


def _reading(
    from_format: str, paths: list[Path] | None, strict: bool, reporter: Reporter
) -> PeerReading:
    """Another tool's history (``--from``): the PATHs given, or its usual places."""
    if from_format not in PEER_FORMATS:
        _fail(f"--from: unknown format {from_format!r} (one of {', '.join(PEER_FORMATS)})")
    if not paths:
        paths = default_paths(from_format)
        if not paths:
            looked = ", ".join(str(p) for p in places(from_format))
            _fail(f"no {from_format} history in its usual places (looked in {looked})")
    bar = reporter.bar("reading", total=None)

    def on_unit(label: str) -> None:
        bar.describe(f"reading {Path(label).name}")
        bar.advance(1)

    try:
        reading = PeerReading(from_format, paths, strict=strict, on_unit=on_unit)
        if strict:
            reading.check()  # before the store is opened: a bad unit anywhere writes nothing
    except BadInput as exc:
        _fail(str(exc))
    return reading


WINDOW_HELP = "Re-saves of one message at most this many seconds apart collapse into one."


@app.command()
def inspect(exports: Exports, json_out: Json = False, quiet: Quiet = False) -> None:
    """Show what each export holds: apps detected, conversations, messages, ignored keys, problems.

    Reads only the files (the store is not touched). Also lists the merges and possible
    duplicates an import would make.
    """
    reporter = Reporter(not (quiet or json_out))
    with _readable(exports) as inputs, reporter.live():
        plan = _plan(inputs, DEFAULT_DUP_WINDOW_MS / 1000, False, reporter)
    if json_out:
        _emit_json(
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
        _say(quiet, f"{item.path}: {item.shape}, {item.size:,} bytes")
        _say(quiet, f"  apps: {', '.join(item.apps)}")
        _say(quiet, f"  conversations: {item.conversations}, messages: {item.messages}")
        if item.unrelated_keys:
            _say(quiet, f"  unrelated keys (ignored): {', '.join(item.unrelated_keys)}")
        for problem in item.problems:
            _say(quiet, f"  {problem.severity}: [{problem.key or '-'}] {problem.message}")
    kept = sum(message_count(c) for c in plan.conversations)
    _say(
        quiet,
        f"after the rules: {len(plan.conversations) + len(plan.documents)} conversations, "
        f"{kept} messages, {plan.dropped} re-saves collapsed",
    )
    for note in plan.notes:
        _say(quiet, f"  {note.message}")


@app.command("import")
def import_(
    exports: Sources = None,
    from_format: FromFormat = None,
    dry_run: DryRun = False,
    json_out: Json = False,
    strict: Annotated[
        bool, typer.Option("--strict", help="Any bad key makes the whole run fail (exit 2).")
    ] = False,
    dup_window: Annotated[
        float, typer.Option("--dup-window", min=0, metavar="SECONDS", help=WINDOW_HELP)
    ] = DEFAULT_DUP_WINDOW_MS / 1000,
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
    started = int(time.time() * 1000)
    reporter = Reporter(not (quiet or json_out))
    with ExitStack() as stack:
        if from_format is None:
            inputs = stack.enter_context(_readable(_exports(exports)))
            stack.enter_context(reporter.live())
            plan = _plan(inputs, dup_window, strict, reporter)

            async def work(target: Target) -> dict[str, Any]:
                return await import_run(
                    plan, inputs, target, dry_run=dry_run, started_ms=started, reporter=reporter
                )
        else:
            stack.enter_context(reporter.live())
            reading = _reading(from_format, exports, strict, reporter)

            async def work(target: Target) -> dict[str, Any]:
                return await peer_import_run(
                    reading, target, dry_run=dry_run, started_ms=started, reporter=reporter
                )

        result = _run(lambda: _with_target(data_dir, url, work, create=not dry_run))
    if json_out:
        _emit_json(result)
        return
    if result.get("dry_run"):
        _say(quiet, f"dry run (nothing written; would go through the {result['write_path']} path):")
        for action in result["actions"]:
            note = f" - {action['note']}" if action["note"] else ""
            _say(
                quiet,
                f"  {action['action']:9} {action['id']} ({action['identity']}, "
                f"{action['messages']} messages){note}",
            )
    else:
        conversations = result["conversations"]
        _say(
            quiet,
            f"run {result['run_id']} ({result['write_path']}): "
            f"{len(conversations['created'])} created, {len(conversations['merged'])} merged, "
            f"{len(conversations['unchanged'])} unchanged",
        )
    messages = result["messages"]
    _say(
        quiet,
        f"messages: {messages['imported']} imported, "
        f"{messages['dropped_as_duplicates']} re-saves dropped as duplicates, "
        f"{messages['same_in_another_copy']} already in another copy",
    )
    if result["hidden_skipped"] or result["large_parts_replaced"]:
        _say(
            quiet,
            f"hidden messages skipped: {result['hidden_skipped']}, "
            f"binary parts over 1 MiB replaced by a note: {result['large_parts_replaced']}",
        )
    for problem in result["problems"]:
        line = f"{problem['severity']}: {problem['file']} [{problem['key'] or '-'}]: {problem['message']}"
        if problem["severity"] == "error":
            typer.echo(line, err=True)  # even with --quiet: something was not imported
        elif problem["severity"] == "warning":
            _say(quiet, line)
    if not result.get("dry_run"):
        _say(quiet, f"report: {result['report']}")


@app.command()
def validate(
    exports: Sources = None,
    from_format: FromFormat = None,
    json_out: Json = False,
    dup_window: Annotated[
        float, typer.Option("--dup-window", min=0, metavar="SECONDS", help=WINDOW_HELP)
    ] = DEFAULT_DUP_WINDOW_MS / 1000,
    data_dir: DataDir = None,
    url: Url = None,
    quiet: Quiet = False,
) -> None:
    """Check the store against the exports (same rules as import); exit 1 on any difference.

    Every conversation present; every message on its main branch, in order, with the same role,
    content and time; titles and flags kept. Prints one line per difference.
    """
    _check_source(data_dir, url)
    reporter = Reporter(not (quiet or json_out))
    with ExitStack() as stack:
        if from_format is None:
            inputs = stack.enter_context(_readable(_exports(exports)))
            stack.enter_context(reporter.live())
            plan = _plan(inputs, dup_window, False, reporter)

            async def work(target: Target) -> Any:
                total = len(plan.conversations) + len(plan.documents)
                bar = reporter.bar("validating", total=total)
                return await validate_store(plan, target, advance=bar.advance)
        else:
            stack.enter_context(reporter.live())
            reading = _reading(from_format, exports, False, reporter)

            async def work(target: Target) -> Any:
                bar = reporter.bar("validating", total=None)
                return await peer_validate(reading, target, advance=bar.advance)

        checked = _run(lambda: _with_target(data_dir, url, work))
    if json_out:
        _emit_json(
            {
                "differences": checked.differences,
                "conversations": checked.conversations,
                "messages": checked.messages,
            }
        )
    else:
        for line in checked.differences:
            typer.echo(line)
        _say(
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
                _say(quiet, ("would " if dry_run else "") + merge.line())
            for line in plan.possible:
                _say(quiet, line)
        if dry_run or not plan.merges:
            return plan, None
        return plan, await dedupe_run(plan, target, started)

    plan, run = _run(lambda: _with_target(data_dir, url, work))
    if json_out:
        _emit_json(
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
    _say(quiet, f"scanned {plan.scanned} conversations: {verb} {len(plan.merges)}")
    if run is not None:
        _say(quiet, f"run {run['run_id']} (undo: chat-migrate rollback {run['run_id']})")
        _say(quiet, f"report: {run['report']}")


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
        _fail(f"{run_id!r} is not a run id (it must match {ID_PATTERN.pattern})")

    async def work(target: Target) -> tuple[bool, dict[str, Any]]:
        return await target.rollback(run_id, force)

    refused, body = _run(lambda: _with_target(data_dir, url, work))
    if json_out:
        _emit_json({"run_id": run_id, "refused_any": refused, **body})
    else:
        for name in ("removed", "reverted"):
            items = body.get(name) or []
            _say(
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
        _emit_json({"histories": [f.to_json() for f in found]})
        return
    if not found:
        _say(quiet, "no other tool's history found in the usual places")
    for row in found:
        newest = row.to_json()["newest"] or "-"
        _say(
            quiet,
            f"{row.format:12} {row.conversations:6} conversations {row.messages:8} messages  "
            f"newest {newest}  {row.path}",
        )
        for problem in row.problems:
            typer.echo(f"  error: {problem}", err=True)


def main() -> None:
    app()
