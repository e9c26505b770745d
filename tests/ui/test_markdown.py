"""Chat text as Markdown (CONTRACT §9): each element rendered, nothing from the data surviving as
markup, code blocks highlighted with a label and a copy button, in light and dark, at a side bar's
width and a desktop's. Screenshots: ``markdown-<width>-<scheme>.png`` in the artifacts folder.

highlight.js is its own file, loaded after the first render: the tests that hold its request show
the conversation rendered without it, then coloured when it arrives (also mid-stream), its
output as safe as the rest."""

from __future__ import annotations

import pytest
from playwright.sync_api import BrowserContext, Page, Route, expect

from .conftest import Sidecar, import_conversation, open_ui, shoot

MESSAGE = '[data-testid="message"]'

EVERYTHING = """# Heading one
## Heading two
### Heading three

A paragraph with **bold**, *emphasis*, ~~struck~~, `inline code` and a [link](https://example.com/docs).
A second line of the same paragraph.

- first bullet
- second bullet
  - nested bullet

1. step one
2. step two

> a quoted line

| name | value |
| ---- | ----: |
| pine | 3 |
| oak  | 12 |

```python
def greet(name: str) -> str:
    # say hello
    return f"hello {name}"
```

```
plain block, no language
```

---

Last paragraph."""

PYTHON_CODE = 'def greet(name: str) -> str:\n    # say hello\n    return f"hello {name}"\n'

#: The echo provider slowed down: a reply streams for seconds.
SLOW_ECHO = {"CHAT_SIDECAR_ECHO_DELAY_MS": "50", "CHAT_SIDECAR_ECHO_CHUNK": "8"}

HOSTILE = [
    '<img src=x onerror="window.__injected = 1">',
    "<script>window.__injected = 2</script>",
    '<svg onload="window.__injected = 3"><circle r="5"/></svg>',
    "[click me](javascript:window.__injected=4)",
    "[shout](JAVASCRIPT:window.__injected=5)",
    "<javascript:window.__injected=6>",
    "[data](data:text/html,<script>window.__injected=7</script>)",
    '<a href="javascript:window.__injected=8">raw anchor</a>',
    '<iframe src="javascript:window.__injected=9"></iframe>',
    '[title](https://example.com "x\\" onmouseover=\\"window.__injected=10")',
    "&lt;b&gt;entities stay text&lt;/b&gt; &amp; &#60;i&#62;",
    "![remote image](https://example.com/x.png)",
    '<div style="position:fixed;inset:0">overlay</div>',
]


@pytest.fixture(scope="module")
def showcase(sidecar: Sidecar) -> str:
    return import_conversation(
        sidecar,
        "md-showcase",
        "Markdown showcase",
        [
            {"id": "md-q", "role": "user", "content": "Show me **everything** Markdown can do."},
            {"id": "md-a", "role": "assistant", "content": EVERYTHING},
            {"id": "md-ol", "role": "assistant", "content": "999. a list that starts late"},
        ],
    )


def test_each_markdown_element_renders(
    sidecar: Sidecar, context: BrowserContext, showcase: str
) -> None:
    page = context.new_page()
    page.goto(f"{sidecar.ui_url}&c={showcase}")
    body = page.locator(f'{MESSAGE}[data-message-id="md-a"] [data-testid="message-body"]')
    expect(body.locator("h1")).to_have_text("Heading one")
    expect(body.locator("h2")).to_have_text("Heading two")
    expect(body.locator("h3")).to_have_text("Heading three")
    expect(body.locator("strong")).to_have_text("bold")
    expect(body.locator("em")).to_have_text("emphasis")
    expect(body.locator("s, del")).to_have_text("struck")
    expect(body.locator(":scope > ul > li")).to_have_count(2)
    expect(body.locator("ul ul > li")).to_have_text(["nested bullet"])
    expect(body.locator("ol > li")).to_have_text(["step one", "step two"])
    expect(body.locator("blockquote")).to_have_text("a quoted line")
    expect(body.locator("table th")).to_have_text(["name", "value"])
    expect(body.locator("table td")).to_have_text(["pine", "3", "oak", "12"])
    expect(body.locator("hr")).to_have_count(1)
    late = page.locator('[data-message-id="md-ol"] ol')
    expect(late).to_have_attribute("start", "999")
    link = body.locator("a")
    expect(link).to_have_attribute("href", "https://example.com/docs")
    expect(link).to_have_attribute("rel", "noopener noreferrer")
    # Code: monospaced, highlighted, labelled, one copy button per block.
    blocks = body.locator(".code-block")
    expect(blocks).to_have_count(2)
    expect(blocks.first).to_have_attribute("data-lang", "python")
    expect(blocks.nth(1)).to_have_attribute("data-lang", "text")
    expect(blocks.first.locator("code")).to_have_text(PYTHON_CODE)
    expect(blocks.first.locator(".hljs-comment")).to_have_count(1)  # once highlight.js is there
    assert blocks.first.locator(".hljs-keyword").count() >= 2
    expect(body.locator('[data-testid="copy-code"]')).to_have_count(2)
    fonts = page.evaluate(
        """() => [...document.querySelectorAll('[data-message-id="md-a"] code')]
              .map((node) => getComputedStyle(node).fontFamily)"""
    )
    assert fonts and all("mono" in f.lower() or "consolas" in f.lower() for f in fonts), fonts
    # At a side bar's width, a small window's and a desktop's, light and dark: nothing wider than
    # the window (long code scrolls inside its block), and a screenshot of each.
    for width in (280, 320, 1280):
        for scheme in ("light", "dark"):
            page.set_viewport_size({"width": width, "height": 900})
            page.emulate_media(color_scheme=scheme)
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            page.locator(f'{MESSAGE}[data-message-id="md-a"]').scroll_into_view_if_needed()
            shoot(page, f"markdown-{width}-{scheme}")


def test_markup_in_the_data_never_survives(sidecar: Sidecar, context: BrowserContext) -> None:
    conversation_id = import_conversation(
        sidecar,
        "md-hostile",
        "<b>hostile</b> payloads",
        [{"id": f"h{i}", "role": "assistant", "content": text} for i, text in enumerate(HOSTILE)],
    )
    page = open_ui(context, sidecar, conversation_id)
    expect(page.locator(MESSAGE)).to_have_count(len(HOSTILE))
    messages = page.locator("#messages")
    assert messages.locator("img, script, svg, iframe, object, embed, style").count() == 0
    assert messages.locator("[data-testid='message-body'] [style]").count() == 0
    attributes = page.evaluate(
        """() => [...document.querySelectorAll('#messages *')].flatMap((node) =>
              [...node.attributes].map((a) => a.name).filter((name) => name.startsWith('on')))"""
    )
    assert attributes == []
    hrefs = page.evaluate(
        "() => [...document.querySelectorAll('#messages a')].map((a) => a.getAttribute('href'))"
    )
    assert all(h.startswith(("https:", "http:", "mailto:")) for h in hrefs), hrefs
    # Raw HTML is shown as the text it is; entities are decoded to text, never to markup.
    expect(page.locator(f'{MESSAGE}[data-message-id="h0"]')).to_have_text(HOSTILE[0])
    expect(page.locator(f'{MESSAGE}[data-message-id="h10"]')).to_have_text(
        "<b>entities stay text</b> & <i>"
    )
    assert messages.locator("[data-message-id='h10'] b, [data-message-id='h10'] i").count() == 0
    # Clicking what was a javascript: link runs nothing.
    for index in (3, 4, 7):
        row = page.locator(f'{MESSAGE}[data-message-id="h{index}"]')
        links = row.locator("a")
        if links.count():
            links.first.click()
    page.wait_for_timeout(200)
    assert page.evaluate("window.__injected") is None
    expect(page.locator("#chat-title")).to_have_text("<b>hostile</b> payloads")
    shoot(page, "markdown-hostile")


def test_copy_buttons_put_the_text_on_the_clipboard(
    sidecar: Sidecar, context: BrowserContext, showcase: str
) -> None:
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = open_ui(context, sidecar, showcase)
    reply = page.locator('li.msg:has([data-message-id="md-a"])')
    reply.locator('[data-testid="copy-code"]').first.click()
    expect(reply.locator('[data-testid="copy-code"]').first).to_have_class("copy-code copied")
    assert page.evaluate("navigator.clipboard.readText()") == PYTHON_CODE
    reply.get_by_test_id("copy-message").click()
    assert page.evaluate("navigator.clipboard.readText()") == EVERYTHING
    expect(page.get_by_test_id("notice")).to_be_hidden()


def test_a_link_opens_outside_the_ui(
    sidecar: Sidecar, context: BrowserContext, showcase: str
) -> None:
    page = open_ui(context, sidecar, showcase)
    with context.expect_page() as opened:
        page.locator('[data-message-id="md-a"] a').click()
    assert opened.value != page
    opened.value.close()
    assert page.url.startswith(sidecar.url + "/ui/")


def hold_highlighter(page: Page) -> list[Route]:
    """Hold back the page's request for highlight.js until the test continues it."""
    held: list[Route] = []
    page.route("**/ui/highlight.js", lambda route: held.append(route))
    return held


def requested(page: Page, held: list[Route]) -> Route:
    """The held request, once the page has made it (the route handler runs while Playwright
    waits, so wait in the page, not in Python)."""
    for _ in range(200):
        if held:
            return held[0]
        page.wait_for_timeout(50)
    raise AssertionError("the page never asked for highlight.js")


def test_the_first_render_does_not_wait_for_highlight_js(
    sidecar: Sidecar, context: BrowserContext, showcase: str
) -> None:
    page = context.new_page()
    held = hold_highlighter(page)
    page.goto(f"{sidecar.ui_url}&c={showcase}")
    body = page.locator(f'{MESSAGE}[data-message-id="md-a"] [data-testid="message-body"]')
    expect(body.locator("h1")).to_have_text("Heading one")
    route = requested(page, held)
    # Shown while highlight.js is still on its way: the code as plain text, labelled, copyable.
    blocks = body.locator(".code-block")
    expect(blocks.locator("code")).to_have_text([PYTHON_CODE, "plain block, no language\n"])
    expect(blocks.first).to_have_attribute("data-lang", "python")
    expect(body.locator('[data-testid="copy-code"]')).to_have_count(2)
    assert body.locator("code.hljs, code span").count() == 0
    route.continue_()
    # Then coloured in place, as a page that had it from the start shows it.
    expect(body.locator("code.hljs")).to_have_count(2)
    expect(blocks.first.locator(".hljs-comment")).to_have_text("# say hello")
    expect(blocks.locator("code")).to_have_text([PYTHON_CODE, "plain block, no language\n"])
    assert page.evaluate("window.__cspViolations") == []


def test_markup_in_code_stays_text_when_coloured_late(
    sidecar: Sidecar, context: BrowserContext
) -> None:
    code = "\n".join(HOSTILE)
    languages = ["html", "javascript", "markdown", "nosuchlanguage"]
    conversation_id = import_conversation(
        sidecar,
        "md-hostile-code",
        "hostile code",
        [
            {
                "id": f"hc{i}",
                "role": "assistant",
                "content": f"```{lang}\n{code}\n</code></pre>\n```",
            }
            for i, lang in enumerate(languages)
        ],
    )
    page = context.new_page()
    held = hold_highlighter(page)
    page.goto(f"{sidecar.ui_url}&c={conversation_id}")
    codes = page.locator("#messages .code-block code")
    expected = [f"{code}\n</code></pre>\n"] * len(languages)
    expect(codes).to_have_text(expected)
    requested(page, held).continue_()
    expect(page.locator("#messages code.hljs")).to_have_count(len(languages))
    expect(codes.first.locator(".hljs-tag").first).to_be_attached()
    # Coloured, and still exactly the text it was: nothing became an element but the colours.
    expect(codes).to_have_text(expected)
    tags = page.evaluate("[...document.querySelectorAll('#messages code *')].map((n) => n.tagName)")
    assert tags and set(tags) == {"SPAN"}, set(tags)
    attributes = page.evaluate(
        """[...document.querySelectorAll('#messages code *')].flatMap((node) =>
              [...node.attributes].map((a) => a.name))"""
    )
    assert set(attributes) == {"class"}, set(attributes)
    page.wait_for_timeout(200)
    assert page.evaluate("window.__injected") is None


@pytest.mark.parametrize("sidecar_env", [SLOW_ECHO], indirect=True)
def test_a_streaming_reply_is_coloured_when_highlight_js_arrives_and_stays_so(
    own_sidecar: Sidecar, context: BrowserContext
) -> None:
    page = context.new_page()
    held = hold_highlighter(page)
    page.goto(own_sidecar.ui_url)
    page.get_by_test_id("new-chat").click()
    route = requested(page, held)
    # One open code block: the growing tail, rendered again on every frame of the stream.
    lines = [f"print('line {i:03d}')" for i in range(40)]
    text = "```python\n" + "\n".join(lines) + "\n```"  # ~750 chars: ~4.7 s of streaming
    page.get_by_test_id("composer").fill(text)
    page.get_by_test_id("send").click()
    reply = page.locator(f'{MESSAGE}[data-role="assistant"]')
    code = reply.locator(".code-block code")
    expect(code).to_contain_text("print('line 003')")
    assert code.locator("span").count() == 0 and reply.get_attribute("data-status") == "streaming"
    route.continue_()
    expect(code.locator(".hljs-string").nth(3)).to_be_attached()
    strings = code.locator(".hljs-string").count()
    # Rendered again as it grows: coloured every time.
    expect(code.locator(".hljs-string").nth(strings + 2)).to_be_attached()
    assert reply.get_attribute("data-status") == "streaming", "the reply ended before the check"
    expect(reply).to_have_attribute("data-status", "complete", timeout=15_000)
    expect(code.locator(".hljs-string")).to_have_count(len(lines))
    expect(code).to_have_text("\n".join(lines) + "\n")
