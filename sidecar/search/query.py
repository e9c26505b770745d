"""The user's search syntax, checked and turned into safe FTS5 ``MATCH`` expressions.

Syntax (documented in ``docs/decisions.md``, "Search"): words (all must match), ``"exact
phrases"``, and ``prefix*`` (the last word of a phrase too: ``"exact wor"*``). The query's last
bare word is also a prefix (it may be the word being typed: ``pine`` finds ``pineapple``), unless
the index finds it common as a whole word (see :attr:`Part.typed`). Everything else is
text: ``AND``, ``OR``, ``NOT``, ``NEAR``, parentheses, colons and ``-`` have no meaning, so no
input can produce an FTS5 syntax error. Every word and phrase reaches SQLite as a double-quoted
FTS5 string (quotes doubled), which SQLite's own tokenizer then splits, so the words a query
matches are exactly the words the index holds (case and accents folded the same way).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from ..store.errors import ValidationFailed
from ..store.ids import check_id
from ..store.model import ROLES
from ..store.timeutil import format_iso

MAX_QUERY_CHARS: Final = 1000
MAX_PARTS: Final = 32
MAX_LIMIT: Final = 100
#: A prefix needs this many letters: shorter ones would expand to a large part of the vocabulary
#: (slow, and useless as a search); ``a*`` searches for the word ``a``.
MIN_PREFIX: Final = 3

#: A word as the tokenizer sees it, near enough to decide what a part holds.
WORD_RUN = re.compile(r"[^\W_]+")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_TIMESTAMP = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}:[0-9]{2})$"
)
#: What ``from`` and ``to`` accept (also the OpenAPI pattern): a date or an RFC 3339 timestamp.
DATE_OR_TIMESTAMP_PATTERN: Final = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"(T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}:[0-9]{2}))?$"
)


@dataclass(frozen=True, slots=True)
class Part:
    """One thing the query asks for: a word or a quoted phrase, maybe a prefix."""

    text: str
    phrase: bool
    prefix: bool
    #: A prefix only because it is the query's last bare word (maybe still being typed): the
    #: search turns it back into the exact word when that word is common, so ``... the`` does
    #: not expand to every word starting with "the".
    typed: bool = False

    @property
    def single_word(self) -> bool:
        """A bare word of one token (the only kind that may be dropped as too common)."""
        return not self.phrase and not self.prefix and WORD_RUN.fullmatch(self.text) is not None

    def fts(self) -> str:
        """This part as an FTS5 string: quoted, so nothing in it is syntax."""
        quoted = '"' + self.text.replace('"', '""') + '"'
        return quoted + " *" if self.prefix else quoted


@dataclass(frozen=True, slots=True)
class Filters:
    """Which hits count (``None``: any). Dates are normalised timestamps, bounds included."""

    conversation_id: str | None = None
    role: str | None = None
    archived: bool | None = None
    deleted: bool | None = False
    created_from: str | None = None
    created_to: str | None = None


def normalize(text: str) -> str:
    """NFC, so a query and the indexed text compose accents the same way."""
    return unicodedata.normalize("NFC", text)


def _has_word(text: str) -> bool:
    return WORD_RUN.search(text) is not None


def _prefix_allowed(text: str) -> bool:
    runs = WORD_RUN.findall(text)
    return bool(runs) and len(runs[-1]) >= MIN_PREFIX


def parse_query(q: object) -> list[Part]:
    """The parts of a user query. Raises :class:`ValidationFailed` naming ``q``.

    A query with text but no word in it (``"!!!"``) is valid and has no parts: it matches
    nothing.
    """
    if not isinstance(q, str):
        raise ValidationFailed("q", "q must be a string")
    if len(q) > MAX_QUERY_CHARS:
        raise ValidationFailed("q", f"q must be at most {MAX_QUERY_CHARS} characters")
    if not q.strip():
        raise ValidationFailed("q", "q must not be empty")
    text = normalize(q).replace("\x00", " ")  # SQLite's tokenizer would stop at NUL
    parts: list[Part] = []
    position = 0
    while position < len(text):
        char = text[position]
        if char.isspace():
            position += 1
            continue
        if char == '"':
            end = text.find('"', position + 1)
            end = len(text) if end < 0 else end
            inner = text[position + 1 : end]
            position = end + 1
            prefix = position < len(text) and text[position] == "*"
            while position < len(text) and text[position] == "*":
                position += 1
            if _has_word(inner):
                parts.append(Part(inner, True, prefix and _prefix_allowed(inner)))
            continue
        end = position
        while end < len(text) and not text[end].isspace() and text[end] != '"':
            end += 1
        word = text[position:end]
        position = end
        prefix = word.endswith("*")
        word = word.rstrip("*")
        if _has_word(word):
            parts.append(Part(word, False, prefix and _prefix_allowed(word)))
    if len(parts) > MAX_PARTS:
        raise ValidationFailed("q", f"q may have at most {MAX_PARTS} words and phrases")
    if parts and parts[-1].single_word and len(parts[-1].text) >= MIN_PREFIX:
        parts[-1] = Part(parts[-1].text, False, True, typed=True)
    return parts


def match_expression(parts: list[Part], column: str | None, scope: str | None = None) -> str:
    """An FTS5 expression: every part must match; adjacent bare words also score as a phrase.

    ``("a" AND "b") OR ("a b")`` matches the same rows as ``"a" AND "b"``, but a row holding the
    words side by side matches both branches and so scores higher (bm25 sums over phrases).
    ``column`` restricts matching to that column; ``scope`` adds a token the row must carry.
    """
    required = " AND ".join(part.fts() for part in parts)
    # The word being typed (always the last part) joins the phrase, as its prefix end.
    bare = [part for part in parts if part.single_word or part.typed]
    expression = required
    if len(bare) >= 2:
        others = [part.fts() for part in parts if not (part.single_word or part.typed)]
        boost = Part(" ".join(part.text for part in bare), True, parts[-1].typed).fts()
        expression = f"({required}) OR ({' AND '.join([boost, *others])})"
    if column is not None:
        expression = f"{{{column}}} : ({expression})"
    if scope is not None:
        expression = f'{expression} AND scope : "{scope}"'
    return expression


# ---------------------------------------------------------------------------- filters


def check_limit(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_LIMIT:
        raise ValidationFailed("limit", f"limit must be an integer from 1 to {MAX_LIMIT}")
    return value


def _check_flag(value: object, field: str) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise ValidationFailed(field, f"{field} must be true, false or null (any)")
    return value


def parse_bound(value: object, field: str, *, end: bool) -> str | None:
    """A date (its whole day: the start for ``from``, the last millisecond for ``to``) or an
    RFC 3339 timestamp, as the store's own timestamp format (so strings compare as times)."""
    if value is None:
        return None
    if not isinstance(value, str) or not (_DATE.fullmatch(value) or _TIMESTAMP.fullmatch(value)):
        raise ValidationFailed(field, f"{field} must be a date (YYYY-MM-DD) or an RFC 3339 time")
    try:
        if _DATE.fullmatch(value):
            moment = datetime.fromisoformat(value).replace(tzinfo=UTC)
            if end:
                moment += timedelta(days=1) - timedelta(milliseconds=1)
        else:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if not end and moment.microsecond % 1000:
                # Stored times have milliseconds: the first one not before ``from``.
                moment += timedelta(microseconds=1000 - moment.microsecond % 1000)
    except (ValueError, OverflowError):
        raise ValidationFailed(field, f"{field} is not a real date or time") from None
    return format_iso(moment)


def check_filters(
    *,
    conversation_id: object = None,
    role: object = None,
    archived: object = None,
    deleted: object = False,
    created_from: object = None,
    created_to: object = None,
) -> Filters:
    """Validate the filters; each error names its wire field (``from``/``to`` for the dates)."""
    if conversation_id is not None:
        check_id(conversation_id, "conversation_id")
    if role is not None and role not in ROLES:
        raise ValidationFailed("role", f"role must be one of {', '.join(ROLES)}")
    low = parse_bound(created_from, "from", end=False)
    high = parse_bound(created_to, "to", end=True)
    if low is not None and high is not None and high < low:
        raise ValidationFailed("to", "to is before from")
    return Filters(
        conversation_id=conversation_id if isinstance(conversation_id, str) else None,
        role=role if isinstance(role, str) else None,
        archived=_check_flag(archived, "archived"),
        deleted=_check_flag(deleted, "deleted"),
        created_from=low,
        created_to=high,
    )
