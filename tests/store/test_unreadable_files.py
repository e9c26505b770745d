"""Shard files a real ``chat-sidecar serve`` cannot read: no permission, or not a regular file.

Issue #15: a FIFO named like a shard file hung every request and the shutdown; a file without
read permission gave a bare 500 on every request and a healthy ``/health``. Now either is
quarantined (or, when even the folder cannot be moved, left in place and reported), the
conversation answers a clear 404 / 503 in the §3 shape, and the rest of the store works.

chmod 000 means nothing to root, so when the tests run as root the sidecar runs in a new user
namespace with no mapping for root (``unshare --user``): it stays the files' owner, but without
any capability over them, so the permission bits apply as they would to a normal user.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from benchmarks import launch
from sidecar.store import Store
from tests.store.helpers import put_turn

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.subprocess
#: No request may wait for a file: each gets this long before the test calls it a hang.
REQUEST_TIMEOUT_S = 10.0


def unprivileged() -> list[str]:
    """The command prefix that makes permission bits apply to the sidecar (see the module)."""
    if os.geteuid() != 0:
        return []
    if shutil.which("unshare") is None:
        pytest.skip("running as root and unshare(1) is missing: chmod 000 cannot be tested")
    if subprocess.run(["unshare", "--user", "true"], capture_output=True).returncode != 0:
        pytest.skip("running as root where user namespaces are refused: chmod 000 cannot be tested")
    return ["unshare", "--user"]


async def _make_store(data_dir: Path) -> None:
    store = await Store.open(data_dir)
    await store.create_conversation(id="victim", title="the damaged one")
    for n in range(3):
        await store.append_message("victim", role="user", content=f"victim {n}")
    await store.create_conversation(id="other", title="the healthy one")
    await store.append_message("other", role="user", content="still here")
    await store.close()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    asyncio.run(_make_store(folder))
    return folder


class Sidecar:
    """A real ``serve`` subprocess (stderr to a file, so a full pipe can never stall it)."""

    def __init__(self, data_dir: Path, prefix: list[str]) -> None:
        self.log_path = data_dir.parent / "stderr.log"
        self.log_path.write_bytes(b"")
        server = launch.start(
            launch.serve_command(data_dir, prefix=tuple(prefix)),
            env=launch.child_env({"CHAT_SIDECAR_IDLE_TIMEOUT": "0"}),
            stderr=self.log_path,
        )
        self.process = server.process
        self.ready: dict[str, Any] = server.ready

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async def go() -> tuple[int, Any]:
            timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
            headers = {"Authorization": f"Bearer {self.ready['token']}"}
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.request(
                    method, self.ready["url"] + path, json=body, headers=headers
                ) as response,
            ):
                return response.status, await response.json()

        try:
            return asyncio.run(go())
        except TimeoutError:
            pytest.fail(f"{method} {path} hung; log:\n{self.log_path.read_text()[-3000:]}")

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(15)
        except subprocess.TimeoutExpired:
            pytest.fail("SIGTERM did not stop the sidecar within 15 s")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def sidecars() -> Iterator[list[Sidecar]]:
    started: list[Sidecar] = []
    yield started
    for sidecar in started:
        sidecar.close()


def _check_the_rest_works(sidecar: Sidecar) -> None:
    status, other = sidecar.request("GET", "/api/v1/conversations/other")
    assert status == 200 and [m["content"] for m in other["messages"]] == ["still here"]
    status, _ = sidecar.request(
        "POST", "/api/v1/conversations/other/messages", {"role": "user", "content": "more"}
    )
    assert status == 201
    status, page = sidecar.request("GET", "/api/v1/conversations")
    assert status == 200 and [c["id"] for c in page["items"]] == ["other"]


@pytest.mark.parametrize("name", ["messages-000000.json", "meta.json"])
def test_a_fifo_in_a_shard_folder_is_quarantined_not_opened(
    data_dir: Path, sidecars: list[Sidecar], name: str
) -> None:
    shard_file = data_dir / "conversations" / "victim" / name
    shard_file.unlink()
    os.mkfifo(shard_file)
    sidecar = Sidecar(data_dir, [])
    sidecars.append(sidecar)
    status, body = sidecar.request("GET", "/api/v1/conversations/victim")
    assert status == 404 and body["error"]["code"] == "not_found", body
    assert "quarantined" in body["error"]["message"]
    status, health = sidecar.request("GET", "/health")
    assert health["status"] == "degraded"
    [item] = health["store"]["quarantined"]
    assert item["conversation_id"] == "victim" and "FIFO" in item["reason"], item
    assert (Path(item["path"]) / "victim" / name).is_fifo(), "moved, never opened or deleted"
    _check_the_rest_works(sidecar)
    assert sidecar.stop() == 0


def test_an_unreadable_shard_file_is_quarantined(data_dir: Path, sidecars: list[Sidecar]) -> None:
    chunk = data_dir / "conversations" / "victim" / "messages-000000.json"
    content = chunk.read_bytes()
    chunk.chmod(0)
    prefix = unprivileged()
    if subprocess.run([*prefix, "cat", str(chunk)], capture_output=True).returncode == 0:
        pytest.skip("permission bits do not apply to the sidecar here")
    sidecar = Sidecar(data_dir, prefix)
    sidecars.append(sidecar)
    status, body = sidecar.request("GET", "/api/v1/conversations/victim")
    assert status == 404 and body["error"]["code"] == "not_found", body
    status, body = sidecar.request(
        "POST", "/api/v1/conversations/victim/messages", {"role": "user", "content": "x"}
    )
    assert status == 404 and body["error"]["code"] == "not_found", body
    status, health = sidecar.request("GET", "/health")
    assert health["status"] == "degraded"
    [item] = health["store"]["quarantined"]
    assert item["conversation_id"] == "victim" and "Permission denied" in item["reason"]
    kept = Path(item["path"]) / "victim" / chunk.name
    assert kept.read_bytes() == content, "moved as it was (root reads it), not deleted"
    _check_the_rest_works(sidecar)
    assert sidecar.stop() == 0
    assert "Traceback" not in sidecar.log_path.read_text()


def test_an_unreadable_shard_folder_is_left_in_place_and_reported(
    data_dir: Path, sidecars: list[Sidecar]
) -> None:
    """A folder without permissions cannot even be moved (rename needs to write its ``..``):
    it stays, the conversation answers 503, health is degraded with the reason."""
    folder = data_dir / "conversations" / "victim"
    folder.chmod(0)
    prefix = unprivileged()
    if subprocess.run([*prefix, "ls", str(folder)], capture_output=True).returncode == 0:
        pytest.skip("permission bits do not apply to the sidecar here")
    try:
        sidecar = Sidecar(data_dir, prefix)
        sidecars.append(sidecar)
        status, body = sidecar.request("GET", "/api/v1/conversations/victim")
        assert status == 503 and body["error"]["code"] == "unavailable", body
        assert "left in place" in body["error"]["message"]
        status, health = sidecar.request("GET", "/health")
        assert health["status"] == "degraded"
        [item] = health["store"]["quarantined"]
        assert item["conversation_id"] == "victim" and item["path"] == str(folder)
        assert "Permission denied" in item["reason"] and "left in place" in item["reason"]
        status, body = sidecar.request("POST", "/api/v1/conversations", {"id": "victim"})
        assert status == 409 and body["error"]["code"] == "conflict", body
        _check_the_rest_works(sidecar)
        assert sidecar.stop() == 0
        assert "Traceback" not in sidecar.log_path.read_text()
    finally:
        folder.chmod(0o700)
    assert (folder / "meta.json").exists(), "left where it was"


def test_two_readers_finding_the_same_damage_quarantine_it_once(data_dir: Path) -> None:
    """The search index's catch-up and a request used to report one FIFO twice (two slots)."""
    chunk = data_dir / "conversations" / "victim" / "messages-000000.json"
    chunk.unlink()
    os.mkfifo(chunk)

    async def run() -> list[Any]:
        store = await Store.open(data_dir)
        try:
            results = await asyncio.gather(
                store.list_messages("victim"), store.list_messages("victim"), return_exceptions=True
            )
            assert all(isinstance(r, Exception) and "quarantined" in str(r) for r in results)
            return [item.to_json() for item in store.quarantined]
        finally:
            await store.close()

    [item] = asyncio.run(run())
    assert item["conversation_id"] == "victim"
    assert len(list((data_dir / "quarantine").iterdir())) == 1


def test_a_write_racing_the_quarantine_does_not_bring_the_conversation_back(
    tmp_path: Path,
) -> None:
    """A write holding the shard from before the damage was found used to put it back in the
    list (and into a new, partial folder) right after it was moved to quarantine."""
    data_dir = tmp_path / "data"

    async def run() -> tuple[list[str], int]:
        store = await Store.open(data_dir)
        await store.create_conversation(id="victim", title="v")
        await put_turn(store, "victim", {"id": "t1", "state": "completed"})
        await store.close()
        turns = data_dir / "conversations" / "victim" / "turns.json"
        turns.unlink()
        os.mkfifo(turns)
        store = await Store.open(data_dir)
        try:
            await asyncio.gather(
                store.get_turn("victim", "t1"),
                store.update_conversation("victim", {"title": "racing"}),
                return_exceptions=True,
            )
            return [c["id"] for c in store.list_conversations().items], len(store.quarantined)
        finally:
            await store.close()

    assert asyncio.run(run()) == ([], 1)
    assert list((data_dir / "conversations").iterdir()) == [], "no partial folder written"


def test_a_read_during_a_quarantine_elsewhere_says_quarantined(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request arriving while another reader (the search catch-up, in the CI run that found
    this) is moving the damaged folder away used to get "does not exist": the conversation had
    left the catalog but was not yet on the quarantine's list. The move is held open here (at
    its ``os.rename``) so the second read lands in that window every time."""
    chunk = data_dir / "conversations" / "victim" / "messages-000000.json"
    chunk.unlink()
    os.mkfifo(chunk)
    reached, released = threading.Event(), threading.Event()
    real_rename = os.rename

    def held_rename(source: Any, destination: Any) -> None:
        if Path(str(source)).name == "victim":
            reached.set()
            released.wait(10)
        real_rename(source, destination)

    monkeypatch.setattr(os, "rename", held_rename)

    async def run() -> str:
        store = await Store.open(data_dir)
        try:
            first = asyncio.create_task(store.list_messages("victim"))
            assert await asyncio.to_thread(reached.wait, 10), "the quarantine never began"
            second = asyncio.create_task(store.get_conversation("victim"))
            await asyncio.sleep(0.2)  # the second read is in the window (or already answered)
            released.set()
            results = await asyncio.gather(first, second, return_exceptions=True)
            assert isinstance(results[0], Exception) and "quarantined" in str(results[0])
            return str(results[1])
        finally:
            released.set()
            await store.close()

    assert "quarantined" in asyncio.run(run())
