"""The page a restored VS Code webview gets (extension-bridge/src/panelPage.ts), in real Chromium.

The extension puts chat.css and chat.js into the HTML under the page's nonce, and the restored
page's first reads (answered before the page was built) as a JSON block. Here the page is built by
that same TypeScript (bundled with esbuild, run by node) from the sidecar's real answers, served in
place of /ui/'s index.html under nothing but its own meta CSP, with a stand-in for VS Code's API
that answers only `events.subscribe`: so the page's first render can only come from the block. It
renders Markdown, chat text with HTML or `</script>` in it stays text, it subscribes from the
snapshot's `event_seq` (so what was written after the snapshot arrives as events, and shows), and
the same HTML loaded again asks afresh instead of showing the old snapshot.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
from pathlib import Path
from typing import Any

from playwright.sync_api import BrowserContext, Page, expect

from .conftest import ROOT, Sidecar, import_conversation

EXTENSION = ROOT / "extension-bridge"
MEDIA = EXTENSION / "media"
#: VS Code's webview API, standing in: what the page posts is recorded, `events.subscribe` is
#: answered (so events can be delivered), nothing else is; the state lives in sessionStorage, so
#: it survives a reload of the same HTML as VS Code keeps it for a webview shown again.
HOST = """
if (location.pathname === '/ui/') {
  if (!sessionStorage.getItem('vscode-state')) sessionStorage.setItem('vscode-state', STATE);
  window.__posted = [];
  window.acquireVsCodeApi = () => ({
    postMessage(message) {
      window.__posted.push(message);
      if (message.method === 'events.subscribe') {
        window.postMessage({jsonrpc: '2.0', id: message.id, result: {subscription_id: 's_1', last_seq: 0}}, '*');
      }
    },
    getState: () => JSON.parse(sessionStorage.getItem('vscode-state') || 'null'),
    setState: (value) => sessionStorage.setItem('vscode-state', JSON.stringify(value)),
  });
}
"""
BUILD_PAGE = """
const { buildPage } = require(process.argv[1]);
let input = '';
process.stdin.on('data', (chunk) => (input += chunk)).on('end', () => process.stdout.write(buildPage(JSON.parse(input))));
"""
HOSTILE = '<img src=x onerror="window.__pwned = 1"> </script><script>window.__pwned = 2</script>'
MARKDOWN = "Some **bold** text.\n\n```python\nprint('hi')\n```"


def built_page(tmp_path: Path, parts: dict[str, Any]) -> str:
    """The page as the extension builds it: src/panelPage.ts's buildPage, bundled and run."""
    module = tmp_path / "panelPage.cjs"
    subprocess.run(
        [
            str(EXTENSION / "node_modules" / ".bin" / "esbuild"),
            str(EXTENSION / "src" / "panelPage.ts"),
            "--bundle",
            "--format=cjs",
            "--platform=node",
            f"--outfile={module}",
            "--log-level=warning",
        ],
        check=True,
        timeout=60,
    )
    done = subprocess.run(
        ["node", "-e", BUILD_PAGE, str(module)],
        input=json.dumps(parts),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout


def restored_page(
    context: BrowserContext, sidecar: Sidecar, conversation_id: str, html: str
) -> Page:
    state = json.dumps({"conversation_id": conversation_id})
    context.add_init_script(HOST.replace("STATE", json.dumps(state)))
    page = context.new_page()
    page.route(
        f"{sidecar.url}/ui/",
        lambda route: route.fulfill(status=200, content_type="text/html; charset=utf-8", body=html),
    )
    page.goto(f"{sidecar.url}/ui/")
    return page


def posted(page: Page) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = page.evaluate("window.__posted")
    return found


def test_restored_page_renders_its_embedded_first_reads_safely_and_stays_current(
    sidecar: Sidecar, context: BrowserContext, tmp_path: Path
) -> None:
    cid = import_conversation(
        sidecar,
        "c_first_reads",
        f"Title {HOSTILE}",
        [
            {"id": "m_first_1", "role": "user", "content": HOSTILE},
            {"id": "m_first_2", "role": "assistant", "content": MARKDOWN},
        ],
    )
    base = f"/api/v1/conversations/{cid}"
    # The same answers the bridge would have: the REST face answers the same (rest_routes.js).
    first = [
        {
            "method": "conversations.get",
            "params": {"conversation_id": cid, "limit": 50},
            "result": sidecar.api("GET", f"{base}?limit=50"),
        },
        {
            "method": "branches.list",
            "params": {"conversation_id": cid},
            "result": sidecar.api("GET", f"{base}/branches"),
        },
        {
            "method": "conversations.list",
            "params": {"limit": 100},
            "result": sidecar.api("GET", "/api/v1/conversations?limit=100"),
        },
    ]
    html = built_page(
        tmp_path,
        {
            "template": (MEDIA / "index.html").read_text(),
            "css": (MEDIA / "chat.css").read_text(),
            "script": (MEDIA / "chat.js").read_text(),
            "nonce": secrets.token_urlsafe(18),
            "cspSource": sidecar.url,
            "config": {"host": "vscode", "newChat": False, "surface": "panel"},
            "first": first,
            "firstId": "first-1",
        },
    )
    snapshot_seq = first[0]["result"]["event_seq"]
    page = restored_page(context, sidecar, cid, html)
    messages = page.get_by_test_id("message")
    expect(messages).to_have_text([HOSTILE, re.compile(r"^Some bold text\.print\('hi'\)\s*$")])
    expect(page.locator("#chat-title")).to_have_text(f"Title {HOSTILE}")
    expect(page.get_by_test_id("conversation-item")).to_have_count(1)
    # Markdown arrived (the full renderer, from the block alone: nothing else was answered).
    assistant = page.locator('[data-testid="message"][data-role="assistant"]')
    expect(assistant.locator("strong")).to_have_text("bold")
    expect(assistant.locator('.code-block[data-lang="python"] code.hljs')).to_have_count(1)
    # The chat text's HTML stayed text: nothing of it ran or became an element.
    assert page.evaluate("window.__pwned") is None
    expect(page.locator("#messages img, #messages script, #chat-title *")).to_have_count(0)
    # No round trip for what the page held; it subscribed from the snapshot's seq.
    methods = [m.get("method") for m in posted(page)]
    assert not {"conversations.get", "branches.list", "conversations.list"} & set(methods), methods
    subscribe = next(m for m in posted(page) if m.get("method") == "events.subscribe")
    assert subscribe["params"] == {"since": snapshot_seq}
    assert page.evaluate("acquireVsCodeApi().getState()") == {
        "conversation_id": cid,
        "first_reads": "first-1",
    }

    # Written after the snapshot: its event (the sidecar replays from `since`) shows it.
    written = sidecar.api(
        "POST", f"{base}/messages", {"role": "user", "content": "written after the snapshot"}
    )
    seq = sidecar.api("GET", f"{base}?limit=1")["event_seq"]
    assert seq > snapshot_seq
    event = {
        "jsonrpc": "2.0",
        "method": "event",
        "params": {
            "subscription_id": "s_1",
            "seq": seq,
            "type": "message.created",
            "data": {"conversation_id": cid, "message": written},
        },
    }
    page.evaluate("(event) => window.postMessage(event, '*')", event)
    expect(messages).to_have_count(3)
    expect(messages.last).to_have_text("written after the snapshot")

    # The same HTML loaded again (VS Code shows a hidden webview again): the snapshot is not
    # used twice; the page asks (and, unanswered here, shows no old copy meanwhile).
    page.reload()
    expect(page.locator("#chat-title")).to_have_text("Loading…")
    expect(messages).to_have_count(0)
    methods = [m.get("method") for m in posted(page)]
    assert {"conversations.get", "branches.list", "conversations.list"} <= set(methods), methods
