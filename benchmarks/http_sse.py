"""The ``http-sse`` benchmark (issue #3): append-to-event latency over the event stream.

Twenty (``HttpSizes.sse_clients``) clients hold ``GET /api/v1/events`` open while one client
appends; each delivery is timed from just before its POST to its ``message.created`` arriving.
Its own module because reading and checking event streams is a concern of its own;
``http_bench`` registers it.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import aiohttp
import orjson

from .common import Figures, latency_summary, median, now, text_of
from .http_client import (
    CONTENT_CHARS,
    DRAIN_TIMEOUT_S,
    KINDS,
    PART_TIMEOUT_S,
    REQUEST_TIMEOUT_S,
    HttpSizes,
    both_servers,
    kind_order,
    open_client,
)
from .http_procs import Server


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
    async with open_client(server, 2) as client, streams:
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
    with both_servers(workdir, "sse") as servers:
        for rep in range(hs.sse_reps):
            for kind in kind_order(rep):
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
