"""The chat UI against a real sidecar: ``python -m sidecar serve`` as a subprocess on a temp data
dir, and Debian's Chromium driven by Playwright (never a downloaded browser).

Every UI test is skipped, with the reason, when /usr/bin/chromium or the playwright package is
missing; ``scripts/test`` installs both (``scripts/_browser.sh``), so in CI they run. Screenshots
of the last state of each test, the named ones the tests take (``shoot``) and the measured figures
(``ui-benchmarks.json``) go to ``$CHAT_SIDECAR_ARTIFACTS/ui`` (default ``test-artifacts/ui/``,
git-ignored); the folder is printed at the end of the run.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from benchmarks import launch

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
ARTIFACTS = Path(os.environ.get("CHAT_SIDECAR_ARTIFACTS") or ROOT / "test-artifacts") / "ui"
#: Records what the Content-Security-Policy blocked (an inline style, a foreign fetch...).
CSP_WATCH = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (event) => {
  window.__cspViolations.push(`CSP blocked ${event.blockedURI} (${event.violatedDirective})`);
});
"""
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
DEFAULT_ENV = {"CHAT_SIDECAR_ECHO_DELAY_MS": "20", "CHAT_SIDECAR_ECHO_CHUNK": "8"}

try:
    from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
except ImportError:  # pragma: no cover - scripts/test installs it
    sync_playwright = None  # type: ignore[assignment]

if not CHROMIUM.exists():
    SKIP_REASON: str | None = f"{CHROMIUM} is missing (scripts/test installs Debian's chromium)"
elif sync_playwright is None:
    SKIP_REASON = "the playwright package is missing (scripts/test installs it into .venv)"
else:
    SKIP_REASON = None


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if ARTIFACTS.exists():
        terminalreporter.write_line(f"UI screenshots and figures: {ARTIFACTS}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if SKIP_REASON is None:
        return
    skip = pytest.mark.skip(reason=SKIP_REASON)
    for item in items:
        if "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(skip)


@dataclass
class Sidecar:
    """One ``serve`` process; ``restart`` brings up a new one on the same data dir, port and token."""

    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    server: launch.Server | None = None
    process: subprocess.Popen[bytes] | None = None
    ready: dict[str, Any] = field(default_factory=dict)
    launches: int = 0

    @property
    def url(self) -> str:
        return str(self.ready["url"])

    @property
    def token(self) -> str:
        return str(self.ready["token"])

    @property
    def ui_url(self) -> str:
        return f"{self.url}/ui/#token={self.token}"

    def start(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.launches += 1
        server = launch.start_sidecar(
            self.data_dir,
            "--idle-timeout",
            "0",
            *args,
            env=launch.child_env({**self.env, **(env or {})}),
            stderr=self.data_dir.parent / f"sidecar-{self.launches}.log",  # a file: never fills
        )
        self.server, self.process, self.ready = server, server.process, server.ready
        assert self.ready["event"] == "ready" and not self.ready["attached"]

    def log(self) -> str:
        path = self.data_dir.parent / f"sidecar-{self.launches}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no goodbye, no cleanup, like a crash."""
        assert self.server is not None
        self.server.kill()

    def restart(self) -> None:
        """A new owner of the same data dir, on the old port, accepting the old token."""
        port, token = str(self.ready["port"]), self.token
        self.start("--port", port, env={"CHAT_SIDECAR_TOKEN": token})
        assert self.ready["token"] == token

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop(grace_s=10)

    def api(self, method: str, path: str, body: Any = None) -> Any:
        response = requests.request(
            method,
            self.url + path,
            json=body,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=10,
        )
        assert response.ok, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.text else None

    def messages(self, conversation_id: str) -> list[dict[str, Any]]:
        page = self.api("GET", f"/api/v1/conversations/{conversation_id}/messages?limit=1000")
        items: list[dict[str, Any]] = page["items"]
        return items


def make_sidecar(tmp_path: Path, env: dict[str, str] | None = None) -> Sidecar:
    return Sidecar(data_dir=tmp_path / "data", env=dict(env or {}))


@pytest.fixture
def sidecar_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """Environment for the sidecar under test; a test slows the echo down with
    ``@pytest.mark.parametrize("sidecar_env", [{...}], indirect=True)``."""
    env = dict(DEFAULT_ENV)
    env.update(getattr(request, "param", {}))
    return env


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sidecar]:
    """One sidecar per module, for tests that only add conversations of their own (starting a
    process per test would cost more than the tests themselves)."""
    running = make_sidecar(tmp_path_factory.mktemp("ui"), DEFAULT_ENV)
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def own_sidecar(tmp_path: Path, sidecar_env: dict[str, str]) -> Iterator[Sidecar]:
    """A sidecar for one test: one it kills, slows down, or whose whole list it checks."""
    running = make_sidecar(tmp_path, sidecar_env)
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium per module: Playwright's sync API runs an event loop of its own while it is
    open, which must be gone before any asyncio test (another module) runs."""
    assert sync_playwright is not None
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def context(browser: Browser, request: pytest.FixtureRequest) -> Iterator[BrowserContext]:
    """A fresh profile per test; every page it opened is photographed when the test ends."""
    created = browser.new_context(viewport={"width": 1100, "height": 760})
    created.set_default_timeout(10_000)
    errors: list[str] = []
    created.on("weberror", lambda error: errors.append(str(error.error)))
    created.add_init_script(CSP_WATCH)
    try:
        yield created
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for number, page in enumerate(created.pages):
            with contextlib.suppress(Exception):
                errors.extend(page.evaluate("window.__cspViolations || []"))
            name = f"{request.node.name}-{number}.png".replace("/", "_")
            with contextlib.suppress(Exception):  # a closed page has nothing to show
                page.screenshot(path=str(ARTIFACTS / name), full_page=True)
        created.close()
    assert errors == [], f"uncaught errors or CSP violations in the page: {errors}"


def open_ui(context: BrowserContext, sidecar: Sidecar, conversation_id: str | None = None) -> Page:
    page = context.new_page()
    url = sidecar.ui_url + (f"&c={conversation_id}" if conversation_id else "")
    page.goto(url)
    page.wait_for_selector('[data-testid="connection"][data-state="connected"]')
    return page


def wait_until(predicate: Any, timeout: float = 10.0, message: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {message}")
        time.sleep(0.05)


def shoot(page: Page, name: str) -> Path:
    """A named screenshot kept as an artifact (the whole page as a user would see it)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def stamp(seconds: float) -> str:
    """A CONTRACT §4 timestamp ``seconds`` after 2026-11-01T00:00:00Z."""
    whole = int(seconds)
    millis = round((seconds - whole) * 1000)
    day, rest = divmod(whole, 86400)
    hour, rest = divmod(rest, 3600)
    minute, second = divmod(rest, 60)
    return f"2026-11-{1 + day:02d}T{hour:02d}:{minute:02d}:{second:02d}.{millis:03d}Z"


def import_conversation(
    sidecar: Sidecar,
    conversation_id: str,
    title: str,
    messages: list[dict[str, Any]],
    branches: list[dict[str, str]] | None = None,
    **fields: Any,
) -> str:
    """Write a whole conversation at once through ``POST /api/v1/import`` (the lossless export
    format): far faster than a request per message, and it can hold branches. Messages default to
    a chain (each follows the one before) with increasing timestamps."""
    full = []
    for index, message in enumerate(messages):
        entry = {"created_at": stamp(index), "status": "complete", **message}
        if "parent_id" not in message:
            entry["parent_id"] = full[-1]["id"] if full else None
        full.append(entry)
    conversation = {
        "id": conversation_id,
        "title": title,
        "created_at": stamp(0),
        "updated_at": stamp(len(messages)),
        "messages": full,
        **fields,
    }
    if branches is not None:
        conversation["branches"] = branches
    result = sidecar.api(
        "POST",
        "/api/v1/import",
        {"format": "chat-sidecar.export", "version": 1, "conversations": [conversation]},
    )
    assert conversation_id in result["created"] + result["merged"] + result["unchanged"]
    return conversation_id
