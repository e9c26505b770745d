"""RPC connections in the sidecar's life: counted in ``/health``, keeping the idle timer off,
pygls imported only at the first /rpc connection, closed with 1001 at a graceful exit (real
process)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from benchmarks import launch
from sidecar.api.keys import ACTIVITY
from tests.rpc_client import RpcClient

from .conftest import AUTH, Client, Connect

ROOT = Path(__file__).resolve().parents[2]


async def rpc_count(client: Client) -> int:
    response = await client.get("/health", headers=AUTH)
    count: int = (await response.json())["clients"]["rpc"]
    return count


async def eventually(check: Any, expected: Any) -> None:
    for _ in range(100):
        if await check() == expected:
            return
        await asyncio.sleep(0.02)
    assert await check() == expected


async def test_health_counts_open_rpc_connections(client: Client, connect: Connect) -> None:
    assert await rpc_count(client) == 0
    one = await connect()
    two = await connect()
    assert await rpc_count(client) == 2
    await one.close()
    await eventually(lambda: rpc_count(client), 1)
    await two.close()
    await eventually(lambda: rpc_count(client), 0)


async def test_an_open_connection_keeps_the_sidecar_from_idling(
    client: Client, connect: Connect
) -> None:
    activity = client.app[ACTIVITY]
    rpc = await connect()
    await asyncio.sleep(0.3)
    assert activity.idle_for() == 0.0  # a connection is a request in flight
    await rpc.close()

    async def idle() -> bool:
        return activity.idle_for() > 0.0

    await eventually(idle, True)


def test_importing_the_app_does_not_import_pygls() -> None:
    code = (
        "import sys, sidecar.app, sidecar.server, sidecar.cli\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('pygls', 'lsprotocol', 'cattrs')]\n"
        "print(heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# ---------------------------------------------------------------------------- real process


def serve(data_dir: Path) -> subprocess.Popen[bytes]:
    return launch.spawn(launch.serve_command(data_dir, "--idle-timeout", "1"))


def ready_line(process: subprocess.Popen[bytes]) -> dict[str, Any]:
    try:
        return launch.read_ready(process)
    except launch.NoReadyLine as exc:
        process.kill()
        raise AssertionError(process.stderr.read().decode() if process.stderr else exc) from exc


@pytest.mark.subprocess
async def test_real_server_idle_timeout_waits_for_rpc_and_sigterm_closes_with_1001(
    tmp_path: Path,
) -> None:
    process = serve(tmp_path / "data")
    try:
        ready = await asyncio.to_thread(ready_line, process)
        url = ready["url"].replace("http://", "ws://") + "/rpc"
        async with aiohttp.ClientSession() as session:
            rpc = await RpcClient.connect(session, url, token=ready["token"])
            sid = (await rpc.request("events.subscribe"))["subscription_id"]
            await asyncio.sleep(2.5)  # more than twice the idle timeout
            assert process.poll() is None, "idled out with an RPC connection open"
            health = await rpc.request("sidecar.health")
            assert health["clients"]["rpc"] == 1
            process.send_signal(signal.SIGTERM)
            shutdown = await rpc.notification("event")
            assert shutdown == {
                "subscription_id": sid,
                "seq": shutdown["seq"],
                "type": "server.shutdown",
                "data": {"reason": "shutdown"},
            }
            async with asyncio.timeout(10):
                await rpc._reader
            assert rpc.close_code == 1001
        assert await asyncio.to_thread(process.wait, 15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.subprocess
async def test_real_server_idles_out_once_the_rpc_client_leaves(tmp_path: Path) -> None:
    process = serve(tmp_path / "data")
    try:
        ready = await asyncio.to_thread(ready_line, process)
        url = ready["url"].replace("http://", "ws://") + "/rpc"
        async with aiohttp.ClientSession() as session:
            rpc = await RpcClient.connect(session, url, token=ready["token"])
            await rpc.request("conversations.list")
            await rpc.close()
            left = time.monotonic()
        assert await asyncio.to_thread(process.wait, 15) == 0
        assert time.monotonic() - left >= 0.9
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.subprocess
async def test_real_server_imports_pygls_at_the_first_rpc_connection_not_before(
    tmp_path: Path,
) -> None:
    """REST and SSE clients never pay for pygls; the first ``/rpc`` client waits for it."""
    err = tmp_path / "stderr.txt"
    command = [sys.executable, "-X", "importtime", "-m", "sidecar", "serve",
               "--data-dir", str(tmp_path / "data"), "--idle-timeout", "30"]  # fmt: skip
    with err.open("wb") as sink:
        process = launch.spawn(command, stderr=sink)

    def imported(package: str) -> bool:
        return any(
            line.split("|")[-1].strip().split(".")[0] == package
            for line in err.read_text().splitlines()
            if line.startswith("import time:")
        )

    try:
        ready = await asyncio.to_thread(ready_line, process)
        headers = {"Authorization": f"Bearer {ready['token']}"}
        async with aiohttp.ClientSession() as session:
            for _ in range(3):
                async with session.get(ready["url"] + "/health", headers=headers) as response:
                    assert response.status == 200
            await asyncio.sleep(1.5)  # the old warm-up had long finished by now
            assert not imported("pygls") and not imported("lsprotocol")
            url = ready["url"].replace("http://", "ws://") + "/rpc"
            rpc = await RpcClient.connect(session, url, token=ready["token"])
            assert (await rpc.request("sidecar.health"))["clients"]["rpc"] == 1
            await rpc.close()
        assert imported("pygls") and imported("lsprotocol")
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.to_thread(process.wait, 15)
