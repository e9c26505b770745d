"""HTTP benchmarks (issue #3): real server subprocesses on 127.0.0.1, driven with aiohttp's client.

Four figures, each measured against ``python -m sidecar serve`` (ours) and, with the same load,
against ``python -m benchmarks.naive_server`` (an aiohttp handler doing write + fsync per
request):

- ``http-append``: N concurrent clients appending durable messages, each to its own conversation
  and (variant) all to one conversation: messages per second.
- ``http-read``: latency of ``GET /api/v1/conversations/{id}?limit=50`` on a 10,000-message
  conversation while an open-loop load of durable appends runs on other conversations.
- ``http-start``: spawn to ready line (and to the first answered request), empty data dir and one
  with 10,000 conversations.
- ``http-sse``: from just before an append is sent to each of 20 event-stream clients receiving
  its ``message.created``.

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from sidecar.store.documents import checksummed_storage
from sidecar.store.timeutil import now_iso

from . import http_procs
from .common import Figures, Sizes, latency_summary, median, now, text_of
from .datagen import build_conversation, clone_conversations, prepare_data_dir
from .http_procs import Server

CONTENT_CHARS = 1024  # as in the store benchmark
BIG_CONTENT_CHARS = 256
LONG_ID = "bench-long"
REQUEST_TIMEOUT_S = 30.0
PART_TIMEOUT_S = 120.0
DRAIN_TIMEOUT_S = 15.0
MAX_IN_FLIGHT = 2_000
KINDS = ("ours", "naive")


@dataclass(frozen=True, slots=True)
class HttpSizes:
    """How much each HTTP benchmark does: full, ``--quick``, and ``tiny`` (the harness test)."""

    quick: bool
    clients: int = 50
    per_client: int = 40
    append_warmup: int = 3
    append_reps: int = 3
    long_messages: int = 10_000
    load_rate: float = 500.0
    load_seconds: float = 8.0
    load_conversations: int = 50
    read_rate: float = 25.0
    idle_reads: int = 50
    read_reps: int = 3
    start_runs: int = 7
    big_conversations: int = 10_000
    sse_clients: int = 20
    sse_appends: int = 200
    sse_gap_s: float = 0.01
    sse_reps: int = 3

    @classmethod
    def pick(cls, quick: bool) -> HttpSizes:
        if not quick:
            return cls(quick=False)
        return cls(
            quick=True,
            per_client=20,
            append_warmup=2,
            append_reps=2,
            load_seconds=3.0,
            idle_reads=20,
            read_reps=1,
            start_runs=3,
            big_conversations=2_000,
            sse_appends=50,
            sse_reps=1,
        )

    @classmethod
    def tiny(cls) -> HttpSizes:
        """The smallest run that still exercises every code path (``tests/bench``)."""
        return cls(
            quick=True,
            clients=4,
            per_client=5,
            append_warmup=1,
            append_reps=1,
            long_messages=200,
            load_rate=50.0,
            load_seconds=0.6,
            load_conversations=4,
            read_rate=20.0,
            idle_reads=5,
            read_reps=1,
            start_runs=1,
            big_conversations=50,
            sse_clients=3,
            sse_appends=8,
            sse_gap_s=0.005,
            sse_reps=1,
        )


def bodies(count: int = 64, chars: int = CONTENT_CHARS) -> list[bytes]:
    """Pre-encoded append bodies (~1 KiB of prose each), so the client spends no time encoding."""
    return [
        orjson.dumps({"role": "user", "content": text_of(chars, 2000 + i)}) for i in range(count)
    ]


class Client:
    """One aiohttp session against one server; every call checks the status it expects."""

    def __init__(self, server: Server, connections: int) -> None:
        self.server = server
        self.base = server.url
        self.headers = {**server.headers, "Content-Type": "application/json"}
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=connections),
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S),
        )

    async def close(self) -> None:
        await self.session.close()

    async def _check(self, response: aiohttp.ClientResponse, expected: tuple[int, ...]) -> bytes:
        data = await response.read()
        if response.status not in expected:
            raise RuntimeError(
                f"{self.server.kind}: {response.method} {response.url.path} -> "
                f"{response.status} {data[:300]!r}"
            )
        return data

    async def create(self, conversation_id: str) -> None:
        body = orjson.dumps({"id": conversation_id})
        url = f"{self.base}/api/v1/conversations"
        async with self.session.post(url, data=body, headers=self.headers) as response:
            await self._check(response, (200, 201))

    async def append(self, conversation_id: str, body: bytes) -> None:
        url = f"{self.base}/api/v1/conversations/{conversation_id}/messages"
        async with self.session.post(url, data=body, headers=self.headers) as response:
            await self._check(response, (201,))

    async def last_page(self, conversation_id: str, limit: int = 50) -> bytes:
        url = f"{self.base}/api/v1/conversations/{conversation_id}?limit={limit}"
        async with self.session.get(url, headers=self.server.headers) as response:
            return await self._check(response, (200,))

    async def health(self) -> bytes:
        async with self.session.get(f"{self.base}/health", headers=self.server.headers) as r:
            return await self._check(r, (200,))


@contextlib.asynccontextmanager
async def _clients(server: Server, connections: int) -> Any:
    client = Client(server, connections)
    try:
        yield client
    finally:
        await client.close()


def _data_dir(workdir: Path, kind: str, name: str) -> Path:
    return workdir / f"{kind}-{name}"


def _order(rep: int) -> tuple[str, ...]:
    """Alternate which server goes first, so drift on the shared machine hits both alike."""
    return KINDS if rep % 2 == 0 else KINDS[::-1]


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
    with contextlib.ExitStack() as stack:
        servers = {
            kind: stack.enter_context(
                http_procs.running(kind, _data_dir(workdir, kind, "append"), workdir)
            )
            for kind in KINDS
        }
        async with contextlib.AsyncExitStack() as astack:
            clients = {
                kind: await astack.enter_async_context(_clients(server, hs.clients + 10))
                for kind, server in servers.items()
            }
            for client in clients.values():
                for conversation_id in [*own_ids, "bench-shared"]:
                    await client.create(conversation_id)
                for ids in variants.values():  # warm-up: shards loaded, connections open
                    await _append_round(client, ids, hs.clients, hs.append_warmup, pool)
            for rep in range(hs.append_reps):
                for variant, ids in variants.items():
                    for kind in _order(rep):
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


# ----------------------------------------------------------------------------- 2. reads


def _seed_ours(data_dir: Path, messages: int) -> None:
    """The long conversation written as shard files by the store's own code (see datagen)."""
    conversations = prepare_data_dir(data_dir)
    build_conversation(
        conversations, LONG_ID, messages, CONTENT_CHARS, checksummed_storage, now_iso()
    )


def _seed_naive(data_dir: Path, messages: int) -> None:
    data_dir.mkdir(parents=True)
    at = now_iso()
    with (data_dir / f"{LONG_ID}.jsonl").open("wb") as file:
        for ordinal in range(messages):
            message = {
                "id": f"{LONG_ID}-m{ordinal:06d}",
                "conversation_id": LONG_ID,
                "role": "user" if ordinal % 2 == 0 else "assistant",
                "content": text_of(CONTENT_CHARS, ordinal),
                "client_message_id": None,
                "created_at": at,
            }
            file.write(orjson.dumps(message) + b"\n")


async def _check_page(client: Client, expected_messages: int) -> float:
    """Time one read and check it is the last 50 of the long conversation."""
    begin = now()
    page = orjson.loads(await client.last_page(LONG_ID))
    elapsed = now() - begin
    messages = page["messages"]
    if len(messages) != min(50, expected_messages) or messages[-1]["id"] != (
        f"{LONG_ID}-m{expected_messages - 1:06d}"
    ):
        raise RuntimeError(f"{client.server.kind}: wrong last page of {LONG_ID}")
    return elapsed


async def _open_loop(
    writer: Client, reader: Client, load_ids: list[str], hs: HttpSizes, pool: list[bytes]
) -> Figures:
    """Appends and reads sent at fixed times (open loop), whatever the earlier ones are doing.

    Latency is from just before the request is issued to its body having arrived; ``late`` is
    how far behind its scheduled time the client issued it (the client's own lag).
    """
    start = now() + 0.05
    append_count = int(hs.load_rate * hs.load_seconds)
    read_count = int(hs.read_rate * hs.load_seconds)
    series: dict[str, list[float]] = {
        "append": [],
        "append_late": [],
        "read": [],
        "read_late": [],
        "read_from_schedule": [],
    }
    in_flight = {"append": 0}
    skipped = {"append": 0}
    last_done = [start]

    async def append(index: int, due: float) -> None:
        begin = now()
        series["append_late"].append(begin - due)
        in_flight["append"] += 1
        try:
            await writer.append(load_ids[index % len(load_ids)], pool[index % len(pool)])
        finally:
            in_flight["append"] -= 1
        done = now()
        series["append"].append(done - begin)
        last_done[0] = max(last_done[0], done)

    async def read(index: int, due: float) -> None:
        begin = now()
        series["read_late"].append(begin - due)
        await reader.last_page(LONG_ID)
        done = now()
        series["read"].append(done - begin)
        series["read_from_schedule"].append(done - due)

    async def schedule(
        group: asyncio.TaskGroup,
        count: int,
        rate: float,
        work: Callable[[int, float], Coroutine[Any, Any, None]],
        bounded: bool,
    ) -> None:
        for index in range(count):
            due = start + index / rate
            delay = due - now()
            if delay > 0:
                await asyncio.sleep(delay)
            if bounded and in_flight["append"] >= MAX_IN_FLIGHT:
                skipped["append"] += 1
                continue
            group.create_task(work(index, due))

    server_cpu = writer.server.cpu_s()
    client_cpu = time.process_time()
    # A server that cannot keep up is cut off DRAIN_TIMEOUT_S after the last send; what it had
    # not answered by then is counted as unfinished (its latency is at least that long).
    try:
        async with (
            asyncio.timeout(hs.load_seconds + DRAIN_TIMEOUT_S),
            asyncio.TaskGroup() as group,
        ):
            group.create_task(schedule(group, append_count, hs.load_rate, append, True))
            group.create_task(schedule(group, read_count, hs.read_rate, read, False))
    except TimeoutError:
        pass
    appended = len(series["append"])
    return {
        "seconds": hs.load_seconds,
        "append_rate_target": hs.load_rate,
        "appends": appended,
        "appends_skipped": skipped["append"],
        "appends_unfinished": append_count - skipped["append"] - appended,
        "reads_unfinished": read_count - len(series["read"]),
        "append_rate_achieved": appended / max(1e-9, last_done[0] - start),
        "append": latency_summary(series["append"]),
        "append_late": latency_summary(series["append_late"]),
        "read": latency_summary(series["read"]),
        "read_from_schedule": latency_summary(series["read_from_schedule"]),
        "read_late": latency_summary(series["read_late"]),
        "server_cpu_s": writer.server.cpu_s() - server_cpu,
        "client_cpu_s": time.process_time() - client_cpu,
    }


async def reads(hs: HttpSizes, workdir: Path) -> Figures:
    """Last-page reads of the long conversation: once cold, idle, then under open-loop appends."""
    pool = bodies()
    load_ids = [f"bench-load{i:03d}" for i in range(hs.load_conversations)]
    seed_start = now()
    _seed_ours(_data_dir(workdir, "ours", "read"), hs.long_messages)
    _seed_naive(_data_dir(workdir, "naive", "read"), hs.long_messages)
    figures: Figures = {
        "messages": hs.long_messages,
        "content_chars": CONTENT_CHARS,
        "seed_s": now() - seed_start,
    }
    runs: dict[str, list[Figures]] = {kind: [] for kind in KINDS}
    with contextlib.ExitStack() as stack:
        servers = {
            kind: stack.enter_context(
                http_procs.running(kind, _data_dir(workdir, kind, "read"), workdir)
            )
            for kind in KINDS
        }
        async with contextlib.AsyncExitStack() as astack:
            writers: dict[str, Client] = {}
            readers: dict[str, Client] = {}
            for kind, server in servers.items():
                writers[kind] = await astack.enter_async_context(_clients(server, 256))
                readers[kind] = await astack.enter_async_context(_clients(server, 8))
                # The first read loads the shard (cold for the store, not for the page cache).
                first = await _check_page(readers[kind], hs.long_messages)
                for conversation_id in load_ids:
                    await writers[kind].create(conversation_id)
                    await writers[kind].append(conversation_id, pool[0])
                idle = [await _check_page(readers[kind], hs.long_messages)]
                for _ in range(hs.idle_reads - 1):
                    idle.append(await _check_page(readers[kind], hs.long_messages))
                figures[kind] = {"first_read_ms": first * 1000, "idle": latency_summary(idle)}
            for rep in range(hs.read_reps):
                for kind in _order(rep):
                    runs[kind].append(
                        await _open_loop(writers[kind], readers[kind], load_ids, hs, pool)
                    )
    for kind in KINDS:
        figures[kind]["runs"] = runs[kind]
        figures[kind]["read_p99_ms"] = median([r["read"]["p99_ms"] for r in runs[kind]])
        figures[kind]["read_p50_ms"] = median([r["read"]["p50_ms"] for r in runs[kind]])
        pooled = [r["append_rate_achieved"] for r in runs[kind]]
        figures[kind]["append_rate_achieved"] = median(pooled)
    return figures


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
        async with _clients(server, 2) as client:
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


# ----------------------------------------------------------------------------- 4. events


async def _listen(
    session: aiohttp.ClientSession,
    server: Server,
    prefix: str,
    expected: int,
    received: dict[str, float],
    connected: asyncio.Event,
) -> None:
    """Read one event stream until ``expected`` ``message.created`` of ours have arrived."""
    url = f"{server.url}/api/v1/events"
    async with session.get(url, headers=server.headers) as response:
        if response.status != 200 or response.content_type != "text/event-stream":
            raise RuntimeError(f"{server.kind}: events -> {response.status}")
        event = ""
        async for raw in response.content:
            at = now()
            line = raw.rstrip(b"\r\n")
            if not line:
                event = ""
            elif line.startswith(b":"):
                connected.set()
            elif line.startswith(b"event:"):
                event = line[6:].strip().decode()
            elif line.startswith(b"data:") and event == "message.created":
                client_message_id = orjson.loads(line[5:])["message"]["client_message_id"]
                if isinstance(client_message_id, str) and client_message_id.startswith(prefix):
                    received[client_message_id] = at
                    if len(received) >= expected:
                        return


async def _sse_round(server: Server, hs: HttpSizes, tag: str) -> Figures:
    conversation_id = f"bench-sse-{tag}"
    prefix = f"sse-{tag}-"
    received: list[dict[str, float]] = [{} for _ in range(hs.sse_clients)]
    connected = [asyncio.Event() for _ in range(hs.sse_clients)]
    sent: dict[str, float] = {}
    post_latency: list[float] = []
    streams = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0),
        timeout=aiohttp.ClientTimeout(total=None, sock_read=REQUEST_TIMEOUT_S),
    )
    async with _clients(server, 2) as client, streams:
        await client.create(conversation_id)
        listeners = [
            asyncio.create_task(
                _listen(streams, server, prefix, hs.sse_appends, received[i], connected[i])
            )
            for i in range(hs.sse_clients)
        ]
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                while not all(c.is_set() for c in connected):
                    for task in listeners:
                        if task.done():  # a stream that failed to open: say why, now
                            task.result()
                            raise RuntimeError(f"{server.kind}: an event stream ended early")
                    await asyncio.sleep(0.01)
            async with asyncio.timeout(PART_TIMEOUT_S):
                for index in range(hs.sse_appends):
                    client_message_id = f"{prefix}{index:05d}"
                    body = orjson.dumps(
                        {
                            "role": "user",
                            "content": text_of(CONTENT_CHARS, 5000 + index),
                            "client_message_id": client_message_id,
                        }
                    )
                    begin = now()
                    sent[client_message_id] = begin
                    await client.append(conversation_id, body)
                    post_latency.append(now() - begin)
                    await asyncio.sleep(hs.sse_gap_s)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(DRAIN_TIMEOUT_S):
                    await asyncio.gather(*listeners)
        finally:
            for task in listeners:
                task.cancel()
            results = await asyncio.gather(*listeners, return_exceptions=True)
    errors = [repr(r) for r in results if isinstance(r, BaseException)]
    errors = [e for e in errors if "CancelledError" not in e]
    if errors:
        raise RuntimeError(f"{server.kind}: event stream failed: {errors[0]}")
    delivery = [at - sent[key] for got in received for key, at in got.items()]
    return {
        "clients": hs.sse_clients,
        "appends": hs.sse_appends,
        "deliveries": len(delivery),
        "missing": hs.sse_clients * hs.sse_appends - len(delivery),
        "delivery": latency_summary(delivery),
        "post": latency_summary(post_latency),
    }


async def sse(hs: HttpSizes, workdir: Path) -> Figures:
    """Append-to-event latency at ``hs.sse_clients`` subscribers, ours and naive."""
    runs: dict[str, list[Figures]] = {kind: [] for kind in KINDS}
    with contextlib.ExitStack() as stack:
        servers = {
            kind: stack.enter_context(
                http_procs.running(kind, _data_dir(workdir, kind, "sse"), workdir)
            )
            for kind in KINDS
        }
        for rep in range(hs.sse_reps):
            for kind in _order(rep):
                runs[kind].append(await _sse_round(servers[kind], hs, f"r{rep}"))
    return {
        kind: {
            "p50_ms": median([r["delivery"]["p50_ms"] for r in reps]),
            "p99_ms": median([r["delivery"]["p99_ms"] for r in reps]),
            "missing": sum(r["missing"] for r in reps),
            "runs": reps,
        }
        for kind, reps in runs.items()
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
