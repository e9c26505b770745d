"""The code-server every e2e test drives (one per session), and how to drive its workbench.

Builds the ``.vsix`` (``npm run package``) and the reload floor's (floor_extension/), installs both
into a fresh code-server profile with ``chatSidecar.pythonPath`` set to this project's ``.venv``
Python, and serves the workbench on loopback. Set-up (Debian's chromium, Node 24, code-server) is
``scripts/_extension.sh --e2e``, cached outside the work tree.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]
EXTENSION = ROOT / "extension-bridge"
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
PYTHON = ROOT / ".venv" / "bin" / "python"
ECHO_DELAY_MS = 80
FLOOR_EXTENSION = Path(__file__).resolve().parent / "floor_extension"


@dataclass
class CodeServer:
    url: str
    data_dir: Path
    log: Path
    home: Path
    profile: Path


def _setup_tools() -> dict[str, str]:
    """Run the cached set-up; its last line names code-server."""
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "_extension.sh"), "--e2e"],
        check=True,
        capture_output=True,
        text=True,
        timeout=900,
    )
    found = dict(
        line.split("=", 1)
        for line in done.stdout.splitlines()
        if line.startswith("CHAT_SIDECAR_E2E_")
    )
    assert "CHAT_SIDECAR_E2E_CODE_SERVER" in found, done.stdout + done.stderr
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_http(url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def sidecar_processes(data_dir: Path | None, home: Path | None = None) -> list[psutil.Process]:
    """Processes running ``-m sidecar serve`` on ``data_dir`` (the owner; an attaching second
    ``serve`` would show up here too while it lives), or any started with ``HOME=home``."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if "sidecar" not in cmdline or "serve" not in cmdline:
            continue
        try:
            if (data_dir is not None and str(data_dir) in cmdline) or (
                home is not None and proc.environ().get("HOME") == str(home)
            ):
                found.append(proc)
        except psutil.Error:
            continue
    return found


@pytest.fixture(scope="session")
def code_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CodeServer]:
    tools = _setup_tools()
    env_path = f"{tools['CHAT_SIDECAR_E2E_NODE_BIN']}:{os.environ['PATH']}"
    subprocess.run(
        ["npm", "run", "package"],
        cwd=EXTENSION,
        check=True,
        env={**os.environ, "PATH": env_path, "CHAT_SIDECAR_PYTHON": str(PYTHON)},
        capture_output=True,
        timeout=300,
    )
    vsix = EXTENSION / "dist" / "chat-sidecar.vsix"
    assert vsix.is_file()

    base = tmp_path_factory.mktemp("vscode")
    home, profile, extensions, workspace = (base / n for n in ("home", "profile", "exts", "ws"))
    data_dir = base / "sidecar-data"
    for folder in (home, profile / "User", extensions, workspace):
        folder.mkdir(parents=True)
    (profile / "User" / "settings.json").write_text(
        json.dumps(
            {
                "chatSidecar.pythonPath": str(PYTHON),
                "chatSidecar.dataDir": str(data_dir),
                "workbench.startupEditor": "none",
                "security.workspace.trust.enabled": False,
                "telemetry.telemetryLevel": "off",
                # The editor's own chat (secondary side bar) restores too: not in our measurements.
                "workbench.secondarySideBar.defaultVisibility": "hidden",
                "chat.disableAIFeatures": True,
            }
        )
    )
    env = {
        **os.environ,
        "HOME": str(home),
        "PATH": env_path,
        "CHAT_SIDECAR_ECHO_DELAY_MS": str(ECHO_DELAY_MS),
        "CHAT_SIDECAR_ECHO_CHUNK": "8",
    }
    cs = tools["CHAT_SIDECAR_E2E_CODE_SERVER"]
    dirs = ["--user-data-dir", str(profile), "--extensions-dir", str(extensions)]
    floor = base / "reload-floor.vsix"
    subprocess.run(
        [
            str(EXTENSION / "node_modules" / ".bin" / "vsce"),
            "package",
            "--allow-missing-repository",
            "--skip-license",
            "--out",
            str(floor),
        ],
        cwd=FLOOR_EXTENSION,
        check=True,
        env={**os.environ, "PATH": env_path},
        capture_output=True,
        timeout=120,
    )
    for package in (vsix, floor):
        subprocess.run(
            [cs, *dirs, "--install-extension", str(package)],
            check=True,
            env=env,
            capture_output=True,
            timeout=180,
        )
    port = _free_port()
    log = base / "code-server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [
                cs,
                "--auth",
                "none",
                "--bind-addr",
                f"127.0.0.1:{port}",
                "--disable-telemetry",
                "--disable-update-check",
                "--disable-workspace-trust",
                "--reconnection-grace-time",
                "10",
                *dirs,
                str(workspace),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_http(f"http://127.0.0.1:{port}/healthz", 60)
        yield CodeServer(
            url=f"http://127.0.0.1:{port}/?folder={workspace}",
            data_dir=data_dir,
            log=log,
            home=home,
            profile=profile,
        )
    finally:
        with_group_stopped(server)
        # The sidecar outlives editor windows by design (idle timeout): stop ours here, also one
        # a failed run may have started on the default data dir (HOME is this test's).
        ours = [*sidecar_processes(data_dir), *sidecar_processes(None, home=home)]
        for proc in ours:
            proc.terminate()
        psutil.wait_procs(ours, timeout=10)
        if ARTIFACTS.is_dir():
            shutil.copy(log, ARTIFACTS / "code-server.log")


def with_group_stopped(server: subprocess.Popen[bytes]) -> None:
    """code-server and its extension hosts share its process group: stop them all."""
    try:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(server.pid, signal.SIGKILL)


# --- driving the workbench (see shared/recipes/code-server/drive.py) ---------------------------


def run_command(page: Any, title: str) -> float:
    """Run a command through the palette (F1 already types ``>``, so fill it in whole); returns
    the wall-clock time at which it was chosen (Enter)."""
    for _ in range(5):
        # Escape only to close a palette left open: pressed in the chat while a reply streams, it
        # stops the reply (CONTRACT §9).
        if page.locator(".quick-input-widget").is_visible():
            page.keyboard.press("Escape")
        page.keyboard.press("F1")
        box = page.locator(".quick-input-widget input")
        box.wait_for(state="visible", timeout=15_000)
        box.fill(">" + title)
        row = page.locator(".quick-input-widget .monaco-list-row", has_text=title).first
        try:
            row.wait_for(timeout=5_000)
        except Exception:  # the extension's commands may not be registered yet
            continue
        chosen = time.time()
        page.keyboard.press("Enter")
        return chosen
    raise AssertionError(f"command not in the palette: {title}")


def webview(page: Any) -> Any:
    """The chat UI: inside the outer webview iframe, the inner ``#active-frame``."""
    return page.frame_locator("iframe.webview.ready").frame_locator("#active-frame")


def open_workbench(page: Any, url: str) -> None:
    page.goto(url)
    page.locator(".monaco-workbench").wait_for(timeout=90_000)
    page.locator(".statusbar").wait_for(timeout=60_000)


#: Headless Chromium for the workbench, without the background work that competes with it.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


@contextmanager
def workbench_page(url: str, failure_png: Path) -> Iterator[Any]:
    """A page on the workbench at ``url`` (Debian's Chromium); a screenshot of the failure to
    ``failure_png`` when the block raises, and the browser closed either way."""
    from playwright.sync_api import sync_playwright

    failure_png.parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=list(CHROMIUM_ARGS)
        )
        page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
        try:
            open_workbench(page, url)
            yield page
        except Exception:
            page.screenshot(path=str(failure_png))
            raise
        finally:
            browser.close()
