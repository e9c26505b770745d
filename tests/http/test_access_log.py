"""The access log (CONTRACT §2): a line per request with no token, no query, no chat text, at a
level by its status (successes DEBUG, refusals WARNING, failures ERROR, as jupyter_server); and no
log record at all when the level drops it, even on a connection opened while it did not."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from sidecar.app import create_app
from sidecar.http.security import RedactingAccessLogger
from sidecar.logformat import SecondCachedFormatter
from sidecar.settings import ServerConfig

from .conftest import AUTH, TOKEN, ClientFactory, call

Client = TestClient[web.Request, web.Application]
MARKER = "zq-marker-3b7d0c11"
ACCESS = "aiohttp.access"


@pytest.fixture
def made() -> Iterator[list[logging.LogRecord]]:
    """Every access log record built, whatever its level or handler."""
    records: list[logging.LogRecord] = []
    default = logging.getLogRecordFactory()

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = default(*args, **kwargs)
        if record.name == ACCESS:
            records.append(record)
        return record

    logging.setLogRecordFactory(factory)
    yield records
    logging.setLogRecordFactory(default)


@pytest.fixture
async def logged_client(aiohttp_client: ClientFactory, server_config: ServerConfig) -> Client:
    """As ``serve`` runs it: with our access logger (aiohttp's own would log the query)."""
    server = TestServer(create_app(server_config, token=TOKEN))
    await server.start_server(access_log_class=RedactingAccessLogger)
    return await aiohttp_client(server)


async def settled(records: list[logging.LogRecord], count: int) -> None:
    """The server logs just after it answers: wait (briefly) for ``count`` records."""
    for _ in range(200):
        if len(records) >= count:
            return
        await asyncio.sleep(0.005)


async def test_lines_name_the_request_and_never_a_token_a_query_or_chat_text(
    logged_client: Client, made: list[logging.LogRecord], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=ACCESS)
    client = logged_client
    await call(client, "POST", "/api/v1/conversations", {"id": "c", "title": MARKER}, status=201)
    path = "/api/v1/conversations/c/messages"
    await call(client, "POST", path, {"role": "user", "content": MARKER}, status=201)
    await call(client, "GET", f"/api/v1/search?q={MARKER}", status=200)
    response = await client.get(f"/api/v1/conversations?access_token={TOKEN}&x={MARKER}")
    assert response.status == 401
    await settled(made, 4)
    formatter = SecondCachedFormatter()
    lines = [formatter.format(r) for r in caplog.records if r.name == ACCESS]
    assert len(lines) == 4
    assert all(TOKEN not in line and MARKER not in line and "?" not in line for line in lines)
    messages = [r.getMessage() for r in caplog.records if r.name == ACCESS]
    assert re.fullmatch(rf"127\.0\.0\.1 POST {path} 201 \d+\.\dms", messages[1])
    assert re.fullmatch(r"127\.0\.0\.1 GET /api/v1/conversations 401 \d+\.\dms", messages[3])
    levels = [r.levelno for r in made]
    assert levels == [logging.DEBUG, logging.DEBUG, logging.DEBUG, logging.WARNING]


async def test_no_record_is_built_when_the_level_drops_it(
    logged_client: Client, made: list[logging.LogRecord]
) -> None:
    access = logging.getLogger(ACCESS)
    access.setLevel(logging.DEBUG)
    try:
        await call(logged_client, "GET", "/api/v1/conversations", status=200)
        await settled(made, 1)
        assert len(made) == 1
        # The same keep-alive connection: aiohttp asked "enabled?" when it opened.
        access.setLevel(logging.INFO)  # the default: a success makes no record at all
        for _ in range(5):
            await call(logged_client, "GET", "/api/v1/conversations", status=200)
        response = await logged_client.get("/health", headers={"X-Probe": "1", **AUTH})
        assert response.status == 200
        await asyncio.sleep(0.05)
        assert len(made) == 1
        refused = await logged_client.get("/api/v1/conversations")  # no token: a WARNING line
        assert refused.status == 401
        await settled(made, 2)
        assert [r.levelno for r in made] == [logging.DEBUG, logging.WARNING]
        access.setLevel(logging.CRITICAL)
        assert (await logged_client.get("/api/v1/conversations")).status == 401
        await asyncio.sleep(0.05)
        assert len(made) == 2
    finally:
        access.setLevel(logging.NOTSET)
