"""The hot-path benchmark's two clients: the main one and a held-out one, built differently.

- :func:`keepalive_appends` (the main client, as in issue #18): one thread per writer, each with
  its own keep-alive :class:`http.client.HTTPConnection`, sending its appends one after another.
- :func:`stream_appends` (the held-out client): one raw ``asyncio`` stream per writer on the
  caller's event loop, the request written by hand, the response read by ``Content-Length``,
  one request in flight per connection (no pipelining).

A server tuned to one of them shows up as a gap between the two. Both warm every connection up
before the clock starts (connection open, conversation loaded), start every writer at once, and
check every answer's status, so a failing server cannot look fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .common import Figures, latency_summary

TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class Load:
    """``writers`` writers, writer ``i`` appending ``per_writer`` bodies to
    ``conversations[i % len(conversations)]`` after ``warmup`` unmeasured ones."""

    conversations: tuple[str, ...]
    writers: int
    per_writer: int
    warmup: int = 2


def _summary(latencies: list[float], wall: float, messages: int) -> Figures:
    return {
        "messages": messages,
        "wall_s": wall,
        "per_s": messages / wall,
        "latency": latency_summary(latencies),
    }


def _path(conversation_id: str) -> str:
    return f"/api/v1/conversations/{conversation_id}/messages"


# ----------------------------------------------------------------------------- http.client


def keepalive_appends(
    url: str, headers: dict[str, str], load: Load, bodies: list[bytes]
) -> Figures:
    """Run ``load`` with one thread and one keep-alive ``http.client`` connection per writer."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    sent_headers = {**headers, "Content-Type": "application/json"}
    barrier = threading.Barrier(load.writers + 1)
    latencies: list[list[float]] = [[] for _ in range(load.writers)]
    errors: list[BaseException] = []

    def writer(index: int) -> None:
        path = _path(load.conversations[index % len(load.conversations)])
        connection = http.client.HTTPConnection(host, port, timeout=TIMEOUT_S)
        mine = latencies[index]

        def post(n: int) -> None:
            connection.request("POST", path, bodies[n % len(bodies)], sent_headers)
            response = connection.getresponse()
            data = response.read()
            if response.status != 201:
                raise RuntimeError(f"POST {path} -> {response.status} {data[:200]!r}")

        try:
            for n in range(load.warmup):
                post(index + n)
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()
            connection.close()
            return
        try:
            barrier.wait()
            for n in range(load.per_writer):
                begin = time.perf_counter()
                post(index * load.per_writer + n)
                mine.append(time.perf_counter() - begin)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(i,), daemon=True) for i in range(load.writers)]
    for thread in threads:
        thread.start()
    with contextlib.suppress(threading.BrokenBarrierError):  # a writer failed: it says why
        barrier.wait(timeout=TIMEOUT_S)
    begin = time.perf_counter()
    for thread in threads:
        thread.join(TIMEOUT_S * 4)
    wall = time.perf_counter() - begin
    if errors:
        raise RuntimeError(f"keep-alive client failed: {errors[0]!r}") from errors[0]
    flat = [x for mine in latencies for x in mine]
    return _summary(flat, wall, load.writers * load.per_writer)


# ----------------------------------------------------------------------------- asyncio streams


class _StreamConnection:
    """One HTTP/1.1 keep-alive connection spoken by hand over an ``asyncio`` stream."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> _StreamConnection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def post(self, head: bytes, body: bytes) -> tuple[int, bytes]:
        self.writer.write(head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
        await self.writer.drain()
        status_and_headers = await self.reader.readuntil(b"\r\n\r\n")
        lines = status_and_headers.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length = None
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length is None:
            raise RuntimeError(f"no Content-Length in {status_and_headers[:300]!r}")
        return status, await self.reader.readexactly(length)

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


async def stream_appends(
    url: str, headers: dict[str, str], load: Load, bodies: list[bytes]
) -> Figures:
    """Run ``load`` with one hand-written HTTP/1.1 connection per writer on this event loop."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    latencies: list[float] = []
    start = asyncio.Event()

    async def writer(index: int, connection: _StreamConnection) -> None:
        path = _path(load.conversations[index % len(load.conversations)])
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{extra}"
            "Content-Type: application/json\r\n"
        ).encode()

        async def post(n: int) -> None:
            status, data = await connection.post(head, bodies[n % len(bodies)])
            if status != 201:
                raise RuntimeError(f"POST {path} -> {status} {data[:200]!r}")

        for n in range(load.warmup):
            await post(index + n)
        ready.append(index)
        if len(ready) == load.writers:
            start.set()
        await start.wait()
        for n in range(load.per_writer):
            begin = time.perf_counter()
            await post(index * load.per_writer + n)
            latencies.append(time.perf_counter() - begin)

    ready: list[int] = []
    connections = [await _StreamConnection.open(host, port) for _ in range(load.writers)]
    begin_holder: dict[str, Any] = {}

    async def clock() -> None:
        await start.wait()
        begin_holder["begin"] = time.perf_counter()

    try:
        async with asyncio.timeout(TIMEOUT_S * 4), asyncio.TaskGroup() as group:
            group.create_task(clock())
            for index, connection in enumerate(connections):
                group.create_task(writer(index, connection))
        wall = time.perf_counter() - begin_holder["begin"]
    finally:
        for connection in connections:
            await connection.close()
    return _summary(latencies, wall, load.writers * load.per_writer)
