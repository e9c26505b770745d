"""Benchmarks of the store API itself (no HTTP): appends, concurrency, cold opens, streaming."""

from __future__ import annotations

import asyncio
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sidecar.store import Store, StoreConfig
from sidecar.store.documents import checksummed_storage
from sidecar.store.model import DEFAULT_BRANCH
from sidecar.store.segments import encode_record
from sidecar.store.timeutil import now_iso

from .common import (
    Figures,
    Sizes,
    drop_page_cache,
    files_under,
    latency_summary,
    median,
    now,
    text_of,
)
from .datagen import build_conversation, conversation_doc, message_doc, prepare_data_dir

CONTENT_CHARS = 1024
CONFIG = StoreConfig()  # the defaults the server uses: checksummed shards, 8 MiB / 30 s checkpoints


def content_pool(count: int = 64) -> list[str]:
    """~1 KiB message bodies, varied so nothing benefits from identical payloads."""
    return [text_of(CONTENT_CHARS, 1000 + i) for i in range(count)]


def record_size(content: str) -> int:
    """Bytes of the journal record one ``append_message`` of ``content`` writes."""
    at = now_iso()
    conversation = conversation_doc("c-0000000000", "a title", at, 12)
    doc = message_doc(
        "c-0000000000",
        "01jbenchmark0000000000000",
        "01jparent00000000000000000",
        "user",
        content,
        at,
    )
    ops: list[Any] = [
        ["conv", conversation],
        ["msg", 11, doc],
        ["branch", DEFAULT_BRANCH, doc["id"]],
    ]
    return len(encode_record(123_456, "c-0000000000", ops, 2))  # conversation + message effects


# ----------------------------------------------------------------------------- 1. latency


class _Floor:
    """A bare append + fsync/fdatasync of ``size`` bytes on a file next to the store.

    ``via_thread``: the same write + fdatasync handed to a one-thread executor and awaited, as the
    journal does; not the floor, but it shows what the hop off the event loop costs.
    """

    def __init__(self, path: Path, size: int) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        self.data = os.urandom(size)
        self.fsync: list[float] = []
        self.fdatasync: list[float] = []
        self.via_thread: list[float] = []
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="floor")

    def _write_sync(self) -> None:
        os.write(self.fd, self.data)
        os.fdatasync(self.fd)

    async def sample_via_thread(self, count: int) -> None:
        loop = asyncio.get_running_loop()
        for _ in range(count):
            start = now()
            await loop.run_in_executor(self._thread, self._write_sync)
            self.via_thread.append(now() - start)

    def sample(self, count: int) -> None:
        for _ in range(count):
            start = now()
            os.write(self.fd, self.data)
            os.fsync(self.fd)
            self.fsync.append(now() - start)
        for _ in range(count):
            start = now()
            os.write(self.fd, self.data)
            os.fdatasync(self.fd)
            self.fdatasync.append(now() - start)

    def clear(self) -> None:
        self.fsync.clear()
        self.fdatasync.clear()
        self.via_thread.clear()

    def close(self) -> None:
        self._thread.shutdown(wait=True)
        os.close(self.fd)


async def append_latency(sizes: Sizes, workdir: Path) -> Figures:
    """Durable single appends at each conversation size, interleaved with the bare-fsync floor.

    The conversations are pre-filled as shard files (what the store would have written), then the
    store opens them. Rounds rotate through the sizes and the floor so that drift in the machine's
    fsync latency hits every series alike.
    """
    data_dir = workdir / "append"
    conversations = prepare_data_dir(data_dir)
    at = now_iso()
    start = now()
    for size in sizes.append_sizes:
        build_conversation(
            conversations, f"size-{size}", size, CONTENT_CHARS, checksummed_storage, at
        )
    prefill_s = now() - start
    pool = content_pool()
    size_bytes = record_size(pool[0])
    floor = _Floor(workdir / "floor.bin", size_bytes)
    store = await Store.open(data_dir, CONFIG)
    samples: dict[int, list[float]] = {size: [] for size in sizes.append_sizes}
    first_append: dict[int, float] = {}
    try:
        for size in sizes.append_sizes:
            for i in range(sizes.warmup):
                begin = now()
                await store.append_message(f"size-{size}", role="user", content=pool[i])
                if i == 0:
                    first_append[size] = now() - begin
        floor.sample(sizes.warmup)
        await floor.sample_via_thread(sizes.warmup)
        floor.clear()
        order = list(sizes.append_sizes)
        counter = 0
        for round_number in range(sizes.append_rounds):
            floor.sample(sizes.floor_per_round // 2)
            await floor.sample_via_thread(sizes.floor_per_round // 2)
            rotated = order[round_number % len(order) :] + order[: round_number % len(order)]
            for size in rotated:
                conversation_id = f"size-{size}"
                for _ in range(sizes.append_per_round):
                    counter += 1
                    content = pool[counter % len(pool)]
                    begin = now()
                    await store.append_message(conversation_id, role="user", content=content)
                    samples[size].append(now() - begin)
            floor.sample(sizes.floor_per_round // 2)
            await floor.sample_via_thread(sizes.floor_per_round // 2)
        counts = {
            size: (await store.get_conversation(f"size-{size}"))["message_count"]
            for size in sizes.append_sizes
        }
    finally:
        await store.close()
        floor.close()
    return {
        "record_bytes": size_bytes,
        "content_chars": CONTENT_CHARS,
        "prefill_s": prefill_s,
        "floor": {
            "fsync": latency_summary(floor.fsync),
            "fdatasync": latency_summary(floor.fdatasync),
            "fdatasync_via_thread": latency_summary(floor.via_thread),
        },
        "sizes": {
            str(size): {
                **latency_summary(samples[size]),
                "first_append_ms": first_append[size] * 1000,
                "messages_after": counts[size],
            }
            for size in sizes.append_sizes
        },
    }


# ----------------------------------------------------------------------------- 2. sequential


async def sequential(sizes: Sizes, workdir: Path) -> Figures:
    """One writer appending to a fresh conversation, back to back."""
    pool = content_pool()
    store = await Store.open(workdir / "sequential", CONFIG)
    rates: list[float] = []
    cpu_per_append: list[float] = []
    try:
        for rep in range(sizes.sequential_reps):
            conversation_id = f"seq-{rep}"
            await store.create_conversation(id=conversation_id, title="sequential")
            await store.checkpoint()
            start, cpu = now(), time.process_time()
            for i in range(sizes.sequential_appends):
                await store.append_message(
                    conversation_id, role="user", content=pool[i % len(pool)]
                )
            rates.append(sizes.sequential_appends / (now() - start))
            cpu_per_append.append((time.process_time() - cpu) / sizes.sequential_appends)
    finally:
        await store.close()
    return {
        "appends": sizes.sequential_appends,
        "per_s": median(rates),
        "runs_per_s": rates,
        "cpu_ms_per_append": median(cpu_per_append) * 1000,
    }


# ----------------------------------------------------------------------------- 3. concurrent


async def concurrent(sizes: Sizes, workdir: Path) -> Figures:
    """``writers`` tasks, each appending ``per_writer`` messages to its own conversation."""
    pool = content_pool()
    store = await Store.open(workdir / "concurrent", CONFIG)
    rates: list[float] = []
    latencies: list[float] = []
    try:
        for rep in range(sizes.concurrent_reps):
            ids = [f"w{rep}-{i}" for i in range(sizes.writers)]
            for conversation_id in ids:
                await store.create_conversation(id=conversation_id, title="writer")
            await store.checkpoint()

            async def writer(conversation_id: str, offset: int) -> None:
                for k in range(sizes.per_writer):
                    begin = now()
                    await store.append_message(
                        conversation_id, role="user", content=pool[(offset + k) % len(pool)]
                    )
                    latencies.append(now() - begin)

            start = now()
            await asyncio.gather(*(writer(c, i) for i, c in enumerate(ids)))
            rates.append(sizes.writers * sizes.per_writer / (now() - start))
    finally:
        await store.close()
    return {
        "writers": sizes.writers,
        "per_writer": sizes.per_writer,
        "per_s": median(rates),
        "runs_per_s": rates,
        "latency": latency_summary(latencies),
    }


# ----------------------------------------------------------------------------- 4. cold open


async def cold_open(sizes: Sizes, workdir: Path) -> Figures:
    """The last 50 messages of a 10,000-message conversation, right after the store reopens.

    "disk-cold": every file of the data dir was evicted from the page cache first (fadvise), so the
    meta file and the last chunk really come from the disk. "cache-warm": the same, without the
    eviction (the store is still cold: a fresh open holds no shard in memory).
    """
    data_dir = workdir / "open"
    conversations = prepare_data_dir(data_dir)
    conversation_id = "open-10000"
    build_conversation(
        conversations,
        conversation_id,
        sizes.open_messages,
        CONTENT_CHARS,
        checksummed_storage,
        now_iso(),
    )
    for i in range(20):  # a few neighbours, so the data dir is not a single conversation
        build_conversation(conversations, f"other-{i}", 20, 200, checksummed_storage, now_iso())
    store = await Store.open(data_dir, CONFIG)  # first open: catalog.json gets written
    await store.close()

    results: dict[str, dict[str, list[float]]] = {
        "disk_cold": {"list_ms": [], "open_ms": []},
        "cache_warm": {"list_ms": [], "open_ms": []},
    }
    for _ in range(sizes.open_reps):
        for mode in ("disk_cold", "cache_warm"):
            if mode == "disk_cold":
                drop_page_cache(files_under(data_dir))
            begin = now()
            store = await Store.open(data_dir, CONFIG)
            opened = now()
            try:
                items, has_more = await store.list_messages(conversation_id, limit=50)
                done = now()
            finally:
                await store.close()
            if len(items) != 50 or not has_more:
                raise RuntimeError("the last page of the long conversation is wrong")
            if items[-1]["id"] != f"{conversation_id}-m{sizes.open_messages - 1:06d}":
                raise RuntimeError("the last page does not end at the last message")
            results[mode]["open_ms"].append((opened - begin) * 1000)
            results[mode]["list_ms"].append((done - opened) * 1000)
    return {
        "messages": sizes.open_messages,
        "reps": sizes.open_reps,
        **{
            mode: {
                "list_p50_ms": median(values["list_ms"]),
                "open_p50_ms": median(values["open_ms"]),
                "open_plus_list_p50_ms": median(
                    [a + b for a, b in zip(values["open_ms"], values["list_ms"], strict=True)]
                ),
                "list_ms": values["list_ms"],
                "open_ms": values["open_ms"],
            }
            for mode, values in results.items()
        },
    }


# ----------------------------------------------------------------------------- 6. streaming


async def streaming(sizes: Sizes, workdir: Path) -> Figures:
    """``stream_replies`` assistant replies growing by ``stream_deltas`` deltas each, concurrently."""
    store = await Store.open(workdir / "stream", CONFIG)
    walls: list[float] = []
    cpus: list[float] = []
    latencies: list[float] = []
    delta = "token, tokens. "  # ~4 tokens: what one streamed chunk usually carries
    try:
        ids = [f"s-{i}" for i in range(sizes.stream_replies)]
        for conversation_id in ids:
            await store.create_conversation(id=conversation_id, title="streaming")
            await store.append_message(conversation_id, role="user", content="Explain the code.")
        for _ in range(sizes.stream_reps):
            replies: list[tuple[str, str]] = []
            for conversation_id in ids:
                message, _ = await store.append_message(
                    conversation_id, role="assistant", content="", status="streaming"
                )
                replies.append((conversation_id, message["id"]))
            await store.checkpoint()

            async def reply(conversation_id: str, message_id: str) -> None:
                offset = 0
                for _ in range(sizes.stream_deltas):
                    begin = now()
                    offset = await store.append_text(conversation_id, message_id, offset, delta)
                    latencies.append(now() - begin)

            start, cpu = now(), time.process_time()
            await asyncio.gather(*(reply(c, m) for c, m in replies))
            walls.append(now() - start)
            cpus.append(time.process_time() - cpu)
            for conversation_id, message_id in replies:
                doc = await store.get_message(conversation_id, message_id)
                if len(doc["content"]) != len(delta) * sizes.stream_deltas:
                    raise RuntimeError("a streamed reply lost deltas")
                await store.update_message(conversation_id, message_id, status="complete")
    finally:
        await store.close()
    total = sizes.stream_replies * sizes.stream_deltas
    wall = median(walls)
    return {
        "replies": sizes.stream_replies,
        "deltas_each": sizes.stream_deltas,
        "deltas": total,
        "delta_chars": len(delta),
        "wall_s": wall,
        "runs_s": walls,
        "cpu_s": median(cpus),
        "runs_cpu_s": cpus,
        "per_s": total / wall,
        "latency": latency_summary(latencies),
    }
