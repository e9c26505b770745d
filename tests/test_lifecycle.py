"""``chat-sidecar serve`` as a real process: ready line, discovery, attach, takeover, exits.

Everything here starts real subprocesses on loopback; nothing about the server is simulated.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from benchmarks import launch
from sidecar.store import Store

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.subprocess


def start(data_dir: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return launch.spawn(launch.serve_command(data_dir, *args), env=launch.child_env(env))


def ready_line(process: subprocess.Popen[bytes], timeout: float = 20) -> dict[str, Any]:
    try:
        return launch.read_ready(process, timeout)
    except launch.NoReadyLine as exc:
        process.kill()
        stderr = process.stderr.read().decode() if process.stderr else ""
        raise AssertionError(f"no ready line ({exc}); stderr: {stderr}") from exc


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


async def get(url: str, token: str | None = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as response:
        return response.status, await response.json()


def test_ready_line_discovery_file_and_graceful_sigterm(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    data_dir = tmp_path / "data"
    process = start(data_dir)
    processes.append(process)
    ready = ready_line(process)
    assert ready["event"] == "ready" and ready["attached"] is False
    assert ready["pid"] == process.pid and ready["host"] == "127.0.0.1"
    assert ready["url"] == f"http://127.0.0.1:{ready['port']}" and len(ready["token"]) >= 43
    assert ready["data_dir"] == str(data_dir.resolve())
    discovery = data_dir / "sidecar.json"
    assert json.loads(discovery.read_text()) == ready
    assert discovery.stat().st_mode & 0o777 == 0o600
    assert data_dir.stat().st_mode & 0o777 == 0o700
    status, health = asyncio.run(get(f"{ready['url']}/health", ready["token"]))
    assert status == 200 and health["pid"] == process.pid
    process.send_signal(signal.SIGTERM)
    assert process.wait(15) == 0
    assert not discovery.exists()
    assert process.stdout is not None and process.stdout.read() == b"", "stdout: ready line only"
    assert process.stderr is not None
    # The token shows on stderr exactly once: the chat UI's address (CONTRACT §1), no log line.
    with_token = [
        line for line in process.stderr.read().decode().splitlines() if ready["token"] in line
    ]
    assert with_token == [f"chat UI: {ready['url']}/ui/#token={ready['token']}"]


def test_sigterm_the_moment_the_ready_line_is_read_is_a_graceful_stop(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    """The launcher may stop a sidecar it just started (a window closing at once): serve imports
    the application and opens the store after its ready line, so the signal must be handled by
    then, or the default action kills it with its discovery file left behind."""
    data_dir = tmp_path / "data"
    process = start(data_dir)
    processes.append(process)
    ready_line(process)
    process.send_signal(signal.SIGTERM)
    assert process.wait(15) == 0
    assert not (data_dir / "sidecar.json").exists()


def test_second_serve_attaches_and_exits_zero(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    data_dir = tmp_path / "data"
    owner = start(data_dir)
    processes.append(owner)
    first = ready_line(owner)
    second = start(data_dir)
    processes.append(second)
    attached = ready_line(second)
    assert second.wait(15) == 0
    assert attached == {**first, "attached": True}
    assert owner.poll() is None


def test_stale_discovery_file_is_taken_over(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    data_dir = tmp_path / "data"
    first = start(data_dir)
    processes.append(first)
    old = ready_line(first)
    first.kill()
    first.wait()
    assert (data_dir / "sidecar.json").exists(), "kill -9 leaves the file behind"
    second = start(data_dir)
    processes.append(second)
    new = ready_line(second)
    assert new["attached"] is False and new["pid"] == second.pid and new["token"] != old["token"]
    assert json.loads((data_dir / "sidecar.json").read_text())["pid"] == second.pid


def test_token_from_the_environment(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    process = start(tmp_path / "data", env={"CHAT_SIDECAR_TOKEN": "t" * 48})
    processes.append(process)
    assert ready_line(process)["token"] == "t" * 48


def test_idle_timeout_exits_cleanly_but_not_while_a_stream_is_open(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    data_dir = tmp_path / "data"
    process = start(data_dir, "--idle-timeout", "1.5")
    processes.append(process)
    ready = ready_line(process)

    async def hold_stream_then_reload() -> None:
        url = f"{ready['url']}/api/v1/events?access_token={ready['token']}"
        async with aiohttp.ClientSession() as session:
            async with session.get(url) as response:
                assert response.status == 200
                await asyncio.sleep(3)  # longer than the timeout: an open stream keeps it alive
            await asyncio.sleep(0.5)  # a window reload: the stream drops and comes back
            async with session.get(url) as response:
                assert response.status == 200
                await asyncio.sleep(0.5)

    asyncio.run(hold_stream_then_reload())
    assert process.poll() is None, "exited while clients were connected"
    assert process.wait(10) == 0
    assert not (data_dir / "sidecar.json").exists()


def test_non_loopback_host_is_refused(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sidecar",
            "serve",
            "--data-dir",
            str(tmp_path),
            "--host",
            "0.0.0.0",
        ],
        cwd=ROOT,
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=30,
    )
    assert result.returncode == 2 and b"--allow-remote" in result.stderr and result.stdout == b""


def test_status_and_stop_commands(tmp_path: Path, processes: list[subprocess.Popen[bytes]]) -> None:
    data_dir = tmp_path / "data"

    def cli(*args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [sys.executable, "-m", "sidecar", *args, "--data-dir", str(data_dir)],
            cwd=ROOT,
            capture_output=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            timeout=30,
        )

    assert cli("status").returncode == 1
    process = start(data_dir)
    processes.append(process)
    ready_line(process)
    result = cli("status", "--json")
    assert result.returncode == 0 and json.loads(result.stdout)["pid"] == process.pid
    assert cli("stop").returncode == 0
    assert process.wait(15) == 0
    assert cli("status").returncode == 1


def test_kill_9_during_concurrent_http_writes_loses_nothing_acknowledged(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    data_dir = tmp_path / "data"
    process = start(data_dir)
    processes.append(process)
    ready = ready_line(process)
    headers = {"Authorization": f"Bearer {ready['token']}"}
    acked: dict[str, list[str]] = {f"w{i}": [] for i in range(8)}

    async def writer(session: aiohttp.ClientSession, cid: str, enough: asyncio.Event) -> None:
        base = f"{ready['url']}/api/v1/conversations"
        async with session.post(base, json={"id": cid}, headers=headers) as response:
            assert response.status in (200, 201)
        n = 0
        while True:
            body = {"role": "user", "content": f"{cid}-{n}", "client_message_id": f"{cid}-{n}"}
            async with session.post(f"{base}/{cid}/messages", json=body, headers=headers) as r:
                if r.status != 201:
                    return
                acked[cid].append(body["content"])
            if sum(len(c) for c in acked.values()) > 60:
                enough.set()
            n += 1

    async def run() -> None:
        async with aiohttp.ClientSession() as session:
            enough = asyncio.Event()
            tasks = [asyncio.create_task(writer(session, cid, enough)) for cid in acked]
            # Kill once enough writes are acknowledged (not after a fixed time: on a loaded
            # machine 1.5 s gave as few as 8), within a bound so a stuck server still fails.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(enough.wait(), timeout=30)
            process.kill()
            await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(run())
    process.wait()

    async def check() -> None:
        store = await Store.open(data_dir)
        try:
            for cid, contents in acked.items():
                items, _ = await store.list_messages(cid, limit=1000)
                stored = [m["content"] for m in items]
                assert stored[: len(contents)] == contents, f"{cid}: lost or reordered"
                assert len(stored) <= len(contents) + 1  # at most the one in flight
        finally:
            await store.close()

    assert sum(len(c) for c in acked.values()) > 50
    asyncio.run(check())


def test_reload_restarts_on_code_changes(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    """``serve --reload`` (development): a change under sidecar/ restarts the server."""
    package = tmp_path / "pkg"
    shutil.copytree(ROOT / "sidecar", package / "sidecar")
    process = launch.spawn(
        launch.serve_command(tmp_path / "d", "--reload"),
        cwd=package,
        env={**os.environ, "PYTHONPATH": str(package)},
    )
    processes.append(process)
    first = ready_line(process)
    time.sleep(0.5)
    (package / "sidecar" / "touched.py").write_text("VALUE = 1\n")
    second = ready_line(process)
    assert second["pid"] != first["pid"] and second["attached"] is False
    process.send_signal(signal.SIGINT)
    process.wait(20)
