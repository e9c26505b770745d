"""The one security middleware: its checks in their order, pinned request by request.

Every combination of a good or bad Host, no / an allowed / a refused Origin, a token or none,
three paths (the API, ``/health``, the UI) and the methods and bodies that reach each check is
sent to a real server and compared with a model of the order (CONTRACT §2): Host → Origin (or
the preflight) → token (``GET /health`` and the UI's GETs need none) → body size → media type →
encoding → handler. The model was checked against the chain of six middlewares this replaced
(the same 252 answers), so a request failing several checks still gets the same error.
"""

from __future__ import annotations

import gzip
import itertools
from typing import Any, NamedTuple

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from sidecar.api.keys import ACTIVITY
from sidecar.app import create_app
from sidecar.settings import ServerConfig

from .conftest import AUTH, TOKEN, ClientFactory

Client = TestClient[web.Request, web.Application]

LIMIT = 1024
WEBVIEW = "vscode-webview://1234abcd"
PATHS = {
    "api": ("/api/v1/conversations", "/api/v1/conversations/nope/messages"),
    "health": ("/health", "/health"),
    "ui": ("/ui/missing.txt", "/ui/missing.txt"),
}
GOOD_BODY = orjson.dumps({"role": "user", "content": "x"})
BODIES: dict[str, tuple[bytes, dict[str, str]]] = {
    "json": (GOOD_BODY, {"Content-Type": "application/json"}),
    "too_large": (
        b'{"content": "' + b"x" * 2 * LIMIT + b'"}',
        {"Content-Type": "application/json"},
    ),
    "form": (b"role=user", {"Content-Type": "application/x-www-form-urlencoded"}),
    "brotli": (GOOD_BODY, {"Content-Type": "application/json", "Content-Encoding": "br"}),
    "gzip": (
        gzip.compress(GOOD_BODY),
        {"Content-Type": "application/json", "Content-Encoding": "gzip"},
    ),
}


class Case(NamedTuple):
    host_ok: bool
    origin: str | None  # None, "ok" or "bad"
    token: bool
    path: str  # a key of PATHS
    method: str
    body: str | None  # a key of BODIES (POST only)


class Answer(NamedTuple):
    status: int
    code: str | None
    message: str | None  # the refusals' exact text; None where a handler answers
    cors: bool


def cases() -> list[Case]:
    requests = [("GET", None), ("OPTIONS", None), *(("POST", body) for body in BODIES)]
    return [
        Case(host_ok, origin, token, path, method, body)
        for host_ok, origin, token, path, (method, body) in itertools.product(
            (True, False), (None, "ok", "bad"), (True, False), PATHS, requests
        )
    ]


def expected(case: Case) -> Answer:
    """What the checks answer, in CONTRACT §2's order; then what the handler answers."""
    if not case.host_ok:
        return Answer(403, "forbidden", "Host header does not name this server", False)
    if case.origin == "bad":
        return Answer(403, "forbidden", "origin 'https://evil.example' is not allowed", False)
    cors = case.origin == "ok"
    if cors and case.method == "OPTIONS":
        return Answer(204, None, None, True)
    public = case.method == "GET" and case.path in ("health", "ui")
    if not case.token and not public:
        return Answer(401, "unauthorized", "missing or wrong token", cors)
    if case.body == "too_large":
        return Answer(413, "payload_too_large", f"body exceeds {LIMIT} bytes", cors)
    if case.body == "form":
        return Answer(
            415, "unsupported_media_type", "request bodies must be application/json", cors
        )
    if case.body == "brotli":
        # Raised by the encoding check, mapped like a handler's error, CORS headers included.
        message = "Content-Encoding 'br' is not accepted (use gzip, deflate or none)"
        return Answer(415, "unsupported_media_type", message, cors)
    # The handler's answers; raised errors (404, aiohttp's 405) carry CORS headers too.
    if case.method == "OPTIONS" or (case.method == "POST" and case.path != "api"):
        return Answer(400, "bad_request", f"method {case.method} not allowed here", cors)
    if case.path == "ui":
        return Answer(404, "not_found", None, cors)
    if case.method == "POST":
        return Answer(404, "not_found", None, cors)  # the conversation does not exist
    return Answer(200, None, None, cors)


@pytest.fixture
async def small_client(aiohttp_client: ClientFactory, server_config: ServerConfig) -> Client:
    config = ServerConfig(
        data_dir=server_config.data_dir, max_body_bytes=LIMIT, checkpoint_interval=3600
    )
    return await aiohttp_client(create_app(config, token=TOKEN))


async def answer(client: Client, case: Case) -> Answer:
    headers: dict[str, str] = {}
    if not case.host_ok:
        headers["Host"] = f"rebind.example:{client.port}"
    if case.origin is not None:
        headers["Origin"] = WEBVIEW if case.origin == "ok" else "https://evil.example"
    if case.token:
        headers.update(AUTH)
    data: bytes | None = None
    if case.body is not None:
        data, body_headers = BODIES[case.body]
        headers.update(body_headers)
    path = PATHS[case.path][case.method == "POST"]
    async with client.request(
        case.method, path, data=data, headers=headers, allow_redirects=False
    ) as response:
        raw = await response.read()
        cors = response.headers.get("Access-Control-Allow-Origin")
        assert cors in (None, WEBVIEW)
        body: Any = orjson.loads(raw) if raw and response.content_type == "application/json" else {}
        error = body.get("error") if isinstance(body, dict) else None
        code = error["code"] if error else None
        message = error["message"] if error else None
        if error:
            assert set(body) == {"error"} and set(error) == {"code", "message", "details"}
        return Answer(response.status, code, message, cors is not None)


async def test_every_combination_of_checks_answers_as_the_order_says(small_client: Client) -> None:
    mismatches = []
    for case in cases():
        want = expected(case)
        got = await answer(small_client, case)
        if want.message is None:
            got = got._replace(message=None)
        if got != want:
            mismatches.append((case, want, got))
    assert mismatches == []
    assert small_client.app[ACTIVITY].requests == 0  # every request counted out again


async def test_the_checks_are_one_middleware(server_config: ServerConfig) -> None:
    app = create_app(server_config, token="t" * 43)
    assert len(app.middlewares) == 1
