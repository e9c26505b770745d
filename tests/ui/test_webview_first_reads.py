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
#: What the page showed when its first code block appeared (a MutationObserver sees each change
#: as the page made it, before the page's next task).
FIRST_CODE = """
window.__firstCode = null;
new MutationObserver(() => {
  const code = document.querySelector('[data-role="assistant"] .code-block code');
  if (!code || window.__firstCode) return;
  window.__firstCode = {
    hljs: code.classList.contains('hljs'),
    spans: code.querySelectorAll('span').length,
    text: document.getElementById('messages').textContent,
    highlighted: performance.getEntriesByName('chat-sidecar:highlighted').length,
  };
}).observe(document, { subtree: true, childList: true });
"""
#: Scripts the page's CSP must refuse, and the one it must allow (what chat.js does to run
#: highlight.js): each records its name if it runs.
CSP_PROBE = """
async () => {
  const nonce = document.querySelector('script[type="module"][nonce]').nonce;
  window.__ran = [];
  const tries = { 'no nonce': '', 'a wrong nonce': 'bm90LXRoZS1ub25jZQ', "the page's nonce": nonce };
  for (const [name, value] of Object.entries(tries)) {
    const script = document.createElement('script');
    if (value) script.nonce = value;
    // eval in a task of the page's own (whatever runs inside Playwright's evaluate may eval)
    script.text = `window.__ran.push(${JSON.stringify(name)});
      setTimeout(() => { try { eval('window.__ran.push("eval")'); } catch {} window.__ran.push('tried eval'); });`;
    document.head.append(script);
  }
  const loaded = document.createElement('script');
  loaded.src = '/ui/highlight.js';  // this page's own origin: still not allowed
  const refused = new Promise((resolve) => { loaded.onerror = () => resolve('refused'); loaded.onload = () => resolve('ran'); });
  document.head.append(loaded);
  const handler = document.createElement('button');
  handler.setAttribute('onclick', 'window.__ran.push("an inline handler")');
  document.body.append(handler);
  handler.click();
  handler.remove();
  const src = await refused;
  while (!window.__ran.includes('tried eval')) await new Promise((resolve) => setTimeout(resolve, 10));
  return { ran: window.__ran, src };
}
"""


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


def first_reads(sidecar: Sidecar, cid: str) -> list[dict[str, Any]]:
    """The answers the bridge would have: the REST face answers the same (rest_routes.js)."""
    base = f"/api/v1/conversations/{cid}"
    return [
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


def page_parts(sidecar: Sidecar, first: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "template": (MEDIA / "index.html").read_text(),
        "css": (MEDIA / "chat.css").read_text(),
        "script": (MEDIA / "chat.js").read_text(),
        "highlighter": (MEDIA / "highlight.js").read_text(),
        "nonce": secrets.token_urlsafe(18),
        "cspSource": sidecar.url,
        "config": {"host": "vscode", "newChat": False, "surface": "panel"},
        "first": first,
        "firstId": "first-1",
    }


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
    first = first_reads(sidecar, cid)
    html = built_page(tmp_path, page_parts(sidecar, first))
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
    expect(assistant.locator("code.hljs .hljs-string")).to_have_text("'hi'")
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


def test_restored_page_renders_before_highlight_js_runs_then_colours_under_its_csp(
    sidecar: Sidecar, context: BrowserContext, tmp_path: Path
) -> None:
    hostile_code = f"```html\n{HOSTILE}\n```"
    cid = import_conversation(
        sidecar,
        "c_late_colours",
        "Late colours",
        [
            {"id": "m_late_1", "role": "user", "content": "show me"},
            {"id": "m_late_2", "role": "assistant", "content": f"{MARKDOWN}\n\n{hostile_code}"},
        ],
    )
    html = built_page(tmp_path, page_parts(sidecar, first_reads(sidecar, cid)))
    context.add_init_script(FIRST_CODE)
    page = restored_page(context, sidecar, cid, html)
    assistant = page.locator('[data-testid="message"][data-role="assistant"]')
    blocks = assistant.locator(".code-block code")
    # Coloured in the end, as before: the nonce'd script ran highlight.js (no CSP violation: the
    # context fixture fails the test on any).
    expect(assistant.locator("code.hljs")).to_have_count(2)
    expect(blocks.first.locator(".hljs-string")).to_have_text("'hi'")
    expect(blocks.nth(1).locator(".hljs-tag").first).to_be_attached()
    # ...but the conversation was on the page first, its code as plain text.
    first = page.evaluate("window.__firstCode")
    assert first is not None
    assert first["hljs"] is False and first["spans"] == 0, first
    assert "Some bold text." in first["text"] and "print('hi')" in first["text"], first
    assert first["highlighted"] == 0, first
    shown, highlighted = page.evaluate(
        """['view-shown', 'highlighted'].map((name) =>
              performance.getEntriesByName(`chat-sidecar:${name}`)[0].startTime)"""
    )
    assert shown < highlighted
    # The hostile code is still the text it was: coloured, nothing of it ran or became an element.
    expect(blocks.nth(1)).to_have_text(HOSTILE + "\n")
    assert page.evaluate("window.__pwned") is None
    expect(page.locator("#messages img, #messages script")).to_have_count(0)
    tags = page.evaluate(
        "[...document.querySelectorAll('#messages code *')].map((n) => n.tagName + '.' + n.className)"
    )
    assert tags and all(tag.startswith("SPAN.") for tag in tags), tags
    # The CSP let only the page's nonce run: no other inline script, no file (not even from the
    # page's own origin), no eval, no inline handler.
    assert page.evaluate("window.__cspViolations") == []
    probe = page.evaluate(CSP_PROBE)
    assert probe == {"ran": ["the page's nonce", "tried eval"], "src": "refused"}, probe
    violations = page.evaluate("window.__cspViolations.splice(0)")
    assert len(violations) == 5 and all("script-src" in v for v in violations), violations


def test_code_is_coloured_while_the_list_is_still_unanswered(
    sidecar: Sidecar, context: BrowserContext, tmp_path: Path
) -> None:
    """The block holds the conversation but not the list, and the stand-in host never answers the
    list request: the conversation shows from the block, and its code is coloured anyway (the
    page runs highlight.js after its first render, not after every start-up read)."""
    cid = import_conversation(
        sidecar,
        "c_list_pending",
        "List pending",
        [{"id": "m_pending_1", "role": "assistant", "content": MARKDOWN}],
    )
    first = [read for read in first_reads(sidecar, cid) if read["method"] != "conversations.list"]
    html = built_page(tmp_path, page_parts(sidecar, first))
    page = restored_page(context, sidecar, cid, html)
    assistant = page.locator('[data-testid="message"][data-role="assistant"]')
    expect(assistant.locator("code.hljs .hljs-string")).to_have_text("'hi'")
    # The list is still being waited for: start-up has not finished.
    assert "conversations.list" in [m.get("method") for m in posted(page)]
    assert page.evaluate("performance.getEntriesByName('chat-sidecar:list-pulled').length") == 0
