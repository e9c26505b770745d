"""Helpers for the chat-migrate tests: export files on disk, the CLI, and the store read back."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from migrate.cli import app
from migrate.stored import branch_path
from sidecar.service.exporter import export_document
from sidecar.store import Store

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "legacy"  # ../shared
RUNNER = CliRunner()


def write_export(
    path: Path,
    items: dict[str, Any],
    *,
    envelope: bool = False,
    encoding: str = "utf-8",
    as_text: bool = True,
    items_first: bool = False,
) -> Path:
    """Write a localStorage export: values as JSON text (``as_text``) or already parsed; an
    envelope's ``items`` after its other fields (as the webview client writes it), or before
    them (``items_first``)."""
    values = {
        k: json.dumps(v) if as_text and not isinstance(v, str) else v for k, v in items.items()
    }
    body: Any = values
    if envelope:
        body = {
            "kind": "localstorage-export",
            "version": 1,
            "origin": "vscode-webview://test",
            "exported_at": "2026-01-01T00:00:00Z",
            "items": values,
        }
        if items_first:
            body = {"items": values, **{k: v for k, v in body.items() if k != "items"}}
    text = json.dumps(body, ensure_ascii=False)
    if encoding == "utf-8-sig":
        path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    elif encoding in ("utf-16-le", "utf-16-be"):
        bom = b"\xff\xfe" if encoding == "utf-16-le" else b"\xfe\xff"
        path.write_bytes(bom + text.encode(encoding))
    else:
        path.write_bytes(text.encode("utf-8"))
    return path


def navi_items(sessions: list[dict[str, Any]]) -> dict[str, Any]:
    """navi keys for sessions given as ``{id, ..., messages: [...]}``."""
    items: dict[str, Any] = {
        "navi.chatSessions": [{k: v for k, v in s.items() if k != "messages"} for s in sessions]
    }
    for session in sessions:
        items[f"navi.chatSession.messages.{session['id']}"] = session.get("messages", [])
    return items


def cli(*args: str | Path) -> Any:
    result = RUNNER.invoke(app, [str(a) for a in args])
    return result


def store_state(data_dir: Path) -> list[dict[str, Any]]:
    """Every conversation in the store: id, fields, and the active branch as [role, content]."""

    async def read() -> dict[str, Any]:
        store = await Store.open(data_dir)
        try:
            return await export_document(store, include_deleted=True)
        finally:
            await store.close()

    document = asyncio.run(read())
    return [
        {
            "id": c["id"],
            "title": c["title"],
            "starred": c["starred"],
            "pinned": c["pinned"],
            "archived": c["archived"],
            "deleted_at": c["deleted_at"],
            "messages": [[m["role"], m["content"]] for m in branch_path(c)],
            "times": [m["created_at"] for m in branch_path(c)],
            "branches": sorted(b["name"] for b in c["branches"]),
            "document": c,
        }
        for c in document["conversations"]
    ]


def with_store(data_dir: Path, work: Callable[[Store], Any]) -> Any:
    """Run ``work(store)`` (a coroutine function) on the store opened directly."""

    async def run() -> Any:
        store = await Store.open(data_dir)
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(run())


def tree_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"
