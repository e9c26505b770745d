"""The UI from a side bar's 280 px up (CONTRACT §9): below the breakpoint the conversation list is
a drawer, and everything in it (New chat, Import, search, filters, the list) is reachable by mouse
and by keyboard; nothing is wider than the window. Screenshots: ``layout-<width>-<scheme>-*.png``."""

from __future__ import annotations

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from .conftest import Sidecar, import_conversation, shoot

MESSAGE = '[data-testid="message"]'


def chat(sidecar: Sidecar, conversation_id: str, title: str, words: str) -> str:
    return import_conversation(
        sidecar,
        conversation_id,
        title,
        [
            {"id": f"{conversation_id}-q", "role": "user", "content": f"Tell me about {words}."},
            {
                "id": f"{conversation_id}-a",
                "role": "assistant",
                "content": f"All about **{words}**.",
            },
        ],
    )


def no_sideways_scroll(page: Page, width: int) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= width


@pytest.mark.parametrize(("width", "scheme"), [(280, "light"), (320, "dark")])
def test_narrow_the_list_is_a_drawer_reachable_by_mouse_and_keyboard(
    sidecar: Sidecar, context: BrowserContext, width: int, scheme: str
) -> None:
    first = chat(sidecar, f"lay-a-{width}-{scheme}", f"Apples {width} {scheme}", "apples")
    chat(sidecar, f"lay-b-{width}-{scheme}", f"Bananas {width} {scheme}", "bananas")
    page = context.new_page()
    page.set_viewport_size({"width": width, "height": 640})
    page.emulate_media(color_scheme=scheme)
    page.goto(f"{sidecar.ui_url}&c={first}")
    page.wait_for_selector('[data-testid="connection"][data-state="connected"]')
    expect(page.locator(MESSAGE)).to_have_count(2)
    # Closed drawer: the chat has the whole width, the list is out of the way (not covering it).
    expect(page.get_by_test_id("conversation-list")).to_be_hidden()
    toggle = page.get_by_test_id("toggle-list")
    expect(toggle).to_be_visible()
    no_sideways_scroll(page, width)
    shoot(page, f"layout-{width}-{scheme}-chat")
    # Mouse: open the drawer, every control in it can be clicked.
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    for test_id in ("new-chat", "import", "search", "conversation-list"):
        expect(page.get_by_test_id(test_id)).to_be_visible()
    page.get_by_role("button", name="Starred", exact=True).click()
    expect(page.get_by_role("button", name="Starred", exact=True)).to_have_attribute(
        "aria-pressed", "true"
    )
    page.get_by_role("button", name="All", exact=True).click()
    shoot(page, f"layout-{width}-{scheme}-drawer")
    other = page.locator(
        f'[data-testid="conversation-item"][data-conversation-id="lay-b-{width}-{scheme}"] button'
    )
    other.click()
    expect(page.get_by_test_id("conversation-list")).to_be_hidden()
    expect(page.locator("#chat-title")).to_have_text(f"Bananas {width} {scheme}")
    # Keyboard: the toggle, the search, arrow keys in the list, Enter opens, Escape closes.
    toggle.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("conversation-list")).to_be_visible()
    page.get_by_test_id("search").focus()
    page.keyboard.press("ArrowDown")
    focused = page.evaluate("document.activeElement.closest('li')?.dataset.conversationId")
    assert focused, "ArrowDown from the search box moves into the list"
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowUp")
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("conversation-list")).to_be_hidden()
    expect(toggle).to_be_focused()
    toggle.press("Enter")
    page.get_by_test_id("new-chat").press("Enter")
    expect(page.get_by_test_id("conversation-list")).to_be_hidden()
    expect(page.get_by_test_id("composer")).to_be_focused()
    expect(page.get_by_test_id("empty-state")).to_be_visible()
    no_sideways_scroll(page, width)
    shoot(page, f"layout-{width}-{scheme}-empty")


def test_wide_the_list_and_the_chat_side_by_side(sidecar: Sidecar, context: BrowserContext) -> None:
    first = chat(sidecar, "lay-wide", "Wide layout", "space")
    page = context.new_page()
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{sidecar.ui_url}&c={first}")
    expect(page.locator(MESSAGE)).to_have_count(2)
    expect(page.get_by_test_id("conversation-list")).to_be_visible()
    expect(page.get_by_test_id("toggle-list")).to_be_hidden()
    list_box = page.get_by_test_id("conversation-list").bounding_box()
    chat_box = page.locator("main.chat").bounding_box()
    assert list_box and chat_box and list_box["x"] + list_box["width"] <= chat_box["x"] + 1
    # Arrow keys move between conversations in the list.
    page.locator('[data-testid="conversation-item"] button').first.focus()
    page.keyboard.press("End")
    last = page.locator('[data-testid="conversation-item"] button').last
    expect(last).to_be_focused()
    page.keyboard.press("Home")
    expect(page.locator('[data-testid="conversation-item"] button').first).to_be_focused()
