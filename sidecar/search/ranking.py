"""How search finds and ranks hits: message hits in a window of the newest matches, title hits,
and their snippets. SQL over the tables :mod:`.database` describes; runs on reader threads.

:func:`.database.search` decides which words to keep and how to order, then calls these.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any, Final

from .query import WORD_RUN, Filters, Part, match_expression
from .snippets import CLOSE, ELLIPSIS, OPEN, plain_snippet

#: Queries rank at most this many of the most recently indexed matching messages: bm25 over every
#: match of a word found in half a million messages would cost far more than 50 ms.
RANK_WINDOW: Final = 5_000
SNIPPET_TOKENS: Final = 24
#: A title hit's bm25 score counts this many times a message hit's.
TITLE_WEIGHT: Final = 2.0

#: Whether a word is common enough to drop (or, for the word being typed, to keep whole).
CommonCheck = Callable[[sqlite3.Connection, Part], bool]
#: One hit: (score, tie-break, table, rowid, the item as the answer shows it).
Hit = tuple[float, int, str, int, dict[str, Any]]


def _conversation_filters(filters: Filters, alias: str) -> tuple[list[str], list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if filters.archived is not None:
        clauses.append(f"{alias}.archived = ?")
        params.append(int(filters.archived))
    if filters.deleted is not None:
        clauses.append(f"{alias}.deleted = ?")
        params.append(int(filters.deleted))
    return clauses, params


def _date_filters(filters: Filters, column: str) -> tuple[list[str], list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if filters.created_from is not None:
        clauses.append(f"{column} >= ?")
        params.append(filters.created_from)
    if filters.created_to is not None:
        clauses.append(f"{column} <= ?")
        params.append(filters.created_to)
    return clauses, params


def whole_word(part: Part) -> Part:
    """The whole word a typed prefix stands for."""
    return Part(part.text, False, False)


def newest_first(conn: sqlite3.Connection, parts: list[Part], common: CommonCheck) -> bool:
    """Whether to rank message hits newest first instead of by bm25.

    FTS5's bm25 counts, for each phrase of the query, every row it matches (its idf), which for
    a phrase holding a very common word means walking that word's whole posting list. So: when
    every word left is common (``the``; bm25 would say next to nothing anyway), or a quoted
    phrase holds a common word (``"what the"``: every hit is an exact match, recency orders them
    well), hits come newest first.
    """
    every_word_common = True
    for part in parts:
        words = WORD_RUN.findall(part.text)
        flags = [common(conn, Part(word, False, False)) for word in words] if words else [False]
        if part.phrase and not part.prefix and any(flags):
            return True
        every_word_common = every_word_common and not part.prefix and all(flags)
    return every_word_common


def message_hits(
    conn: sqlite3.Connection,
    parts: list[Part],
    filters: Filters,
    limit: int,
    key: int | None,
    newest_first: bool,
) -> list[Hit]:
    expression = match_expression(parts, "body", None if key is None else f"k{key}")
    clauses, params = _conversation_filters(filters, "c")
    dates, date_params = _date_filters(filters, "d.created_at")
    clauses += dates
    params += date_params
    if filters.role is not None:
        clauses.append("d.role = ?")
        params.append(filters.role)
    where = "".join(f" AND {clause}" for clause in clauses)
    joins = "FROM messages JOIN msgs d ON d.row = messages.rowid JOIN convs c ON c.key = d.conv"
    if newest_first:
        rows = conn.execute(
            f"SELECT 0.0, messages.rowid, c.id, d.message_id, d.created_at, d.role, c.title"
            f" {joins}"
            f" WHERE messages MATCH ?{where} ORDER BY messages.rowid DESC LIMIT ?",
            [expression, *params, limit],
        ).fetchall()
        return _message_rows(rows)
    # The window's edge, and the best candidates in it, from the FTS table alone (no joins):
    # then only the candidates are looked up and filtered. Filters that drop too many of them
    # (a rare role, a narrow date range) fall back to ranking the filtered window in one join.
    edge = conn.execute(
        "SELECT rowid FROM messages WHERE messages MATCH ? ORDER BY rowid DESC LIMIT 1 OFFSET ?",
        (expression, RANK_WINDOW - 1),
    ).fetchone()
    low = 0 if edge is None else int(edge[0])
    wanted = limit * 3 + 10
    candidates = conn.execute(
        "SELECT bm25(messages, 1.0, 0.0) AS score, rowid FROM messages"
        " WHERE messages MATCH ? AND rowid >= ? ORDER BY score, rowid DESC LIMIT ?",
        (expression, low, wanted),
    ).fetchall()
    scores = {int(rowid): float(score) for score, rowid in candidates}
    marks = ", ".join("?" * len(scores))
    found = conn.execute(
        f"SELECT d.row, c.id, d.message_id, d.created_at, d.role, c.title FROM msgs d"
        f" JOIN convs c ON c.key = d.conv WHERE d.row IN ({marks}){where}",
        [*scores, *params],
    ).fetchall()
    if len(found) >= limit or len(candidates) < wanted:
        rows = [(scores[int(row[0])], *row) for row in found]
        rows.sort(key=lambda row: (row[0], -row[1]))
        return _message_rows(rows[:limit])
    rows = conn.execute(
        f"SELECT bm25(messages, 1.0, 0.0) AS score, messages.rowid, c.id, d.message_id,"
        f" d.created_at, d.role, c.title {joins} WHERE messages MATCH ? AND messages.rowid >= ?{where}"
        " ORDER BY score, messages.rowid DESC LIMIT ?",
        [expression, low, *params, limit],
    ).fetchall()
    return _message_rows(rows)


def _message_rows(rows: list[Any]) -> list[Hit]:
    return [
        (
            float(score),
            int(rowid),
            "messages",
            int(rowid),
            {
                "conversation_id": cid,
                "message_id": mid,
                "created_at": created_at,
                "role": role,
                "conversation_title": title,
            },
        )
        for score, rowid, cid, mid, created_at, role, title in rows
    ]


def title_hits(
    conn: sqlite3.Connection, parts: list[Part], filters: Filters, limit: int, key: int | None
) -> list[Hit]:
    clauses, params = _conversation_filters(filters, "c")
    dates, date_params = _date_filters(filters, "c.created_at")
    clauses += dates
    params += date_params
    if key is not None:
        clauses.append("titles.rowid = ?")
        params.append(key)
    where = "".join(f" AND {clause}" for clause in clauses)
    rows = conn.execute(
        "SELECT bm25(titles) AS score, titles.rowid, c.id, c.created_at, c.title"
        f" FROM titles JOIN convs c ON c.key = titles.rowid WHERE titles MATCH ?{where}"
        " ORDER BY score LIMIT ?",
        [match_expression(parts, None), *params, limit],
    ).fetchall()
    return [
        (
            float(score) * TITLE_WEIGHT,
            -1,
            "titles",
            int(rowid),
            {
                "conversation_id": cid,
                "message_id": None,
                "created_at": created_at,
                "role": None,
                "conversation_title": title,
            },
        )
        for score, rowid, cid, created_at, title in rows
    ]


def snippet(
    conn: sqlite3.Connection, table: str, parts: list[Part], rowid: int
) -> tuple[str, list[list[int]]]:
    expression = match_expression(parts, "body" if table == "messages" else None)
    row = conn.execute(
        f"SELECT snippet({table}, 0, ?, ?, ?, ?) FROM {table} WHERE {table} MATCH ? AND rowid = ?",
        (OPEN, CLOSE, ELLIPSIS, SNIPPET_TOKENS, expression, rowid),
    ).fetchone()
    return plain_snippet(str(row[0])) if row is not None else ("", [])
