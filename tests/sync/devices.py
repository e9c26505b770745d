"""Sidecars as real processes on one hub, driven and compared through their REST APIs."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks import launch

ROOT = Path(__file__).resolve().parents[2]
#: Compared fields of a conversation: every one but the per-device ``revision``.
CONVERSATION_COMPARED = (
    "id",
    "title",
    "created_at",
    "updated_at",
    "starred",
    "pinned",
    "archived",
    "deleted_at",
    "workspace",
    "tags",
    "metadata",
    "active_branch",
    "message_count",
    "last_message_preview",
    "state",
    "source",
)


class Device:
    """One sidecar process with its own data dir, syncing with ``hub_url``."""

    def __init__(self, name: str, data_dir: Path, hub_url: str | None) -> None:
        self.name = name
        self.data_dir = data_dir
        self.hub_url = hub_url
        self.server: launch.Server | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.token = ""
        self.stderr_path = data_dir.parent / f"{name}.stderr.log"

    def start(self, extra_env: dict[str, str] | None = None) -> None:
        options = ["--idle-timeout", "0", "--device-name", self.name]
        if self.hub_url:
            options += ["--sync-url", self.hub_url]
        env = launch.child_env({"CHAT_SIDECAR_ECHO_DELAY_MS": "5", **(extra_env or {})})
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self.server = launch.start_sidecar(
            self.data_dir, *options, env=env, stderr=self.stderr_path
        )
        self.process = self.server.process
        self.url, self.token = self.server.url, str(self.server.token)

    def kill(self) -> None:
        assert self.server is not None
        self.server.kill()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop(grace_s=20)

    async def call(self, method: str, path: str, body: Any = None, ok: int = 200) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"}
        async with (
            aiohttp.ClientSession() as session,
            session.request(method, self.url + path, json=body, headers=headers) as response,
        ):
            text = await response.text()
            assert response.status == ok, f"{method} {path}: {response.status} {text}"
            return json.loads(text) if text else None

    async def health(self) -> dict[str, Any]:
        return dict(await self.call("GET", "/health"))

    async def create(self, conversation_id: str | None = None, title: str = "t") -> str:
        body: dict[str, Any] = {"title": title}
        if conversation_id:
            body["id"] = conversation_id
        created = await self.call("POST", "/api/v1/conversations", body, ok=201)
        return str(created["id"])

    async def append(self, conversation_id: str, content: str, **fields: Any) -> dict[str, Any]:
        body = {"role": "user", "content": content, **fields}
        path = f"/api/v1/conversations/{conversation_id}/messages"
        return dict(await self.call("POST", path, body, ok=201))

    async def patch(self, conversation_id: str, **fields: Any) -> dict[str, Any]:
        path = f"/api/v1/conversations/{conversation_id}"
        return dict(await self.call("PATCH", path, fields))

    async def snapshot(self) -> dict[str, Any]:
        """Every conversation (trash and archive included), every branch, every message field."""
        result: dict[str, Any] = {}
        cursor = ""
        while True:
            query = "?limit=500&archived=any&deleted=any" + (f"&cursor={cursor}" if cursor else "")
            page = await self.call("GET", "/api/v1/conversations" + query)
            for item in page["items"]:
                result[item["id"]] = await self._conversation(item["id"])
            cursor = page.get("next_cursor") or ""
            if not cursor:
                return result

    async def _conversation(self, conversation_id: str) -> dict[str, Any]:
        base = f"/api/v1/conversations/{conversation_id}"
        summary = await self.call("GET", base + "?limit=1")
        branches = await self.call("GET", base + "/branches")
        messages: dict[str, Any] = {}
        heads = {}
        for branch in branches:
            heads[branch["name"]] = branch["head_message_id"]
            page = await self.call("GET", f"{base}/messages?limit=1000&branch={branch['name']}")
            messages.update({m["id"]: m for m in page["items"]})
        return {
            "conversation": {k: summary.get(k) for k in CONVERSATION_COMPARED},
            "branches": heads,
            "messages": messages,
        }


async def converge(devices: list[Device], within: float = 30.0) -> dict[str, Any]:
    """Wait until every device holds the same state with nothing left to push; return it."""
    deadline = time.monotonic() + within
    last: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        healths = [await d.health() for d in devices]
        last = [await d.snapshot() for d in devices]
        if all(h["sync"]["pending"] == 0 for h in healths) and all(s == last[0] for s in last):
            return last[0]
        await asyncio.sleep(0.3)
    diffs = describe_difference(last)
    raise AssertionError(f"devices did not converge in {within} s: {diffs}")


def describe_difference(snapshots: list[dict[str, Any]]) -> str:
    if not snapshots:
        return "no snapshot"
    first = snapshots[0]
    lines: list[str] = []
    for index, other in enumerate(snapshots[1:], start=1):
        for cid in sorted(set(first) | set(other)):
            a, b = first.get(cid), other.get(cid)
            if a == b:
                continue
            if a is None or b is None:
                lines.append(f"device {index}: conversation {cid} only on one side")
                continue
            for part in ("conversation", "branches"):
                if a[part] != b[part]:
                    lines.append(f"device {index}: {cid} {part}: {a[part]} != {b[part]}")
            if a["messages"] != b["messages"]:
                ka, kb = set(a["messages"]), set(b["messages"])
                lines.append(f"device {index}: {cid} messages differ ({len(ka)} vs {len(kb)})")
    return "; ".join(lines[:10])


@contextlib.contextmanager
def running(devices: list[Device]) -> Any:
    try:
        yield devices
    finally:
        for device in devices:
            device.stop()


async def wait_state(device: Device, state: str, within: float = 15.0) -> dict[str, Any]:
    """The device's health once its sync state is ``state`` (or fail after ``within`` s)."""
    health: dict[str, Any] = {}
    for _ in range(int(within / 0.2)):
        health = await device.health()
        if health["sync"]["state"] == state:
            return health
        await asyncio.sleep(0.2)
    raise AssertionError(f"{device.name} never reached sync state {state!r}: {health}")
