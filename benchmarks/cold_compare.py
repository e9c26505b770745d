"""Cold start and idle RSS of two checkouts of the sidecar and the naive server, in one run.

``python -m benchmarks.cold_compare --base /work/main [--rounds 5]`` measures the hot suite's
two process rows (``hot_bench.cold_starts`` and ``hot_bench.idle_rss``: spawn to ready line on
an empty data dir; RSS after 2,000 appends by 16 writers and 2 s of quiet) for ``python -m
sidecar serve`` run from this checkout ("branch"), from ``--base`` with its own ``.venv``
("base"), and for the naive server, alternating the order every round, after one unmeasured
start of each. A change to start-up is judged against its base in the same run, since this
machine's load moves every absolute figure. Nothing is written inside ``--base``: each kind
keeps its bytecode under its own ``PYTHONPYCACHEPREFIX`` in the temp dir, the branch too.
Additionally: spawn to the first answered ``GET /health`` (what a client waits for in all).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import os
import sys
import tempfile
import time
from pathlib import Path
from statistics import median
from urllib.parse import urlsplit

from . import http_procs, launch
from .hot_bench import _create, bodies
from .hot_clients import Load, keepalive_appends

ROOT = Path(__file__).resolve().parents[1]


def commands(base: Path, data_dir: Path) -> dict[str, tuple[list[str], Path]]:
    serve = ["-m", "sidecar", "serve", "--data-dir", str(data_dir), "--port", "0",
             "--idle-timeout", "0"]  # fmt: skip
    naive = [sys.executable, "-m", "benchmarks.naive_server", "--data-dir", str(data_dir)]
    return {
        "branch": ([sys.executable, *serve], ROOT),
        "base": ([str(base / ".venv" / "bin" / "python"), *serve], base),
        "naive": (naive, ROOT),
    }


def _first_health(server: launch.Server) -> float:
    """Seconds from spawn to the first answered ``GET /health`` (the naive server answers 404)."""
    parts = urlsplit(server.url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=60)
    try:
        connection.request("GET", "/health", headers=server.headers)
        connection.getresponse().read()
    finally:
        connection.close()
    return time.perf_counter() - server.spawned_at


def start(kind: str, base: Path, work: Path, name: str) -> launch.Server:
    command, cwd = commands(base, work / name)[kind]
    env = {**http_procs.server_env(), "PYTHONPYCACHEPREFIX": str(work / f"pycache-{kind}")}
    return launch.start(
        command, env=env, stderr=work / f"{kind}.log", kind=kind, cwd=cwd, die_with_parent=True
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cold_compare")
    parser.add_argument("--base", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rss-rounds", type=int, default=2)
    parser.add_argument("--messages", type=int, default=2000)
    args = parser.parse_args(argv)
    kinds = ("branch", "base", "naive")
    ready: dict[str, list[float]] = {k: [] for k in kinds}
    health: dict[str, list[float]] = {k: [] for k in kinds}
    rss: dict[str, list[float]] = {k: [] for k in kinds}
    at_ready: dict[str, list[float]] = {k: [] for k in kinds}
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="cold-compare-") as tmp:
        work = Path(tmp)
        for round_number in range(-1, args.rounds):
            order = kinds[round_number % 3 :] + kinds[: round_number % 3]
            for kind in order:
                server = start(kind, args.base, work, f"start-{kind}-{round_number}")
                try:
                    first = _first_health(server)
                finally:
                    server.stop()
                if round_number >= 0:
                    ready[kind].append(server.ready_s * 1000)
                    health[kind].append(first * 1000)
        conversations = tuple(f"rss-{i:03d}" for i in range(16))
        pool = bodies()
        for round_number in range(args.rss_rounds):
            order = kinds[round_number % 3 :] + kinds[: round_number % 3]
            for kind in order:
                server = start(kind, args.base, work, f"rss-{kind}-{round_number}")
                try:
                    at_ready[kind].append(server.rss_mb())
                    _create(server, list(conversations))
                    load = Load(conversations, 16, args.messages // 16, warmup=0)
                    asyncio.run(
                        asyncio.to_thread(keepalive_appends, server.url, server.headers, load, pool)
                    )
                    time.sleep(2.0)
                    rss[kind].append(server.rss_mb())
                finally:
                    server.stop()
    load_end = os.getloadavg()[0]
    print(f"load average (1 min): {load_start:.1f} at the start, {load_end:.1f} at the end")
    naive_ready = median(ready["naive"])
    print("| kind | ready line ms (median) | / naive | first /health ms | RSS at ready MB | "
          "RSS after messages MB | runs (ready ms) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for kind in kinds:
        print(
            f"| {kind} | {median(ready[kind]):.0f} | {median(ready[kind]) / naive_ready:.2f}x | "
            f"{median(health[kind]):.0f} | {median(at_ready[kind]):.1f} | "
            f"{median(rss[kind]):.1f} | {', '.join(f'{v:.0f}' for v in ready[kind])} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
