"""Replies that outlive their process: a real sidecar killed (``kill -9``) or stopped mid-reply."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.sse import frame
from tests.test_lifecycle import processes, ready_line, start

pytestmark = pytest.mark.subprocess
__all__ = ["processes"]  # the fixture, re-used

SLOW = {"CHAT_SIDECAR_ECHO_CHUNK": "2", "CHAT_SIDECAR_ECHO_DELAY_MS": "15"}
TEXT = "A reply that takes a while to write, so it is still streaming when we pull the plug. " * 2


class Api:
    def __init__(self, ready: dict[str, Any]) -> None:
        self.url = ready["url"]
        self.headers = {"Authorization": f"Bearer {ready['token']}"}

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        async with (
            aiohttp.ClientSession(headers=self.headers) as session,
            session.request(method, self.url + path, json=body) as response,
        ):
            assert response.status < 300, await response.text()
            return await response.json()

    async def settled(self, cid: str) -> dict[str, Any]:
        """The conversation once its turn has left ``streaming`` (at most 20 s)."""
        async with asyncio.timeout(20):
            while True:
                page = await self.call("GET", f"/api/v1/conversations/{cid}")
                if page["state"] != "streaming":
                    return dict(page)
                await asyncio.sleep(0.02)

    async def reply_once_streaming(self, cid: str, least: int) -> dict[str, Any]:
        """The last message once the reply has ``least`` characters and is still streaming."""
        async with asyncio.timeout(20):
            while True:
                page = await self.call("GET", f"/api/v1/conversations/{cid}")
                reply = page["messages"][-1]
                if len(reply["content"]) >= least:
                    assert reply["status"] == "streaming", "the reply finished too early"
                    return dict(reply)
                await asyncio.sleep(0.02)


def test_a_reply_killed_mid_stream_is_interrupted_and_retry_writes_it(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    data_dir = tmp_path / "data"
    first = start(data_dir, "--idle-timeout", "0", env=SLOW)
    processes.append(first)
    api = Api(ready_line(first))

    async def before() -> tuple[str, dict[str, Any], dict[str, Any]]:
        conversation = await api.call("POST", "/api/v1/conversations", {"title": "crash"})
        sent = await api.call(
            "POST",
            f"/api/v1/conversations/{conversation['id']}/actions/send_message",
            {"content": TEXT},
        )
        return conversation["id"], sent, await api.reply_once_streaming(conversation["id"], 20)

    cid, sent, seen = asyncio.run(before())
    first.kill()
    first.wait()

    second = start(data_dir, "--idle-timeout", "0", env={**SLOW, "CHAT_SIDECAR_ECHO_DELAY_MS": "0"})
    processes.append(second)
    api = Api(ready_line(second))

    async def after() -> None:
        page = await api.call("GET", f"/api/v1/conversations/{cid}")
        assert page["state"] == "interrupted"
        partial = page["messages"][-1]
        assert partial["status"] == "interrupted"
        # Everything acknowledged (seen by a pull) survived; the rest is a prefix of the reply.
        assert partial["content"].startswith(seen["content"])
        assert TEXT.startswith(partial["content"]) and len(partial["content"]) < len(TEXT)
        turn_id = sent["turn"]["id"]
        await api.call("POST", f"/api/v1/conversations/{cid}/actions/retry", {"turn_id": turn_id})
        page = await api.settled(cid)
        assert page["state"] == "completed"
        assert [m["content"] for m in page["messages"]] == [TEXT, TEXT]
        branches = await api.call("GET", f"/api/v1/conversations/{cid}/branches")
        kept = [b["head_message_id"] for b in branches if b["name"] != "main"]
        assert kept == [partial["id"]]

    asyncio.run(after())


def test_sigterm_mid_reply_persists_it_as_interrupted_before_shutdown(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    data_dir = tmp_path / "data"
    process = start(data_dir, "--idle-timeout", "0", env=SLOW)
    processes.append(process)
    api = Api(ready_line(process))

    async def scenario() -> list[dict[str, Any]]:
        conversation = await api.call("POST", "/api/v1/conversations", {"title": "stop"})
        cid = conversation["id"]
        await api.call(
            "POST", f"/api/v1/conversations/{cid}/actions/send_message", {"content": TEXT}
        )
        await api.reply_once_streaming(cid, 10)
        seen: list[dict[str, Any]] = []
        async with (
            aiohttp.ClientSession(headers=api.headers) as session,
            session.get(f"{api.url}/api/v1/events?conversation_id={cid}") as stream,
        ):
            assert await frame(stream) == {"comment": "connected"}
            process.send_signal(signal.SIGTERM)
            async with asyncio.timeout(15):
                while not seen or seen[-1]["event"] != "server.shutdown":
                    got = await frame(stream, within=15)
                    if "comment" not in got:
                        seen.append(got)
        return seen

    seen = asyncio.run(scenario())
    assert process.wait(15) == 0
    states = [e["data"]["state"] for e in seen if e["event"] == "turn.state"]
    assert states[-1] == "interrupted"
    assert seen[-1]["event"] == "server.shutdown"
    restarted = start(data_dir, "--idle-timeout", "0")
    processes.append(restarted)
    api = Api(ready_line(restarted))

    async def check() -> None:
        listing = await api.call("GET", "/api/v1/conversations")
        page = await api.call("GET", f"/api/v1/conversations/{listing['items'][0]['id']}")
        assert page["state"] == "interrupted"
        assert page["messages"][-1]["status"] == "interrupted"
        assert TEXT.startswith(page["messages"][-1]["content"])

    asyncio.run(check())
