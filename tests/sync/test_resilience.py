"""Crashes, a hub that goes away, a hub too new, live events, and the password kept secret."""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from ..sse import frame
from .conftest import with_database
from .devices import ROOT, Device, converge, running, wait_state

pytestmark = pytest.mark.subprocess
SCRIPT = ROOT / "scripts" / "_postgres.sh"


async def test_a_device_killed_mid_push_catches_up_with_nothing_lost_or_doubled(
    hub_url: str, tmp_path: Path
) -> None:
    a, b = Device("a", tmp_path / "a", hub_url), Device("b", tmp_path / "b", hub_url)
    with running([a, b]):
        a.start()
        b.start()
        cid = await a.create()
        acknowledged: list[str] = []
        for round_number in range(3):
            writer = asyncio.create_task(_append_forever(a, cid, acknowledged, round_number))
            await asyncio.sleep(random.uniform(0.3, 1.2))
            a.kill()  # kill -9 while appends, comparisons and pushes are in flight
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
            a.start()
        state = await converge([a, b])
        contents = [m["content"] for m in state[cid]["messages"].values()]
        assert len(contents) == len(set(contents)), "a message arrived twice"
        assert set(acknowledged) <= set(contents), "an acknowledged message was lost"


async def _append_forever(
    device: Device, cid: str, acknowledged: list[str], round_number: int
) -> None:
    number = 0
    while True:
        content = f"round {round_number} message {number}"
        try:
            await device.append(cid, content)
        except (aiohttp.ClientError, AssertionError):
            return
        acknowledged.append(content)
        number += 1


def pg_script(command: str, folder: Path) -> None:
    subprocess.run(["bash", str(SCRIPT), command, str(folder)], check=True, capture_output=True)


@pytest.fixture
def own_server() -> Any:
    """A PostgreSQL of this test's own, which it may stop and start (in /tmp: the server runs
    as an unprivileged user, who cannot enter pytest's private temp folders)."""
    folder = Path(tempfile.mkdtemp(prefix="chat-sidecar-pg-"))
    done = subprocess.run(
        ["bash", str(SCRIPT), "start", str(folder)], capture_output=True, check=False
    )
    if done.returncode != 0:
        if os.environ.get("CI") == "true":
            pytest.fail(f"no PostgreSQL: {done.stderr.decode()[-300:]}")
        pytest.skip(f"no PostgreSQL to start a private server: {done.stderr.decode()[-300:]}")
    try:
        yield folder
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop", str(folder)], check=False)


async def test_the_hub_stopped_and_restarted_while_devices_write(
    own_server: Path, tmp_path: Path
) -> None:
    dsn = (own_server / "dsn").read_text().strip()
    password = (own_server / ".pw").read_text().strip()
    env = {"CHAT_SIDECAR_SYNC_PASSWORD": password}
    url = with_database(dsn, "postgres")
    a, b = Device("a", tmp_path / "a", url), Device("b", tmp_path / "b", url)
    with running([a, b]):
        a.start(env)
        b.start(env)
        cid = await a.create()
        await a.append(cid, "before")
        await converge([a, b])
        await asyncio.to_thread(pg_script, "pause", own_server)
        for i in range(5):
            await a.append(cid, f"a while the hub is down {i}")
            await b.append(cid, f"b while the hub is down {i}")
        other = await b.create(title="made while the hub was down")
        await wait_state(a, "offline")
        health = await a.health()
        assert health["sync"]["state"] == "offline" and health["status"] == "ok"
        assert health["sync"]["pending"] > 0
        await asyncio.to_thread(pg_script, "resume", own_server)
        state = await converge([a, b], within=60)
        assert other in state
        contents = {m["content"] for m in state[cid]["messages"].values()}
        assert {f"a while the hub is down {i}" for i in range(5)} <= contents
        assert {f"b while the hub is down {i}" for i in range(5)} <= contents


async def test_a_hub_written_by_a_newer_version_is_refused(hub_url: str, tmp_path: Path) -> None:
    conn = await asyncpg.connect(hub_url, password=os.environ["CHAT_SIDECAR_SYNC_PASSWORD"])
    try:
        await conn.execute("CREATE TABLE chat_sync_meta (key text PRIMARY KEY, value text)")
        await conn.execute("INSERT INTO chat_sync_meta VALUES ('schema_version', '99')")
    finally:
        await conn.close()
    a = Device("a", tmp_path / "a", hub_url)
    with running([a]):
        a.start()
        await wait_state(a, "error")
        health = await a.health()
        assert health["sync"]["state"] == "error" and "99" in health["sync"]["error"]
        assert health["status"] == "degraded"
        cid = await a.create(title="local work is unaffected")
        await a.append(cid, "still works")


async def test_a_change_shows_live_on_the_other_device_event_stream(
    hub_url: str, tmp_path: Path
) -> None:
    a, b = Device("a", tmp_path / "a", hub_url), Device("b", tmp_path / "b", hub_url)
    with running([a, b]):
        a.start()
        b.start()
        cid = await a.create()
        await converge([a, b])
        headers = {"Authorization": f"Bearer {b.token}"}
        lags = []
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{b.url}/api/v1/events", headers=headers) as stream,
        ):
            for i in range(5):
                started = time.monotonic()
                sent = await a.append(cid, f"live {i}")
                while True:
                    got = await frame(stream, within=5)
                    data = got.get("data") or {}
                    if (
                        got.get("event") == "message.created"
                        and data["message"]["id"] == sent["id"]
                    ):
                        break
                lags.append(time.monotonic() - started)
        assert max(lags) < 1.0, lags


async def test_the_password_appears_in_no_log_or_answer(hub_url: str, tmp_path: Path) -> None:
    password = os.environ["CHAT_SIDECAR_SYNC_PASSWORD"]
    a = Device("a", tmp_path / "a", hub_url)
    with running([a]):
        a.start({"CHAT_SIDECAR_LOG_LEVEL": "debug"})
        await a.create()
        await converge([a])
        health = await a.call("GET", "/health")
        assert health["sync"]["hub"] == hub_url
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        status = await asyncio.to_thread(
            subprocess.run,
            [
                sys.executable,
                "-m",
                "sidecar",
                "sync",
                "status",
                "--json",
                "--data-dir",
                str(a.data_dir),
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert status.returncode == 0 and '"state":"online"' in status.stdout
        answers = [str(health), status.stdout, status.stderr]
    # a wrong password: the error is reported, the password is not
    wrong = f"wrong-{secrets.token_hex(8)}"
    b = Device("b", tmp_path / "b", hub_url)
    with running([b]):
        b.start({"CHAT_SIDECAR_SYNC_PASSWORD": wrong})
        await wait_state(b, "error")
        refused = await b.health()
        assert refused["sync"]["state"] == "error", refused
        answers.append(str(refused))
    # a password in the URL is refused before anything starts, without echoing it
    bad = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "sidecar",
            "serve",
            "--data-dir",
            str(tmp_path / "c"),
            "--sync-url",
            hub_url.replace("postgres@", f"postgres:{wrong}@"),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert bad.returncode == 2 and "password" in bad.stderr
    answers += [bad.stdout, bad.stderr]
    logs = [a.stderr_path.read_text(), b.stderr_path.read_text()]
    for text in answers + logs:
        assert password not in text
        assert wrong not in text


async def test_a_streaming_reply_reaches_the_hub_a_few_times_a_second(
    hub_url: str, tmp_path: Path
) -> None:
    a, b = Device("a", tmp_path / "a", hub_url), Device("b", tmp_path / "b", hub_url)
    with running([a, b]):
        slow = {"CHAT_SIDECAR_ECHO_CHUNK": "1", "CHAT_SIDECAR_ECHO_DELAY_MS": "4"}
        a.start(slow)
        b.start()
        cid = await a.create()
        started = time.monotonic()
        sent = await a.call(
            "POST",
            f"/api/v1/conversations/{cid}/actions/send_message",
            {"content": "a reply streamed one character at a time " * 8},
            ok=202,
        )
        reply_id = sent["turn"]["assistant_message_id"]
        for _ in range(200):
            turn = await a.call("GET", f"/api/v1/conversations/{cid}")
            if turn["state"] == "completed":
                break
            await asyncio.sleep(0.1)
        seconds = time.monotonic() - started
        state = await converge([a, b])
        assert state[cid]["messages"][reply_id]["status"] == "complete"
        conn = await asyncpg.connect(hub_url, password=os.environ["CHAT_SIDECAR_SYNC_PASSWORD"])
        try:
            writes = await conn.fetchval(
                "SELECT count(*) FROM chat_sync_changes WHERE kind = 'm' AND key = $1", reply_id
            )
        finally:
            await conn.close()
        assert seconds > 1.0  # it did stream for a while
        assert writes <= 5 * seconds + 4, (writes, seconds)
