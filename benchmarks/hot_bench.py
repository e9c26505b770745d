"""Issue #18's hot-path figures, ours against the naive server, in one run (``--suite hot``).

Every figure is taken in ``rounds`` alternating rounds (ours first in even rounds, the naive
server first in odd ones, so drift on the shared machine hits both alike); the report takes the
median of each side's rounds and then the ratio of the medians. With the main client
(:func:`hot_clients.keepalive_appends`), 1 KiB messages:

- ``one``: append latency, one writer; ``own16`` / ``own50``: appends/s, 16 / 50 writers each on
  its own conversation; ``shared``: 50 writers on one conversation.
- ``floor``: the disk's bare ``write`` + ``fsync`` of one journal record's bytes, sampled between
  the HTTP figures of each round (REST append p50 is reported against it).

With the held-out client (:func:`hot_clients.stream_appends`): ``held_one`` and ``held16``.
In-process: ``store`` (``Store.append_message`` p50 against the same floor, interleaved) and
``stream`` (5,000 streaming deltas: 50 replies x 100 ``append_text``). Fresh processes: ``start``
(spawn to ready line, empty data dir) and ``rss`` (idle RSS after 2,000 appended messages).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import http.client
import os
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

from sidecar.server import tune_collector
from sidecar.store import Store

from . import http_procs, store_ops
from .common import Figures, Sizes, latency_summary, median, text_of
from .hot_clients import Load, keepalive_appends, stream_appends
from .launch import Server

KINDS = ("ours", "naive")
#: The HTTP rounds also drive the naive server with ``--no-disk`` (it writes nothing): what
#: aiohttp alone costs per request, the ceiling of any aiohttp server on the machine.
HTTP_KINDS = (*KINDS, "aiohttp")
CONTENT_CHARS = 1024
SECTIONS = ("hot",)


@dataclass(frozen=True, slots=True)
class HotSizes:
    """How much each figure does per round: full, ``--quick`` and ``tiny`` (the harness test)."""

    rounds: int = 5
    one_writer: int = 120
    many: tuple[int, int] = (16, 50)
    many_per_writer: tuple[int, int] = (25, 10)
    shared_writers: int = 50
    shared_per_writer: int = 10
    floor_samples: int = 60
    store_appends: int = 100
    stream_replies: int = 50
    stream_deltas: int = 100
    rss_messages: int = 2_000
    rss_writers: int = 16
    rss_settle_s: float = 2.0
    rss_rounds: int = 2

    @classmethod
    def pick(cls, sizes: Sizes) -> HotSizes:
        base = cls() if not sizes.quick else cls(rounds=3, one_writer=80, floor_samples=40)
        return (
            base if sizes.hot_rounds is None else dataclasses.replace(base, rounds=sizes.hot_rounds)
        )

    @classmethod
    def tiny(cls) -> HotSizes:
        """Every code path at the smallest size (``tests/bench``)."""
        return cls(
            rounds=2,
            one_writer=5,
            many=(2, 3),
            many_per_writer=(3, 2),
            shared_writers=3,
            shared_per_writer=2,
            floor_samples=4,
            store_appends=5,
            stream_replies=3,
            stream_deltas=4,
            rss_messages=20,
            rss_writers=2,
            rss_settle_s=0.1,
            rss_rounds=1,
        )


def bodies(count: int = 64) -> list[bytes]:
    """Pre-encoded ~1 KiB append bodies: the client spends no time encoding."""
    return [
        orjson.dumps({"role": "user", "content": text_of(CONTENT_CHARS, 3000 + i)})
        for i in range(count)
    ]


def order(round_number: int, kinds: tuple[str, ...] = KINDS) -> tuple[str, ...]:
    """Who goes first rotates from round to round, so drift on the machine hits all alike."""
    shift = round_number % len(kinds)
    return kinds[shift:] + kinds[:shift]


class Floor:
    """The disk's bare append: ``os.write`` + ``os.fsync`` of ``size`` bytes, in the data dir."""

    def __init__(self, path: Path, size: int) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        self.data = os.urandom(size)
        self.samples: list[float] = []

    def sample(self, count: int) -> None:
        for _ in range(count):
            begin = time.perf_counter()
            os.write(self.fd, self.data)
            os.fsync(self.fd)
            self.samples.append(time.perf_counter() - begin)

    def close(self) -> None:
        os.close(self.fd)


def _create(server: Server, conversation_ids: list[str]) -> None:
    """Create the conversations through the server's own API (keep-alive http.client)."""
    parts = urlsplit(server.url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        for conversation_id in conversation_ids:
            headers = {**server.headers, "Content-Type": "application/json"}
            connection.request(
                "POST", "/api/v1/conversations", orjson.dumps({"id": conversation_id}), headers
            )
            response = connection.getresponse()
            data = response.read()
            if response.status not in (200, 201):
                raise RuntimeError(f"{server.kind}: create -> {response.status} {data[:200]!r}")
    finally:
        connection.close()


# ----------------------------------------------------------------------------- HTTP rounds


def _loads(hs: HotSizes) -> dict[str, tuple[str, Load]]:
    """figure -> (client, load): what every round runs against both servers."""
    own = tuple(f"hot-own-{i:03d}" for i in range(max(hs.many)))
    return {
        "one": ("keepalive", Load(("hot-one",), 1, hs.one_writer)),
        "own16": ("keepalive", Load(own, hs.many[0], hs.many_per_writer[0])),
        "own50": ("keepalive", Load(own, hs.many[1], hs.many_per_writer[1])),
        "shared": ("keepalive", Load(("hot-shared",), hs.shared_writers, hs.shared_per_writer)),
        "held_one": ("streams", Load(("hot-held-one",), 1, hs.one_writer)),
        "held16": ("streams", Load(own, hs.many[0], hs.many_per_writer[0])),
    }


async def _run_load(server: Server, client: str, load: Load, pool: list[bytes]) -> Figures:
    """One load against one server; with the server's CPU per message (warm-up included)."""
    cpu = server.cpu_s()
    if client == "keepalive":
        figures = await asyncio.to_thread(keepalive_appends, server.url, server.headers, load, pool)
    else:
        figures = await stream_appends(server.url, server.headers, load, pool)
    sent = load.writers * (load.per_writer + load.warmup)
    cpu_ms = (server.cpu_s() - cpu) * 1000 / sent
    return {**figures, "client": client, "writers": load.writers, "server_cpu_ms_per_msg": cpu_ms}


async def http_rounds(hs: HotSizes, workdir: Path, floor: Floor) -> Figures:
    """Every HTTP figure, both servers, ``hs.rounds`` alternating rounds; the floor in between."""
    pool = bodies()
    loads = _loads(hs)
    conversation_ids = sorted({c for _, load in loads.values() for c in load.conversations})
    runs: dict[str, dict[str, list[Figures]]] = {f: {k: [] for k in HTTP_KINDS} for f in loads}
    with contextlib.ExitStack() as stack:
        servers = {
            kind: stack.enter_context(http_procs.running(kind, workdir / f"{kind}-hot", workdir))
            for kind in HTTP_KINDS
        }
        for server in servers.values():
            _create(server, conversation_ids)
        for round_number in range(hs.rounds):
            floor.sample(hs.floor_samples // 2)
            for figure, (client, load) in loads.items():
                for kind in order(round_number, HTTP_KINDS):
                    runs[figure][kind].append(await _run_load(servers[kind], client, load, pool))
            floor.sample(hs.floor_samples - hs.floor_samples // 2)
    return {
        figure: {
            kind: {
                "p50_ms": median([r["latency"]["p50_ms"] for r in reps]),
                "per_s": median([r["per_s"] for r in reps]),
                "server_cpu_ms_per_msg": median([r["server_cpu_ms_per_msg"] for r in reps]),
                "writers": loads[figure][1].writers,
                "client": loads[figure][0],
                "runs": reps,
            }
            for kind, reps in by_kind.items()
        }
        for figure, by_kind in runs.items()
    }


# ----------------------------------------------------------------------------- in-process


async def store_vs_floor(hs: HotSizes, workdir: Path, floor: Floor) -> Figures:
    """``Store.append_message`` of 1 KiB, one after another, interleaved with the floor."""
    pool = store_ops.content_pool()
    store = await Store.open(workdir / "store", store_ops.CONFIG)
    per_round: list[float] = []
    floor_round: list[float] = []
    samples: list[float] = []
    try:
        await store.create_conversation(id="hot-store", title="hot path")
        for i in range(5):  # warm-up: shard open, journal thread started
            await store.append_message("hot-store", role="user", content=pool[i])
        for _ in range(hs.rounds):
            mine: list[float] = []
            before = len(floor.samples)
            floor.sample(hs.floor_samples // 2)
            for n in range(hs.store_appends):
                begin = time.perf_counter()
                await store.append_message("hot-store", role="user", content=pool[n % len(pool)])
                mine.append(time.perf_counter() - begin)
            floor.sample(hs.floor_samples - hs.floor_samples // 2)
            samples += mine
            per_round.append(latency_summary(mine)["p50_ms"])
            floor_round.append(latency_summary(floor.samples[before:])["p50_ms"])
    finally:
        await store.close()
    return {
        "p50_ms": median(per_round),
        "floor_p50_ms": median(floor_round),
        "rounds_p50_ms": per_round,
        "rounds_floor_p50_ms": floor_round,
        "latency": latency_summary(samples),
    }


async def streaming(hs: HotSizes, workdir: Path) -> Figures:
    """``stream_replies`` x ``stream_deltas`` ``append_text`` calls, replies concurrent, per round."""
    sizes = dataclasses.replace(
        Sizes.pick(True),
        stream_replies=hs.stream_replies,
        stream_deltas=hs.stream_deltas,
        stream_reps=hs.rounds,
    )
    return await store_ops.streaming(sizes, workdir)


# ----------------------------------------------------------------------------- processes


def cold_starts(hs: HotSizes, workdir: Path) -> Figures:
    """Spawn to ready line on an empty data dir, ours and naive alternating, ``rounds`` each,
    after one unmeasured start of each (an installed sidecar has its bytecode compiled)."""
    runs: dict[str, list[float]] = {k: [] for k in KINDS}
    for round_number in range(-1, hs.rounds):  # round -1: unmeasured, bytecode caches written
        for kind in order(round_number):
            data_dir = workdir / f"start-{kind}-{round_number}"
            command = (
                http_procs.sidecar_command(data_dir)
                if kind == "ours"
                else http_procs.naive_command(data_dir)
            )
            server = http_procs.start(kind, command, workdir / f"start-{kind}.log")
            server.stop()
            if round_number >= 0:
                runs[kind].append(server.ready_s * 1000)
    return {kind: {"ready_ms": median(values), "runs_ms": values} for kind, values in runs.items()}


async def idle_rss(hs: HotSizes, workdir: Path) -> Figures:
    """RSS of a fresh server after ``rss_messages`` appends and ``rss_settle_s`` of quiet."""
    pool = bodies()
    runs: dict[str, list[float]] = {k: [] for k in KINDS}
    started: dict[str, list[float]] = {k: [] for k in KINDS}
    conversations = tuple(f"rss-{i:03d}" for i in range(hs.rss_writers))
    per_writer = hs.rss_messages // hs.rss_writers
    for round_number in range(hs.rss_rounds):
        for kind in order(round_number):
            data_dir = workdir / f"rss-{kind}-{round_number}"
            with http_procs.running(kind, data_dir, workdir) as server:
                started[kind].append(server.rss_mb())
                _create(server, list(conversations))
                load = Load(conversations, hs.rss_writers, per_writer, warmup=0)
                await asyncio.to_thread(keepalive_appends, server.url, server.headers, load, pool)
                await asyncio.sleep(hs.rss_settle_s)
                runs[kind].append(server.rss_mb())
    return {
        "messages": per_writer * hs.rss_writers,
        **{
            kind: {"rss_mb": median(v), "runs_mb": v, "at_ready_mb": median(started[kind])}
            for kind, v in runs.items()
        },
    }


# ----------------------------------------------------------------------------- the suite


async def hot(hs: HotSizes, workdir: Path, log: Callable[[str], None] = lambda _: None) -> Figures:
    """Every figure of issue #18's goal, in one run.

    The in-process store figures (``store``, ``stream``) run under the garbage collector
    settings of a serving process (:func:`sidecar.server.tune_collector`), as the store does in
    the product; the clients in this process are the same for every server either way.
    """
    tune_collector()
    record_bytes = store_ops.record_size(store_ops.content_pool()[0])
    floor = Floor(workdir / "floor.bin", record_bytes)
    load_average = list(os.getloadavg())
    parts: dict[str, Figures] = {}
    steps: list[tuple[str, Callable[[], Coroutine[Any, Any, Figures]]]] = [
        ("http", lambda: http_rounds(hs, workdir, floor)),
        ("store", lambda: store_vs_floor(hs, workdir, floor)),
        ("stream", lambda: streaming(hs, workdir)),
        ("start", lambda: _now(cold_starts, hs, workdir)),
        ("rss", lambda: idle_rss(hs, workdir)),
    ]
    try:
        for name, step in steps:
            begin = time.perf_counter()
            parts[name] = await step()
            log(f"  hot/{name} in {time.perf_counter() - begin:.1f} s")
    finally:
        floor.close()
    return {
        "rounds": hs.rounds,
        "sizes": dataclasses.asdict(hs),
        "record_bytes": record_bytes,
        "content_chars": CONTENT_CHARS,
        "floor": latency_summary(floor.samples),
        **parts,
        "load_average": {"start": load_average, "end": list(os.getloadavg())},
    }


async def _now(work: Callable[[HotSizes, Path], Figures], hs: HotSizes, workdir: Path) -> Figures:
    """Run ``work`` on the loop's own thread: servers it spawns are tied to the main thread
    (``PR_SET_PDEATHSIG``), and nothing else runs meanwhile."""
    return work(hs, workdir)


def _log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


async def _section(sizes: Sizes, workdir: Path) -> Figures:
    return await hot(HotSizes.pick(sizes), workdir, _log)


SUITE: dict[str, Callable[[Sizes, Path], Coroutine[Any, Any, Figures]]] = {"hot": _section}
