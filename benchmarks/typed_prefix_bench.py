"""The typed-prefix rule of search (issue #14) against its anchor, measured in the same run.

``python -m benchmarks.typed_prefix_bench [--size CONVERSATIONS]`` builds an index of
CONVERSATIONS x 100 generated messages (default 10,000: one million; the data of
``search_bench``), then runs ``search_bench``'s query mix three times, each query once with the
rule (the last bare word is also a prefix unless frequent) and once without it (the anchor: that
word exact), alternating which goes first; the first pass warms the caches and is not counted.
Prints p50/p95/p99 of both and their ratios, overall and per kind, as JSON.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import orjson

from sidecar.search import database
from sidecar.search.common_words import CommonWords
from sidecar.search.config import SearchConfig
from sidecar.search.index import INDEX_FILE
from sidecar.search.query import Part, check_filters, parse_query

from .common import bench_dir, percentile
from .search_bench import query_mix, run_build


def _anchor(q: str) -> list[Part]:
    return [Part(part.text, False, False) if part.typed else part for part in parse_query(q)]


def _summary(times: dict[str, list[float]]) -> dict[str, Any]:
    every = [t for series in times.values() for t in series]
    return {
        "p50_ms": round(percentile(every, 50) * 1000, 2),
        "p95_ms": round(percentile(every, 95) * 1000, 2),
        "p99_ms": round(percentile(every, 99) * 1000, 2),
        "kinds": {
            kind: [round(percentile(s, 50) * 1000, 1), round(percentile(s, 95) * 1000, 1)]
            for kind, s in times.items()
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.typed_prefix_bench")
    parser.add_argument("--size", type=int, default=10_000, help="conversations of 100 messages")
    args = parser.parse_args()
    with bench_dir("typed-prefix") as folder:
        build = run_build(folder, args.size, 100)
        conn = database.connect(folder / INDEX_FILE)
        rows = int(conn.execute("SELECT count(*) FROM msgs").fetchone()[0])
        config = SearchConfig()
        common = CommonWords(config)
        frequent = CommonWords(config, config.typed_exact_fraction)
        times: dict[str, dict[str, list[float]]] = {"rule": {}, "anchor": {}}
        for repetition in range(3):
            for kind, q, filters in query_mix():
                order = [("rule", parse_query), ("anchor", _anchor)]
                for name, parse in order if repetition % 2 == 0 else order[::-1]:
                    started = time.perf_counter()
                    database.search(
                        conn,
                        parse(q),
                        check_filters(**filters),
                        20,
                        lambda c, p: common.check(c, p, rows),
                        lambda c, p: frequent.check(c, p, rows),
                    )
                    if repetition:
                        times[name].setdefault(kind, []).append(time.perf_counter() - started)
        conn.close()
    rule, anchor = _summary(times["rule"]), _summary(times["anchor"])
    ratios = {k: round(rule[k] / anchor[k], 2) for k in ("p50_ms", "p95_ms", "p99_ms")}
    result = {"messages": rows, "build": build, "rule": rule, "anchor": anchor, "ratios": ratios}
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
