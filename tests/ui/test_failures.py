"""Failures are visible (CONTRACT §9): with the sidecar killed, every action the user takes ends in
a ``notice`` (``role="alert"``) saying what failed, with a Retry, after a bounded wait (the page is
opened with ``#wait_ms=1500`` so the test does not sit out the default 10 s); nothing says
"Loading…" for ever; a page whose sidecar stays away says how to find it again (it may be on a new
port: ``chat-sidecar open``). Screenshots: ``failure-*.png``."""

from __future__ import annotations

from playwright.sync_api import BrowserContext, expect

from .conftest import Sidecar, import_conversation, shoot

MESSAGE = '[data-testid="message"]'
WAIT = "&wait_ms=1500"


def test_with_the_sidecar_killed_every_action_says_what_failed(
    own_sidecar: Sidecar, context: BrowserContext
) -> None:
    for name in ("first", "second"):
        import_conversation(
            own_sidecar,
            f"fail-{name}",
            f"The {name} chat",
            [{"id": f"fail-{name}-m", "role": "user", "content": f"hello from the {name}"}],
        )
    page = context.new_page()
    page.goto(f"{own_sidecar.ui_url}&c=fail-first{WAIT}")
    expect(page.locator(MESSAGE)).to_have_text(["hello from the first"])
    notice = page.get_by_test_id("notice")
    own_sidecar.kill()
    connection = page.get_by_test_id("connection")
    expect(connection).to_have_attribute("data-state", "offline")
    assert "not answering" in (connection.get_attribute("title") or "")
    # Left alone, the page explains how to get back (a restart may have chosen a new port).
    expect(notice).to_contain_text("chat-sidecar open")
    expect(notice).to_have_attribute("role", "alert")
    shoot(page, "failure-sidecar-gone")

    page.get_by_test_id("star").click()
    expect(notice).to_contain_text("Could not star the conversation")
    expect(notice).to_contain_text("did not answer within 2 s")
    expect(notice.get_by_test_id("notice-retry")).to_be_visible()

    page.get_by_test_id("search").fill("hello")
    expect(notice).to_contain_text("Search failed")

    page.locator('[data-conversation-id="fail-second"] button').click()
    expect(notice).to_contain_text("Could not open the conversation")
    expect(page.locator("#chat-title")).to_have_text("Could not load this conversation")
    shoot(page, "failure-open")

    page.get_by_test_id("new-chat").click()
    expect(notice).to_contain_text("Could not create the conversation")
    expect(notice).to_have_attribute("role", "alert")

    # Back on the same port: Retry on the notice does what failed.
    own_sidecar.restart()
    expect(connection).to_have_attribute("data-state", "connected", timeout=15_000)
    retry = notice.get_by_test_id("notice-retry")
    if retry.count():
        retry.click()
    page.locator('[data-conversation-id="fail-second"] button').click()
    expect(page.locator("#chat-title")).to_have_text("The second chat")
    expect(page.locator(MESSAGE)).to_have_text(["hello from the second"])
