"""The SQLite side of the search index: schema, writes and reads. Runs on threads, never the loop.

Reads start at :func:`search`; how hits are found and ranked is :mod:`.ranking`.

One file, ``DATA_DIR/search/index.sqlite3`` (WAL mode, so queries read while the writer writes):

- ``convs``: one row per indexed conversation: its id, the ``revision`` and ``updated_at`` it
  was indexed at (what start-up reconciliation compares with the store's catalog), its flags
  (``archived``, ``deleted``: filters) and ``created_at`` (the date of a title hit).
- ``msgs``: one row per indexed message (conversation, message id, role, created_at); its rowid
  is the rowid of the message's text in ``messages``.
- ``messages``: FTS5 over message content, plus ``scope``, one token naming the conversation
  (``k<key>``) so "search in this conversation" is an index intersection, not a filter scan.
- ``titles``: FTS5 over conversation titles (rowid = the conversation's key), kept apart so that
  bm25's length statistics of short titles are not diluted by millions of messages.

Tokenizer ``unicode61 remove_diacritics 2``: case- and accent-insensitive (café = CAFE), with a
prefix index for 3-letter prefixes. Everything here is derived from the store and can be rebuilt.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from ..store.model import Doc
from .query import Filters, Part
from .ranking import CommonCheck, message_hits, newest_first, snippet, title_hits, whole_word
from .snippets import clean_text

FORMAT: Final = 1
TOKENIZER: Final = "unicode61 remove_diacritics 2"
DAMAGE_CODES: Final = ("SQLITE_CORRUPT", "SQLITE_NOTADB")
#: At most this many values in one ``IN (...)`` list (SQLite allows 32,766 parameters).
IN_LIST_MAX: Final = 500

SCHEMA: Final = f"""
CREATE TABLE meta(key TEXT PRIMARY KEY, value ANY) STRICT;
CREATE TABLE convs(
    key INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    revision INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    created_at TEXT NOT NULL,
    archived INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    title TEXT
) STRICT;
CREATE TABLE msgs(
    row INTEGER PRIMARY KEY,
    conv INTEGER NOT NULL,
    message_id TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at TEXT NOT NULL
) STRICT;
CREATE UNIQUE INDEX msgs_by_conversation ON msgs(conv, message_id);
CREATE VIRTUAL TABLE messages USING fts5(body, scope, tokenize='{TOKENIZER}', prefix='3');
CREATE VIRTUAL TABLE titles USING fts5(title, tokenize='{TOKENIZER}', prefix='3');
INSERT INTO meta(key, value) VALUES ('format', {FORMAT});
"""


class IndexDamaged(Exception):
    """The index file is not a readable index of our format: quarantine it and rebuild."""


def is_damage(exc: sqlite3.Error) -> bool:
    """Whether SQLite says the file itself is damaged (not busy, full or misused)."""
    name = str(getattr(exc, "sqlite_errorname", ""))
    return name.startswith(DAMAGE_CODES)


#: Page cache of a reader connection (KiB): queries read the same hot pages again and again
#: (with 2 MB the quick search benchmark's query p95 was 16.8 ms against 12.8 to 14.9 ms).
READER_CACHE_KIB = 16_000
#: Page cache of the writer connection (KiB): it mostly writes new segments, and a cache full
#: of them is memory the process keeps for nothing. Against 16 MB: idle RSS after 2,000 appends
#: 57.2 vs 59.5 MB, after rebuilding 50,000 messages 58.9 vs 72.8 MB; build time within the
#: noise of the runs (docs/benchmarks.md, "Third round").
WRITER_CACHE_KIB = 2_000


def connect(path: Path, cache_kib: int = READER_CACHE_KIB) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL, relaxed syncing.

    ``synchronous=NORMAL``: a power cut may lose the last commits but never consistency, and
    start-up reconciliation re-indexes whatever the store has that the index lost.
    """
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(f"PRAGMA cache_size=-{int(cache_kib)}")
    return conn


def prepare(path: Path) -> bool:
    """Create the index if there is none; check an existing one. True if it was created.

    Raises :class:`IndexDamaged` when the file is not an index of this format, and other
    ``sqlite3`` errors (cannot open, disk full, read-only) as they are.
    """
    if os.path.lexists(path) and not stat.S_ISREG(os.lstat(path).st_mode):
        # A FIFO would block the open, a link would be followed out of the data dir.
        raise IndexDamaged(f"{path.name} is not a regular file")
    fresh = not path.exists()
    try:
        conn = connect(path)
        try:
            if fresh:
                conn.executescript(f"BEGIN; {SCHEMA} COMMIT;")
                return True
            row = conn.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
            if row is None or row[0] != FORMAT:
                raise IndexDamaged(f"index format {row and row[0]!r} is not {FORMAT}")
            conn.execute("SELECT count(*) FROM convs").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        if is_damage(exc) or "no such table" in str(exc):
            raise IndexDamaged(f"index cannot be read: {exc}") from None
        raise
    return False


def check_integrity(path: Path) -> str | None:
    """What ``PRAGMA quick_check`` finds wrong (``None``: nothing). Read-only, so it runs beside
    the writer; damage inside FTS5's own blobs shows up later, when a query or write reads it."""
    try:
        conn = connect(path)
        try:
            rows = [str(row[0]) for row in conn.execute("PRAGMA quick_check").fetchall()]
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        return str(exc)
    problems = [row for row in rows if row != "ok"]
    return "; ".join(problems[:5]) if problems else None


# ---------------------------------------------------------------------------- writing


@dataclass(frozen=True, slots=True)
class ConversationRow:
    id: str
    title: str | None
    revision: int
    updated_at: str
    created_at: str
    archived: bool
    deleted: bool

    @classmethod
    def of(cls, summary: Doc) -> ConversationRow:
        """The row of a conversation's summary, as the store hands it over."""
        title = summary.get("title")
        return cls(
            id=str(summary["id"]),
            title=title if isinstance(title, str) else None,
            revision=int(summary.get("revision") or 0),
            updated_at=str(summary.get("updated_at") or ""),
            created_at=str(summary.get("created_at") or ""),
            archived=bool(summary.get("archived")),
            deleted=summary.get("deleted_at") is not None,
        )


@dataclass(frozen=True, slots=True)
class MessageRow:
    message_id: str
    role: str
    created_at: str
    content: str

    @classmethod
    def of(cls, doc: Doc) -> MessageRow:
        """The row of a stored message (a content that is not text indexes as empty)."""
        content = doc.get("content")
        return cls(
            message_id=str(doc["id"]),
            role=str(doc.get("role") or ""),
            created_at=str(doc.get("created_at") or ""),
            content=content if isinstance(content, str) else "",
        )


@dataclass(frozen=True, slots=True)
class Update:
    """What one store change did to a conversation, applied in one transaction: its new state
    (``None`` when only messages changed) and its created or updated messages. Never split, so
    an indexed revision always comes with the messages of that revision."""

    conversation_id: str
    conversation: ConversationRow | None
    messages: list[MessageRow]


@dataclass(frozen=True, slots=True)
class Replace:
    """Everything about one conversation, replacing whatever the index held (reindexing)."""

    conversation: ConversationRow
    messages: list[MessageRow]


@dataclass(frozen=True, slots=True)
class Purge:
    conversation_id: str


Command = Update | Replace | Purge


def command_weight(command: Command) -> int:
    """How much work a command is, in messages (for batching and back-pressure)."""
    return len(command.messages) + 1 if isinstance(command, Update | Replace) else 1


class Writer:
    """Applies commands through one connection; every batch is one transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._keys: dict[str, int] = dict(conn.execute("SELECT id, key FROM convs").fetchall())
        row = conn.execute("SELECT max(row), count(*) FROM msgs").fetchone()
        self._next_row = int(row[0] or 0) + 1
        #: Indexed messages (the reader's "how common is this word" threshold scales with it).
        self.message_rows = int(row[1])

    def apply(self, commands: Iterable[Command]) -> None:
        """Apply ``commands`` in order, in one transaction (rolled back whole on any error).

        Consecutive :class:`Update` commands are applied together (:meth:`_updates`): a
        journal batch touches few conversations, and most of the writer's cost is statements,
        not rows.
        """
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        keys_before = dict(self._keys)
        next_row, rows = self._next_row, self.message_rows
        try:
            run: list[Update] = []
            for command in commands:
                if isinstance(command, Update):
                    run.append(command)
                    continue
                self._updates(run)
                run = []
                if isinstance(command, Replace):
                    self._replace(command)
                else:
                    self._purge(command.conversation_id)
            self._updates(run)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            self._keys, self._next_row, self.message_rows = keys_before, next_row, rows
            raise

    def _key(self, conversation_id: str) -> int:
        """The conversation's key, with a placeholder row (revision 0) if it is not indexed yet:
        reconciliation then sees the revision differ and reindexes it whole."""
        key = self._keys.get(conversation_id)
        if key is None:
            cursor = self.conn.execute(
                "INSERT INTO convs(id, revision, updated_at, created_at, archived, deleted)"
                " VALUES (?, 0, '', '', 0, 0)",
                (conversation_id,),
            )
            key = int(cursor.lastrowid or 0)
            self._keys[conversation_id] = key
        return key

    def _updates(self, run: list[Update]) -> None:
        """Apply consecutive updates as their end state, with a few statements per conversation.

        Each conversation's last row wins, and each message's last version (both carry the
        whole thing). Messages get rows in the order of their last version, as one by one they
        would have: a message re-indexed later moves after the ones indexed before it.
        """
        if not run:
            return
        conversations: dict[str, ConversationRow] = {}
        latest: dict[tuple[str, str], MessageRow] = {}
        for update in run:
            if update.conversation is not None:
                conversations[update.conversation_id] = update.conversation
            for message in update.messages:
                slot = (update.conversation_id, message.message_id)
                latest.pop(slot, None)
                latest[slot] = message
        for conversation in conversations.values():
            self._put_conversation(conversation)
        for update in run:
            self._key(update.conversation_id)  # a placeholder row for a conversation seen first
        if latest:
            self._put_messages(latest)

    def _put_conversation(self, conv: ConversationRow) -> int:
        key = self._key(conv.id)
        old = self.conn.execute("SELECT title FROM convs WHERE key = ?", (key,)).fetchone()
        title = clean_text(conv.title) if conv.title else None
        self.conn.execute(
            "UPDATE convs SET revision = ?, updated_at = ?, created_at = ?, archived = ?,"
            " deleted = ?, title = ? WHERE key = ?",
            (
                conv.revision,
                conv.updated_at,
                conv.created_at,
                int(conv.archived),
                int(conv.deleted),
                title,
                key,
            ),
        )
        if old is None or old[0] != title:
            self.conn.execute("DELETE FROM titles WHERE rowid = ?", (key,))
            if title:
                self.conn.execute("INSERT INTO titles(rowid, title) VALUES (?, ?)", (key, title))
        return key

    def _put_messages(self, latest: dict[tuple[str, str], MessageRow]) -> None:
        """Index these messages (``(conversation id, message id)`` to its last version), each
        replacing the indexed text it had, if that differs; empty ones are only removed."""
        wanted: dict[str, list[str]] = {}
        for conversation_id, message_id in latest:
            wanted.setdefault(conversation_id, []).append(message_id)
        indexed: dict[tuple[str, str], tuple[int, str]] = {}
        for conversation_id, message_ids in wanted.items():
            key = self._keys[conversation_id]
            for start in range(0, len(message_ids), IN_LIST_MAX):
                chunk = message_ids[start : start + IN_LIST_MAX]
                found = self.conn.execute(
                    "SELECT m.message_id, m.row, b.body FROM msgs m"
                    " JOIN messages b ON b.rowid = m.row"
                    f" WHERE m.conv = ? AND m.message_id IN ({', '.join('?' * len(chunk))})",
                    (key, *chunk),
                )
                for message_id, row, body in found:
                    indexed[(conversation_id, message_id)] = (int(row), str(body))
        stale: list[int] = []
        new: list[tuple[int, MessageRow, str]] = []
        for slot, message in latest.items():
            content = clean_text(message.content)
            old = indexed.get(slot)
            if old is not None:
                if old[1] == content:
                    continue  # a status or metadata change: the text is indexed already
                stale.append(old[0])
            if content.strip():
                new.append((self._keys[slot[0]], message, content))
        if stale:
            self._delete_rows(stale)
        if new:
            self._insert(new)

    def _insert(self, new: list[tuple[int, MessageRow, str]]) -> None:
        """Index ``(conversation key, message, cleaned content)`` rows, in this order."""
        first = self._next_row
        self._next_row += len(new)
        self.message_rows += len(new)
        self.conn.executemany(
            "INSERT INTO msgs(row, conv, message_id, role, created_at) VALUES (?, ?, ?, ?, ?)",
            [
                (first + i, key, m.message_id, m.role, m.created_at)
                for i, (key, m, _) in enumerate(new)
            ],
        )
        self.conn.executemany(
            "INSERT INTO messages(rowid, body, scope) VALUES (?, ?, ?)",
            [(first + i, text, f"k{key}") for i, (key, _, text) in enumerate(new)],
        )

    def _delete_rows(self, rows: list[int]) -> None:
        params = [(row,) for row in rows]
        self.conn.executemany("DELETE FROM messages WHERE rowid = ?", params)
        self.conn.executemany("DELETE FROM msgs WHERE row = ?", params)
        self.message_rows -= len(rows)

    def _replace(self, command: Replace) -> None:
        key = self._put_conversation(command.conversation)
        rows = [r for (r,) in self.conn.execute("SELECT row FROM msgs WHERE conv = ?", (key,))]
        self._delete_rows(rows)
        kept = [(key, m, clean_text(m.content)) for m in command.messages]
        kept = [row for row in kept if row[2].strip()]
        if kept:
            self._insert(kept)

    def _purge(self, conversation_id: str) -> None:
        key = self._keys.pop(conversation_id, None)
        if key is None:
            return
        rows = [r for (r,) in self.conn.execute("SELECT row FROM msgs WHERE conv = ?", (key,))]
        self._delete_rows(rows)
        self.conn.execute("DELETE FROM titles WHERE rowid = ?", (key,))
        self.conn.execute("DELETE FROM convs WHERE key = ?", (key,))


def indexed_revisions(conn: sqlite3.Connection) -> dict[str, tuple[int, str]]:
    """Every indexed conversation's (revision, updated_at), for reconciliation."""
    rows = conn.execute("SELECT id, revision, updated_at FROM convs").fetchall()
    return {str(cid): (int(revision), str(updated_at)) for cid, revision, updated_at in rows}


# ---------------------------------------------------------------------------- reading


def is_common(conn: sqlite3.Connection, part: Part, threshold: int) -> bool:
    """Whether more than ``threshold`` indexed messages hold this word (stops at that many)."""
    row = conn.execute(
        "SELECT rowid FROM messages WHERE messages MATCH ? ORDER BY rowid DESC LIMIT 1 OFFSET ?",
        (f"{{body}} : {part.fts()}", threshold),
    ).fetchone()
    return row is not None


def search(
    conn: sqlite3.Connection,
    parts: list[Part],
    filters: Filters,
    limit: int,
    common: CommonCheck,
    frequent: CommonCheck | None = None,
) -> list[dict[str, Any]]:
    """The best ``limit`` hits (titles and messages), best first, with snippets.

    ``common`` says whether a word is so common it may be dropped; ``frequent`` (default:
    ``common``) whether the word being typed is frequent enough to stay a whole word.
    """
    if not parts:
        return []
    key: int | None = None
    if filters.conversation_id is not None:
        row = conn.execute("SELECT key FROM convs WHERE id = ?", (filters.conversation_id,))
        found = row.fetchone()
        if found is None:
            return []
        key = int(found[0])
    frequent = frequent or common
    parts = [
        Part(part.text, False, False) if part.typed and frequent(conn, whole_word(part)) else part
        for part in parts
    ]
    droppable = [part for part in parts if part.single_word]
    if droppable and len(parts) > 1:
        dropped = {part for part in droppable if common(conn, part)}
        if len(dropped) < len(parts):
            parts = [part for part in parts if part not in dropped]
    hits = message_hits(conn, parts, filters, limit, key, newest_first(conn, parts, common))
    if filters.role is None:
        hits += title_hits(conn, parts, filters, limit, key)
    hits.sort(key=lambda hit: (hit[0], -hit[1]))
    items = []
    for _, _, table, rowid, item in hits[:limit]:
        item["snippet"], item["highlights"] = snippet(conn, table, parts, rowid)
        items.append(item)
    return items
