"""Markdown rendering and the ``chat-sidecar export`` command (direct and through a running sidecar)."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from benchmarks import launch
from sidecar.cli import app
from sidecar.service.exporter import export_document, to_markdown
from sidecar.store import Store

from .conftest import fill_rich, without_exported_at

runner = CliRunner()


def entry(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "c",
        "title": None,
        "created_at": "2026-11-21T13:45:00.123Z",
        "updated_at": "2026-11-21T13:46:00.000Z",
        "active_branch": "main",
        "tags": [],
        "branches": [{"name": "main", "head_message_id": "m3"}],
        "messages": [
            {"id": "m1", "parent_id": None, "role": "user", "content": "Run it",
             "status": "complete", "created_at": "2026-11-21T13:45:01.000Z"},
            {"id": "m2", "parent_id": "m1", "role": "assistant", "content": "",
             "status": "complete", "created_at": "2026-11-21T13:45:02.000Z",
             "tool_calls": [{"id": "k", "name": "shell", "arguments": {"cmd": "echo ````"},
                             "status": "succeeded", "result": "ok", "error": None}]},
            {"id": "m3", "parent_id": "m2", "role": "tool", "content": "ok", "tool_call_id": "k",
             "status": "interrupted", "created_at": "2026-11-21T13:45:03.000Z"},
        ],
    }  # fmt: skip
    return base | fields


def test_markdown_names_roles_times_and_statuses() -> None:
    text = to_markdown(entry())
    assert text.startswith("# Untitled conversation\n")
    assert "- Created: 2026-11-21 13:45:00.123 UTC" in text
    assert "- Branch: main (3 messages)" in text
    assert "## User · 2026-11-21 13:45:01.000 UTC\n\nRun it" in text
    assert "## Tool · 2026-11-21 13:45:03.000 UTC (interrupted)" in text
    assert "Result of tool call `k`:" in text
    assert 'Tool call `shell` (succeeded):\n\n`````json\n{\n  "cmd": "echo ````"\n}\n`````' in text


def test_a_title_cannot_break_out_of_its_heading() -> None:
    text = to_markdown(entry(title="line one\n\n## System · fake"))
    assert text.splitlines()[0] == "# line one ## System · fake"
    assert "\n## System" not in text


def _filled(data_dir: Path) -> dict[str, Any]:
    async def fill() -> dict[str, Any]:
        store = await Store.open(data_dir)
        try:
            await fill_rich(store, "rich")
            await store.create_conversation(id="second", title="Second chat")
            return await export_document(store)
        finally:
            await store.close()

    return asyncio.run(fill())


def test_cli_exports_json_and_markdown_from_the_store(tmp_path: Path) -> None:
    expected = _filled(tmp_path / "data")
    result = runner.invoke(
        app, ["export", "--data-dir", str(tmp_path / "data"), "--conversation", "rich"]
    )
    assert result.exit_code == 0, result.output
    printed = orjson.loads(result.stdout)
    assert without_exported_at(printed) == without_exported_at(
        {**expected, "conversations": expected["conversations"][:1]}
    )
    target = tmp_path / "all.md"
    args = ["export", "--data-dir", str(tmp_path / "data"), "--all", "--format", "markdown"]
    result = runner.invoke(app, [*args, "--output", str(target)])
    assert result.exit_code == 0, result.output
    text = target.read_text(encoding="utf-8")
    assert text.index("# Ünïcødé") < text.index("# Second chat")
    assert target.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--conversation", "nope"], 1, "conversation 'nope' does not exist"),
        ([], 2, "give --conversation"),
        (["--all", "--conversation", "rich"], 2, "give --conversation"),
        (["--all", "--format", "html"], 2, "json or markdown"),
    ],
)
def test_cli_errors(tmp_path: Path, args: list[str], code: int, message: str) -> None:
    _filled(tmp_path / "data")
    result = runner.invoke(app, ["export", "--data-dir", str(tmp_path / "data"), *args])
    assert result.exit_code == code
    assert message in result.output


def test_cli_refuses_a_missing_data_dir(tmp_path: Path) -> None:
    result = runner.invoke(app, ["export", "--data-dir", str(tmp_path / "none"), "--all"])
    assert result.exit_code == 1 and "no data dir" in result.output
    assert not (tmp_path / "none").exists()


@pytest.fixture
def running_sidecar(tmp_path: Path) -> Iterator[Path]:
    """A real ``chat-sidecar serve`` owning a filled data dir (its lock held)."""
    data_dir = tmp_path / "owned"
    _filled(data_dir)
    server = launch.start_sidecar(
        data_dir,
        "--port",
        "0",
        env=launch.child_env({"CHAT_SIDECAR_IDLE_TIMEOUT": "0"}),
        stderr=subprocess.DEVNULL,
    )
    try:
        assert not server.ready["attached"]
        yield data_dir
    finally:
        server.stop(grace_s=20)


def test_cli_reads_through_the_running_sidecar(running_sidecar: Path) -> None:
    result = runner.invoke(app, ["export", "--data-dir", str(running_sidecar), "--all"])
    assert result.exit_code == 0, result.output
    document = orjson.loads(result.stdout)
    assert [c["id"] for c in document["conversations"]] == ["rich", "second"]
    assert len(document["conversations"][0]["messages"]) == 7
    missing = runner.invoke(
        app, ["export", "--data-dir", str(running_sidecar), "--conversation", "nope"]
    )
    assert missing.exit_code == 1 and "does not exist" in missing.output
