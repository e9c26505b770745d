"""``python -m benchmarks search``: the search index at a million messages (docs/benchmarks.md).

Three parts, each in a fresh process so its RSS is its own:

1. **build**: a million generated messages (10,000 conversations x 100) fed straight into the
   index writer, through the same ``Writer.apply`` batches the live index uses (going through the
   store would measure TinyDB file generation, not the index). Reports the writer's time, the
   wall time including data generation, the file size and the peak RSS.
2. **query**: a fixed mix of queries (rare, medium and common words, two-word queries, phrases,
   prefixes, filters) through ``database.search`` on that index, twice; p50/p95 per kind and over
   the mix, the first pass (cold common-word cache) and the second; RSS after; the time of the
   ``PRAGMA quick_check`` that runs after every start.
3. **rebuild**: the real path, at a smaller size: a data dir of cloned conversations, then
   ``SearchIndex.open`` on a fresh index until it is idle (reconciliation reads every
   conversation through ``Store.all_messages``), extrapolated linearly; then write-to-searchable
   latency of appends through the store with the index attached.

Text: words drawn from a Zipf distribution over a 50,000-word vocabulary whose first words are
common English ones, so "the" is in most messages as in real chat; ~260 characters a message.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from sidecar.search import SearchConfig, SearchIndex, database
from sidecar.search.common_words import CommonWords
from sidecar.search.database import ConversationRow, MessageRow, Replace
from sidecar.search.index import INDEX_FILE
from sidecar.search.query import check_filters, parse_query
from sidecar.store import ListQuery, Store, StoreConfig

from .common import BENCH_TMP, bench_dir, machine_info, percentile
from .datagen import clone_conversations

ROOT = Path(__file__).resolve().parent.parent
COMMON = [
    "the",
    "to",
    "and",
    "of",
    "a",
    "i",
    "you",
    "is",
    "it",
    "that",
    "in",
    "for",
    "this",
    "with",
    "on",
    "be",
    "can",
    "are",
    "not",
    "your",
    "have",
    "as",
    "do",
    "if",
    "what",
    "we",
    "so",
    "but",
    "or",
    "at",
    "an",
    "my",
    "will",
    "me",
    "all",
    "was",
    "from",
    "just",
    "by",
    "there",
    "how",
    "use",
    "like",
    "get",
    "one",
]
VOCABULARY = 50_000
FRAGMENTS = 40_000


def vocabulary(seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    words = list(COMMON)
    seen = set(words)
    while len(words) < VOCABULARY:
        word = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 11)))
        if word not in seen:
            seen.add(word)
            words.append(word)
    return words


def fragments(words: list[str], seed: int = 11) -> list[str]:
    """Pieces of ~22 Zipf-distributed words; a message is two of them (varied and cheap)."""
    rng = random.Random(seed)
    weights = list(itertools.accumulate(1 / (rank + 1) for rank in range(len(words))))
    return [
        " ".join(rng.choices(words, cum_weights=weights, k=rng.randint(8, 36)))
        for _ in range(FRAGMENTS)
    ]


def rss_mb() -> dict[str, float]:
    status = Path("/proc/self/status").read_text()
    values = {}
    for line in status.splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0]) / 1024
    return {"rss_mb": round(values["VmRSS"], 1), "peak_rss_mb": round(values["VmHWM"], 1)}


def generated(conversations: int, each: int) -> Iterator[Replace]:
    words = vocabulary()
    pieces = fragments(words)
    rng = random.Random(3)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for number in range(conversations):
        at = start + timedelta(minutes=number)
        stamp = at.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        conversation = ConversationRow(
            id=f"conv-{number:06d}",
            title=" ".join(rng.choices(words[50:5000], k=rng.randint(2, 6))),
            revision=each + 1,
            updated_at=stamp,
            created_at=stamp,
            archived=number % 50 == 0,
            deleted=number % 100 == 1,
        )
        messages = [
            MessageRow(
                message_id=f"m{number:06d}-{i:04d}",
                role="user" if i % 2 == 0 else "assistant",
                created_at=(at + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                content=f"{rng.choice(pieces)} {rng.choice(pieces)}",
            )
            for i in range(each)
        ]
        yield Replace(conversation, messages)


def run_build(folder: Path, conversations: int, each: int) -> dict[str, Any]:
    path = folder / INDEX_FILE
    database.prepare(path)
    conn = database.connect(path, database.WRITER_CACHE_KIB)  # as the live index's writer
    writer = database.Writer(conn)
    weight_limit = SearchConfig().batch_weight
    started = time.perf_counter()
    applying = 0.0
    cpu = 0.0
    batch: list[Replace] = []
    weight = 0
    for command in generated(conversations, each):
        batch.append(command)
        weight += len(command.messages) + 1
        if weight >= weight_limit:
            clock, cpu_clock = time.perf_counter(), time.process_time()
            writer.apply(batch)
            applying += time.perf_counter() - clock
            cpu += time.process_time() - cpu_clock
            batch, weight = [], 0
    if batch:
        clock, cpu_clock = time.perf_counter(), time.process_time()
        writer.apply(batch)
        applying += time.perf_counter() - clock
        cpu += time.process_time() - cpu_clock
    wall = time.perf_counter() - started
    conn.close()
    size = sum(p.stat().st_size for p in folder.iterdir())
    return {
        "messages": writer.message_rows,
        "conversations": conversations,
        "writer_s": round(applying, 2),
        "writer_cpu_s": round(cpu, 2),
        "wall_with_generation_s": round(wall, 2),
        "messages_per_s": round(writer.message_rows / applying),
        "index_mb": round(size / 1e6, 1),
        **rss_mb(),
    }


def query_mix(seed: int = 5) -> list[tuple[str, str, dict[str, Any]]]:
    """(kind, q, filters) — 40 of each kind, from the same vocabulary as the data."""
    words = vocabulary()
    pieces = fragments(words)
    rng = random.Random(seed)
    mix: list[tuple[str, str, dict[str, Any]]] = []
    for _ in range(40):
        rare, medium = rng.choice(words[5000:40000]), rng.choice(words[100:1000])
        common = rng.choice(COMMON[:10])
        piece = rng.choice(pieces).split()
        at = rng.randrange(len(piece) - 1)
        mix += [
            ("rare word", rare, {}),
            ("medium word", medium, {}),
            ("common word alone", common, {}),
            ("two words", f"{medium} {rare}", {}),
            ("common + rare", f"{common} {rare}", {}),
            ("two common words", f"{common} {rng.choice(COMMON[10:30])}", {}),
            ("phrase", f'"{piece[at]} {piece[at + 1]}"', {}),
            ("prefix 4+", rng.choice([w for w in words[200:3000] if len(w) >= 6])[:4] + "*", {}),
            ("prefix 3", rng.choice([w for w in words[200:3000] if len(w) >= 5])[:3] + "*", {}),
            (
                "in one conversation",
                common,
                {"conversation_id": f"conv-{rng.randrange(10_000):06d}"},
            ),
            ("role + dates", medium, {"role": "assistant", "created_from": "2026-01-02"}),
        ]
    return mix


def run_queries(folder: Path) -> dict[str, Any]:
    path = folder / INDEX_FILE
    started = time.perf_counter()
    problem = database.check_integrity(path)
    check_s = time.perf_counter() - started
    conn = database.connect(path)
    rows = int(conn.execute("SELECT count(*) FROM msgs").fetchone()[0])
    common = CommonWords(SearchConfig())
    frequent = CommonWords(SearchConfig(), SearchConfig().typed_exact_fraction)
    mix = query_mix()
    passes: list[dict[str, list[float]]] = []
    cpu_passes: list[dict[str, list[float]]] = []
    hits = 0
    for _ in range(2):
        times: dict[str, list[float]] = {}
        cpu_times: dict[str, list[float]] = {}
        for kind, q, filters in mix:
            clock, cpu_clock = time.perf_counter(), time.thread_time()
            items = database.search(
                conn,
                parse_query(q),
                check_filters(**filters),
                20,
                lambda c, p: common.check(c, p, rows),
                lambda c, p: frequent.check(c, p, rows),
            )
            times.setdefault(kind, []).append(time.perf_counter() - clock)
            cpu_times.setdefault(kind, []).append(time.thread_time() - cpu_clock)
            hits += len(items)
        passes.append(times)
        cpu_passes.append(cpu_times)
    conn.close()

    def summary(times: dict[str, list[float]]) -> dict[str, Any]:
        every = [t for series in times.values() for t in series]
        kinds = {
            kind: {
                "p50_ms": round(percentile(s, 50) * 1000, 2),
                "p95_ms": round(percentile(s, 95) * 1000, 2),
                "max_ms": round(max(s) * 1000, 2),
            }
            for kind, s in times.items()
        }
        return {
            "queries": len(every),
            "p50_ms": round(percentile(every, 50) * 1000, 2),
            "p95_ms": round(percentile(every, 95) * 1000, 2),
            "p99_ms": round(percentile(every, 99) * 1000, 2),
            "kinds": kinds,
        }

    return {
        "messages": rows,
        "quick_check_s": round(check_s, 2),
        "quick_check_problem": problem,
        "first_pass": summary(passes[0]),
        "second_pass": summary(passes[1]),
        "second_pass_cpu": summary(cpu_passes[1]),
        "hits": hits,
        **rss_mb(),
    }


async def run_rebuild(data_dir: Path, appends: int) -> dict[str, Any]:
    store = await Store.open(data_dir, StoreConfig(checkpoint_interval=3600))
    started, cpu_started = time.perf_counter(), time.process_time()
    index = await SearchIndex.open(store)
    opened = time.perf_counter() - started
    await index.idle()
    rebuilt = time.perf_counter() - started
    rebuilt_cpu = time.process_time() - cpu_started
    messages = index.stats()["messages"]
    after_rebuild = rss_mb()
    # The store's share of the rebuild: reading every conversation whole, nothing indexed.
    clock = time.perf_counter()
    for summary in store.list_conversations(ListQuery(limit=500, archived=None)).items:
        await store.all_messages(summary["id"])
    store_read = time.perf_counter() - clock
    conversation_id = store.list_conversations().items[0]["id"]
    visible: list[float] = []
    for number in range(appends):
        word = f"marker{number}x"
        clock = time.perf_counter()
        await store.append_message(conversation_id, role="user", content=f"append {word}")
        # a query waits (up to fresh_wait) for changes already queued: usually found at once
        for _ in range(1000):
            if (await index.query(word))["items"]:
                break
            await asyncio.sleep(0.001)
        visible.append(time.perf_counter() - clock)
    await index.close()
    await store.close()
    return {
        "messages": messages,
        "open_s": round(opened, 3),
        "rebuild_s": round(rebuilt, 2),
        "rebuild_cpu_s": round(rebuilt_cpu, 2),
        "messages_per_s": round(messages / rebuilt),
        "extrapolated_1m_s": round(rebuilt * 1_000_000 / max(1, messages), 1),
        "extrapolated_1m_cpu_s": round(rebuilt_cpu * 1_000_000 / max(1, messages), 1),
        "store_read_s": round(store_read, 2),
        "after_rebuild": after_rebuild,
        "append_to_searchable_p50_ms": round(percentile(visible, 50) * 1000, 2),
        "append_to_searchable_p95_ms": round(percentile(visible, 95) * 1000, 2),
        **rss_mb(),
    }


def child(*args: str) -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks.search_bench", *args]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"{args[0]} failed: {done.stderr.strip()[-2000:]}")
    result: dict[str, Any] = orjson.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks search")
    parser.add_argument("--quick", action="store_true", help="100,000 messages, 10,000 rebuilt")
    parser.add_argument("--out", type=Path, default=Path("bench-results-search.json"))
    parser.add_argument("--phase", choices=("build", "query", "rebuild"), help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.phase == "build":
        print(orjson.dumps(run_build(args.dir, *args.size)).decode())
        return 0
    if args.phase == "query":
        print(orjson.dumps(run_queries(args.dir)).decode())
        return 0
    if args.phase == "rebuild":
        print(orjson.dumps(asyncio.run(run_rebuild(args.dir, args.size[0]))).decode())
        return 0
    conversations, each = (1000, 100) if args.quick else (10_000, 100)
    store_conversations, store_each = (100, 100) if args.quick else (500, 100)
    BENCH_TMP.mkdir(exist_ok=True)
    started = datetime.now(UTC)
    results: dict[str, Any] = {
        "benchmark": "search",
        "date": started.isoformat(timespec="seconds"),
        "machine": machine_info(BENCH_TMP),
    }
    with bench_dir("search-index") as folder:
        print(f"building {conversations * each:,} messages ...", file=sys.stderr)
        results["build"] = child(
            "--phase", "build", "--dir", str(folder), "--size", str(conversations), str(each)
        )
        print(f"  {results['build']}", file=sys.stderr)
        results["query"] = child("--phase", "query", "--dir", str(folder))
        print(f"  query p95 {results['query']['second_pass']['p95_ms']} ms", file=sys.stderr)
    with bench_dir("search-store") as workdir:
        data_dir = workdir / "data"
        clone_conversations(data_dir, store_conversations, store_each, 256, "checksummed")
        results["rebuild"] = child(
            "--phase", "rebuild", "--dir", str(data_dir), "--size", "200", "0"
        )
        print(f"  rebuild {results['rebuild']}", file=sys.stderr)
    args.out.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    print(orjson.dumps({k: v for k, v in results.items() if k != "machine"}).decode())
    print(f"results: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
