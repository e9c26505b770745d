"""``/ui``: public static files with a strict CSP, nothing else public (no browser needed)."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from sidecar.app import create_app
from sidecar.http.ui import FILES, MEDIA_DIR
from sidecar.settings import ServerConfig

TOKEN = "ui-test-token-0123456789abcdef0123456789abcdef"
Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def client(aiohttp_client: Callable[..., Awaitable[Client]], tmp_path: Path) -> Client:
    config = ServerConfig(data_dir=tmp_path / "data", checkpoint_interval=3600)
    return await aiohttp_client(create_app(config, token=TOKEN))


@pytest.mark.parametrize("name", sorted(FILES))
async def test_each_ui_file_is_served_without_a_token_with_csp(client: Client, name: str) -> None:
    response = await client.get(f"/ui/{name}")
    assert response.status == 200
    assert await response.read() == (MEDIA_DIR / name).read_bytes()
    assert response.headers["Content-Type"] == FILES[name]
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "connect-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_index_and_the_bare_prefix(client: Client) -> None:
    index = await client.get("/ui/")
    assert index.status == 200 and "text/html" in index.headers["Content-Type"]
    bare = await client.get("/ui", allow_redirects=False)
    assert bare.status == 302 and bare.headers["Location"] == "ui/"


@pytest.mark.parametrize(
    "path", ["/ui/nope.js", "/ui/..%2Fsidecar.json", "/ui/%2e%2e%2fpyproject.toml", "/ui/README"]
)
async def test_only_the_listed_files_exist(client: Client, path: str) -> None:
    response = await client.get(path)
    assert response.status == 404
    assert (await response.json())["error"]["code"] == "not_found"


async def test_the_html_has_no_inline_script_or_style() -> None:
    html = (MEDIA_DIR / "index.html").read_text()
    assert "<style" not in html and not re.search(r"\sstyle=", html)
    assert not re.search(r"\son[a-z]+=", html), "inline event handler"
    assert re.findall(r"<script[^>]*>", html) == ['<script type="module" src="chat.js">']


async def test_public_means_get_only_and_host_still_checked(client: Client) -> None:
    assert (await client.post("/ui/", json={})).status == 401
    rebinding = await client.get("/ui/", headers={"Host": "attacker.example:80"})
    assert rebinding.status == 403
    assert (await client.get("/api/v1/conversations")).status == 401
    ok = await client.get("/api/v1/conversations", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status == 200


NODE = shutil.which("node")
TSC = MEDIA_DIR.parent / "node_modules" / ".bin" / "tsc"
SCRIPTS = sorted(str(path) for path in MEDIA_DIR.glob("*.js"))
#: The UI's sources (media/chat.js is their esbuild bundle, checked by parsing only).
SOURCES = sorted(
    [str(MEDIA_DIR / "client.js"), *(str(p) for p in (MEDIA_DIR.parent / "webview").glob("*.js"))]
)


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_media_scripts_parse() -> None:
    assert NODE is not None
    for script in SCRIPTS:
        checked = subprocess.run([NODE, "--check", script], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr


@pytest.mark.skipif(not TSC.exists(), reason="extension-bridge/node_modules is not installed")
def test_media_scripts_type_check_strict() -> None:
    """The JSDoc types (``// @ts-check``) hold under ``tsc --strict``: no build step, still checked."""
    checked = subprocess.run(
        [
            str(TSC),
            "--noEmit",
            "--allowJs",
            "--checkJs",
            "--strict",
            "--target",
            "es2022",
            "--module",
            "es2022",
            "--moduleResolution",
            "bundler",
            "--lib",
            "es2022,dom,dom.iterable",
            "--skipLibCheck",
            *SOURCES,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
