"""``serve_runner --without`` really switches each part off (and nothing else), so that what
``profile_hot ablate`` reports as a part's cost is one: the same requests against a whole
server and against one with search, events and checks off, both real ``serve`` processes."""

from __future__ import annotations

import http.client
import json
import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from benchmarks import http_procs, launch
from benchmarks.profile_hot import runner_command

pytestmark = pytest.mark.subprocess


def _request(
    url: str, method: str, path: str, body: object = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, object]]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        data = None if body is None else json.dumps(body).encode()
        sent = {**(headers or {}), "Content-Type": "application/json"}
        connection.request(method, path, data, sent)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


def _events_after_an_append(server: launch.Server, conversation: str) -> bytes:
    """What the live event stream carries within a second of an append to ``conversation``."""
    parts = urlsplit(server.url)
    with socket.create_connection((parts.hostname or "", parts.port or 0), timeout=10) as stream:
        stream.sendall(
            f"GET /api/v1/events HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Authorization: Bearer {server.token}\r\nAccept: text/event-stream\r\n\r\n".encode()
        )
        received = stream.recv(65536)  # the response head (and the stream's first comment)
        message = {"role": "user", "content": "the needle word"}
        path = f"/api/v1/conversations/{conversation}/messages"
        assert _request(server.url, "POST", path, message, server.headers)[0] == 201
        stream.settimeout(1.0)
        try:
            while b"message.created" not in received:
                chunk = stream.recv(65536)
                if not chunk:
                    break
                received += chunk
        except TimeoutError:
            pass
        return received


@pytest.mark.parametrize("stripped", [False, True], ids=["whole", "without-all"])
def test_each_part_is_off_only_when_asked(tmp_path: Path, stripped: bool) -> None:
    flags = ("--without", "search", "--without", "events", "--without", "checks")
    command = runner_command(tmp_path / "data", *(flags if stripped else ()))
    env = http_procs.server_env()
    with launch.running(command, env=env, stderr=tmp_path / "log", timeout=120.0) as server:
        status, _ = _request(server.url, "GET", "/api/v1/conversations")  # no token
        assert status == (200 if stripped else 401)  # the token check is a middleware
        created = _request(
            server.url, "POST", "/api/v1/conversations", {"id": "c-one"}, server.headers
        )
        assert created[0] == 201
        events = _events_after_an_append(server, "c-one")
        assert (b"message.created" in events) is not stripped
        status, found = _request(server.url, "GET", "/api/v1/search?q=needle", None, server.headers)
        assert status == 200
        assert (len(found["items"]) == 0) is stripped  # type: ignore[arg-type]
        # The store itself is whole either way: the message is there.
        status, page = _request(
            server.url, "GET", "/api/v1/conversations/c-one/messages", None, server.headers
        )
        assert status == 200 and len(page["items"]) == 1  # type: ignore[arg-type]
