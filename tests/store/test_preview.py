"""The preview reads only a prefix of the content, yet equals the preview of the whole."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sidecar.store.model import PREVIEW_CHARS, preview_of


def whole_preview(content: str) -> str:
    """The definition: every word of the content, one space apart, cut at ``PREVIEW_CHARS``."""
    flat = " ".join(content.split())
    return flat if len(flat) <= PREVIEW_CHARS else flat[: PREVIEW_CHARS - 1] + "…"


words = st.text(alphabet="ab é\u3000\n\t\xa0", max_size=40)
contents = st.lists(st.one_of(words, st.just(" " * 300), st.just("w" * 150)), max_size=30).map(
    "".join
)


@given(contents)
def test_the_preview_of_a_prefix_is_the_preview_of_the_whole(content: str) -> None:
    assert preview_of(content) == whole_preview(content)


def test_a_content_of_blanks_then_words_still_shows_the_words() -> None:
    content = " " * 1000 + "hello world"
    assert preview_of(content) == "hello world"
