"""The writer applies a batch's updates together (a few statements per conversation, not per
message); whatever the batch holds, the index ends as if each command had been applied alone."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar.search import database
from sidecar.search.database import Command, ConversationRow, MessageRow, Purge, Replace, Update

CONVERSATIONS = ("a", "b", "c")
MESSAGES = ("m1", "m2", "m3", "m4")
WORDS = ("", "okapi", "okapi tapir", "tapir zebra", "  ")


def message(message_id: str, content: str) -> MessageRow:
    # A message's role and creation time never change; only its text does.
    return MessageRow(message_id, "user" if message_id < "m3" else "assistant", "2026", content)


def conversation(conversation_id: str, revision: int, title: str | None) -> ConversationRow:
    return ConversationRow(conversation_id, title, revision, f"t{revision}", "2026", False, False)


message_rows = st.builds(message, st.sampled_from(MESSAGES), st.sampled_from(WORDS))
messages = st.lists(message_rows, max_size=4)
#: A conversation's messages, as reindexing reads them: each id once.
whole = st.lists(message_rows, max_size=4, unique_by=lambda row: row.message_id)
titles = st.sampled_from((None, "Okapi notes", "Tapir"))
commands: st.SearchStrategy[Command] = st.one_of(
    st.builds(
        lambda cid, rev, title, with_row, msgs: Update(
            cid, conversation(cid, rev, title) if with_row else None, msgs
        ),
        st.sampled_from(CONVERSATIONS),
        st.integers(1, 9),
        titles,
        st.booleans(),
        messages,
    ),
    st.builds(Purge, st.sampled_from(CONVERSATIONS)),
    st.builds(
        lambda cid, rev, title, msgs: Replace(conversation(cid, rev, title), msgs),
        st.sampled_from(CONVERSATIONS),
        st.integers(1, 9),
        titles,
        whole,
    ),
)


def writer(folder: Path, name: str) -> database.Writer:
    path = folder / f"{name}.sqlite3"
    database.prepare(path)
    return database.Writer(database.connect(path))


def contents(conn: sqlite3.Connection) -> tuple[object, ...]:
    """Everything a query can see, keyed by ids (rows and keys are the writer's own numbers)."""
    convs = conn.execute(
        "SELECT id, revision, updated_at, created_at, archived, deleted, title FROM convs"
    ).fetchall()
    indexed = conn.execute(
        "SELECT c.id, m.message_id, m.role, m.created_at, b.body, b.scope = 'k' || c.key"
        " FROM msgs m JOIN convs c ON c.key = m.conv JOIN messages b ON b.rowid = m.row"
    ).fetchall()
    found = conn.execute(
        "SELECT c.id, m.message_id FROM messages JOIN msgs m ON m.row = messages.rowid"
        " JOIN convs c ON c.key = m.conv WHERE messages MATCH 'tapir'"
    ).fetchall()
    title_hits = conn.execute(
        "SELECT c.id FROM titles JOIN convs c ON c.key = titles.rowid WHERE titles MATCH 'okapi'"
    ).fetchall()
    return tuple(sorted(rows) for rows in (convs, indexed, found, title_hits))


@settings(max_examples=150, deadline=None)
@given(before=st.lists(commands, max_size=6), batch=st.lists(commands, min_size=1, max_size=12))
def test_a_batch_ends_as_its_commands_one_by_one(
    before: list[Command], batch: list[Command]
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        together, alone = writer(Path(folder), "together"), writer(Path(folder), "alone")
        try:
            for command in before:
                together.apply([command])
                alone.apply([command])
            together.apply(batch)
            for command in batch:
                alone.apply([command])
            assert contents(together.conn) == contents(alone.conn)
            assert together.message_rows == alone.message_rows
            count = together.conn.execute("SELECT count(*) FROM msgs").fetchone()[0]
            assert together.message_rows == count
        finally:
            together.conn.close()
            alone.conn.close()


def test_a_message_updated_in_its_batch_is_indexed_once_after_the_others(tmp_path: Path) -> None:
    """Rows follow each message's last version: a reply completed after another message was
    appended ranks as the newer of the two, as it would had they been written one by one."""
    index = writer(tmp_path, "index")
    try:
        index.apply(
            [
                Update("a", conversation("a", 1, None), [message("m3", "tapir")]),
                Update("a", conversation("a", 2, None), [message("m1", "tapir okapi")]),
                Update("a", conversation("a", 3, None), [message("m3", "tapir zebra")]),
            ]
        )
        rows = index.conn.execute(
            "SELECT m.message_id, b.body FROM msgs m JOIN messages b ON b.rowid = m.row"
            " ORDER BY m.row"
        ).fetchall()
        assert rows == [("m1", "tapir okapi"), ("m3", "tapir zebra")]
        assert index.message_rows == 2
        revision = index.conn.execute("SELECT revision FROM convs WHERE id = 'a'").fetchone()
        assert revision == (3,)
    finally:
        index.conn.close()
