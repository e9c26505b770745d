"""Reopening the conversation a page remembers (the URL's ``c``, a VS Code webview's state):
pulled at once, beside the list, not after it (issue #18: one round trip to content on a reload),
and nothing that changes between the two pulls is missed."""

from __future__ import annotations

from typing import Any

import requests
from playwright.sync_api import BrowserContext, Route, expect

from .conftest import Sidecar, import_conversation

MESSAGE = '[data-testid="message"]'


def _the_list(url: str) -> bool:
    return "/api/v1/conversations?" in url


def test_a_remembered_conversation_is_shown_before_the_list_answers_and_misses_nothing(
    sidecar: Sidecar, context: BrowserContext
) -> None:
    messages: list[dict[str, Any]] = [
        {"id": "m_1", "role": "user", "content": "Where were we?"},
        {"id": "m_2", "role": "assistant", "content": "Right here."},
    ]
    import_conversation(sidecar, "c_reopened", "Reopened", messages)
    page = context.new_page()
    held: list[Route] = []
    page.route(_the_list, lambda route: held.append(route))
    page.goto(f"{sidecar.ui_url}&c=c_reopened")
    # Shown while the list's answer is still held back: the page did not wait for it.
    expect(page.locator(MESSAGE)).to_have_count(2)
    expect(page.locator(MESSAGE).last).to_have_text("Right here.")
    assert held, "the list was asked too"
    # A message added after the conversation's pull, before the list's, still reaches the page:
    # the page subscribes from the older of its two pulls.
    added = requests.post(
        f"{sidecar.url}/api/v1/conversations/c_reopened/messages",
        headers={"Authorization": f"Bearer {sidecar.token}"},
        json={"role": "user", "content": "One more thing.", "client_message_id": "m_between"},
        timeout=10,
    )
    assert added.status_code in (200, 201), added.text
    for route in held:
        route.continue_()
    page.unroute(_the_list)
    expect(page.locator(MESSAGE)).to_have_count(3)
    expect(page.locator(MESSAGE).last).to_have_text("One more thing.")
    expect(page.get_by_test_id("conversation-list").locator("li")).to_have_count(1)
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "connected")
