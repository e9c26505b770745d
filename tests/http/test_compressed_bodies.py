"""Compressed request bodies against a real ``chat-sidecar serve`` over a real socket (issue #15).

A gzip bomb (~4 MB inflating to 4 GiB) used to stall the whole server for ~13 s: aiohttp inflated
it while draining the refused body. Now bodies are inflated only by the handler that reads them,
bounded by the same 4 MiB limit, so ``/health`` answers within a second whatever another client
sends. The bound is functional (a stalled loop takes seconds), not a benchmark.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
import struct
import time
import urllib.request
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from benchmarks import launch

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.subprocess
GIB = 1 << 30
#: What a normal request may take while bombs are in flight (it took 4-7 s before the fix).
HEALTH_BOUND_S = 1.0


def deflate_bomb(inflated: int, block: int = 1 << 20) -> bytes:
    """Raw deflate of ``inflated`` zero bytes, made from one repeated, byte-aligned block
    (``Z_FULL_FLUSH`` resets the history, so every block's bytes are the same)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = bytes(block)
    first = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    again = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    return first + again * (inflated // block - 1) + compressor.flush(zlib.Z_FINISH)


def gzip_bomb(inflated: int) -> bytes:
    """A gzip member of ``inflated`` zeros (its CRC is never reached: the server stops long
    before the end, so it is left as zero rather than spending seconds computing it)."""
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    return header + deflate_bomb(inflated) + struct.pack("<II", 0, inflated & 0xFFFFFFFF)


@pytest.fixture
def sidecar(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A real ``serve`` subprocess (stderr to a file, so its log can never fill a pipe)."""
    server = launch.start_sidecar(
        tmp_path / "data",
        env=launch.child_env({"CHAT_SIDECAR_IDLE_TIMEOUT": "0"}),
        stderr=tmp_path / "stderr.log",
    )
    try:
        _answered_once(server.url)  # start-up done: what is timed below is only the bombs' effect
        yield server.ready
    finally:
        server.kill()


def _answered_once(url: str, within_s: float = 60.0) -> None:
    """Wait for the first answer: ``serve`` prints its ready line before it imports the
    application and opens the store (CONTRACT §1), so the first request may wait for both."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=within_s) as answer:
                if answer.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.05)


async def health_latencies(url: str, until: asyncio.Future[Any], minimum: int = 6) -> list[float]:
    """Time ``GET /health`` (each on a fresh connection) until ``until`` is done, then a few
    more times: the stall, if any, came after the refusal, while the body was drained."""
    latencies: list[float] = []
    timeout = aiohttp.ClientTimeout(total=30)
    while not until.done() or len(latencies) < minimum:
        started = time.monotonic()
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(f"{url}/health") as response,
        ):
            assert response.status == 200
            await response.read()
        latencies.append(time.monotonic() - started)
        await asyncio.sleep(0.25)
    return latencies


async def post_bombs(
    url: str, bomb: bytes, headers: dict[str, str], count: int = 2
) -> list[tuple[int, dict[str, Any]]]:
    async def one() -> tuple[int, dict[str, Any]]:
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{url}/api/v1/conversations", data=bomb, headers=headers) as response,
        ):
            return response.status, await response.json()

    return list(await asyncio.gather(*(one() for _ in range(count))))


def test_gzip_bombs_without_a_token_do_not_stall_the_server(sidecar: dict[str, Any]) -> None:
    bomb = gzip_bomb(4 * GIB)
    assert 4_000_000 < len(bomb) < 4_400_000

    async def run() -> tuple[list[tuple[int, dict[str, Any]]], list[float]]:
        headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
        bombs = asyncio.ensure_future(post_bombs(sidecar["url"], bomb, headers))
        latencies = await health_latencies(sidecar["url"], bombs)
        return await bombs, latencies

    answers, latencies = asyncio.run(run())
    assert [status for status, _ in answers] == [401, 401]
    assert answers[0][1]["error"]["code"] == "unauthorized"
    assert max(latencies) < HEALTH_BOUND_S, latencies


def test_an_authenticated_gzip_bomb_is_refused_at_the_inflated_limit(
    sidecar: dict[str, Any],
) -> None:
    bomb = gzip_bomb(3 * GIB)  # ~3.2 MB: under the 4 MiB limit until inflated
    assert len(bomb) < 4 * 1024 * 1024

    async def run() -> tuple[list[tuple[int, dict[str, Any]]], list[float]]:
        headers = {
            "Content-Encoding": "gzip",
            "Content-Type": "application/json",
            "Authorization": f"Bearer {sidecar['token']}",
        }
        bombs = asyncio.ensure_future(post_bombs(sidecar["url"], bomb, headers))
        latencies = await health_latencies(sidecar["url"], bombs)
        return await bombs, latencies

    answers, latencies = asyncio.run(run())
    for status, body in answers:
        assert status == 413, body
        assert body["error"]["code"] == "payload_too_large"
        assert "once inflated" in body["error"]["message"]
    assert max(latencies) < HEALTH_BOUND_S, latencies


def test_compressed_bodies_within_the_limit_work_and_others_are_refused(
    sidecar: dict[str, Any],
) -> None:
    auth = {"Authorization": f"Bearer {sidecar['token']}", "Content-Type": "application/json"}
    body = json.dumps({"id": "zipped", "title": "sent compressed"}).encode()

    async def post(data: bytes, encoding: str) -> tuple[int, dict[str, Any]]:
        headers = {**auth, "Content-Encoding": encoding}
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"{sidecar['url']}/api/v1/conversations", data=data, headers=headers
            ) as response,
        ):
            return response.status, await response.json()

    async def run() -> None:
        status, created = await post(gzip.compress(body), "gzip")
        assert status == 201 and created["title"] == "sent compressed"
        status, again = await post(zlib.compress(body), "deflate")
        assert status == 200 and again["id"] == "zipped", again  # the same create, repeated
        status, refused = await post(body, "br")
        assert status == 415 and refused["error"]["code"] == "unsupported_media_type"
        status, broken = await post(gzip.compress(body)[:-12], "gzip")
        assert status == 400 and "truncated" in broken["error"]["message"]
        status, garbage = await post(b"not gzip at all", "gzip")
        assert status == 400 and garbage["error"]["code"] == "bad_request"

    asyncio.run(run())


def _websocket_frame(payload: bytes) -> bytes:
    """One client text frame with RSV1 (permessage-deflate) set, masked with the all-zero key
    (valid framing, and it leaves the payload as it is)."""
    header = struct.pack("!BBQ", 0x80 | 0x40 | 0x1, 0x80 | 127, len(payload))
    return header + bytes(4) + payload


def test_a_deflate_bomb_over_the_rpc_websocket_is_closed_not_inflated(
    sidecar: dict[str, Any],
) -> None:
    """permessage-deflate is negotiated on ``/rpc``: a message inflating past the 4 MiB limit
    closes the connection with 1009 after 4 MiB, and the server keeps answering."""
    host, port = sidecar["host"], int(sidecar["port"])
    bomb = deflate_bomb(GIB)[:-4]  # permessage-deflate drops the final empty block's tail
    request = (
        f"GET /rpc HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate\r\n"
        f"Authorization: Bearer {sidecar['token']}\r\n\r\n"
    ).encode()

    def attack() -> bytes:
        with socket.create_connection((host, port), timeout=20) as sock:
            sock.sendall(request)
            handshake = b""
            while b"\r\n\r\n" not in handshake:
                handshake += sock.recv(4096)
            assert b"101" in handshake.split(b"\r\n")[0]
            assert b"permessage-deflate" in handshake.lower()
            sock.sendall(_websocket_frame(bomb))
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
            return answer

    async def run() -> tuple[bytes, list[float]]:
        attacker = asyncio.ensure_future(asyncio.to_thread(attack))
        latencies = await health_latencies(sidecar["url"], attacker)
        return await attacker, latencies

    answer, latencies = asyncio.run(run())
    close = answer.find(b"\x88")
    assert close >= 0, answer[:200]
    assert struct.unpack("!H", answer[close + 2 : close + 4])[0] == 1009
    assert max(latencies) < HEALTH_BOUND_S, latencies
