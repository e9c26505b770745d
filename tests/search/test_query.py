"""The query parser, the FTS5 expressions it builds, date bounds and snippet offsets."""

from __future__ import annotations

import sqlite3

from sidecar.search.database import TOKENIZER
from sidecar.search.query import Part, match_expression, parse_bound, parse_query
from sidecar.search.snippets import CLOSE, OPEN, clean_text, plain_snippet


def test_words_phrases_and_prefixes() -> None:
    parts = parse_query('say "exact words" instal* a* "phrase pre"* (x) -- ""')
    assert parts == [
        Part("say", False, False),
        Part("exact words", True, False),
        Part("instal", False, True),
        Part("a", False, False),  # a prefix needs three letters
        Part("phrase pre", True, True),
        Part("(x)", False, False),
    ]


def test_every_expression_is_valid_fts5_whatever_the_input() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute(f"CREATE VIRTUAL TABLE t USING fts5(body, scope, tokenize='{TOKENIZER}')")
    conn.execute("INSERT INTO t VALUES ('an AND b OR c', 'k1')")
    for query in ("AND OR NOT", '"a" "b', "NEAR(a b)", "x:y {z}", "^a -b +c", "a\"b'c"):
        expression = match_expression(parse_query(query), "body", "k1")
        conn.execute("SELECT rowid FROM t WHERE t MATCH ?", (expression,)).fetchall()
    assert parse_query('*"*') == []  # no word at all: nothing to match (search returns no hits)


def test_adjacent_words_also_score_as_a_phrase() -> None:
    parts = parse_query('install python "exact"')
    assert match_expression(parts, "body") == (
        '{body} : (("install" AND "python" AND "exact") OR ("install python" AND "exact"))'
    )


def test_date_bounds() -> None:
    assert parse_bound("2026-03-04", "from", end=False) == "2026-03-04T00:00:00.000Z"
    assert parse_bound("2026-03-04", "to", end=True) == "2026-03-04T23:59:59.999Z"
    assert parse_bound("2026-03-04T10:00+02:00", "to", end=True) == "2026-03-04T08:00:00.000Z"
    # stored times have milliseconds: .1234 starts at .124, ends (inclusive) at .123
    assert parse_bound("2026-03-04T10:00:00.1234Z", "from", end=False) == "2026-03-04T10:00:00.124Z"
    assert parse_bound("2026-03-04T10:00:00.1234Z", "to", end=True) == "2026-03-04T10:00:00.123Z"


def test_snippet_offsets_are_code_points_of_single_words() -> None:
    marked = f"\U0001f600 caf\u00e9 {OPEN}Z\u00fcrich{CLOSE}\n\n {OPEN}exact, words{CLOSE}"
    text, highlights = plain_snippet(marked)
    assert text == "\U0001f600 caf\u00e9 Z\u00fcrich exact, words"
    assert [text[a:b] for a, b in highlights] == ["Z\u00fcrich", "exact", "words"]
    assert highlights[0] == [7, 13]


def test_indexed_text_cannot_forge_markers() -> None:
    cleaned = clean_text(f"a{OPEN}b{CLOSE}c\x00d cafe\u0301")
    assert OPEN not in cleaned and CLOSE not in cleaned and "\x00" not in cleaned
    assert cleaned.endswith("caf\u00e9")  # NFC


def test_the_last_bare_word_is_also_a_prefix_and_ends_the_adjacency_phrase() -> None:
    assert parse_query("say pine") == [
        Part("say", False, False),
        Part("pine", False, True, typed=True),
    ]
    assert parse_query("pine ab") == [Part("pine", False, False), Part("ab", False, False)]
    assert parse_query('pine "apple"')[-1] == Part("apple", True, False)
    assert parse_query("pine*")[-1] == Part("pine", False, True)
    assert match_expression(parse_query("install pyth"), "body") == (
        '{body} : (("install" AND "pyth" *) OR ("install pyth" *))'
    )
