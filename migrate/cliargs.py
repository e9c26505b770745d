"""The command line's shared parts: its argument and option types, how it answers (text, JSON,
a failure as exit 2 with one line), and how it reads its inputs (exports, or another tool's
history). The commands themselves are in :mod:`migrate.cli`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import orjson
import typer

from .adapters.peers import PEER_FORMATS
from .discover import default_paths, places
from .heap import big_strings_mapped
from .inputs import Input, readable_inputs
from .normalize import DEFAULT_DUP_WINDOW_MS
from .peerplan import PeerReading
from .plan import Plan, build_plan
from .problems import BadInput
from .progress import Reporter
from .target import TOKEN_ENV

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


def fail(reason: str) -> NoReturn:
    typer.echo(f"chat-migrate: {reason}", err=True)
    raise typer.Exit(2)


def say(quiet: bool, text: str) -> None:
    if not quiet:
        typer.echo(text)


def emit_json(body: Any) -> None:
    sys.stdout.write(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode() + "\n")


@contextmanager
def readable(exports: list[Path]) -> Iterator[list[Input]]:
    """The exports made readable twice (pipes and stdin spooled); a bad one is exit 2."""
    stack = ExitStack()
    try:
        inputs = stack.enter_context(readable_inputs(exports))
    except BadInput as exc:
        fail(str(exc))
    with stack:
        yield inputs


def plan_exports(exports: list[Input], window: float, strict: bool, reporter: Reporter) -> Plan:
    """Plan the exports (one progress bar); a bad one is exit 2."""
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
        fail(str(exc))


def export_paths(exports: list[Path] | None) -> list[Path]:
    if not exports:
        fail("give export files, or --from FORMAT for another tool's history")
    return list(exports)


def peer_reading(
    from_format: str, paths: list[Path] | None, strict: bool, reporter: Reporter
) -> PeerReading:
    """Another tool's history (``--from``): the PATHs given, or its usual places."""
    if from_format not in PEER_FORMATS:
        fail(f"--from: unknown format {from_format!r} (one of {', '.join(PEER_FORMATS)})")
    if not paths:
        paths = default_paths(from_format)
        if not paths:
            looked = ", ".join(str(p) for p in places(from_format))
            fail(f"no {from_format} history in its usual places (looked in {looked})")
    bar = reporter.bar("reading", total=None)

    def on_unit(label: str) -> None:
        bar.describe(f"reading {Path(label).name}")
        bar.advance(1)

    try:
        reading = PeerReading(from_format, paths, strict=strict, on_unit=on_unit)
        if strict:
            reading.check()  # before the store is opened: a bad unit anywhere writes nothing
    except BadInput as exc:
        fail(str(exc))
    return reading


DupWindow = Annotated[
    float | None,
    typer.Option(
        "--dup-window",
        min=0,
        metavar="SECONDS",
        help="Re-saves of one message at most this many seconds apart collapse into one"
        f" (exports only; default {DEFAULT_DUP_WINDOW_MS / 1000:g}).",
    ),
]


def dup_window_for(from_format: str | None, window: float | None) -> float:
    """The re-save window in seconds; exit 2 when given with ``--from``.

    The window collapses a localStorage export's re-saves of one message (LEGACY_FORMATS §4).
    Other tools' histories have no re-saves, and some have made-up times (continue: one
    millisecond per message), where the window would merge two real messages: with ``--from`` it
    is never applied, so a user who asks for it is told rather than silently ignored.
    """
    if window is None:
        return DEFAULT_DUP_WINDOW_MS / 1000
    if from_format is not None:
        fail(
            "--dup-window collapses re-saves in localStorage exports; it does not apply to"
            f" another tool's history (--from {from_format})"
        )
    return window
