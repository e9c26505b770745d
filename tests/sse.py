"""Reading Server-Sent Events as raw frames, shared by the event and turn tests."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import orjson


async def frame(response: aiohttp.ClientResponse, within: float = 2.0) -> dict[str, Any]:
    """One raw SSE frame: ``{"comment": ...}`` or ``{"id": int, "event": str, "data": obj}``."""
    raw = await asyncio.wait_for(response.content.readuntil(b"\n\n"), within)
    assert raw.endswith(b"\n\n"), f"stream ended: {raw!r}"
    lines = raw.decode().rstrip("\n").split("\n")
    if lines[0].startswith(":"):
        assert len(lines) == 1
        return {"comment": lines[0][1:].strip()}
    fields = dict(line.split(": ", 1) for line in lines)
    assert list(fields) == ["id", "event", "data"], raw
    return {"id": int(fields["id"]), "event": fields["event"], "data": orjson.loads(fields["data"])}


async def events(response: aiohttp.ClientResponse, count: int) -> list[dict[str, Any]]:
    """The next ``count`` events, skipping heartbeats."""
    found: list[dict[str, Any]] = []
    while len(found) < count:
        got = await frame(response)
        if "comment" not in got:
            found.append(got)
    return found
