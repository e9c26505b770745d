"""HTTP benchmarks (issue #3): real server subprocesses on 127.0.0.1, driven with aiohttp's client.

Four figures, each measured against ``python -m sidecar serve`` (ours) and, with the same load,
against ``python -m benchmarks.naive_server`` (an aiohttp handler doing write + fsync per
request):

- ``http-append`` (here): N concurrent clients appending durable messages, each to its own
  conversation and (variant) all to one conversation: messages per second.
- ``http-read`` (``http_reads``): latency of ``GET /api/v1/conversations/{id}?limit=50`` on a
  10,000-message conversation while an open-loop load of durable appends runs on other
  conversations.
- ``http-start`` (here): spawn to ready line (and to the first answered request), empty data dir
  and one with 10,000 conversations.
- ``http-sse`` (``http_sse``): from just before an append is sent to each of 20 event-stream
  clients receiving its ``message.created``.

What the parts share (sizes, append bodies, the checked client) is in ``http_client``; this
module also holds the registry (``PARTS``, ``SUITE``) that ``python -m benchmarks`` runs.

The load generator shares the machine with the server (2 cores here), so every figure includes
the client's own CPU; the JSON records the server's and the client's CPU seconds so the split is
visible. Every loop is bounded in count and in time; servers are stopped when each part ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from . import http_procs
from .common import Figures, Sizes, latency_summary, median, now
from .datagen import clone_conversations
from .http_client import (
    CONTENT_CHARS,
    KINDS,
    PART_TIMEOUT_S,
    Client,
    HttpSizes,
    bodies,
    both_servers,
    kind_order,
    open_client,
)
from .http_reads import reads
from .http_sse import sse

BIG_CONTENT_CHARS = 256


# ----------------------------------------------------------------------------- 1. appends


async def _append_round(
    client: Client, conversation_ids: list[str], clients: int, per_client: int, pool: list[bytes]
) -> Figures:
    """``clients`` tasks, each appending ``per_client`` messages one after another."""
    latencies: list[float] = []

    async def one(index: int) -> None:
        conversation_id = conversation_ids[index % len(conversation_ids)]
        for n in range(per_client):
            begin = now()
            await client.append(conversation_id, pool[(index * per_client + n) % len(pool)])
            latencies.append(now() - begin)

    server_cpu = client.server.cpu_s()
    client_cpu = time.process_time()
    begin = now()
    async with asyncio.timeout(PART_TIMEOUT_S), asyncio.TaskGroup() as group:
        for index in range(clients):
            group.create_task(one(index))
    wall = now() - begin
    messages = clients * per_client
    server_cpu = client.server.cpu_s() - server_cpu
    return {
        "messages": messages,
        "wall_s": wall,
        "per_s": messages / wall,
        "latency": latency_summary(latencies),
        "server_cpu_s": server_cpu,
        "server_cpu_per_msg_ms": server_cpu / messages * 1000,
        "client_cpu_s": time.process_time() - client_cpu,
    }


async def appends(hs: HttpSizes, workdir: Path) -> Figures:
    """Durable appends/s from ``hs.clients`` concurrent clients, ours and naive, alternating."""
    pool = bodies()
    own_ids = [f"bench-c{i:03d}" for i in range(hs.clients)]
    variants = {"own": own_ids, "shared": ["bench-shared"]}
    runs: dict[str, dict[str, list[Figures]]] = {v: {k: [] for k in KINDS} for v in variants}
    with both_servers(workdir, "append") as servers:
        async with contextlib.AsyncExitStack() as astack:
            clients = {
                kind: await astack.enter_async_context(open_client(server, hs.clients + 10))
                for kind, server in servers.items()
            }
            for client in clients.values():
                for conversation_id in [*own_ids, "bench-shared"]:
                    await client.create(conversation_id)
                for ids in variants.values():  # warm-up: shards loaded, connections open
                    await _append_round(client, ids, hs.clients, hs.append_warmup, pool)
            for rep in range(hs.append_reps):
                for variant, ids in variants.items():
                    for kind in kind_order(rep):
                        runs[variant][kind].append(
                            await _append_round(clients[kind], ids, hs.clients, hs.per_client, pool)
                        )
    return {
        "clients": hs.clients,
        "per_client": hs.per_client,
        "content_chars": CONTENT_CHARS,
        "variants": {
            variant: {
                kind: {"per_s": median([r["per_s"] for r in reps]), "runs": reps}
                for kind, reps in by_kind.items()
            }
            for variant, by_kind in runs.items()
        },
    }


# ----------------------------------------------------------------------------- 3. cold start


async def _one_start(kind: str, data_dir: Path, workdir: Path) -> Figures:
    """Spawn, ready line, first answered ``GET /health``, then a graceful stop."""
    command = (
        http_procs.sidecar_command(data_dir)
        if kind == "ours"
        else http_procs.naive_command(data_dir)
    )
    server = http_procs.start(kind, command, workdir / f"start-{kind}.log")
    try:
        async with open_client(server, 2) as client:
            await client.health()
            first_answer = now() - server.spawned_at
    finally:
        stop_begin = now()
        code = http_procs.stop(server)
        stop_s = now() - stop_begin
    return {
        "ready_s": server.ready_s,
        "first_answer_s": first_answer,
        "stop_s": stop_s,
        "exit_code": code,
    }


async def cold_start(hs: HttpSizes, workdir: Path) -> Figures:
    """Median of ``start_runs`` spawns each: empty data dir (fresh each time), big store, naive."""
    big = workdir / "big"
    generate_start = now()
    dataset = clone_conversations(big, hs.big_conversations, 1, BIG_CONTENT_CHARS, "checksummed")
    dataset["generate_s"] = now() - generate_start
    # First start on the generated dir: no catalog yet (rebuilt from every shard), kept apart.
    big_first = await _one_start("ours", big, workdir)
    big_first["catalog_written"] = (big / "catalog.json").exists()
    scenarios: dict[str, list[Figures]] = {"empty": [], "big": [], "naive": []}
    for run in range(hs.start_runs):
        scenarios["empty"].append(await _one_start("ours", workdir / f"empty-{run}", workdir))
        scenarios["big"].append(await _one_start("ours", big, workdir))
        scenarios["naive"].append(await _one_start("naive", workdir / f"naive-{run}", workdir))
    return {
        "runs": hs.start_runs,
        "dataset": dataset,
        "big_first": big_first,
        **{
            name: {
                "ready_s": median([r["ready_s"] for r in runs]),
                "ready_max_s": max(r["ready_s"] for r in runs),
                "first_answer_s": median([r["first_answer_s"] for r in runs]),
                "runs": runs,
            }
            for name, runs in scenarios.items()
        },
    }


# ----------------------------------------------------------------------------- registry

PARTS: dict[str, Callable[[HttpSizes, Path], Coroutine[Any, Any, Figures]]] = {
    "http-append": appends,
    "http-read": reads,
    "http-start": cold_start,
    "http-sse": sse,
}
SECTIONS = tuple(PARTS)


def _cpu_snapshot() -> tuple[float, float, float]:
    """(wall, CPU seconds busy machine-wide, CPU seconds of this process and its reaped children)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    busy = (sum(fields) - fields[3] - fields[4]) / http_procs.CLOCK_TICKS
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    ours = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
    return now(), busy, ours


def _cpu_use(before: tuple[float, float, float], after: tuple[float, float, float]) -> Figures:
    """How busy the CPUs were during a part, and how much of that was other processes.

    Every server is stopped (so reaped, so counted in ``RUSAGE_CHILDREN``) before a part ends;
    what is left of the machine-wide busy time is other work sharing the machine.
    """
    wall = after[0] - before[0]
    capacity = wall * (os.cpu_count() or 1)
    busy, ours = after[1] - before[1], after[2] - before[2]
    return {
        "wall_s": wall,
        "busy_share": busy / capacity,
        "benchmark_share": ours / capacity,
        "others_share": max(0.0, busy - ours) / capacity,
    }


def _section(name: str) -> Callable[[Sizes, Path], Coroutine[Any, Any, Figures]]:
    async def run(sizes: Sizes, workdir: Path) -> Figures:
        load = list(os.getloadavg())
        before = _cpu_snapshot()
        figures = await PARTS[name](HttpSizes.pick(sizes.quick), workdir)
        return {
            **figures,
            "load_average": {"start": load, "end": list(os.getloadavg())},
            "cpu": _cpu_use(before, _cpu_snapshot()),
        }

    run.__name__ = name.replace("-", "_")
    return run


#: What ``python -m benchmarks`` runs: section name -> ``(Sizes, workdir) -> figures``.
SUITE: dict[str, Callable[[Sizes, Path], Coroutine[Any, Any, Figures]]] = {
    name: _section(name) for name in SECTIONS
}
