"""Cold start and idle RSS of two checkouts of the sidecar and the naive server, in one run.

``python -m benchmarks.cold_compare --base /work/main [--rounds 5]`` measures the hot suite's
two process rows (``hot_bench.cold_starts`` and ``hot_bench.idle_rss``: spawn to ready line on
an empty data dir; RSS after 2,000 appends by 16 writers and 2 s of quiet) for ``python -m
sidecar serve`` run from this checkout ("branch"), from ``--base`` with its own ``.venv``
("base"), and for the naive server, alternating the order every round, after one unmeasured
start of each. A change to start-up is judged against its base in the same run, since this
machine's load moves every absolute figure. Nothing is written inside ``--base``: each kind
keeps its bytecode under its own ``PYTHONPYCACHEPREFIX`` in the temp dir, the branch too.
Additionally: spawn to the first answered ``GET /health`` (what a client waits for in all), and
spawn to the first answered JSON-RPC request on a fresh server's ``/rpc``, connecting as soon as
the ready line is read (the extension's path; the naive server has no ``/rpc``).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import itertools
import os
import sys
import tempfile
import time
from pathlib import Path
from statistics import median
from urllib.parse import urlsplit

import aiohttp
import orjson

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


async def _first_rpc_answer(server: launch.Server) -> float:
    """Seconds from spawn to the answer of a first ``sidecar.health`` over ``/rpc``."""
    url = server.url.replace("http://", "ws://") + "/rpc"
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(url, headers=server.headers) as ws,
    ):
        await ws.send_str('{"jsonrpc": "2.0", "id": 1, "method": "sidecar.health"}')
        async for message in ws:
            if orjson.loads(message.data).get("id") == 1:
                break
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
        rpc: dict[str, list[float]] = {"branch": [], "base": []}
        for round_number, kind in itertools.product(range(args.rounds), ("branch", "base")):
            server = start(kind, args.base, work, f"rpc-{kind}-{round_number}")
            try:
                rpc[kind].append(asyncio.run(_first_rpc_answer(server)) * 1000)
            finally:
                server.stop()
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
    for kind, values in rpc.items():
        runs = ", ".join(f"{v:.0f}" for v in values)
        print(f"{kind}: spawn to the first /rpc answer {median(values):.0f} ms ({runs})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
