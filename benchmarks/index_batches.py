"""What the search index writer costs per appended message, by transaction size.

``python -m benchmarks.index_batches [--base CHECKOUT] [--messages N] [--rounds N]`` feeds
``Writer.apply`` the commands live appends make (each message with its conversation's new row,
16 conversations in turn, ~1 KiB of words) in transactions of 8, 50, 250 and 1,000 messages:
8 is a 16-writer journal batch written alone, 50 what the writer gathers in its 50 ms linger at
1,000 appends/s. Each size runs in a fresh process on a fresh index under ``.bench-tmp/``, for
this checkout and, with ``--base``, another one (alternating), and it prints the median over
the rounds of CPU and wall time per message: the measurement behind docs/benchmarks.md,
"Fifth round". The writer runs on a thread of the serving process, so every millisecond of its
CPU is one the event loop's thread may wait for.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from .common import BENCH_TMP, median
from .launch import ROOT

SIZES = (8, 50, 250, 1000)

#: Runs in the checkout measured (its ``sidecar`` first on the path): argv is the index file,
#: the transaction size and the number of messages; prints CPU and wall ms per message.
CHILD = """
import json, random, sys, time
from pathlib import Path
from sidecar.search import database
from sidecar.search.database import ConversationRow, MessageRow, Update
path, size, total = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
words = [f"w{n}" for n in range(5000)] + ["the", "and", "of", "to", "a"] * 400
rng = random.Random(3)
texts = [" ".join(rng.choices(words, k=170))[:1024] for _ in range(64)]
database.prepare(path)
writer = database.Writer(database.connect(path, database.WRITER_CACHE_KIB))
sent = 0
cpu, wall = time.thread_time(), time.perf_counter()
while sent < total:
    batch = []
    for _ in range(size):
        cid = f"c{sent % 16}"
        row = ConversationRow(cid, "title", sent, f"u{sent}", "c", False, False)
        batch.append(Update(cid, row, [MessageRow(f"m{sent}", "user", "c", texts[sent % 64])]))
        sent += 1
    writer.apply(batch)
cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
print(json.dumps({"cpu_ms": cpu * 1e3 / sent, "wall_ms": wall * 1e3 / sent}))
"""


def measure(checkout: Path, size: int, messages: int) -> dict[str, float]:
    """One fresh process writing ``messages`` into a fresh index in ``size``-message batches."""
    with tempfile.TemporaryDirectory(dir=BENCH_TMP) as folder:
        index = str(Path(folder) / "index.sqlite3")
        done = subprocess.run(
            [sys.executable, "-c", CHILD, index, str(size), str(messages)],
            cwd=checkout,
            env={"PYTHONPATH": str(checkout), "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
        )
    if done.returncode:
        raise RuntimeError(f"the writer in {checkout} failed: {done.stderr.strip()}")
    figures: dict[str, float] = json.loads(done.stdout)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.index_batches")
    parser.add_argument("--base", type=Path, help="another checkout to compare with")
    parser.add_argument("--messages", type=int, default=12_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    BENCH_TMP.mkdir(exist_ok=True)
    checkouts = {"this": ROOT, **({"base": args.base.resolve()} if args.base else {})}
    results: dict[tuple[str, int], list[dict[str, float]]] = {}
    for round_number in range(args.rounds):
        order = list(checkouts.items())
        if round_number % 2:
            order.reverse()
        for size in SIZES:
            for name, checkout in order:
                figures = measure(checkout, size, args.messages)
                results.setdefault((name, size), []).append(figures)
    print(f"search index writer, ms per message ({args.rounds} rounds, medians)")
    for size in SIZES:
        line = f"  batch {size:5}"
        cpu: dict[str, float] = {}
        for name in checkouts:
            runs = results[(name, size)]
            cpu[name] = median([run["cpu_ms"] for run in runs])
            wall = median([run["wall_ms"] for run in runs])
            line += f"  {name} cpu {cpu[name]:.4f} wall {wall:.4f}"
        if args.base:
            line += f"  this/base cpu {cpu['this'] / cpu['base']:.2f}"
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
