"""Our server against another checkout of itself (before / after a change), same run.

``python -m benchmarks.ab_rest BASE_TREE [--rounds N] [--per-writer N]`` starts ``python -m sidecar serve`` from
this tree and from ``BASE_TREE`` (e.g. ``git worktree add --detach ../base main``; the same
interpreter and packages, only ``PYTHONPATH`` differs), each with its access log on at the
default level and written to a file as ``serve`` does, and runs the hot suite's keep-alive client
(:func:`benchmarks.hot_clients.keepalive_appends`, 1 KiB appends) against both in alternating
rounds: one writer, then 16 writers on their own conversations. It prints, per load and side,
the medians over the rounds of the append p50, the appends per second and the server's CPU per
message (``/proc`` user + system, warm-up included), and the ratio after / before. On a noisy
shared machine the rounds scatter; the CPU per message is the steadier figure.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
import tempfile
from pathlib import Path

from . import http_procs, launch
from .common import BENCH_TMP, Figures, median
from .hot_bench import _create, bodies
from .hot_clients import Load, keepalive_appends


def loads(per_writer: int) -> dict[str, Load]:
    """One writer sends as many appends as the 16 writers together (``16 * per_writer``)."""
    return {
        "one writer": Load(("ab-one",), 1, 16 * per_writer),
        "16 writers": Load(tuple(f"ab-own-{i:02d}" for i in range(16)), 16, per_writer),
    }


SIDES = ("before", "after")


def _start(side: str, tree: Path, data_dir: Path, log: Path) -> launch.Server:
    env = http_procs.server_env()
    env["PYTHONPATH"] = str(tree)
    command = launch.serve_command(data_dir, "--port", "0", "--idle-timeout", "0")
    return launch.start(command, env=env, stderr=log, kind=side, die_with_parent=True)


def _run(server: launch.Server, load: Load, pool: list[bytes]) -> Figures:
    cpu = server.cpu_s()
    figures = keepalive_appends(server.url, server.headers, load, pool)
    sent = load.writers * (load.per_writer + load.warmup)
    return {**figures, "cpu_ms": (server.cpu_s() - cpu) * 1000 / sent}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ab_rest")
    parser.add_argument("base", type=Path, help="the checkout to compare against (before)")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument(
        "--per-writer", type=int, default=25, help="appends per writer and round (16 writers)"
    )
    args = parser.parse_args(argv)
    load_set = loads(args.per_writer)
    trees = {"before": args.base.resolve(), "after": launch.ROOT}
    pool = bodies()
    BENCH_TMP.mkdir(exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="ab-rest-", dir=BENCH_TMP))
    runs: dict[str, dict[str, list[Figures]]] = {name: {s: [] for s in SIDES} for name in load_set}
    try:
        with contextlib.ExitStack() as stack:
            servers = {}
            for side in SIDES:
                server = _start(side, trees[side], workdir / side, workdir / f"{side}.log")
                stack.callback(server.stop)
                _create(
                    server, sorted({c for load in load_set.values() for c in load.conversations})
                )
                servers[side] = server
            for round_number in range(args.rounds):
                sides = SIDES if round_number % 2 == 0 else SIDES[::-1]
                for name, load in load_set.items():
                    for side in sides:
                        runs[name][side].append(_run(servers[side], load, pool))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    for name, by_side in runs.items():
        row = {
            side: {
                "p50_ms": median([r["latency"]["p50_ms"] for r in reps]),
                "per_s": median([r["per_s"] for r in reps]),
                "cpu_ms": median([r["cpu_ms"] for r in reps]),
            }
            for side, reps in by_side.items()
        }
        print(f"{name} ({args.rounds} alternating rounds, medians)")
        for figure in ("p50_ms", "per_s", "cpu_ms"):
            before, after = row["before"][figure], row["after"][figure]
            print(
                f"  {figure:7} before {before:9.3f}  after {after:9.3f}  after/before {after / before:.3f}"
            )
        print("  cpu_ms per round, before:", [round(r["cpu_ms"], 3) for r in by_side["before"]])
        print("  cpu_ms per round, after: ", [round(r["cpu_ms"], 3) for r in by_side["after"]])
    return 0


if __name__ == "__main__":
    sys.exit(main())
