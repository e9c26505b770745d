"""Turn the raw figures into the table's rows (with targets) and print them."""

from __future__ import annotations

from typing import Any

from .common import Figures, Results, Row, ms, rate, times

APPEND_FLOOR_RATIO = 2.0
APPEND_FLATNESS = 1.3
CONCURRENT_TARGET = 2_000.0
OPEN_TARGET_MS = 20.0
LIST_TARGET_MS = 50.0
STREAM_TARGET_S = 0.5
RSS_TARGET_MB = 150.0
BASELINE_FACTOR = 20.0

NOTES = [
    "All writes are durable when timed as done: ours = one journal record covered by fdatasync "
    "(group commit); baselines fsync too.",
    "floor = os.write of one journal record's bytes + os.fdatasync (fsync shown too) on an "
    "O_APPEND file in the same temp dir, sampled in the same rounds as our appends; 'via thread' = "
    "the same write + fdatasync awaited through a one-thread executor, as the journal does it.",
    "tinydb = TinyDB 4.x default JSONStorage, one insert per message: it re-reads and re-parses "
    "the whole file, then rewrites it in place and calls os.fsync (TinyDB 4.9 does fsync), but "
    "the rewrite is not atomic (a crash can leave a torn file).",
    "json-file = one JSON file per conversation rewritten whole per message (orjson, temp file, "
    "fsync, os.replace, fsync dir); messages kept in memory between writes.",
    "Concurrent baselines: one thread per writer (pool of 50), each on its own file.",
    "Cold open: store reopened each time; disk-cold also evicts every data-dir file from the page "
    "cache with posix_fadvise(DONTNEED) first.",
]


def _get(figures: Figures, *path: str) -> Any:
    node: Any = figures
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def build_rows(results: Results) -> None:
    f = results.figures
    _append_rows(results, f)
    _throughput_rows(results, f)
    _open_rows(results, f)
    _list_rows(results, f)
    _stream_rows(results, f)
    _rss_rows(results, f)


def _baseline_p50(f: Figures, size: int) -> dict[str, float]:
    out: dict[str, float] = {}
    for kind in ("tinydb", "json-file"):
        value = _get(f, "baseline", kind, str(size), "p50_ms")
        if value is not None:
            out[kind] = value
    return out


def _append_rows(results: Results, f: Figures) -> None:
    append = f.get("append")
    if not isinstance(append, dict) or "sizes" not in append:
        baseline = f.get("baseline")
        if isinstance(baseline, dict):
            for size in sorted(
                {int(s) for k in ("tinydb", "json-file") for s in baseline.get(k, {})}
            ):
                text = ", ".join(f"{k} {ms(v)}" for k, v in _baseline_p50(f, size).items())
                results.row(Row(f"append_{size}", f"append p50 @ {size:,} msgs", "-", text))
        return
    floor = append["floor"]["fdatasync"]["p50_ms"]
    floor_fsync = append["floor"]["fsync"]["p50_ms"]
    via_thread = append["floor"]["fdatasync_via_thread"]["p50_ms"]
    floor_text = f"{ms(floor)} (fsync {ms(floor_fsync)}; via thread {ms(via_thread)})"
    for size_text, s in append["sizes"].items():
        size = int(size_text)
        bases = _baseline_p50(f, size)
        ratio = s["p50_ms"] / floor
        results.row(
            Row(
                f"append_{size}",
                f"append p50 (p99) @ {size:,} msgs",
                f"{ms(s['p50_ms'])} ({ms(s['p99_ms'])})",
                ", ".join(f"{k} {ms(v)}" for k, v in bases.items()),
                floor_text,
                f"{times(ratio)} floor",
                f"<= {APPEND_FLOOR_RATIO:g}x floor",
                ratio <= APPEND_FLOOR_RATIO,
            )
        )
    sizes = sorted(int(s) for s in append["sizes"])
    smallest, largest = append["sizes"][str(sizes[0])], append["sizes"][str(sizes[-1])]
    flat = largest["p50_ms"] / smallest["p50_ms"]
    results.row(
        Row(
            "append_flat",
            f"append p50 @ {sizes[-1]:,} / @ {sizes[0]:,}",
            f"{ms(largest['p50_ms'])} / {ms(smallest['p50_ms'])}",
            ratio=times(flat),
            target=f"<= {APPEND_FLATNESS:g}x",
            met=flat <= APPEND_FLATNESS,
        )
    )
    bases = _baseline_p50(f, sizes[-1])
    if bases:
        ratios = {k: v / largest["p50_ms"] for k, v in bases.items()}
        results.row(
            Row(
                "vs_baselines",
                f"append p50 @ {sizes[-1]:,}: ours vs baselines",
                ms(largest["p50_ms"]),
                ", ".join(f"{k} {ms(v)}" for k, v in bases.items()),
                ratio=", ".join(f"{times(r)} vs {k}" for k, r in ratios.items()),
                target=f">= {BASELINE_FACTOR:g}x both",
                met=len(ratios) == 2 and all(r >= BASELINE_FACTOR for r in ratios.values()),
            )
        )


def _throughput_rows(results: Results, f: Figures) -> None:
    floor = _get(f, "append", "floor", "fdatasync", "p50_ms")
    seq = f.get("sequential")
    if isinstance(seq, dict) and "ours" in seq:
        ours = seq["ours"]["per_s"]
        bases = {k: seq["baselines"][k]["per_s"] for k in ("tinydb", "json-file")}
        results.row(
            Row(
                "sequential",
                f"sequential appends/s (1 writer, {seq['ours']['appends']} msgs)",
                rate(ours),
                ", ".join(f"{k} {rate(v)}" for k, v in bases.items()),
                "" if floor is None else f"{rate(1000 / floor)} (1/floor)",
                ", ".join(f"{times(ours / v)} vs {k}" for k, v in bases.items()),
            )
        )
    conc = f.get("concurrent")
    if isinstance(conc, dict) and "ours" in conc:
        ours = conc["ours"]["per_s"]
        bases = {k: conc["baselines"][k]["per_s"] for k in ("tinydb", "json-file")}
        results.row(
            Row(
                "concurrent",
                f"appends/s, {conc['ours']['writers']} concurrent writers",
                f"{rate(ours)} (p99 {ms(conc['ours']['latency']['p99_ms'])})",
                ", ".join(f"{k} {rate(v)}" for k, v in bases.items()),
                "" if floor is None else f"{rate(1000 / floor)} (1/floor)",
                ", ".join(f"{times(ours / v)} vs {k}" for k, v in bases.items()),
                f">= {CONCURRENT_TARGET:,.0f}/s",
                ours >= CONCURRENT_TARGET,
            )
        )


def _open_rows(results: Results, f: Figures) -> None:
    cold = f.get("open")
    if not isinstance(cold, dict) or "disk_cold" not in cold:
        return
    value = cold["disk_cold"]["list_p50_ms"]
    results.row(
        Row(
            "open_last_50",
            f"last 50 of {cold['messages']:,} msgs after reopen, disk-cold",
            ms(value),
            ratio=f"cache-warm {ms(cold['cache_warm']['list_p50_ms'])}",
            target=f"< {OPEN_TARGET_MS:g} ms",
            met=value < OPEN_TARGET_MS,
        )
    )
    results.row(
        Row(
            "reopen",
            "store reopen (small data dir), disk-cold / cache-warm",
            f"{ms(cold['disk_cold']['open_p50_ms'])} / {ms(cold['cache_warm']['open_p50_ms'])}",
        )
    )


def _list_rows(results: Results, f: Figures) -> None:
    listing = f.get("list")
    if not isinstance(listing, dict) or "probes" not in listing:
        return
    probes = listing["probes"]
    count = probes["warm_catalog"]["conversations"]
    value = median_of(probes, "list", "p50_ms")
    results.row(
        Row(
            "list",
            f"list_conversations(limit=50), {count:,} convs",
            f"{ms(value)} (p99 {ms(median_of(probes, 'list', 'p99_ms'))})",
            target=f"< {LIST_TARGET_MS:g} ms",
            met=value < LIST_TARGET_MS,
        )
    )
    rebuild, warm = probes["rebuild"], probes["warm_catalog_disk_cold"]
    results.row(
        Row(
            "list_first_page",
            f"open + first page, {count:,} convs: rebuild / catalog, disk-cold",
            f"{ms(rebuild['open_plus_first_page_ms'])} / {ms(warm['open_plus_first_page_ms'])}",
            ratio=f"first page alone {ms(rebuild['first_page_ms'])}",
        )
    )


def median_of(probes: Figures, *path: str) -> float:
    values = sorted(float(v) for run in probes.values() if (v := _get(run, *path)) is not None)
    return values[len(values) // 2]


def _stream_rows(results: Results, f: Figures) -> None:
    stream = f.get("stream")
    if not isinstance(stream, dict) or "wall_s" not in stream:
        return
    wall = stream["wall_s"]
    results.row(
        Row(
            "stream",
            f"{stream['deltas']:,} streaming deltas, {stream['replies']} replies",
            f"{wall * 1000:,.0f} ms ({rate(stream['per_s'])}; CPU {stream['cpu_s'] * 1000:,.0f} ms)",
            ratio=f"delta p50 {ms(stream['latency']['p50_ms'])}, p99 {ms(stream['latency']['p99_ms'])}",
            target=f"< {STREAM_TARGET_S:g} s",
            met=wall < STREAM_TARGET_S,
        )
    )


def _rss_rows(results: Results, f: Figures) -> None:
    rss = f.get("rss")
    if not isinstance(rss, dict) or "probes" not in rss:
        return
    probes = rss["probes"]
    dataset = rss["dataset"]
    runs = [probes[run] for run in ("rebuild", "warm_catalog_disk_cold", "warm_catalog")]
    worst = max(run["rss_mb"] for run in runs)
    peak = max(run["peak_rss_mb"] or 0.0 for run in runs)
    results.row(
        Row(
            "rss",
            f"RSS, {dataset['conversations']:,} convs / {dataset['messages']:,} msgs",
            f"{worst:.0f} MB",
            ratio=f"warm open {probes['warm_catalog']['rss_mb']:.0f} MB, peak during open {peak:.0f} MB",
            target=f"< {RSS_TARGET_MB:g} MB",
            met=worst < RSS_TARGET_MB,
        )
    )
    results.row(
        Row(
            "open_big",
            f"store open, {dataset['conversations']:,} convs: rebuild / catalog",
            f"{ms(probes['rebuild']['open_ms'])} / {ms(probes['warm_catalog_disk_cold']['open_ms'])}",
            ratio=f"catalog, cache-warm {ms(probes['warm_catalog']['open_ms'])}",
        )
    )


# ----------------------------------------------------------------------------- rendering

HEADERS = ("operation", "ours", "baselines", "floor", "ratio", "target", "met")


def _cells(row: Row) -> tuple[str, ...]:
    met = "" if row.met is None else ("met" if row.met else "MISSED")
    return (row.operation, row.ours, row.baselines, row.floor, row.ratio, row.target, met)


def render_text(rows: list[Row]) -> str:
    table = [HEADERS, *(_cells(r) for r in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADERS))]
    lines = []
    for number, line in enumerate(table):
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)).rstrip())
        if number == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render_markdown(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    for row in rows:
        cells = [c.replace("|", "\\|") for c in _cells(row)]
        if row.met is False:
            cells[-1] = "**missed**"
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
