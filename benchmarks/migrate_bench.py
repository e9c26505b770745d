"""chat-migrate benchmarks (issue #6): a synthetic navi export, imported and validated.

``migrate``: generate one navi export of 10,000 sessions / 500,000 kept messages (plus re-saves
the duplicate rule must collapse), then, each in a fresh ``python -m migrate`` process on a fresh
data dir (direct path, no sidecar): ``import`` (wall time and peak RSS of the process) and
``validate`` on the store it left. Medians of the repetitions. Targets: import < 60 s with peak
RSS < 1 GB; validate < 30 s.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import orjson

from .common import ROOT, Figures, Results, Row, Sizes, median, text_of

IMPORT_TARGET_S = 60.0
VALIDATE_TARGET_S = 30.0
RSS_TARGET_MB = 1024.0
FULL_MESSAGES = 500_000
RESAVE_EVERY = 50  # one extra re-save of a message in every 50
RUN_TIMEOUT_S = 900


def sizes_for(quick: bool) -> dict[str, int]:
    if quick:
        return {"sessions": 1_000, "messages_each": 50, "content_chars": 160, "reps": 1}
    return {"sessions": 10_000, "messages_each": 50, "content_chars": 160, "reps": 3}


def generate_navi_export(path: Path, sessions: int, messages_each: int, chars: int) -> Figures:
    """Write the export (JSON text inside JSON, as localStorage holds it); returns its shape."""
    start = time.perf_counter()
    base = 1_735_144_337_407
    texts = [text_of(chars, seed) for seed in range(997)]
    items: dict[str, str] = {}
    listed: list[dict[str, Any]] = []
    resaves = 0
    for s in range(sessions):
        sid = f"s{s:06d}"
        t = base + s * 10_000_000
        messages: list[dict[str, Any]] = []
        for m in range(messages_each):
            t += 30_000
            message = {
                "id": f"{sid}-m{m}",
                "role": "user" if m % 2 == 0 else "assistant",
                "content": f"#{s}.{m} " + texts[(s * 31 + m) % len(texts)],
                "createdAt": t,
            }
            messages.append(message)
            if (s * messages_each + m) % RESAVE_EVERY == RESAVE_EVERY - 1:
                messages.append({**message, "createdAt": t + 700})
                resaves += 1
        items[f"navi.chatSession.messages.{sid}"] = orjson.dumps(messages).decode()
        listed.append(
            {
                "id": sid,
                "title": f"Session {s}",
                "createdAt": base + s * 10_000_000,
                "updatedAt": t,
                "starred": s % 7 == 0,
                "pinned": False,
                "archived": s % 11 == 0,
            }
        )
    items["navi.chatSessions"] = orjson.dumps(listed).decode()
    items["theme"] = "dark"
    path.write_bytes(orjson.dumps(items))
    return {
        "sessions": sessions,
        "messages": sessions * messages_each,
        "resaves": resaves,
        "bytes": path.stat().st_size,
        "generate_s": time.perf_counter() - start,
    }


def _timed(args: list[str]) -> Figures:
    """Run ``python -m migrate ARGS`` to completion: wall seconds, peak RSS (MB), exit code."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "migrate", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = start + RUN_TIMEOUT_S
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() > deadline:
            process.kill()
            pid, status, usage = os.wait4(process.pid, 0)
            break
        time.sleep(0.05)
    elapsed = time.perf_counter() - start
    stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
    code = os.waitstatus_to_exitcode(status)
    return {
        "seconds": elapsed,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "exit_code": code,
        "stderr_tail": stderr[-400:],
    }


async def migrate_section(sizes: Sizes, workdir: Path) -> Figures:
    return run_suite(workdir, sizes_for(sizes.quick))


def run_suite(workdir: Path, shape: dict[str, int]) -> Figures:
    """Generate the export, then import and validate it ``reps`` times in fresh processes."""
    export = workdir / "navi-export.json"
    dataset = generate_navi_export(
        export, shape["sessions"], shape["messages_each"], shape["content_chars"]
    )
    imports: list[Figures] = []
    validates: list[Figures] = []
    for rep in range(shape["reps"]):
        data_dir = workdir / f"data-{rep}"
        imports.append(_timed(["import", "--quiet", "--data-dir", str(data_dir), str(export)]))
        validates.append(_timed(["validate", "--quiet", "--data-dir", str(data_dir), str(export)]))
        shutil.rmtree(data_dir, ignore_errors=True)
    return {
        "dataset": dataset,
        "import": imports,
        "validate": validates,
        "load_average": list(os.getloadavg()),
    }


SECTIONS = ("migrate",)
SUITE: dict[str, Callable[[Sizes, Path], Coroutine[Any, Any, Figures]]] = {
    "migrate": migrate_section
}


def build_rows(results: Results) -> None:
    figures = results.figures.get("migrate")
    if not isinstance(figures, dict) or "import" not in figures:
        return
    dataset = figures["dataset"]
    size = f"{dataset['sessions']:,} sessions / {dataset['messages']:,} messages"
    full = dataset["messages"] >= FULL_MESSAGES  # the targets are for the full size only
    runs_ok = all(r["exit_code"] == 0 for r in figures["import"])
    import_s = median([r["seconds"] for r in figures["import"]])
    rss = median([r["peak_rss_mb"] for r in figures["import"]])
    results.row(
        Row(
            "migrate_import",
            f"chat-migrate import, {size}",
            f"{import_s:.1f} s",
            target=f"< {IMPORT_TARGET_S:.0f} s" if full else "",
            met=(runs_ok and import_s < IMPORT_TARGET_S) if full else None,
        )
    )
    results.row(
        Row(
            "migrate_import_rss",
            f"chat-migrate import peak RSS, {size}",
            f"{rss:,.0f} MB",
            target=f"< {RSS_TARGET_MB:,.0f} MB" if full else "",
            met=(runs_ok and rss < RSS_TARGET_MB) if full else None,
        )
    )
    validate_ok = all(r["exit_code"] == 0 for r in figures["validate"])
    validate_s = median([r["seconds"] for r in figures["validate"]])
    results.row(
        Row(
            "migrate_validate",
            f"chat-migrate validate, {size}",
            f"{validate_s:.1f} s",
            target=f"< {VALIDATE_TARGET_S:.0f} s" if full else "",
            met=(validate_ok and validate_s < VALIDATE_TARGET_S) if full else None,
        )
    )
