"""Plain-text snippets with highlight ranges, and the text cleaning that makes them exact.

SQLite's ``snippet()`` marks each matched token with two marker characters; we strip them and
record where they were, so the client gets plain text plus ``[start, end)`` ranges and never any
markup it would have to trust (a webview renders the text, not HTML). Ranges count Unicode code
points (Python ``str`` indices; JavaScript users convert from UTF-16 with ``Array.from``).

The markers are Unicode noncharacters U+FDD0 / U+FDD1, which no text should carry; indexed text
has them (and NUL, which SQLite's tokenizer stops at) replaced, so a marker in a snippet is always
ours.
"""

from __future__ import annotations

import unicodedata
from typing import Final

OPEN: Final = "\ufdd0"
CLOSE: Final = "\ufdd1"
ELLIPSIS: Final = "…"
_REPLACEMENTS: Final = {0: " ", ord(OPEN): "\ufffd", ord(CLOSE): "\ufffd"}


def clean_text(text: str) -> str:
    """The text as indexed: NFC, valid UTF-8, no NUL and no marker characters."""
    if not text.isascii():
        text = unicodedata.normalize("NFC", text.encode("utf-8", "replace").decode("utf-8"))
    return (
        text.translate(_REPLACEMENTS) if ("\x00" in text or OPEN in text or CLOSE in text) else text
    )


def is_word_char(char: str) -> bool:
    """Letters, digits, combining marks and private-use characters: what SQLite's unicode61
    tokenizer keeps inside a word."""
    return char.isalnum() or unicodedata.category(char) in ("Mn", "Mc", "Me", "Co")


def plain_snippet(marked: str) -> tuple[str, list[list[int]]]:
    """Strip the markers from ``marked``, collapse whitespace runs to one space, and return the
    text with the ``[start, end)`` code-point ranges of the words the markers enclosed.

    SQLite marks a matched phrase as one span (``[exact, words]``); we report each word of it
    on its own, so every range is exactly one matched word, without the spaces or punctuation
    between.
    """
    out: list[str] = []
    highlights: list[list[int]] = []
    inside = False
    word_start: int | None = None
    space = False

    def close_word() -> None:
        nonlocal word_start
        if word_start is not None and len(out) > word_start:
            highlights.append([word_start, len(out)])
        word_start = None

    for char in marked:
        if char == OPEN:
            inside = True
        elif char == CLOSE:
            close_word()
            inside = False
        elif char.isspace():
            close_word()
            space = True
        else:
            if space and out:
                out.append(" ")
            space = False
            if inside and is_word_char(char):
                if word_start is None:
                    word_start = len(out)
            else:
                close_word()
            out.append(char)
    return "".join(out), highlights
