"""Run in a fresh interpreter: open a big data dir, list, open some conversations, report RSS.

``python -m benchmarks.probe DATA_DIR --storage NAME --opened N --list-calls N`` prints one JSON
object on stdout. A separate process keeps the parent's benchmark garbage out of the RSS figure.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

import orjson

from sidecar.store import ListQuery, Store, StoreConfig

from .common import latency_summary, now


def _status_kb(field: str) -> int | None:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return None


def _rss_mb() -> float:
    """Resident set size now (``VmRSS``), in MiB."""
    return (_status_kb("VmRSS") or 0) / 1024


async def probe(data_dir: Path, storage: str, opened: int, list_calls: int) -> dict[str, Any]:
    rss_before = _rss_mb()
    catalog_present = (data_dir / "catalog.json").exists()
    start = now()
    store = await Store.open(data_dir, StoreConfig(storage=storage))
    open_s = now() - start
    try:
        begin = now()
        page = store.list_conversations(ListQuery(limit=50))
        first_page_s = now() - begin
        if len(page.items) != min(50, store.stats()["conversations"]):
            raise RuntimeError("the first page is short")
        open_times: list[float] = []
        for conversation in page.items[:opened]:
            begin = now()
            items, _ = await store.list_messages(conversation["id"], limit=50)
            open_times.append(now() - begin)
            if not items:
                raise RuntimeError(f"conversation {conversation['id']} came back empty")
        rss_after = _rss_mb()
        hwm_kb = _status_kb("VmHWM")
        list_times: list[float] = []
        for _ in range(list_calls):
            begin = now()
            store.list_conversations(ListQuery(limit=50))
            list_times.append(now() - begin)
        stats = store.stats()
    finally:
        begin = now()
        await store.close()
        close_s = now() - begin
    return {
        "catalog_present": catalog_present,
        "conversations": stats["conversations"],
        "messages": stats["messages"],
        "open_ms": open_s * 1000,
        "first_page_ms": first_page_s * 1000,
        "open_plus_first_page_ms": (open_s + first_page_s) * 1000,
        "conversation_opens": latency_summary(open_times),
        "list": latency_summary(list_times),
        "rss_before_open_mb": rss_before,
        "rss_mb": rss_after,
        "peak_rss_mb": None if hwm_kb is None else hwm_kb / 1024,
        "close_ms": close_s * 1000,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.probe")
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--storage", default="checksummed")
    parser.add_argument("--opened", type=int, default=10)
    parser.add_argument("--list-calls", type=int, default=200)
    args = parser.parse_args(argv)
    result = asyncio.run(probe(args.data_dir, args.storage, args.opened, args.list_calls))
    sys.stdout.write(orjson.dumps(result).decode() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
