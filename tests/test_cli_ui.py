"""``chat-sidecar open``, the UI address in ``status``, ``--json`` errors of every command, and
``doctor`` on a path without a store — all as real subprocesses on loopback."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks import launch
from sidecar.store.lock import DataDirLock

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.subprocess


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """``python -m sidecar ARGS`` with no browser reachable unless ``env`` names one: no
    display, and a PATH where webbrowser finds no console browser either."""
    base = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    return subprocess.run(
        [sys.executable, "-m", "sidecar", *args],
        cwd=ROOT,
        capture_output=True,
        env={**base, "PYTHONPATH": str(ROOT), "PATH": "/nonexistent", **(env or {})},
        timeout=60,
    )


def error_of(result: subprocess.CompletedProcess[bytes]) -> dict[str, Any]:
    """The ``{"error": ...}`` a ``--json`` command printed: the whole of its stdout."""
    lines = result.stdout.decode().splitlines()
    assert len(lines) == 1, result.stdout
    body = json.loads(lines[0])
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    return dict(body["error"])


@pytest.fixture
def owners() -> Iterator[list[int]]:
    """Pids of detached owners a test started through ``open``: killed if still running."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def recorder(tmp_path: Path) -> tuple[Path, Path]:
    """A stand-in browser (``BROWSER``) that writes the address it is asked to open."""
    opened = tmp_path / "opened.txt"
    script = tmp_path / "browser.sh"
    script.write_text(f'#!/bin/sh\nprintf "%s" "$1" > "{opened}"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script, opened


def test_open_starts_a_detached_owner_opens_the_ui_and_attaches_next_time(
    tmp_path: Path, owners: list[int]
) -> None:
    data_dir = tmp_path / "data"
    browser, opened = recorder(tmp_path)
    first = cli("open", "--data-dir", str(data_dir), env={"BROWSER": str(browser)})
    assert first.returncode == 0, first.stderr
    handshake = json.loads((data_dir / "sidecar.json").read_text())
    owners.append(int(handshake["pid"]))
    address = f"{handshake['url']}/ui/#token={handshake['token']}"
    assert first.stdout.decode() == address + "\n"
    assert opened.read_text() == address
    # `open` has exited; the owner it started has not.
    status = cli("status", "--data-dir", str(data_dir), "--json")
    assert status.returncode == 0, status.stderr
    health = json.loads(status.stdout)
    assert health["pid"] == handshake["pid"] and health["ui_url"] == address
    text = cli("status", "--data-dir", str(data_dir))
    assert f"chat UI: {address}" in text.stdout.decode().splitlines()

    again = cli("open", "--data-dir", str(data_dir), "--json", env={"BROWSER": str(browser)})
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == {
        "url": handshake["url"],
        "ui_url": address,
        "opened": True,
        "attached": True,
    }
    assert cli("stop", "--data-dir", str(data_dir)).returncode == 0
    assert not (data_dir / "sidecar.json").exists()


def test_open_without_a_browser_prints_the_address_and_succeeds(
    tmp_path: Path, owners: list[int]
) -> None:
    data_dir = tmp_path / "data"
    result = cli("open", "--data-dir", str(data_dir), "--json")
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    owners.append(int(json.loads((data_dir / "sidecar.json").read_text())["pid"]))
    assert body["opened"] is False and body["attached"] is False
    assert body["ui_url"].startswith(body["url"] + "/ui/#token=")
    text = cli("open", "--data-dir", str(data_dir))
    assert text.returncode == 0
    assert text.stdout.decode() == body["ui_url"] + "\n"
    assert b"no browser available" in text.stderr
    assert cli("stop", "--data-dir", str(data_dir)).returncode == 0


def test_open_reports_a_sidecar_that_cannot_start(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("in the way")
    result = cli("open", "--data-dir", str(not_a_dir), "--json")
    assert result.returncode == 1
    error = error_of(result)
    assert error["code"] == "unavailable" and "did not start" in error["message"]
    plain = cli("open", "--data-dir", str(not_a_dir))
    assert plain.returncode == 1 and plain.stdout == b""
    assert len(plain.stderr.decode().strip().splitlines()) == 1


def test_doctor_on_a_path_without_a_store_says_so_and_creates_nothing(tmp_path: Path) -> None:
    missing, empty = tmp_path / "missing", tmp_path / "empty"
    empty.mkdir()
    for folder in (missing, empty):
        result = cli("doctor", "--data-dir", str(folder))
        assert result.returncode == 2 and result.stdout == b""
        assert result.stderr.decode() == f"chat-sidecar doctor: no store at {folder}\n"
        as_json = cli("doctor", "--data-dir", str(folder), "--json")
        assert as_json.returncode == 2 and error_of(as_json)["code"] == "not_found"
    assert not missing.exists() and list(empty.iterdir()) == []


def test_every_json_error_is_json_on_stdout(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    none_running = cli("status", "--data-dir", str(data_dir), "--json")
    assert none_running.returncode == 1 and error_of(none_running)["code"] == "not_found"
    unknown_option = cli("doctor", "--bogus", "--json")
    assert unknown_option.returncode == 2 and error_of(unknown_option)["code"] == "bad_request"
    bad_setting = cli(
        "doctor", "--data-dir", str(data_dir), "--json", env={"CHAT_SIDECAR_STORAGE": "paper"}
    )
    assert bad_setting.returncode == 2
    assert error_of(bad_setting)["code"] == "validation_failed"
    # A data dir another process owns.
    (data_dir / "journal").mkdir(parents=True)
    lock = DataDirLock(data_dir)
    assert lock.try_acquire()
    try:
        owned = cli("doctor", "--data-dir", str(data_dir), "--json")
    finally:
        lock.release()
    assert owned.returncode == 1 and error_of(owned)["code"] == "conflict"


def test_serve_names_the_ui_on_stderr_once_ready(tmp_path: Path) -> None:
    process = launch.spawn(launch.serve_command(tmp_path / "data"))
    try:
        assert process.stdout is not None and process.stderr is not None
        ready = launch.read_ready(process)
        deadline = time.monotonic() + 20
        line = b""
        while time.monotonic() < deadline and b"chat UI:" not in line:
            line = process.stderr.readline()
        assert line.decode() == f"chat UI: {ready['url']}/ui/#token={ready['token']}\n"
        status = cli("status", "--data-dir", str(tmp_path / "data"))
        assert status.returncode == 0  # serving (signal handlers installed) before SIGTERM
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0
        assert process.stdout.read() == b""
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
