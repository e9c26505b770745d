"""The extension in a real VS Code (code-server), driven like a person would with Playwright.

In the code-server of conftest.py (our ``.vsix`` in a fresh profile, ``chatSidecar.pythonPath``
set to this project's ``.venv`` Python): opens the chat from the command palette, sends a message to the slow echo provider, reloads the window while the reply streams,
and checks that the panel comes back at the same conversation with the whole reply, served by the
one sidecar that owned the data dir before the reload (the new extension host attached to it).
Then the same for the side-bar chat view (``chatSidecar.chatView``): opened from the activity
bar, used at a side bar's width, restored after Reload Window at its conversation.

Screenshots go to ``test-artifacts/e2e/``.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from sidecar.runtime import read_discovery
from sidecar.store.lock import is_owned

from .conftest import (
    ARTIFACTS,
    CodeServer,
    run_command,
    sidecar_processes,
    webview,
    workbench_page,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

# 8-character chunks every 80 ms (conftest's echo settings): about 10 s of streaming, time enough
# to reload mid-reply.
MESSAGE = "Reload me mid-reply, please. " + " ".join(f"word{i:03d}" for i in range(110))


def test_chat_survives_window_reload_mid_reply(code_server: CodeServer) -> None:
    from playwright.sync_api import expect

    with workbench_page(code_server.url, ARTIFACTS / "failure.png") as page:
        run_command(page, "Chat Sidecar: Open Chat")
        chat = webview(page)
        expect(chat.locator('[data-testid="connection"]')).to_have_attribute(
            "data-state", "connected", timeout=60_000
        )
        owner = read_discovery(code_server.data_dir)
        assert owner is not None, "the extension started a sidecar on the configured data dir"
        expect(page.locator(".statusbar-item", has_text="Chat Sidecar").first).to_be_visible()

        chat.locator('[data-testid="composer"]').fill(MESSAGE)
        chat.locator('[data-testid="send"]').click()
        reply = chat.locator('[data-testid="message"][data-role="assistant"]').last
        expect(reply).to_have_attribute("data-status", "streaming", timeout=15_000)
        page.screenshot(path=str(ARTIFACTS / "1-streaming.png"))
        conversation_id = _open_conversation(code_server.data_dir)

        with page.expect_navigation(timeout=60_000):
            run_command(page, "Developer: Reload Window")
        # The window went away while the sidecar was still writing the reply.
        assert _statuses(code_server.data_dir, conversation_id)[-1] == "streaming"
        page.locator(".monaco-workbench").wait_for(timeout=90_000)

        chat = webview(page)
        messages = chat.locator('[data-testid="message"]')
        expect(messages).to_have_count(2, timeout=60_000)
        user, assistant = messages.nth(0), messages.nth(1)
        expect(user).to_have_attribute("data-role", "user")
        expect(user).to_have_text(MESSAGE)
        expect(assistant).to_have_attribute("data-status", "complete", timeout=30_000)
        expect(assistant).to_have_text(MESSAGE)  # the echo provider's reply
        expect(chat.locator('[data-testid="connection"]')).to_have_attribute(
            "data-state", "connected"
        )
        page.screenshot(path=str(ARTIFACTS / "2-after-reload.png"))

    # The same conversation, complete in the store; one sidecar, the same one, owns the data dir.
    after = read_discovery(code_server.data_dir)
    assert after is not None and after["pid"] == owner["pid"], "the reloaded window attached"
    assert is_owned(code_server.data_dir)
    assert [proc.pid for proc in sidecar_processes(code_server.data_dir)] == [owner["pid"]]
    # Nothing fell back to the defaults (settings read too early): no private venv, no sidecar on
    # the default data dir.
    assert not (code_server.home / ".local" / "share" / "chat-sidecar").exists()
    storage = code_server.profile / "User" / "globalStorage" / "chat-sidecar.chat-sidecar"
    assert not (storage / "python").exists()
    stored = _get(after, f"/api/v1/conversations/{conversation_id}")
    assert [(m["role"], m["status"], m["content"]) for m in stored["messages"]] == [
        ("user", "complete", MESSAGE),
        ("assistant", "complete", MESSAGE),
    ]


def _get(owner: dict[str, Any], path: str) -> Any:
    request = urllib.request.Request(
        owner["url"] + path, headers={"Authorization": f"Bearer {owner['token']}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _statuses(data_dir: Path, conversation_id: str) -> list[str]:
    owner = read_discovery(data_dir)
    assert owner is not None
    stored = _get(owner, f"/api/v1/conversations/{conversation_id}")
    return [str(m["status"]) for m in stored["messages"]]


def _open_conversation(data_dir: Path) -> str:
    """The one conversation in the store (the test made exactly one)."""
    owner = read_discovery(data_dir)
    assert owner is not None
    items = _get(owner, "/api/v1/conversations")["items"]
    assert len(items) == 1, items
    return str(items[0]["id"])


def _newest_conversation(data_dir: Path) -> str:
    owner = read_discovery(data_dir)
    assert owner is not None
    return str(_get(owner, "/api/v1/conversations")["items"][0]["id"])


VIEW_MESSAGE = "From the **side bar**, with `code`."


def test_side_bar_view_chats_and_survives_window_reload(code_server: CodeServer) -> None:
    from playwright.sync_api import expect

    with workbench_page(code_server.url, ARTIFACTS / "failure-side-bar.png") as page:
        # Only the view's webview on screen: close the panel the other test left open.
        run_command(page, "View: Close All Editors")
        page.locator('.activitybar [aria-label^="Chat Sidecar"]').first.click()
        chat = webview(page)
        expect(chat.locator('[data-testid="connection"]')).to_have_attribute(
            "data-state", "connected", timeout=60_000
        )
        # A side bar is narrow: the list is behind the Chats button, the chat is usable.
        expect(chat.locator('[data-testid="toggle-list"]')).to_be_visible()
        chat.locator('[data-testid="toggle-list"]').click()
        chat.locator('[data-testid="new-chat"]').click()
        expect(chat.locator('[data-testid="empty-state"]')).to_be_visible()
        chat.locator('[data-testid="composer"]').fill(VIEW_MESSAGE)
        chat.locator('[data-testid="send"]').click()
        reply = chat.locator('[data-testid="message"][data-role="assistant"]').last
        expect(reply).to_have_attribute("data-status", "complete", timeout=60_000)
        expect(reply.locator("strong")).to_have_text("side bar")
        page.screenshot(path=str(ARTIFACTS / "3-side-bar-view.png"))
        conversation_id = _newest_conversation(code_server.data_dir)

        with page.expect_navigation(timeout=60_000):
            run_command(page, "Developer: Reload Window")
        page.locator(".monaco-workbench").wait_for(timeout=90_000)
        chat = webview(page)
        messages = chat.locator('[data-testid="message"]')
        expect(messages).to_have_count(2, timeout=60_000)
        expect(messages.nth(0)).to_have_text("From the side bar, with code.")
        expect(messages.nth(0)).to_have_attribute("data-role", "user")
        expect(chat.locator('[data-testid="connection"]')).to_have_attribute(
            "data-state", "connected"
        )
        page.screenshot(path=str(ARTIFACTS / "4-side-bar-after-reload.png"))
    owner = read_discovery(code_server.data_dir)
    assert owner is not None
    stored = _get(owner, f"/api/v1/conversations/{conversation_id}")
    assert [m["content"] for m in stored["messages"]] == [VIEW_MESSAGE, VIEW_MESSAGE]
