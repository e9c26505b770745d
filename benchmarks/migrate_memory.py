"""Peak memory of ``chat-migrate`` on huge exports, before and after the streaming reader (#15).

``python -m benchmarks.migrate_memory [--sizes 100,300] [--before REV] [--after REV]
[--commands inspect,import] [--shape flat|envelope|envelope-items-first]``

Writes one synthetic navi export per size (in MB; the shape of ``migrate_bench``: flat
localStorage object, values as JSON text, 50 messages of ~170 characters per session, one
re-save in 50; with ``--shape envelope`` the same object is the ``items`` of a LEGACY_FORMATS §1
envelope, after its other fields as the webview client writes it, or before them with
``envelope-items-first``), then runs each command in a fresh ``python -m migrate`` process with the code of
``--before`` (extracted with ``git archive`` into a temp folder) and with the working tree (or
the code of ``--after``), one after the other in the same run: peak RSS and CPU from ``wait4``,
wall time from spawn to exit. ``import`` goes to a fresh data dir each time (direct path).
Prints a Markdown table and the figures as JSON. Not a test: memory and time are measured here,
never asserted in CI.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from .common import ROOT

MB = 1024 * 1024
BYTES_PER_SESSION = 134_000_000 / 10_000  # migrate_bench's 10,000 sessions make 134 MB
RUN_TIMEOUT_S = 1800


def _tree(rev: str, into: Path) -> Path:
    """The code of ``rev`` (migrate/ and sidecar/) in ``into``."""
    into.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "archive", rev, "migrate", "sidecar"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def _generate(export: Path, sessions: int) -> dict[str, Any]:
    """The export, written by another process: a child's peak RSS (``ru_maxrss``) counts the
    parent's own high-water mark at the moment it was spawned (Linux carries it over ``exec``),
    so this process must never hold an export itself, or every figure below it is hidden."""
    code = (
        "import orjson; from benchmarks.migrate_bench import generate_navi_export; "
        "print(orjson.dumps(generate_navi_export("
        f"__import__('pathlib').Path({str(export)!r}), {sessions}, 50, 160)).decode())"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    figures: dict[str, Any] = orjson.loads(done.stdout)
    return figures


ENVELOPE_FIELDS = (
    b'"kind": "localstorage-export", "version": 1, "origin": "vscode-webview://bench", '
    b'"exported_at": "2026-12-03T00:00:00Z"'
)
SHAPES = ("flat", "envelope", "envelope-items-first")


def _as_envelope(export: Path, items_first: bool) -> None:
    """Make the flat export the ``items`` of an envelope, copied a chunk at a time (this process
    must not hold the export: see :func:`_generate`)."""
    flat = export.with_suffix(".flat")
    export.rename(flat)
    head = b'{"items": ' if items_first else b"{" + ENVELOPE_FIELDS + b', "items": '
    tail = b", " + ENVELOPE_FIELDS + b"}" if items_first else b"}"
    with flat.open("rb") as source, export.open("wb") as target:
        target.write(head)
        shutil.copyfileobj(source, target, 1024 * 1024)
        target.write(tail)
    flat.unlink()


def _run(code: Path, args: list[str]) -> dict[str, Any]:
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "migrate", *args],
        cwd=code,
        env={**os.environ, "PYTHONPATH": str(code)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
    return {
        "seconds": round(elapsed, 1),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "peak_rss_mb": round(usage.ru_maxrss / 1024),
        "exit_code": os.waitstatus_to_exitcode(status),
        "stderr_tail": stderr[-300:],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,300", help="export sizes in MB")
    parser.add_argument("--before", default="HEAD~1", help="the code to compare with (git rev)")
    parser.add_argument("--commands", default="inspect,import")
    parser.add_argument("--after", default=None, help="a git rev instead of the working tree")
    parser.add_argument(
        "--shape", default="flat", choices=SHAPES, help="how the export is laid out"
    )
    options = parser.parse_args()
    before = subprocess.run(
        ["git", "rev-parse", "--short", options.before], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    after = subprocess.run(
        ["git", "describe", "--always", "--dirty"] if options.after is None
        else ["git", "rev-parse", "--short", options.after],
        cwd=ROOT, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    work = Path(tempfile.mkdtemp(prefix="migrate-memory-"))
    results: list[dict[str, Any]] = []
    try:
        trees = {
            f"before ({before})": _tree(options.before, work / "before"),
            f"after ({after})": ROOT
            if options.after is None
            else _tree(options.after, work / "after"),
        }
        for size in (int(s) for s in options.sizes.split(",")):
            export = work / f"navi-{size}mb.json"
            sessions = max(1, round(size * 1_000_000 / BYTES_PER_SESSION))
            shape = _generate(export, sessions)
            if options.shape != "flat":
                _as_envelope(export, items_first=options.shape == "envelope-items-first")
                shape["bytes"] = export.stat().st_size
            for command in options.commands.split(","):
                for name, code in trees.items():
                    data = work / "data"
                    shutil.rmtree(data, ignore_errors=True)
                    args = [command, "--quiet", str(export)]
                    if command == "import":
                        args += ["--data-dir", str(data)]
                    figures = _run(code, args)
                    row = {"code": name, "command": command, "shape": options.shape,
                           "file_mb": round(shape["bytes"] / MB, 1), "messages": shape["messages"],
                           **figures}  # fmt: skip
                    row["copies"] = round(figures["peak_rss_mb"] / row["file_mb"], 2)
                    results.append(row)
                    print(orjson.dumps(row).decode(), file=sys.stderr, flush=True)
            export.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("| export | shape | command | code | peak RSS | x file | wall | CPU | exit |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in results:
        print(
            f"| {row['file_mb']} MiB | {row['shape']} | `{row['command']}` | {row['code']} | "
            f"{row['peak_rss_mb']} MiB | {row['copies']} | {row['seconds']} s | "
            f"{row['cpu_s']} s | {row['exit_code']} |"
        )
    print(orjson.dumps(results).decode())


if __name__ == "__main__":
    main()
