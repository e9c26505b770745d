"""``python -m benchmarks``: the store and HTTP benchmarks (see ``docs/benchmarks.md``).

Prints a table (operation, ours, baselines, floor, ratio, target, met/missed) and writes every
figure, the machine and the date as JSON. ``--quick`` runs small sizes in well under a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import itertools
import os
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import orjson

from . import (
    baselines,
    bigdata,
    hot_bench,
    hot_report,
    http_bench,
    http_report,
    migrate_bench,
    peer_bench,
    search_bench,
    store_ops,
    turn_bench,
)
from .common import (
    BENCH_TMP,
    Figures,
    Results,
    Sizes,
    bench_dir,
    code_version,
    machine_info,
    remove_bench_root,
)
from .report import NOTES, build_rows, render_markdown, render_text

STORE_SECTIONS = ("append", "baseline", "sequential", "concurrent", "open", "stream", "list", "rss")
SECTIONS = (
    STORE_SECTIONS
    + http_bench.SECTIONS
    + turn_bench.SECTIONS
    + migrate_bench.SECTIONS
    + peer_bench.SECTIONS
    + hot_bench.SECTIONS
)
SUITES = {
    "all": SECTIONS,
    "store": STORE_SECTIONS,
    "http": http_bench.SECTIONS,
    "turns": turn_bench.SECTIONS,
    "migrate": migrate_bench.SECTIONS,
    "peers": peer_bench.SECTIONS,
    "hot": hot_bench.SECTIONS,
}
BIG_CONTENT_CHARS = 256


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


async def _sequential(sizes: Sizes, workdir: Path) -> Figures:
    ours = await store_ops.sequential(sizes, workdir)
    return {"ours": ours, "baselines": baselines.sequential(sizes, workdir)}


async def _concurrent(sizes: Sizes, workdir: Path) -> Figures:
    ours = await store_ops.concurrent(sizes, workdir)
    return {"ours": ours, "baselines": await baselines.concurrent(sizes, workdir)}


async def _baseline(sizes: Sizes, workdir: Path) -> Figures:
    return baselines.append_latency(sizes, workdir)


SIMPLE: dict[str, Callable[[Sizes, Path], Awaitable[Figures]]] = {
    "append": store_ops.append_latency,
    "baseline": _baseline,
    "sequential": _sequential,
    "concurrent": _concurrent,
    "open": store_ops.cold_open,
    "stream": store_ops.streaming,
    **http_bench.SUITE,
    **turn_bench.SUITE,
    **migrate_bench.SUITE,
    **peer_bench.SUITE,
    **hot_bench.SUITE,
}


def _big_specs(sizes: Sizes) -> dict[str, tuple[int, int]]:
    """The generated data set each of "list" and "rss" needs: (conversations, messages each)."""
    rss = (sizes.rss_conversations, sizes.rss_messages_each)
    if sizes.list_conversations == sizes.rss_conversations:
        return {"list": rss, "rss": rss}
    return {"list": (sizes.list_conversations, 1), "rss": rss}


def _run_big(sizes: Sizes, selected: list[str], results: Results) -> None:
    specs = _big_specs(sizes)
    wanted = [name for name in ("list", "rss") if name in selected]
    done: dict[tuple[int, int], Figures] = {}
    for name in wanted:
        spec = specs[name]
        if spec not in done:
            with bench_dir(f"big-{spec[0]}x{spec[1]}") as workdir:
                data_dir = workdir / "data"
                log(f"generating {spec[0]:,} conversations x {spec[1]} messages")
                dataset = bigdata.generate(data_dir, spec[0], spec[1], BIG_CONTENT_CHARS)
                log(f"  generated in {dataset['generate_s']:.1f} s; probing in fresh processes")
                probes = bigdata.probe_all(data_dir, sizes.rss_opened, sizes.list_calls)
            done[spec] = {"dataset": dataset, "probes": probes}
        results.figures[name] = done[spec]


async def run(sizes: Sizes, selected: list[str], results: Results) -> list[str]:
    failed: list[str] = []
    for name in SECTIONS:
        if name not in selected or name not in SIMPLE:
            continue
        log(f"{name} ...")
        start = time.perf_counter()
        try:
            with bench_dir(name) as workdir:
                results.figures[name] = await SIMPLE[name](sizes, workdir)
        except Exception as exc:
            traceback.print_exc()
            results.figures[name] = {"error": repr(exc)}
            failed.append(name)
        log(f"{name} done in {time.perf_counter() - start:.1f} s")
    if "list" in selected or "rss" in selected:
        start = time.perf_counter()
        try:
            _run_big(sizes, selected, results)
        except Exception as exc:
            traceback.print_exc()
            for name in ("list", "rss"):
                if name in selected:
                    results.figures[name] = {"error": repr(exc)}
                    failed.append(name)
        log(f"list/rss done in {time.perf_counter() - start:.1f} s")
    return failed


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmark the durable chat-history store and its HTTP server.",
    )
    parser.add_argument(
        "--suite",
        choices=sorted(SUITES),
        default="all",
        help="store, http, turns, migrate, peers, hot, sync or all (default)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="the hot suite's alternating rounds (default 5, 3 with --quick)",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, fewer repetitions")
    parser.add_argument(
        "--out", type=Path, default=Path("bench-results.json"), help="JSON results file"
    )
    parser.add_argument(
        "--only",
        default="",
        help=f"comma-separated subset (overrides --suite) of: {','.join(SECTIONS)}",
    )
    parser.add_argument("--markdown", action="store_true", help="also print the table as Markdown")
    parser.add_argument(
        "--render",
        type=Path,
        metavar="RESULTS_JSON",
        help="run nothing: print the table of an earlier results file",
    )
    args = parser.parse_args(argv)
    selected = [s.strip() for s in args.only.split(",") if s.strip()] or list(SUITES[args.suite])
    unknown = sorted(set(selected) - set(SECTIONS))
    if unknown:
        parser.error(
            f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}"
        )
    args.selected = [s for s in SECTIONS if s in selected]
    args.label = "+".join(
        n
        for n in ("store", "http", "turns", "migrate", "peers", "hot")
        if set(SUITES[n]) & set(args.selected)
    )
    return args


def render(path: Path, markdown: bool) -> int:
    saved = orjson.loads(path.read_bytes())
    results = Results(figures=saved["figures"])
    build_rows(results)
    http_report.build_rows(results)
    turn_bench.build_rows(results)
    migrate_bench.build_rows(results)
    peer_bench.build_rows(results)
    hot_report.build_rows(results)
    print(f"{saved['benchmark']} benchmark of {saved['date']} ({path})")
    print(render_markdown(results.rows) if markdown else render_text(results.rows))
    return 0


def main(argv: list[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else argv
    if words[:1] == ["search"]:  # the search index suite: python -m benchmarks search [--quick]
        return search_bench.main(words[1:])
    if "--suite=sync" in words or any(
        a == "--suite" and b == "sync" for a, b in itertools.pairwise(words)
    ):  # sync through a PostgreSQL hub: its own runner (it needs a server)
        from . import sync_bench

        rest = [w for w in words if w not in ("--suite", "sync", "--suite=sync")]
        return sync_bench.main(rest)
    args = parse_args(argv)
    if args.render is not None:
        return render(args.render, args.markdown)
    sizes = dataclasses.replace(Sizes.pick(args.quick), hot_rounds=args.rounds)
    BENCH_TMP.mkdir(exist_ok=True)
    started = datetime.now(UTC)
    clock = time.perf_counter()
    machine = machine_info(BENCH_TMP)
    code = code_version()  # the commit measured: read before, not after, a run of minutes
    results = Results()
    log(f"{'quick' if sizes.quick else 'full'} run: {', '.join(args.selected)}")
    try:
        failed = asyncio.run(run(sizes, args.selected, results))
    finally:
        remove_bench_root()
    machine["load_average_at_end"] = list(os.getloadavg())
    build_rows(results)
    http_report.build_rows(results)
    turn_bench.build_rows(results)
    migrate_bench.build_rows(results)
    peer_bench.build_rows(results)
    hot_report.build_rows(results)
    output = {
        "benchmark": args.label,
        "date": started.isoformat(timespec="seconds"),
        "quick": sizes.quick,
        "sections": args.selected,
        "duration_s": time.perf_counter() - clock,
        "code": code,
        "machine": machine,
        "sizes": {k: getattr(sizes, k) for k in sizes.__dataclass_fields__},
        "rows": [row.to_json() for row in results.rows],
        "figures": results.figures,
        "notes": NOTES,
        "failed": failed,
    }
    args.out.write_bytes(orjson.dumps(output, option=orjson.OPT_INDENT_2))
    cpu = machine["cpu_model"]
    fs = machine["filesystem"].get("fstype", "?")
    print(
        f"{args.label} benchmark, {started:%Y-%m-%d %H:%M} UTC, {machine['nproc']} cpu ({cpu}), "
        f"Linux {machine['kernel']}, {fs}, {'quick' if sizes.quick else 'full'} run "
        f"in {output['duration_s']:.0f} s"
    )
    busy = machine["load_average_at_start"][0]
    if busy > 0.5 * (machine["nproc"] or 1):
        print(
            f"warning: load average {busy:.1f} on {machine['nproc']} cpus at the start: other work "
            "was running; fsync and CPU figures are noisy, rerun on a quieter machine"
        )
    print(render_text(results.rows))
    if args.markdown:
        print()
        print(render_markdown(results.rows))
    print(f"\nresults: {args.out}")
    if failed:
        print(f"FAILED sections: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
