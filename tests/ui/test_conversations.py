"""What a user does with conversations and messages (CONTRACT §9): export and import, "New chat"
that reuses an empty one, the read-only trash with Delete forever, the "n of m" switcher,
search that jumps to the message, a tool result shown once, Escape stopping a reply, and each
message's time, model and token usage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from playwright.sync_api import BrowserContext, Page, expect

from .conftest import Sidecar, import_conversation, open_ui, shoot, wait_until

MESSAGE = '[data-testid="message"]'
ASSISTANT = f'{MESSAGE}[data-role="assistant"]'
USER = f'{MESSAGE}[data-role="user"]'
SLOW_ECHO = {"CHAT_SIDECAR_ECHO_DELAY_MS": "50", "CHAT_SIDECAR_ECHO_CHUNK": "8"}


def send(page: Page, text: str) -> None:
    page.get_by_test_id("composer").fill(text)
    page.get_by_test_id("send").click()


def test_export_as_markdown_and_json_then_import_the_json(
    sidecar: Sidecar, context: BrowserContext, tmp_path: Path
) -> None:
    conversation_id = import_conversation(
        sidecar,
        "exp-1",
        "Export me",
        [
            {"id": "exp-q", "role": "user", "content": "What is a *pine*?"},
            {"id": "exp-a", "role": "assistant", "content": "A conifer."},
        ],
    )
    page = open_ui(context, sidecar, conversation_id)
    expect(page.locator(MESSAGE)).to_have_count(2)
    page.get_by_test_id("export-conversation").click()
    with page.expect_download() as markdown:
        page.get_by_test_id("export-markdown").click()
    assert markdown.value.suggested_filename == "Export-me.md"
    text = Path(markdown.value.path()).read_text()
    assert "What is a *pine*?" in text and "A conifer." in text
    page.get_by_test_id("export-conversation").click()
    with page.expect_download() as exported:
        page.get_by_test_id("export-json").click()
    assert exported.value.suggested_filename == "Export-me.json"
    document = json.loads(Path(exported.value.path()).read_text())
    assert [c["id"] for c in document["conversations"]] == [conversation_id]
    # The same file under a new id comes back through Import.
    copy = document["conversations"][0]
    copy["id"] = "exp-copy"
    copy["title"] = "Imported copy"
    for message in copy["messages"]:
        message["conversation_id"] = "exp-copy"
    for turn in copy.get("turns", []):
        turn["conversation_id"] = "exp-copy"
    path = tmp_path / "copy.json"
    path.write_text(json.dumps(document))
    with page.expect_file_chooser() as chooser:
        page.get_by_test_id("import").click()
    chooser.value.set_files(str(path))
    expect(page.get_by_test_id("notice")).to_contain_text("Imported copy.json: 1 created")
    expect(page.locator("#chat-title")).to_have_text("Imported copy")
    expect(page.locator(MESSAGE)).to_have_text(["What is a pine?", "A conifer."])
    assert sidecar.api("GET", "/api/v1/conversations/exp-copy")["message_count"] == 2
    # Not an export: a clear notice, nothing imported.
    bad = tmp_path / "notes.json"
    bad.write_text('{"hello": 1}')
    with page.expect_file_chooser() as chooser:
        page.get_by_test_id("import").click()
    chooser.value.set_files(str(bad))
    expect(page.get_by_test_id("notice")).to_contain_text('no "conversations" in it')


def test_new_chat_three_times_makes_one_empty_chat(
    sidecar: Sidecar, context: BrowserContext
) -> None:
    def blank() -> list[str]:
        items = sidecar.api("GET", "/api/v1/conversations?limit=200")["items"]
        return [c["id"] for c in items if not c["title"] and not c["message_count"]]

    before = set(blank())
    page = open_ui(context, sidecar)
    expect(page.get_by_test_id("empty-state")).to_be_visible()
    for _ in range(3):
        page.get_by_test_id("new-chat").click()
        expect(page.get_by_test_id("composer")).to_be_focused()
    expect(page.get_by_test_id("empty-state")).to_contain_text("Type a message")
    expect(page.get_by_test_id("empty-state")).to_contain_text("chatSidecar.provider")
    # One empty untitled chat in the end: the one there was, or one new one.
    wait_until(lambda: blank(), message="the new chat stored")
    page.wait_for_timeout(300)
    after = set(blank())
    assert after == before if before else len(after) == 1, (before, after)
    shown = page.locator('[data-testid="conversation-item"]', has_text="Untitled")
    expect(shown).to_have_count(len(after))
    # After a reload, New chat opens that empty one again instead of making a second.
    page.reload()
    page.wait_for_selector('[data-testid="connection"][data-state="connected"]')
    page.get_by_test_id("new-chat").click()
    expect(page.locator('[data-testid="conversation-item"] [aria-current="true"]')).to_have_count(1)
    page.wait_for_timeout(300)
    assert set(blank()) == after


def test_trash_is_read_only_and_delete_forever_asks_first(
    sidecar: Sidecar, context: BrowserContext
) -> None:
    conversation_id = import_conversation(
        sidecar, "trash-1", "Throw me away", [{"id": "trash-m", "role": "user", "content": "bye"}]
    )
    page = open_ui(context, sidecar, conversation_id)
    page.get_by_test_id("delete").click()
    expect(page.get_by_test_id("restore")).to_be_visible()
    for test_id in ("rename", "star", "pin", "archive", "delete"):
        expect(page.get_by_test_id(test_id)).to_be_hidden()
    expect(page.get_by_test_id("edit-message")).to_have_count(0)
    expect(page.get_by_test_id("composer")).to_be_disabled()
    expect(page.get_by_test_id("send")).to_be_disabled()
    expect(page.locator("#trash-note")).to_be_visible()
    shoot(page, "trash-read-only")
    page.get_by_test_id("delete-forever").click()
    confirm = page.get_by_test_id("confirm-delete-forever")
    expect(page.get_by_test_id("notice")).to_contain_text("cannot be undone")
    assert sidecar.api("GET", f"/api/v1/conversations/{conversation_id}")["deleted_at"]
    confirm.click()
    expect(page.get_by_test_id("notice")).to_contain_text("Deleted forever")
    expect(page.locator("#chat-title")).to_have_text("No conversation open")
    gone = requests.get(
        f"{sidecar.url}/api/v1/conversations/{conversation_id}",
        headers={"Authorization": f"Bearer {sidecar.token}"},
        timeout=10,
    )
    assert gone.status_code == 404


def test_switcher_moves_between_versions_of_a_message(
    sidecar: Sidecar, context: BrowserContext
) -> None:
    page = open_ui(context, sidecar)
    page.get_by_test_id("new-chat").click()
    send(page, "first wording")
    expect(page.locator(ASSISTANT)).to_have_attribute("data-status", "complete")
    page.get_by_test_id("edit-message").click()
    send(page, "second wording")
    expect(page.locator(ASSISTANT)).to_have_text(["second wording"])
    expect(page.locator(ASSISTANT)).to_have_attribute("data-status", "complete")
    user_row = page.locator(f"li.msg:has({USER})")
    switcher = user_row.get_by_test_id("branch-switcher")
    expect(switcher).to_contain_text("2 of 2")
    switcher.get_by_role("button", name="Previous version").click()
    expect(page.locator(USER)).to_have_text(["first wording"])
    expect(page.locator(ASSISTANT)).to_have_text(["first wording"])
    expect(page.locator(f"li.msg:has({USER})").get_by_test_id("branch-switcher")).to_contain_text(
        "1 of 2"
    )
    page.locator(f"li.msg:has({USER})").get_by_role("button", name="Next version").click()
    expect(page.locator(USER)).to_have_text(["second wording"])
    # Regenerate: the reply written again is a second version of it, with its own switcher.
    page.get_by_test_id("regenerate").click()
    expect(page.locator(f"li.msg:has({USER})").get_by_test_id("branch-switcher")).to_contain_text(
        "3 of 3"
    )
    expect(page.locator(ASSISTANT)).to_have_attribute("data-status", "complete")
    shoot(page, "switcher")


def test_search_one_hit_per_message_with_role_and_the_jump_highlights_it(
    sidecar: Sidecar, context: BrowserContext
) -> None:
    messages = [
        {"id": f"deep-{i}", "role": "user" if i % 2 == 0 else "assistant", "content": f"filler {i}"}
        for i in range(120)
    ]
    messages[4]["content"] = "the kumquatberry question"
    import_conversation(sidecar, "deep-search", "Fruit archive", messages, archived=True)
    wait_until(
        lambda: sidecar.api("GET", "/api/v1/search?q=kumquatberry")["items"], message="indexed"
    )
    page = open_ui(context, sidecar)
    page.get_by_test_id("search").fill("kumquat")
    results = page.locator('[data-testid="search-result"]')
    expect(results).to_have_count(1)
    expect(results.first.locator(".title")).to_have_text("Fruit archive")
    expect(results.first.get_by_test_id("search-role")).to_have_text("You")
    results.first.locator("button").click()
    hit = page.locator('li.msg.hit [data-testid="message"]')
    expect(hit).to_have_text("the kumquatberry question")
    expect(hit).to_be_focused()
    expect(hit).to_be_in_viewport()
    shoot(page, "search-jump")


def test_a_tool_result_is_shown_once_in_its_card(sidecar: Sidecar, context: BrowserContext) -> None:
    page = open_ui(context, sidecar)
    page.get_by_test_id("new-chat").click()
    send(page, "/tool clock {}")
    page.get_by_test_id("approve-tool").click()
    expect(page.locator(ASSISTANT).last).to_have_attribute("data-status", "complete")
    card = page.get_by_test_id("tool-card")
    expect(card.locator(".result")).to_contain_text('"now"')
    expect(page.locator(f'{MESSAGE}[data-role="tool"]')).to_be_hidden()
    visible_results = page.locator("li.msg:visible", has_text='"now"')
    # Once, in the card: no raw tool message beside it.
    expect(visible_results).to_have_count(1)
    expect(visible_results.get_by_test_id("tool-card")).to_have_count(1)


@pytest.mark.parametrize("sidecar_env", [SLOW_ECHO], indirect=True)
def test_escape_stops_a_streaming_reply_and_retry_keeps_it_as_a_version(
    own_sidecar: Sidecar, context: BrowserContext
) -> None:
    page = open_ui(context, own_sidecar)
    page.get_by_test_id("new-chat").click()
    send(page, " ".join(f"word{i}" for i in range(80)))
    reply = page.locator(ASSISTANT)
    expect(reply).to_have_attribute("data-status", "streaming")
    page.keyboard.press("Escape")
    expect(reply).to_have_attribute("data-status", "cancelled")
    # Retry: the new reply takes the stopped one's place; the stopped one is its other version.
    page.get_by_test_id("retry").click()
    expect(reply).to_have_attribute("data-status", "complete", timeout=15_000)
    row = page.locator(f"li.msg:has({ASSISTANT})")
    expect(row.get_by_test_id("branch-switcher")).to_contain_text("2 of 2")
    row.get_by_role("button", name="Previous version").click()
    expect(reply).to_have_attribute("data-status", "cancelled")
    expect(
        page.locator(f"li.msg:has({ASSISTANT})").get_by_test_id("branch-switcher")
    ).to_contain_text("1 of 2")


def test_each_message_has_its_time_model_and_usage(
    sidecar: Sidecar, context: BrowserContext
) -> None:
    page = open_ui(context, sidecar)
    page.get_by_test_id("new-chat").click()
    send(page, "count these four words")
    expect(page.locator(ASSISTANT)).to_have_attribute("data-status", "complete")
    reply_row = page.locator(f"li.msg:has({ASSISTANT})")
    time = reply_row.get_by_test_id("message-time")
    expect(time).to_have_text("just now")
    assert (time.get_attribute("datetime") or "").endswith("Z")
    assert time.get_attribute("title")
    expect(reply_row.get_by_test_id("message-usage")).to_contain_text("echo")
    expect(reply_row.get_by_test_id("message-usage")).to_contain_text("4 out tokens")
    expect(page.get_by_test_id("conversation-usage")).to_contain_text("in total")
