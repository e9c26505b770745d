"""The hub: a PostgreSQL database where devices exchange changes (docs/sync.md has the schema).

Tables (all prefixed ``chat_sync_``): ``meta`` (schema version), ``devices``, ``changes`` (the
change log: unique per (device, device_seq), ordered by ``hub_seq``), ``state`` (the merged
registers per conversation, so a new device bootstraps without replaying the log) and
``tombstones`` (purged conversations). Pushes are serialised by a transaction-level advisory
lock, so ``hub_seq`` is assigned and committed in the same order and an incremental pull
(``hub_seq > cursor``) never skips a change committed late. Every push ends with ``NOTIFY``, so
the other devices hear of it at once.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import orjson

from .model import Op, merge_fields

#: A connection of our own or one borrowed from the pool.
Conn = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy

SCHEMA_VERSION = 1
CHANNEL = "chat_sync"
PUSH_LOCK = 0x63686174  # "chat": serialises pushes so hub_seq commits in order

SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS chat_sync_devices (
    device_id text PRIMARY KEY,
    device_name text NOT NULL,
    first_seen timestamptz NOT NULL DEFAULT now(),
    last_seen timestamptz NOT NULL DEFAULT now(),
    pushed_seq bigint NOT NULL DEFAULT 0
);
CREATE SEQUENCE IF NOT EXISTS chat_sync_hub_seq;
CREATE TABLE IF NOT EXISTS chat_sync_changes (
    hub_seq bigint PRIMARY KEY,
    device_id text NOT NULL,
    device_seq bigint NOT NULL,
    conversation_id text NOT NULL,
    kind text NOT NULL,
    key text NOT NULL,
    value jsonb NOT NULL,
    stamp text COLLATE "C" NOT NULL,
    committed_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (device_id, device_seq)
);
CREATE TABLE IF NOT EXISTS chat_sync_state (
    conversation_id text NOT NULL,
    kind text NOT NULL,
    key text NOT NULL,
    value jsonb NOT NULL,
    stamp text COLLATE "C" NOT NULL,
    hub_seq bigint NOT NULL,
    PRIMARY KEY (conversation_id, kind, key)
);
CREATE TABLE IF NOT EXISTS chat_sync_tombstones (
    conversation_id text PRIMARY KEY,
    stamp text COLLATE "C" NOT NULL,
    device_id text NOT NULL,
    hub_seq bigint NOT NULL
);
CREATE OR REPLACE FUNCTION chat_sync_join(kind text, old jsonb, old_stamp text, new jsonb,
                                          new_stamp text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    name text;
    register jsonb;
    fields jsonb;
BEGIN
    IF kind IN ('c', 'm') THEN
        fields := coalesce(old->'f', '{}'::jsonb);
        FOR name, register IN SELECT * FROM jsonb_each(coalesce(new->'f', '{}'::jsonb)) LOOP
            IF NOT fields ? name
               OR (register->>1) COLLATE "C" > (fields->name->>1) COLLATE "C" THEN
                fields := jsonb_set(fields, ARRAY[name], register);
            END IF;
        END LOOP;
        RETURN jsonb_set(old, '{f}', fields);
    ELSIF kind = 't' AND new_stamp COLLATE "C" > old_stamp COLLATE "C" THEN
        RETURN new;
    END IF;
    RETURN old;
END $$;
"""


class HubError(Exception):
    """The hub cannot be used as it is (e.g. written by a newer version): sync state ``error``."""


async def _init_connection(conn: Conn) -> None:
    await conn.set_type_codec(
        "jsonb",
        encoder=lambda v: orjson.dumps(v).decode(),
        decoder=orjson.loads,
        schema="pg_catalog",
    )


async def connect_pool(dsn: str, password: str | None) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn,
        password=password,
        min_size=1,
        max_size=3,
        init=_init_connection,
        timeout=10,
        command_timeout=60,
    )
    assert pool is not None
    return pool


async def ensure_schema(conn: Conn) -> None:
    """Create or upgrade the hub's tables; refuse a hub written by a newer version."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", PUSH_LOCK)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS chat_sync_meta (key text PRIMARY KEY, value text NOT NULL)"
        )
        row = await conn.fetchval("SELECT value FROM chat_sync_meta WHERE key = 'schema_version'")
        version = 0 if row is None else int(row)
        if version > SCHEMA_VERSION:
            raise HubError(
                f"the hub's schema is version {version}, newer than this sidecar's "
                f"{SCHEMA_VERSION}: upgrade chat-sidecar"
            )
        if version < 1:
            await conn.execute(SCHEMA_V1)
        await conn.execute(
            "INSERT INTO chat_sync_meta VALUES ('schema_version', $1) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            str(SCHEMA_VERSION),
        )


async def register_device(conn: Conn, device_id: str, name: str) -> None:
    await conn.execute(
        "INSERT INTO chat_sync_devices(device_id, device_name) VALUES ($1, $2) "
        "ON CONFLICT (device_id) DO UPDATE SET device_name = $2, last_seen = now()",
        device_id,
        name,
    )


def _premerge(ops: list[Op]) -> list[Op]:
    """One op per register (an upsert may touch a row once): the batch's own join."""
    merged: dict[tuple[str, str, str], Op] = {}
    for op in ops:
        key = (op.conversation_id, op.kind, op.key)
        known = merged.get(key)
        if known is None:
            merged[key] = op
        elif op.kind in ("c", "m"):
            value = {**known.value, "f": dict(known.value["f"])}
            merge_fields(value["f"], op.value["f"])
            merged[key] = Op(*key, value, max(known.stamp, op.stamp))
        elif op.kind == "t" and op.stamp > known.stamp:
            merged[key] = op
    return list(merged.values())


async def push(conn: Conn, device_id: str, batch: list[tuple[int, Op]]) -> int:
    """Append a batch to the change log and join it into the state, in one transaction.

    Changes the hub already has (same device and device_seq: a retry after a crash) are skipped.
    Returns the highest hub_seq written (0 if none was new).
    """
    seqs = [seq for seq, _ in batch]
    ops = [op for _, op in batch]
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", PUSH_LOCK)
        rows = await conn.fetch(
            """
            INSERT INTO chat_sync_changes
                (hub_seq, device_id, device_seq, conversation_id, kind, key, value, stamp)
            SELECT nextval('chat_sync_hub_seq'), $1, d.s, d.c, d.k, d.key, d.v, d.t
            FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::jsonb[],
                        $7::text[]) AS d(s, c, k, key, v, t)
            ON CONFLICT (device_id, device_seq) DO NOTHING
            RETURNING hub_seq, device_seq
            """,
            device_id,
            seqs,
            [o.conversation_id for o in ops],
            [o.kind for o in ops],
            [o.key for o in ops],
            [o.value for o in ops],
            [o.stamp for o in ops],
        )
        if not rows:
            return 0
        new = {int(r["device_seq"]) for r in rows}
        top = max(int(r["hub_seq"]) for r in rows)
        fresh = [op for seq, op in batch if seq in new]
        purges = [op for op in fresh if op.kind == "p"]
        for op in purges:
            await conn.execute(
                "INSERT INTO chat_sync_tombstones VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                op.conversation_id,
                op.stamp,
                device_id,
                top,
            )
            await conn.execute(
                "DELETE FROM chat_sync_state WHERE conversation_id = $1", op.conversation_id
            )
        joined = _premerge([op for op in fresh if op.kind != "p"])
        await conn.execute(
            """
            INSERT INTO chat_sync_state AS s (conversation_id, kind, key, value, stamp, hub_seq)
            SELECT d.c, d.k, d.key, d.v, d.t, $6
            FROM unnest($1::text[], $2::text[], $3::text[], $4::jsonb[], $5::text[])
                AS d(c, k, key, v, t)
            WHERE NOT EXISTS (SELECT 1 FROM chat_sync_tombstones x WHERE x.conversation_id = d.c)
            ON CONFLICT (conversation_id, kind, key) DO UPDATE SET
                value = chat_sync_join(s.kind, s.value, s.stamp, excluded.value, excluded.stamp),
                stamp = greatest(s.stamp, excluded.stamp),
                hub_seq = excluded.hub_seq
            """,
            [o.conversation_id for o in joined],
            [o.kind for o in joined],
            [o.key for o in joined],
            [o.value for o in joined],
            [o.stamp for o in joined],
            top,
        )
        await conn.execute(
            "UPDATE chat_sync_devices SET pushed_seq = greatest(pushed_seq, $2), "
            "last_seen = now() WHERE device_id = $1",
            device_id,
            max(seqs),
        )
        await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, json.dumps({"seq": top}))
        return top


async def pull(conn: Conn, after: int, limit: int) -> list[tuple[int, str, Op]]:
    """Changes after hub order ``after``: ``(hub_seq, device_id, op)``, in hub order."""
    rows = await conn.fetch(
        "SELECT hub_seq, device_id, conversation_id, kind, key, value, stamp "
        "FROM chat_sync_changes WHERE hub_seq > $1 ORDER BY hub_seq LIMIT $2",
        after,
        limit,
    )
    return [
        (int(r["hub_seq"]), str(r["device_id"]), Op(r[2], r[3], r[4], r[5], r[6])) for r in rows
    ]


async def snapshot(conn: Conn, batch: int = 5000) -> AsyncIterator[tuple[int, list[Op]]]:
    """A new device's start: the merged state, conversation by conversation, consistently.

    Yields ``(cursor, ops)``: the hub order the snapshot reflects (pull from there on; the first
    item has no ops) and each conversation's registers (tombstones as purge changes).
    """
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        cursor = int(await conn.fetchval("SELECT coalesce(max(hub_seq), 0) FROM chat_sync_changes"))
        yield cursor, []
        for row in await conn.fetch("SELECT conversation_id, stamp FROM chat_sync_tombstones"):
            yield cursor, [Op(row[0], "p", "", {}, row[1])]
        current: list[Op] = []
        async for row in conn.cursor(
            "SELECT conversation_id, kind, key, value, stamp FROM chat_sync_state "
            "ORDER BY conversation_id",
            prefetch=batch,
        ):
            op = Op(row[0], row[1], row[2], _as_change(row[1], row[3]), row[4])
            if current and current[0].conversation_id != op.conversation_id:
                yield cursor, current
                current = []
            current.append(op)
        if current:
            yield cursor, current


def _as_change(kind: str, value: Any) -> Any:
    """State rows are registers; as changes they are the same shape (``b`` carries its stamp)."""
    if kind == "b" and isinstance(value, dict):
        return {k: v for k, v in value.items() if k != "stamp"}
    return value


async def hub_stats(conn: Conn) -> dict[str, Any]:
    row = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM chat_sync_changes) AS changes, "
        "(SELECT count(*) FROM chat_sync_state) AS state, "
        "(SELECT count(*) FROM chat_sync_devices) AS devices, "
        "pg_total_relation_size('chat_sync_changes') AS changes_bytes, "
        "pg_total_relation_size('chat_sync_state') AS state_bytes"
    )
    return dict(row) if row is not None else {}
