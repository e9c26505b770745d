"""The ``http-read`` benchmark (issue #3): last-page reads of a long conversation under load.

Seeds a 10,000-message conversation for both servers (the store's own shard files for ours, a
JSON-lines file for the naive one), then times ``GET .../{id}?limit=50`` once cold, idle, and
while an open-loop generator sends durable appends to other conversations. Its own module because
the seeding and the open-loop generator are a concern of their own; ``http_bench`` registers it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import orjson

from sidecar.store.documents import checksummed_storage
from sidecar.store.timeutil import now_iso

from .common import Figures, latency_summary, median, now, text_of
from .datagen import build_conversation, prepare_data_dir
from .http_client import (
    CONTENT_CHARS,
    DRAIN_TIMEOUT_S,
    KINDS,
    Client,
    HttpSizes,
    bodies,
    both_servers,
    kind_order,
    open_client,
    part_dir,
)

LONG_ID = "bench-long"
MAX_IN_FLIGHT = 2_000


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
    _seed_ours(part_dir(workdir, "ours", "read"), hs.long_messages)
    _seed_naive(part_dir(workdir, "naive", "read"), hs.long_messages)
    figures: Figures = {
        "messages": hs.long_messages,
        "content_chars": CONTENT_CHARS,
        "seed_s": now() - seed_start,
    }
    runs: dict[str, list[Figures]] = {kind: [] for kind in KINDS}
    with both_servers(workdir, "read") as servers:
        async with contextlib.AsyncExitStack() as astack:
            writers: dict[str, Client] = {}
            readers: dict[str, Client] = {}
            for kind, server in servers.items():
                writers[kind] = await astack.enter_async_context(open_client(server, 256))
                readers[kind] = await astack.enter_async_context(open_client(server, 8))
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
                for kind in kind_order(rep):
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
