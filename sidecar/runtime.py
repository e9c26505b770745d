"""The discovery file ``DATA_DIR/sidecar.json``, the ready line (CONTRACT §1), and finding the
running owner from them (:func:`owner_handshake`: low here, so ``chat-migrate``, the launcher and
the CLI find it without importing the server).

Written only by the process that holds the data-dir lock, 0600 inside a 0700 folder, and removed
on a graceful exit. Its pid proves nothing on its own: only the lock decides who owns the data dir.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import orjson
from aiohttp import ClientError, ClientSession, ClientTimeout

from .store.durable import atomic_write
from .store.safe_read import read_regular

DISCOVERY_FILE = "sidecar.json"


def handshake(
    *, pid: int, host: str, port: int, token: str, data_dir: Path, version: str, attached: bool
) -> dict[str, Any]:
    url_host = f"[{host}]" if ":" in host else host
    return {
        "event": "ready",
        "pid": pid,
        "host": host,
        "port": port,
        "url": f"http://{url_host}:{port}",
        "token": token,
        "data_dir": str(data_dir),
        "version": version,
        "attached": attached,
    }


def ui_address(body: dict[str, Any]) -> str:
    """Where the chat UI is, token included (CONTRACT §1): ``URL/ui/#token=TOKEN``. The token
    rides in the fragment, which a browser never sends to a server or puts in a Referer."""
    return f"{body['url']}/ui/#token={body['token']}"


def write_discovery(data_dir: Path, body: dict[str, Any]) -> None:
    atomic_write(data_dir / DISCOVERY_FILE, orjson.dumps(body), mode=0o600)


def read_discovery(data_dir: Path) -> dict[str, Any] | None:
    """The owner's announcement, or ``None`` for a file that is missing, unreadable or not one
    (every caller then goes on as if no owner ran): a ready line names its url and token."""
    try:
        body = orjson.loads(read_regular(data_dir / DISCOVERY_FILE))
    except (OSError, orjson.JSONDecodeError):  # missing, unreadable, or not a regular file
        return None
    if not isinstance(body, dict) or body.get("event") != "ready":
        return None
    if not isinstance(body.get("url"), str) or not isinstance(body.get("token"), str):
        return None
    return body


def remove_discovery(data_dir: Path, pid: int) -> None:
    """Remove the file if it is ours (a newer owner may have replaced it after we lost the lock)."""
    current = read_discovery(data_dir)
    if current is not None and current.get("pid") == pid:
        with contextlib.suppress(FileNotFoundError):
            (data_dir / DISCOVERY_FILE).unlink()


async def fetch_health(url: str, token: str) -> dict[str, Any] | None:
    try:
        async with (
            ClientSession(timeout=ClientTimeout(total=2)) as session,
            session.get(f"{url}/health", headers={"Authorization": f"Bearer {token}"}) as response,
        ):
            if response.status != 200:
                return None
            body = await response.json()
            return body if isinstance(body, dict) else None
    except (ClientError, TimeoutError, ValueError):
        return None


async def owner_handshake(data_dir: Path) -> dict[str, Any] | None:
    """The running owner's handshake, once it answers ``/health`` as the pid it announced."""
    body = read_discovery(data_dir)
    if body is None:
        return None
    health = await fetch_health(str(body["url"]), str(body["token"]))
    if health is None or health.get("pid") != body.get("pid"):
        return None
    return body
