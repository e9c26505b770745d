"""The naive baseline of the HTTP benchmark: the chat server one would write first with aiohttp.

``python -m benchmarks.naive_server --data-dir DIR`` serves the routes the benchmark uses, the
obvious way:

- ``POST /api/v1/conversations/{id}/messages``: parse the JSON with :mod:`json`, give the message
  an id, append one JSON line to ``DIR/{id}.jsonl`` (open, write, flush, ``os.fsync``, close) in
  the handler itself, publish it to every event stream, answer 201. Durable like ours, but one
  blocking fsync per request on the event loop: no group commit.
- ``GET /api/v1/conversations/{id}?limit=50``: read the whole file, parse its last ``limit`` lines.
- ``GET /api/v1/events``: Server-Sent Events (``message.created`` with ``{conversation_id,
  message}`` as in CONTRACT §6, nothing else), one unbounded queue per subscriber.
- ``POST /api/v1/conversations``: create the (empty) file.
- ``GET /health``: ``{"status": "ok"}`` (the cold-start benchmark's first request).

``--no-disk``: the append writes nothing at all (no file, no fsync) and answers the same: what
aiohttp alone costs per request, the ceiling no aiohttp server can pass on the machine (used by
the hot suite as a second anchor: ``aiohttp alone``).

No token, Host or Origin checks, no access log, no validation, no ids checked: everything ours
does on top of this is overhead the baseline does not pay. Ids come from the URL unchecked, which
is acceptable only because it listens on loopback for the benchmark's own client. It prints one
JSON ready line (``url``, ``pid``) on stdout once it is serving.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

DATA_DIR = web.AppKey("data_dir", Path)
NO_DISK = web.AppKey("no_disk", bool)
SUBSCRIBERS = web.AppKey("subscribers", set[asyncio.Queue[bytes]])

routes = web.RouteTableDef()


def _file(request: web.Request) -> Path:
    return request.app[DATA_DIR] / f"{request.match_info['conversation_id']}.jsonl"


@routes.post("/api/v1/conversations")
async def create_conversation(request: web.Request) -> web.Response:
    body = await request.json()
    (request.app[DATA_DIR] / f"{body['id']}.jsonl").touch()
    return web.json_response({"id": body["id"]}, status=201)


@routes.post("/api/v1/conversations/{conversation_id}/messages")
async def append_message(request: web.Request) -> web.Response:
    body = await request.json()
    message: dict[str, Any] = {
        "id": uuid.uuid4().hex,
        "conversation_id": request.match_info["conversation_id"],
        "role": body["role"],
        "content": body["content"],
        "client_message_id": body.get("client_message_id"),
        "created_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
    }
    line = json.dumps(message)
    if not request.app[NO_DISK]:
        with _file(request).open("a") as file:
            file.write(line + "\n")
            file.flush()
            os.fsync(file.fileno())
    event = json.dumps({"conversation_id": message["conversation_id"], "message": message})
    frame = f"event: message.created\ndata: {event}\n\n".encode()
    for queue in request.app[SUBSCRIBERS]:
        queue.put_nowait(frame)
    return web.json_response(message, status=201)


@routes.get("/api/v1/conversations/{conversation_id}")
async def get_conversation(request: web.Request) -> web.Response:
    limit = int(request.query.get("limit", "50"))
    lines = _file(request).read_text().splitlines()
    messages = [json.loads(line) for line in lines[-limit:]]
    return web.json_response(
        {
            "id": request.match_info["conversation_id"],
            "message_count": len(lines),
            "messages": messages,
            "has_more": len(lines) > limit,
        }
    )


@routes.get("/health")
async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "pid": os.getpid()})


@routes.get("/api/v1/events")
async def events(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    await response.write(b": connected\n\n")
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    request.app[SUBSCRIBERS].add(queue)
    try:
        while True:
            await response.write(await queue.get())
    except ConnectionError:
        return response
    finally:
        request.app[SUBSCRIBERS].discard(queue)


async def serve(data_dir: Path, port: int, no_disk: bool = False) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    app = web.Application()
    app[DATA_DIR] = data_dir
    app[NO_DISK] = no_disk
    app[SUBSCRIBERS] = set()
    app.add_routes(routes)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    sock = socket.create_server(("127.0.0.1", port), backlog=512)
    await web.SockSite(runner, sock).start()
    bound = sock.getsockname()[1]
    ready = {"event": "ready", "pid": os.getpid(), "url": f"http://127.0.0.1:{bound}"}
    sys.stdout.write(json.dumps(ready) + "\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.naive_server")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--no-disk", action="store_true", help="append without writing anything")
    args = parser.parse_args(argv)
    asyncio.run(serve(args.data_dir, args.port, args.no_disk))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
