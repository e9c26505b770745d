"""``scripts/bench --suite sync``: sync through a real PostgreSQL hub (docs/sync.md).

- live lag: an append on device A until B's store announces it (p50/p99), A and B online;
- local append latency with sync on against sync off, interleaved in the same run;
- catch-up: a device offline while N changes reach the hub, then back: messages per second;
- bootstrap: a new device receiving M messages from the hub's merged state (time, peak RSS of a
  fresh process doing only that).

Big data is written straight into the hub with SQL (``generate_series``): what is measured is the
receiving device, not the writer. A private PostgreSQL is started (scripts/_postgres.sh) unless
``CHAT_SIDECAR_TEST_PG_DSN`` names one.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from sidecar.store import Change, MessageEffect, Store, StoreConfig
from sidecar.sync import hub
from sidecar.sync.config import SyncConfig
from sidecar.sync.engine import SyncEngine

from .common import code_version, latency_summary, machine_info, median

ROOT = Path(__file__).resolve().parent.parent
STAMP = "1764000000000.000000.benchwriter"


def log(message: str) -> None:
    print(f"[bench sync {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def with_database(dsn: str, name: str) -> str:
    head, _, _ = dsn.rpartition("/")
    return f"{head}/{name}"


async def new_database(dsn: str, password: str) -> str:
    name = f"bench_{secrets.token_hex(5)}"
    admin = await asyncpg.connect(dsn, password=password)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    return with_database(dsn, name)


async def open_device(root: Path, name: str, url: str | None) -> tuple[Store, SyncEngine | None]:
    store = await Store.open(root / name, StoreConfig(checkpoint_interval=3600))
    if url is None:
        return store, None
    engine = SyncEngine(store, SyncConfig(url, name))
    await engine.start()
    return store, engine


async def wait_online(engine: SyncEngine) -> None:
    for _ in range(300):
        if engine.state == "online" and engine.last_pull_at is not None:
            return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"sync did not come online: {engine.status()}")


async def live_and_local(url: str, root: Path, samples: int) -> dict[str, Any]:
    """Live lag A -> B, and append latency with sync on (A) vs off (C), interleaved."""
    a_store, a_sync = await open_device(root, "a", url)
    b_store, b_sync = await open_device(root, "b", url)
    c_store, _ = await open_device(root, "c", None)
    assert a_sync is not None and b_sync is not None
    await wait_online(a_sync)
    await wait_online(b_sync)
    arrived: dict[str, float] = {}

    def on_b(changes: Sequence[Change]) -> None:
        for change in changes:
            for effect in change.effects:
                if isinstance(effect, MessageEffect) and effect.created:
                    arrived[effect.message["id"]] = time.perf_counter()

    b_store.subscribe(on_b)
    on, off = (await a_store.create_conversation())[0]["id"], None
    off = (await c_store.create_conversation())[0]["id"]
    lags: list[float] = []
    sync_on: list[float] = []
    sync_off: list[float] = []
    for i in range(samples):
        for store, cid, bucket in ((a_store, on, sync_on), (c_store, off, sync_off))[
            :: 1 if i % 2 else -1
        ]:
            start = time.perf_counter()
            message, _ = await store.append_message(cid, role="user", content=f"sample {i} " * 8)
            bucket.append(time.perf_counter() - start)
            if store is a_store:
                sent_id, sent_at = message["id"], start
        for _ in range(400):
            if sent_id in arrived:
                break
            await asyncio.sleep(0.0025)
        if sent_id in arrived:
            lags.append(arrived[sent_id] - sent_at)
        await asyncio.sleep(0.01)
    for engine in (a_sync, b_sync):
        await engine.close()
    for store in (a_store, b_store, c_store):
        await store.close()
    on_summary, off_summary = latency_summary(sync_on), latency_summary(sync_off)
    return {
        "live_lag": latency_summary(lags) | {"lost": samples - len(lags)},
        "append_sync_on": on_summary,
        "append_sync_off": off_summary,
        "append_ratio_of_medians": median(sync_on) / median(sync_off),
    }


def _state_sql(prefix: str) -> str:
    """Conversations ``prefix || c`` with M chained messages each, straight into the hub state."""
    return f"""
    INSERT INTO chat_sync_state (conversation_id, kind, key, value, stamp, hub_seq)
    SELECT '{prefix}' || c, 'c', '', jsonb_build_object('f', jsonb_build_object(
        'title', jsonb_build_array('conversation ' || c, $3::text),
        'created_at', jsonb_build_array('2026-11-01T00:00:00.000Z', $3::text),
        'updated_at', jsonb_build_array('2026-11-01T00:00:00.000Z', $3::text),
        'active_branch', jsonb_build_array('main', $3::text))), $3, 1
    FROM generate_series(1, $1::int) c
    UNION ALL
    SELECT '{prefix}' || c, 'b', 'main/{prefix}' || c || 'm' || $2::int || '/',
        jsonb_build_object('name', 'main', 'head', '{prefix}' || c || 'm' || $2::int, 'prev', NULL),
        $3, 1
    FROM generate_series(1, $1::int) c
    UNION ALL
    SELECT '{prefix}' || c, 'm', '{prefix}' || c || 'm' || i, jsonb_build_object(
        'doc', jsonb_build_object('id', '{prefix}' || c || 'm' || i,
            'conversation_id', '{prefix}' || c,
            'parent_id', CASE WHEN i = 1 THEN NULL ELSE '{prefix}' || c || 'm' || (i - 1) END,
            'role', CASE WHEN i % 2 = 1 THEN 'user' ELSE 'assistant' END,
            'created_at', '2026-11-01T00:00:00.000Z'),
        'f', jsonb_build_object('content', jsonb_build_array(repeat('lorem ipsum ', 20), $3::text),
            'status', jsonb_build_array('complete', $3::text),
            'updated_at', jsonb_build_array('2026-11-01T00:00:00.000Z', $3::text))), $3, 1
    FROM generate_series(1, $1::int) c, generate_series(1, $2::int) i
    """


async def catch_up(
    url: str, password: str, root: Path, conversations: int, each: int
) -> dict[str, Any]:
    """B online (cursor set), then offline while N changes land in the hub, then back."""
    store, engine = await open_device(root, "late", url)
    assert engine is not None
    await wait_online(engine)
    await engine.close()
    conn = await asyncpg.connect(url, password=password)
    start = time.perf_counter()
    await conn.execute("CREATE TEMP TABLE staged (LIKE chat_sync_state)")
    await conn.execute(
        _state_sql("cu").replace("chat_sync_state", "staged", 1), conversations, each, STAMP
    )
    await conn.execute(
        """
        INSERT INTO chat_sync_changes (hub_seq, device_id, device_seq, conversation_id, kind, key,
                                       value, stamp)
        SELECT nextval('chat_sync_hub_seq'), 'benchwriter',
               row_number() OVER (ORDER BY kind <> 'c', kind <> 'm', conversation_id, key),
               conversation_id, kind, key, value, stamp
        FROM staged ORDER BY kind <> 'c', kind <> 'm', conversation_id, key
        """
    )
    top = int(await conn.fetchval("SELECT max(hub_seq) FROM chat_sync_changes"))
    changes = int(await conn.fetchval("SELECT count(*) FROM staged"))
    log(f"  {changes:,} changes written to the hub in {time.perf_counter() - start:.1f} s")
    await conn.close()
    engine = SyncEngine(store, SyncConfig(url, "late"))
    start = time.perf_counter()
    await engine.start()
    for _ in range(100_000):
        if engine.cursor >= top:
            break
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - start
    total = store.stats()["messages"]
    await engine.close()
    await store.close()
    messages = conversations * each
    assert total == messages, (total, messages)
    return {
        "changes": changes,
        "messages": messages,
        "seconds": elapsed,
        "messages_per_s": messages / elapsed,
        "changes_per_s": changes / elapsed,
    }


async def bootstrap(
    url: str, password: str, root: Path, conversations: int, each: int
) -> dict[str, Any]:
    conn = await asyncpg.connect(url, password=password)
    await hub.ensure_schema(conn)
    start = time.perf_counter()
    await conn.execute(_state_sql("bs"), conversations, each, STAMP)
    await conn.execute("ANALYZE chat_sync_state")
    size = int(await conn.fetchval("SELECT pg_total_relation_size('chat_sync_state')"))
    index = int(await conn.fetchval("SELECT pg_indexes_size('chat_sync_state')"))
    rows = int(await conn.fetchval("SELECT count(*) FROM chat_sync_state"))
    log(f"  {rows:,} state rows in the hub in {time.perf_counter() - start:.1f} s")
    await conn.close()
    child = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "benchmarks.sync_bench",
            "--bootstrap-child",
            url,
            str(root / "new"),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "CHAT_SIDECAR_SYNC_PASSWORD": password},
        capture_output=True,
        text=True,
        check=True,
    )
    measured: dict[str, Any] = orjson.loads(child.stdout.strip().splitlines()[-1])
    messages = conversations * each
    assert measured["messages"] == messages, measured
    return measured | {
        "messages_per_s": messages / measured["seconds"],
        "hub_state_rows": rows,
        "hub_state_bytes": size,
        "hub_state_index_bytes": index,
        "hub_bytes_per_message": size / messages,
    }


async def bootstrap_child(url: str, data_dir: Path) -> None:
    store = await Store.open(data_dir, StoreConfig(checkpoint_interval=3600))
    engine = SyncEngine(store, SyncConfig(url, "new"))
    start = time.perf_counter()
    await engine.start()
    for _ in range(100_000):
        if engine.status()["state"] == "error" or engine.last_pull_at is not None:
            break
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - start
    messages = store.stats()["messages"]
    await engine.close()
    await store.close()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(orjson.dumps({"seconds": elapsed, "messages": messages, "peak_rss_bytes": rss}).decode())


def start_postgres(folder: Path) -> tuple[str, str]:
    subprocess.run(
        ["bash", str(ROOT / "scripts" / "_postgres.sh"), "start", str(folder)], check=True
    )
    return (folder / "dsn").read_text().strip(), (folder / ".pw").read_text().strip()


async def run(args: argparse.Namespace, dsn: str, password: str) -> dict[str, Any]:
    os.environ["CHAT_SIDECAR_SYNC_PASSWORD"] = password
    root = Path(tempfile.mkdtemp(prefix="bench-sync-", dir=ROOT / ".bench-tmp"))
    figures: dict[str, Any] = {}
    log(f"live lag and local append latency ({args.samples} samples)")
    figures["live"] = await live_and_local(
        await new_database(dsn, password), root / "live", args.samples
    )
    c, m = args.catch_up
    log(f"catch-up after {c * m:,} messages offline")
    figures["catch_up"] = await catch_up(
        await new_database(dsn, password), password, root / "cu", c, m
    )
    c, m = args.bootstrap
    log(f"bootstrap of {c * m:,} messages")
    figures["bootstrap"] = await bootstrap(
        await new_database(dsn, password), password, root / "bs", c, m
    )
    await asyncio.to_thread(shutil.rmtree, root, True)
    return figures


def report(figures: dict[str, Any]) -> str:
    live, on, off = (
        figures["live"]["live_lag"],
        figures["live"]["append_sync_on"],
        figures["live"]["append_sync_off"],
    )
    cu, bs = figures["catch_up"], figures["bootstrap"]
    return "\n".join(
        [
            f"live lag A->B: p50 {live['p50_ms']:.1f} ms, p99 {live['p99_ms']:.1f} ms (n={live['n']}, lost {live['lost']})",
            f"local append, sync on: p50 {on['p50_ms']:.2f} ms, p99 {on['p99_ms']:.2f} ms; "
            f"sync off: p50 {off['p50_ms']:.2f} ms, p99 {off['p99_ms']:.2f} ms; "
            f"ratio of medians {figures['live']['append_ratio_of_medians']:.2f}",
            f"catch-up: {cu['messages']:,} messages ({cu['changes']:,} changes) in {cu['seconds']:.1f} s "
            f"= {cu['messages_per_s']:,.0f} messages/s",
            f"bootstrap: {bs['messages']:,} messages in {bs['seconds']:.1f} s = {bs['messages_per_s']:,.0f} messages/s, "
            f"peak RSS {bs['peak_rss_bytes'] / 2**20:.0f} MiB; hub state {bs['hub_state_bytes'] / 2**20:.0f} MiB "
            f"({bs['hub_bytes_per_message']:.0f} B/message, indexes {bs['hub_state_index_bytes'] / 2**20:.0f} MiB)",
        ]
    )


def pair(text: str) -> tuple[int, int]:
    c, _, m = text.partition("x")
    return int(c), int(m)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench --suite sync")
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--samples", type=int, default=0)
    parser.add_argument("--catch-up", type=pair, default=None, help="CONVERSATIONSxMESSAGES")
    parser.add_argument("--bootstrap", type=pair, default=None, help="CONVERSATIONSxMESSAGES")
    parser.add_argument("--out", type=Path, default=Path("bench-sync-results.json"))
    parser.add_argument("--bootstrap-child", nargs=2, metavar=("URL", "DATA_DIR"))
    args = parser.parse_args(argv)
    if args.bootstrap_child:
        asyncio.run(bootstrap_child(args.bootstrap_child[0], Path(args.bootstrap_child[1])))
        return 0
    args.samples = args.samples or (60 if args.quick else 300)
    args.catch_up = args.catch_up or ((20, 250) if args.quick else (100, 1000))
    args.bootstrap = args.bootstrap or ((20, 500) if args.quick else (1000, 1000))
    (ROOT / ".bench-tmp").mkdir(exist_ok=True)
    started = datetime.now(UTC)
    folder = None
    dsn = os.environ.get("CHAT_SIDECAR_TEST_PG_DSN")
    password = os.environ.get("CHAT_SIDECAR_TEST_PG_PASSWORD", "")
    if not dsn:
        folder = Path(tempfile.mkdtemp(prefix="chat-sidecar-pg-"))
        dsn, password = start_postgres(folder)
    try:
        figures = asyncio.run(run(args, dsn, password))
    finally:
        if folder is not None:
            subprocess.run(
                ["bash", str(ROOT / "scripts" / "_postgres.sh"), "stop", str(folder)], check=False
            )
    output = {
        "benchmark": "sync",
        "date": started.isoformat(timespec="seconds"),
        "code": code_version(),
        "machine": machine_info(ROOT / ".bench-tmp"),
        "sizes": {"samples": args.samples, "catch_up": args.catch_up, "bootstrap": args.bootstrap},
        "figures": figures,
    }
    args.out.write_bytes(orjson.dumps(output, option=orjson.OPT_INDENT_2))
    print(f"sync benchmark, {started:%Y-%m-%d %H:%M} UTC")
    print(report(figures))
    print(f"\nresults: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
