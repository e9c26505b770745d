"""CONTRACT §10's merge rules between real sidecars: concurrent appends, field conflicts, purges,
the same conversation created on two devices, three devices, a device that was offline.

"Concurrent" is made certain, not hoped for: the second device writes while it cannot reach the
hub (started with a hub URL that refuses connections), then comes back.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .devices import ROOT, Device, converge, running

pytestmark = pytest.mark.subprocess

UNREACHABLE = "postgresql://postgres@127.0.0.1:1/none"
LEGACY = Path("/work/shared/fixtures/legacy")


def offline(device: Device) -> None:
    """Restart ``device`` unable to reach the hub (same data dir, same device id)."""
    device.stop()
    url, device.hub_url = device.hub_url, UNREACHABLE
    device.start()
    device.hub_url = url


def online(device: Device) -> None:
    device.stop()
    device.start()


async def test_concurrent_appends_at_the_same_parent_keep_both(
    hub_url: str, tmp_path: Path
) -> None:
    a, b = Device("a", tmp_path / "a", hub_url), Device("b", tmp_path / "b", hub_url)
    with running([a, b]):
        a.start()
        b.start()
        cid = await a.create()
        root = await a.append(cid, "question")
        await converge([a, b])
        offline(b)
        on_a = await a.append(cid, "answer from a")
        on_b = await b.append(cid, "answer from b")
        assert (await b.health())["sync"]["state"] == "offline"
        assert (await b.health())["status"] == "ok"  # offline is not degraded
        online(b)
        state = await converge([a, b])
        messages = state[cid]["messages"]
        assert messages[on_a["id"]]["parent_id"] == root["id"]
        assert messages[on_b["id"]]["parent_id"] == root["id"]
        heads = set(state[cid]["branches"].values())
        assert {on_a["id"], on_b["id"]} <= heads
        assert set(state[cid]["branches"]) == {"main", "conflict-1"}
        # both devices keep writing on main after the merge: still one history
        await b.append(cid, "after the merge")
        await converge([a, b])


async def test_field_conflicts_resolve_the_same_everywhere(hub_url: str, tmp_path: Path) -> None:
    a, b = Device("a", tmp_path / "a", hub_url), Device("b", tmp_path / "b", hub_url)
    c = Device("c", tmp_path / "c", hub_url)
    with running([a, b, c]):
        for device in (a, b, c):
            device.start()
        cid = await a.create(title="first")
        await converge([a, b, c])
        offline(b)
        await a.patch(cid, title="title on a", starred=True)
        await b.patch(cid, title="title on b (later)", pinned=True, tags=["b"])
        online(b)
        state = await converge([a, b, c])
        conversation = state[cid]["conversation"]
        assert conversation["title"] == "title on b (later)"  # the later write wins
        assert conversation["starred"] is True  # field by field: a's star stays
        assert conversation["pinned"] is True and conversation["tags"] == ["b"]


async def test_purge_is_final_and_never_resurrects(hub_url: str, tmp_path: Path) -> None:
    a, b = Device("a", tmp_path / "a", hub_url), Device("b", tmp_path / "b", hub_url)
    with running([a, b]):
        a.start()
        b.start()
        cid = await a.create(conversation_id="doomed")
        await a.append(cid, "x")
        keep = await a.create(title="kept")
        await converge([a, b])
        offline(b)
        await a.call("DELETE", f"/api/v1/conversations/{cid}?purge=true", ok=204)
        await b.append(cid, "written offline, after the purge elsewhere")
        await b.patch(cid, title="renamed offline")
        online(b)
        state = await converge([a, b])
        assert set(state) == {keep}
        # the id stays reserved on both: it cannot come back
        for device in (a, b):
            await device.call("POST", "/api/v1/conversations", {"id": cid}, ok=409)
        online(a)
        state = await converge([a, b])
        assert set(state) == {keep}


async def test_three_devices_and_a_long_offline_one_converge(hub_url: str, tmp_path: Path) -> None:
    devices = [Device(n, tmp_path / n, hub_url) for n in ("a", "b", "c")]
    a, b, c = devices
    with running(devices):
        for device in devices:
            device.start()
        shared = await a.create(title="shared")
        await converge(devices)
        offline(c)
        for i in range(60):
            await (a if i % 2 else b).append(shared, f"message {i}")
        theirs = await b.create(title="made while c was away")
        await b.append(theirs, "hello")
        mine = await c.create(title="made on c while away")
        await c.append(mine, "offline work")
        online(c)
        state = await converge(devices)
        assert {shared, theirs, mine} <= set(state)
        contents = {m["content"] for m in state[shared]["messages"].values()}
        assert {f"message {i}" for i in range(60)} <= contents


async def test_a_new_device_bootstraps_the_whole_history(hub_url: str, tmp_path: Path) -> None:
    a = Device("a", tmp_path / "a", hub_url)
    with running([a]):
        a.start()
        ids = [await a.create(title=f"c{i}") for i in range(5)]
        for cid in ids:
            for j in range(4):
                await a.append(cid, f"{cid} {j}")
        await a.call("DELETE", f"/api/v1/conversations/{ids[0]}", ok=204)  # trash syncs too
        await a.call("DELETE", f"/api/v1/conversations/{ids[1]}?purge=true", ok=204)
        await converge([a])
        fresh = Device("fresh", tmp_path / "fresh", hub_url)
        with running([fresh]):
            fresh.start()
            state = await converge([a, fresh])
            assert set(state) == set(ids) - {ids[1]}
            assert state[ids[0]]["conversation"]["deleted_at"] is not None


def migrate(device: Device, export: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CHAT_SIDECAR_TOKEN": device.token}
    done = subprocess.run(
        [sys.executable, "-m", "migrate", "import", str(export), "--url", device.url],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


async def test_the_same_legacy_export_migrated_on_two_devices_is_one_copy(
    hub_url: str, tmp_path: Path
) -> None:
    export = LEGACY / "navi-export.json"
    if not export.exists():
        pytest.skip("the shared legacy fixtures are not here")
    a, b = Device("a", tmp_path / "a", hub_url), Device("b", tmp_path / "b", hub_url)
    with running([a, b]):
        a.start()
        b.start()
        migrate(a, export)
        alone = await converge([a])
        offline(b)
        migrate(b, export)
        online(b)
        state = await converge([a, b])
        assert set(state) == set(alone)  # one copy of each conversation, not two
        for cid, entry in alone.items():
            assert set(state[cid]["messages"]) == set(entry["messages"])
