"""The reference chat UI in Chromium against a real sidecar (CONTRACT §6, §9).

Each test drives the page only through what a user does (type, click, reload) and checks both what
the page shows (by the §9 ``data-testid`` names) and what the sidecar stored.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.migrate.conftest import FIXTURES

from .conftest import Sidecar, open_ui, wait_until

MESSAGE = '[data-testid="message"]'
ASSISTANT = f'{MESSAGE}[data-role="assistant"]'
USER = f'{MESSAGE}[data-role="user"]'
SLOW_ECHO = {"CHAT_SIDECAR_ECHO_DELAY_MS": "50", "CHAT_SIDECAR_ECHO_CHUNK": "8"}


def long_text(lines: int) -> str:
    # No trailing space: the message shows its content as rendered Markdown (CONTRACT §9), and a
    # paragraph's trailing space is not rendered.
    return " ".join(f"line {i:03d} of a long reply;" for i in range(lines))


def send(page: Page, text: str) -> None:
    page.get_by_test_id("composer").fill(text)
    page.get_by_test_id("send").click()


def open_conversation_id(page: Page) -> str:
    item = page.locator('[data-testid="conversation-item"] [aria-current="true"]')
    expect(item).to_have_count(1)
    value = item.locator("xpath=..").get_attribute("data-conversation-id")
    assert value
    return value


def stored(sidecar: Sidecar, conversation_id: str) -> list[tuple[str, str, str]]:
    return [(m["role"], m["content"], m["status"]) for m in sidecar.messages(conversation_id)]


def new_conversation(sidecar: Sidecar, title: str, **fields: Any) -> str:
    created = sidecar.api("POST", "/api/v1/conversations", {"title": title})
    if fields:
        sidecar.api("PATCH", f"/api/v1/conversations/{created['id']}", fields)
    return str(created["id"])


def test_send_streams_the_reply_and_completes(sidecar: Sidecar, context: BrowserContext) -> None:
    page = open_ui(context, sidecar)
    page.get_by_test_id("new-chat").click()
    text = long_text(12)  # ~330 chars: 42 chunks of 8, 20 ms apart
    send(page, text)
    reply = page.locator(ASSISTANT)
    expect(reply).to_have_attribute("data-status", "streaming")
    expect(page.get_by_test_id("stop")).to_be_visible()
    expect(reply).to_have_attribute("data-status", "complete")
    assert reply.text_content() == text
    expect(page.locator(USER)).to_have_text(text)
    expect(page.get_by_test_id("stop")).to_be_hidden()
    conversation_id = open_conversation_id(page)
    assert stored(sidecar, conversation_id) == [
        ("user", text, "complete"),
        ("assistant", text, "complete"),
    ]
    # The list item took the first message as its title.
    item = page.locator(
        f'[data-testid="conversation-item"][data-conversation-id="{conversation_id}"]'
    )
    expect(item).to_contain_text("line 000")


@pytest.mark.parametrize("sidecar_env", [SLOW_ECHO], indirect=True)
def test_reload_mid_reply_resumes_without_duplicates(
    own_sidecar: Sidecar, context: BrowserContext
) -> None:
    page = open_ui(context, own_sidecar)
    page.get_by_test_id("new-chat").click()
    text = long_text(16)  # 416 chars: 52 chunks, 50 ms apart: ~2.6 s of streaming
    send(page, text)
    reply = page.locator(ASSISTANT)
    wait_until(lambda: len(reply.text_content() or "") >= 64, message="some streamed text")
    assert reply.get_attribute("data-status") == "streaming"
    conversation_id = open_conversation_id(page)
    page.reload()
    page.wait_for_selector('[data-testid="connection"][data-state="connected"]')
    reply = page.locator(ASSISTANT)
    expect(reply).to_have_count(1)
    partial = reply.text_content() or ""
    assert text.startswith(partial), "after the reload the page shows a prefix of the reply"
    expect(reply).to_have_attribute("data-status", "complete", timeout=15_000)
    assert reply.text_content() == text
    expect(page.locator(USER)).to_have_text([text])
    assert stored(own_sidecar, conversation_id)[-1] == ("assistant", text, "complete")


def test_two_pages_stay_in_sync(sidecar: Sidecar, context: BrowserContext) -> None:
    first = open_ui(context, sidecar)
    second = open_ui(context, sidecar)
    first.get_by_test_id("new-chat").click()
    send(first, "hello from the first page")
    expect(first.locator(ASSISTANT)).to_have_attribute("data-status", "complete")
    conversation_id = open_conversation_id(first)
    item = second.locator(
        f'[data-testid="conversation-item"][data-conversation-id="{conversation_id}"]'
    )
    expect(item).to_contain_text("hello from the first page")
    item.locator("button").click()
    expect(second.locator(ASSISTANT)).to_have_text(["hello from the first page"])
    # Now both show the conversation: a send in one streams into the other.
    send(second, "and back from the second")
    expect(first.locator(USER)).to_have_text(
        ["hello from the first page", "and back from the second"]
    )
    expect(first.locator(ASSISTANT).nth(1)).to_have_attribute("data-status", "complete")
    expect(first.locator(ASSISTANT)).to_have_text(
        ["hello from the first page", "and back from the second"]
    )
    # A rename in one page is the title in the other.
    second.get_by_test_id("rename").click()
    second.get_by_test_id("rename-input").fill("Renamed elsewhere")
    second.get_by_test_id("rename-input").press("Enter")
    expect(first.locator("#chat-title")).to_have_text("Renamed elsewhere")
    expect(first.locator('[data-testid="conversation-item"]')).to_contain_text(
        ["Renamed elsewhere"]
    )


def test_sidecar_killed_messages_queue_and_are_sent_once_after_restart(
    own_sidecar: Sidecar, context: BrowserContext
) -> None:
    page = open_ui(context, own_sidecar)
    page.get_by_test_id("new-chat").click()
    send(page, "before the crash")
    expect(page.locator(ASSISTANT)).to_have_attribute("data-status", "complete")
    conversation_id = open_conversation_id(page)

    own_sidecar.kill()
    connection = page.get_by_test_id("connection")
    expect(connection).not_to_have_attribute("data-state", "connected")
    expect(connection).to_have_attribute("data-state", "offline")
    queued = ["queued one", "queued two", "queued three"]
    for text in queued:
        send(page, text)
    expect(page.locator(f'{USER}[data-status="queued"]')).to_have_text(queued)

    own_sidecar.restart()
    expect(connection).to_have_attribute("data-state", "connected")
    expect(page.locator(f'{USER}[data-status="queued"]')).to_have_count(0)
    expect(page.locator(ASSISTANT)).to_have_count(4, timeout=15_000)
    for index in range(4):
        expect(page.locator(ASSISTANT).nth(index)).to_have_attribute(
            "data-status", "complete", timeout=15_000
        )
    expected = ["before the crash", *queued]
    expect(page.locator(USER)).to_have_text(expected)
    expect(page.locator(ASSISTANT)).to_have_text(expected)
    assert stored(own_sidecar, conversation_id) == [
        (role, text, "complete") for text in expected for role in ("user", "assistant")
    ]


@pytest.mark.parametrize("sidecar_env", [SLOW_ECHO], indirect=True)
def test_sidecar_killed_mid_reply_shows_interrupted_and_retry_completes(
    own_sidecar: Sidecar, context: BrowserContext
) -> None:
    page = open_ui(context, own_sidecar)
    page.get_by_test_id("new-chat").click()
    text = long_text(10)
    send(page, text)
    reply = page.locator(ASSISTANT)
    wait_until(lambda: len(reply.text_content() or "") >= 16, message="some streamed text")
    own_sidecar.kill()
    expect(page.get_by_test_id("connection")).not_to_have_attribute("data-state", "connected")
    own_sidecar.restart()
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "connected")
    # The restarted sidecar marked the turn interrupted, keeping the partial text (CONTRACT §4).
    expect(reply).to_have_attribute("data-status", "interrupted")
    partial = reply.text_content() or ""
    assert text.startswith(partial) and len(partial) < len(text)
    page.get_by_test_id("retry").click()
    expect(page.locator(ASSISTANT)).to_have_attribute("data-status", "complete", timeout=15_000)
    expect(page.locator(ASSISTANT)).to_have_text(text)


def test_tool_call_cards_approve_and_deny(sidecar: Sidecar, context: BrowserContext) -> None:
    page = open_ui(context, sidecar)
    page.get_by_test_id("new-chat").click()
    send(page, "/tool clock {}")
    approve = page.get_by_test_id("approve-tool")
    expect(approve).to_have_count(1)
    expect(page.get_by_test_id("tool-card")).to_contain_text("clock")
    approve.click()
    expect(approve).to_have_count(0)
    final = page.locator(ASSISTANT).last
    expect(final).to_contain_text("clock ran successfully", timeout=15_000)
    expect(final).to_have_attribute("data-status", "complete")
    expect(page.locator(f'{MESSAGE}[data-role="tool"]')).to_have_count(1)

    send(page, "/tool clock {}")
    deny = page.get_by_test_id("deny-tool")
    expect(deny).to_have_count(1)
    deny.click()
    expect(page.locator(ASSISTANT).last).to_contain_text("clock was denied", timeout=15_000)
    expect(page.get_by_test_id("approve-tool")).to_have_count(0)


@pytest.mark.parametrize("sidecar_env", [SLOW_ECHO], indirect=True)
def test_stop_then_retry_keeps_the_stopped_reply_on_a_branch(
    own_sidecar: Sidecar, context: BrowserContext
) -> None:
    page = open_ui(context, own_sidecar)
    page.get_by_test_id("new-chat").click()
    text = long_text(10)  # 33 chunks, 50 ms apart
    send(page, text)
    reply = page.locator(ASSISTANT)
    wait_until(lambda: len(reply.text_content() or "") >= 16, message="some streamed text")
    page.get_by_test_id("stop").click()
    expect(reply).to_have_attribute("data-status", "cancelled")
    stopped_at = reply.text_content() or ""
    assert text.startswith(stopped_at) and len(stopped_at) < len(text)
    retry = page.get_by_test_id("retry")
    expect(retry).to_be_visible()
    retry.click()
    expect(page.locator(ASSISTANT)).to_have_count(1)
    expect(page.locator(ASSISTANT)).to_have_attribute("data-status", "complete", timeout=15_000)
    expect(page.locator(ASSISTANT)).to_have_text(text)
    expect(retry).to_be_hidden()
    # The stopped reply is kept, on a branch of its own.
    conversation_id = open_conversation_id(page)
    branches = own_sidecar.api("GET", f"/api/v1/conversations/{conversation_id}/branches")
    assert len(branches) == 2


def test_edit_and_resend_makes_a_branch_and_the_switcher_goes_back(
    sidecar: Sidecar, context: BrowserContext
) -> None:
    page = open_ui(context, sidecar)
    page.get_by_test_id("new-chat").click()
    send(page, "first wording")
    expect(page.locator(ASSISTANT)).to_have_attribute("data-status", "complete")
    page.get_by_test_id("edit-message").click()
    expect(page.get_by_test_id("composer")).to_have_value("first wording")
    send(page, "second wording")
    expect(page.locator(USER)).to_have_text(["second wording"])
    expect(page.locator(ASSISTANT)).to_have_text(["second wording"])
    expect(page.locator(ASSISTANT)).to_have_attribute("data-status", "complete")
    branch = page.get_by_test_id("branch")
    expect(branch).to_be_visible()
    expect(branch.locator("option")).to_have_count(2)
    branch.select_option("main")
    expect(page.locator(USER)).to_have_text(["first wording"])
    expect(page.locator(ASSISTANT)).to_have_text(["first wording"])


def test_history_loads_older_pages_and_appends_live(
    sidecar: Sidecar, context: BrowserContext
) -> None:
    conversation_id = new_conversation(sidecar, "long history")
    for number in range(120):
        sidecar.api(
            "POST",
            f"/api/v1/conversations/{conversation_id}/messages",
            {"role": "user" if number % 2 == 0 else "assistant", "content": f"message {number}"},
        )
    page = open_ui(context, sidecar, conversation_id)
    messages = page.locator(MESSAGE)
    expect(messages).to_have_count(50)
    expect(messages.first).to_have_text("message 70")
    page.locator("#history").evaluate("node => { node.scrollTop = 0; }")
    expect(messages).to_have_count(100)
    expect(page.get_by_role("button", name="Load older messages")).to_be_visible()
    page.locator("#history").evaluate("node => { node.scrollTop = 0; }")
    expect(messages).to_have_count(120)
    expect(messages.first).to_have_text("message 0")
    expect(page.get_by_role("button", name="Load older messages")).to_be_hidden()
    # A low-level append through REST shows up at the end, live.
    sidecar.api(
        "POST",
        f"/api/v1/conversations/{conversation_id}/messages",
        {"role": "user", "content": "appended over REST"},
    )
    expect(messages).to_have_count(121)
    expect(messages.last).to_have_text("appended over REST")


def test_list_filters_star_pin_archive_delete_restore(
    own_sidecar: Sidecar, context: BrowserContext
) -> None:
    older = new_conversation(own_sidecar, "older one")
    newer = new_conversation(own_sidecar, "newer one")
    page = open_ui(context, own_sidecar)
    items = page.locator('[data-testid="conversation-item"]')
    expect(items).to_have_text(["newer one", "older one"])

    def item(conversation_id: str) -> Any:
        return page.locator(
            f'[data-testid="conversation-item"][data-conversation-id="{conversation_id}"] button'
        )

    item(older).click()
    page.get_by_test_id("pin").click()
    expect(items.first).to_have_attribute("data-conversation-id", older)
    page.get_by_test_id("star").click()
    page.get_by_role("button", name="Starred", exact=True).click()
    expect(items).to_have_count(1)
    expect(items.first).to_have_attribute("data-conversation-id", older)
    page.get_by_role("button", name="All", exact=True).click()
    expect(items).to_have_count(2)
    page.get_by_test_id("archive").click()
    expect(items).to_have_count(1)
    page.get_by_role("button", name="Archived", exact=True).click()
    expect(items).to_have_count(1)
    expect(items.first).to_have_attribute("data-conversation-id", older)
    page.get_by_role("button", name="All", exact=True).click()
    item(newer).click()
    page.get_by_test_id("delete").click()
    expect(page.get_by_test_id("restore")).to_be_visible()
    expect(items).to_have_count(0)
    assert own_sidecar.api("GET", f"/api/v1/conversations/{newer}")["deleted_at"] is not None
    page.get_by_role("button", name="Trash", exact=True).click()
    expect(items).to_have_count(1)
    page.get_by_test_id("restore").click()
    expect(items).to_have_count(0)
    page.get_by_role("button", name="All", exact=True).click()
    expect(items).to_have_count(1)
    assert own_sidecar.api("GET", f"/api/v1/conversations/{newer}")["deleted_at"] is None
    flags = own_sidecar.api("GET", f"/api/v1/conversations/{older}")
    assert (flags["pinned"], flags["starred"], flags["archived"]) == (True, True, True)


def test_search_finds_a_conversation(sidecar: Sidecar, context: BrowserContext) -> None:
    wanted = new_conversation(sidecar, "alpha plans")
    new_conversation(sidecar, "beta notes")
    page = open_ui(context, sidecar)
    page.get_by_test_id("search").fill("alpha")
    results = page.locator('[data-testid="search-result"]')
    expect(results).to_have_count(1)
    expect(results.first).to_have_attribute("data-conversation-id", wanted)
    expect(page.get_by_test_id("conversation-list")).to_be_hidden()
    results.first.locator("button").click()
    expect(page.locator("#chat-title")).to_have_text("alpha plans")
    page.get_by_test_id("search").fill("")
    expect(page.get_by_test_id("conversation-list")).to_be_visible()
    # Message content, with the match marked (as text: highlights are ranges, not markup).
    sidecar.api(
        "POST",
        f"/api/v1/conversations/{wanted}/messages",
        {"role": "user", "content": "the <zebrafish> swims"},
    )
    wait_until(
        lambda: sidecar.api("GET", "/api/v1/search?q=zebrafish")["items"],
        message="the search index to have the message",
    )
    page.get_by_test_id("search").fill("zebrafish")
    expect(results.first).to_contain_text("zebrafish")
    expect(results).to_have_count(1)
    expect(results.first.locator(".snippet")).to_contain_text("the <zebrafish> swims")
    expect(results.first.locator("mark")).to_have_text(["zebrafish"])
    results.first.locator("button").click()
    expect(page.locator(f"{MESSAGE}:focus")).to_have_text("the <zebrafish> swims")
    # A hit further back than the first page: the history pages back until it is shown.
    deep = new_conversation(sidecar, "deep history")
    for text in ["an early quokka sighting", *(f"filler {n}" for n in range(60))]:
        sidecar.api(
            "POST", f"/api/v1/conversations/{deep}/messages", {"role": "user", "content": text}
        )
    wait_until(
        lambda: sidecar.api("GET", "/api/v1/search?q=quokka")["items"],
        message="the search index to have the early message",
    )
    page.get_by_test_id("search").fill("quokka")
    expect(results.first).to_have_attribute("data-conversation-id", deep)
    expect(results).to_have_count(1)
    results.first.locator("button").click()
    expect(page.locator(f"{MESSAGE}:focus")).to_have_text("an early quokka sighting")
    expect(page.locator(MESSAGE)).to_have_count(61)


def test_chat_text_is_rendered_as_text(sidecar: Sidecar, context: BrowserContext) -> None:
    conversation_id = new_conversation(sidecar, "<b>not bold</b>")
    hostile = '<img src=x onerror="window.__injected = 1"><script>window.__injected = 2</script>'
    sidecar.api(
        "POST",
        f"/api/v1/conversations/{conversation_id}/messages",
        {"role": "user", "content": hostile},
    )
    page = open_ui(context, sidecar, conversation_id)
    expect(page.locator(MESSAGE)).to_have_text([hostile])
    expect(page.locator("#chat-title")).to_have_text("<b>not bold</b>")
    assert page.locator("#messages img, #messages script, #conversation-list b").count() == 0
    assert page.evaluate("window.__injected") is None


def test_legacy_local_storage_is_imported_once_and_the_user_is_told(
    sidecar: Sidecar, context: BrowserContext
) -> None:
    page = open_ui(context, sidecar)
    storage = orjson.loads((FIXTURES / "navi-export.json").read_bytes())
    page.evaluate(
        "items => { for (const [k, v] of Object.entries(items)) localStorage.setItem(k, v); }",
        storage,
    )
    with page.expect_request("**/api/v1/legacy-import") as posted:
        page.reload()
    envelope = posted.value.post_data_json
    assert isinstance(envelope, dict)
    assert envelope["kind"] == "localstorage-export" and envelope["version"] == 1
    assert envelope["origin"] == sidecar.url
    assert envelope["items"] == storage
    response = posted.value.response()
    assert response is not None and response.status == 200
    expect(page.locator("#notice")).to_contain_text("from this panel's old local storage")
    wait_until(
        lambda: page.evaluate("localStorage.getItem('chatSidecar.legacyExportDone')"),
        message="the export mark",
    )
    answer = response.json()
    assert answer["imported"] is True and answer["created"]
    for conversation_id in answer["created"]:
        stored = sidecar.api("GET", f"/api/v1/conversations/{conversation_id}")
        assert stored["source"]["format"] == "navi"
    expect(page.locator('[data-testid="conversation-item"]').first).to_be_visible()
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if "legacy-import" in r.url else None)
    page.reload()
    page.wait_for_selector('[data-testid="connection"][data-state="connected"]')
    assert posts == [], "the export is offered once"


def test_client_library_delta_rules_and_client_ids(
    sidecar: Sidecar, context: BrowserContext
) -> None:
    page = open_ui(context, sidecar)
    result = page.evaluate(
        """async () => {
        const lib = await import('./client.js');
        const d = (content, offset, text) => lib.applyDelta(content, {offset, text});
        const route = lib.restRoute('conversations.delete', {conversation_id: 'c1', request_id: 'r1'});
        return {
            applied: d('abc', 3, 'def'),
            duplicate: d('abcdef', 3, 'de'),
            overlap: d('abcd', 2, 'cdef'),
            gap: d('abc', 5, 'x'),
            deletePath: route.path,
            sendPath: lib.restRoute('chat.sendMessage', {conversation_id: 'c/1', content: 'x'}).path,
            idOk: /^[A-Za-z0-9_-]{1,128}$/.test(lib.newId('m')),
        };
    }"""
    )
    assert result["applied"] == {"result": "applied", "content": "abcdef"}
    assert result["duplicate"] == {"result": "duplicate", "content": "abcdef"}
    assert result["overlap"] == {"result": "applied", "content": "abcdef"}
    assert result["gap"] == {"result": "gap", "content": "abc"}
    assert result["deletePath"] == "/api/v1/conversations/c1?request_id=r1"
    assert result["sendPath"] == "/api/v1/conversations/c%2F1/actions/send_message"
    assert result["idOk"] is True


def contrast(foreground: str, background: str) -> float:
    """WCAG contrast ratio of two computed ``rgb(...)`` colours."""

    def luminance(colour: str) -> float:
        channels = [int(float(v)) / 255 for v in colour[colour.index("(") + 1 : -1].split(",")[:3]]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_readable_in_light_and_dark(sidecar: Sidecar, context: BrowserContext, scheme: str) -> None:
    conversation_id = new_conversation(sidecar, "colours")
    sidecar.api(
        "POST",
        f"/api/v1/conversations/{conversation_id}/messages",
        {"role": "user", "content": "is this readable?"},
    )
    page = context.new_page()
    page.emulate_media(color_scheme=scheme)
    page.goto(f"{sidecar.ui_url}&c={conversation_id}")
    expect(page.locator(MESSAGE)).to_have_text(["is this readable?"])
    colours = page.evaluate(
        """() => {
            const style = (selector) => getComputedStyle(document.querySelector(selector));
            const body = style('body');
            return {
                fg: body.color, bg: body.backgroundColor,
                sendFg: style('[data-testid="send"]').color,
                sendBg: style('[data-testid="send"]').backgroundColor,
            };
        }"""
    )
    dark_background = contrast(colours["bg"], "rgb(0, 0, 0)") < contrast(
        colours["bg"], "rgb(255, 255, 255)"
    )
    assert dark_background == (scheme == "dark")
    assert contrast(colours["fg"], colours["bg"]) >= 7
    assert contrast(colours["sendFg"], colours["sendBg"]) >= 4.5
