"""What the HTTP benchmark parts share (issue #3): sizes, append bodies, and a checked client.

``http_bench`` (appends, cold start, the registry), ``http_reads`` and ``http_sse`` all drive the
same two servers the same way; the constants, ``HttpSizes``, the aiohttp ``Client`` and the
helpers that name each part's data dir and alternate the servers' order live here, once, so no
part imports another.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from . import http_procs
from .common import text_of
from .http_procs import Server

CONTENT_CHARS = 1024  # as in the store benchmark
REQUEST_TIMEOUT_S = 30.0
PART_TIMEOUT_S = 120.0
DRAIN_TIMEOUT_S = 15.0
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
async def open_client(server: Server, connections: int) -> Any:
    client = Client(server, connections)
    try:
        yield client
    finally:
        await client.close()


def part_dir(workdir: Path, kind: str, name: str) -> Path:
    return workdir / f"{kind}-{name}"


@contextlib.contextmanager
def both_servers(workdir: Path, name: str) -> Iterator[dict[str, Server]]:
    """Ours and the naive server, each on the part's own data dir, stopped when the block ends."""
    with contextlib.ExitStack() as stack:
        yield {
            kind: stack.enter_context(
                http_procs.running(kind, part_dir(workdir, kind, name), workdir)
            )
            for kind in KINDS
        }


def kind_order(rep: int) -> tuple[str, ...]:
    """Alternate which server goes first, so drift on the shared machine hits both alike."""
    return KINDS if rep % 2 == 0 else KINDS[::-1]
