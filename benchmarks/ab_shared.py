"""The hot suite's "appends/s, 50 writers, one conversation" row for two versions of ours and
the naive server, alternating in one run (issue #18, pipelined appends).

``python -m benchmarks.ab_shared --before DIR [--rounds N]``: ``DIR`` holds the code to compare
against (e.g. ``git archive <base> | tar -x -C DIR``); "after" is this checkout. Each round runs
the row's load (50 keep-alive writers x 10 appends of 1 KiB on one conversation, after 2
unmeasured each) against the three servers, the order rotating every round; it prints every
round's rate, the medians and their ratios as JSON. Servers run as the hot suite's do.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import tempfile
from pathlib import Path

from . import http_procs, launch
from .hot_bench import _create, _run_load, bodies
from .hot_clients import Load

KINDS = ("before", "after", "naive")
CONVERSATION = "hot-shared"


def _start(kind: str, trees: dict[str, Path], work: Path) -> launch.Server:
    data_dir = work / kind
    if kind == "naive":
        return http_procs.start(kind, http_procs.naive_command(data_dir), work / "naive.log")
    env = {**http_procs.server_env(), "PYTHONPATH": str(trees[kind])}
    command = launch.serve_command(data_dir, "--port", "0", "--idle-timeout", "0")
    return launch.start(
        command, env=env, stderr=work / f"{kind}.log", cwd=trees[kind], die_with_parent=True
    )


async def compare(before: Path, rounds: int) -> dict[str, object]:
    trees = {"before": before.resolve(), "after": launch.ROOT}
    load = Load((CONVERSATION,), 50, 10)
    pool = bodies()
    runs: dict[str, list[float]] = {kind: [] for kind in KINDS}
    start_load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        servers = {}
        for kind in KINDS:
            servers[kind] = _start(kind, trees, Path(tmp))
            stack.callback(servers[kind].stop)
            _create(servers[kind], [CONVERSATION])
        for number in range(rounds):
            for kind in KINDS[number % 3 :] + KINDS[: number % 3]:
                figures = await _run_load(servers[kind], "keepalive", load, pool)
                runs[kind].append(round(float(figures["per_s"]), 1))
    medians = {kind: statistics.median(rates) for kind, rates in runs.items()}
    return {
        "rounds": runs,
        "median_per_s": medians,
        "before/naive": round(medians["before"] / medians["naive"], 2),
        "after/naive": round(medians["after"] / medians["naive"], 2),
        "after/before": round(medians["after"] / medians["before"], 2),
        "load_average_start_end": [start_load, os.getloadavg()[0]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="the code to compare against")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(compare(args.before, args.rounds)), indent=1))


if __name__ == "__main__":
    main()
