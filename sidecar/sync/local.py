"""This device's side of sync, in ``DATA_DIR/sync/state.sqlite3`` (docs/sync.md).

- ``meta``: the device id (random, made once per data dir), the clock's last stamp, the pull
  cursor (the hub order up to which this device has applied other devices' changes) and
  ``covered_seq`` (the store seq up to which every local change has been turned into changes);
- ``regs``: the merged registers of every conversation (what the store should show, as far as
  sync knows), so a local change is found by comparing the store with them;
- ``outbox``: local changes not yet in the hub, numbered by ``device_seq`` (the hub's unique key
  with the device id, so pushing again after a crash is harmless);
- ``purged``: conversations purged (here or elsewhere): nothing about them is accepted again.

Everything in it is derived from the store and the hub: if this file were lost, the next start
would diff the store against an empty mirror and push it all again, which merging absorbs.
"""

from __future__ import annotations

import secrets
import sqlite3
from pathlib import Path
from typing import Any

import orjson

from .model import ConversationState, Op

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS regs (
    conversation_id TEXT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL,
    value BLOB NOT NULL, stamp TEXT NOT NULL,
    PRIMARY KEY (conversation_id, kind, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outbox (
    device_seq INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL,
    value BLOB NOT NULL, stamp TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS purged (conversation_id TEXT PRIMARY KEY) WITHOUT ROWID;
"""


def register_rows(state: ConversationState, keys: set[tuple[str, str]]) -> list[tuple[Any, ...]]:
    """The ``regs`` rows for the given (kind, key) registers of ``state``."""
    rows: list[tuple[Any, ...]] = []
    cid = state.conversation_id
    for kind, key in keys:
        if kind == "c":
            stamp = max((s for _, s in state.fields.values()), default="")
            rows.append((cid, kind, key, orjson.dumps({"f": state.fields}), stamp))
        elif kind == "m":
            entry = state.messages[key]
            stamp = max((s for _, s in entry["f"].values()), default="")
            rows.append((cid, kind, key, orjson.dumps(entry), stamp))
        elif kind == "b":
            write = state.branch_writes[key]
            rows.append((cid, kind, key, orjson.dumps(write), write["stamp"]))
        elif kind == "t":
            doc, stamp = state.turns[key]
            rows.append((cid, kind, key, orjson.dumps(doc), stamp))
    return rows


class LocalSyncState:
    """The SQLite file; every method is one short transaction (called on the event loop)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        if self.get("device_id") is None:
            self.put({"device_id": secrets.token_hex(8)})

    def close(self) -> None:
        self.db.close()

    def get(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def put(self, values: dict[str, str]) -> None:
        with self.db:
            self.db.execute("BEGIN")
            self._put(values)

    def _put(self, values: dict[str, str]) -> None:
        self.db.executemany(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            list(values.items()),
        )

    @property
    def device_id(self) -> str:
        value = self.get("device_id")
        assert value is not None
        return value

    def load(self, conversation_id: str) -> ConversationState:
        state = ConversationState(conversation_id)
        if self.is_purged(conversation_id):
            state.purged = True
            return state
        rows = self.db.execute(
            "SELECT kind, key, value, stamp FROM regs WHERE conversation_id = ?",
            (conversation_id,),
        )
        for kind, key, value, stamp in rows:
            body = orjson.loads(value)
            if kind == "c":
                state.fields = body["f"]
            elif kind == "m":
                state.messages[key] = body
            elif kind == "b":
                state.branch_writes[key] = body
            elif kind == "t":
                state.turns[key] = [body, stamp]
        return state

    def is_purged(self, conversation_id: str) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM purged WHERE conversation_id = ?", (conversation_id,)
        ).fetchone()
        return row is not None

    def conversation_ids(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT DISTINCT conversation_id FROM regs")]

    def save(
        self,
        state: ConversationState,
        keys: set[tuple[str, str]],
        outgoing: list[Op],
        meta: dict[str, str] | None = None,
    ) -> None:
        """Persist changed registers, queue ``outgoing`` and update ``meta``, in one transaction."""
        with self.db:
            self.db.execute("BEGIN")
            if state.purged:
                self.db.execute(
                    "DELETE FROM regs WHERE conversation_id = ?", (state.conversation_id,)
                )
                self.db.execute("INSERT OR IGNORE INTO purged VALUES (?)", (state.conversation_id,))
            else:
                self.db.executemany(
                    "INSERT OR REPLACE INTO regs VALUES (?, ?, ?, ?, ?)",
                    register_rows(state, keys),
                )
            self.db.executemany(
                "INSERT INTO outbox(conversation_id, kind, key, value, stamp) "
                "VALUES (?, ?, ?, ?, ?)",
                [
                    (o.conversation_id, o.kind, o.key, orjson.dumps(o.value), o.stamp)
                    for o in outgoing
                ],
            )
            if meta:
                self._put(meta)

    def outbox(self, limit: int) -> list[tuple[int, Op]]:
        rows = self.db.execute(
            "SELECT device_seq, conversation_id, kind, key, value, stamp FROM outbox "
            "ORDER BY device_seq LIMIT ?",
            (limit,),
        )
        return [(seq, Op(c, k, key, orjson.loads(v), s)) for seq, c, k, key, v, s in rows]

    def pushed(self, up_to: int) -> None:
        with self.db:
            self.db.execute("BEGIN")
            self.db.execute("DELETE FROM outbox WHERE device_seq <= ?", (up_to,))

    def pending(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM outbox").fetchone()[0])
