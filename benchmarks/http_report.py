"""The HTTP benchmark's rows (with targets) for the table ``python -m benchmarks`` prints.

Columns as in the store table: "baselines" holds the naive server's figure under the same load,
"ratio" says which way it is taken (ours/naive for both rates and latencies).
"""

from __future__ import annotations

from typing import Any

from .common import Figures, Results, Row, ms, rate, times

APPEND_TARGET = 1_500.0
READ_P99_TARGET_MS = 15.0
START_TARGET_S = 0.8
SSE_P99_TARGET_MS = 50.0
KINDS = ("ours", "naive")


def _dict(figures: Figures, key: str) -> dict[str, Any] | None:
    value = figures.get(key)
    return value if isinstance(value, dict) and "error" not in value else None


def build_rows(results: Results) -> None:
    f = results.figures
    _append_rows(results, _dict(f, "http-append"))
    _read_rows(results, _dict(f, "http-read"))
    _start_rows(results, _dict(f, "http-start"))
    _sse_rows(results, _dict(f, "http-sse"))
    _noise_row(results, f)


def _noise_row(results: Results, f: Figures) -> None:
    """How much of the CPUs other processes took during each HTTP part (client and server share
    the same cores, so this is the noise in every figure above)."""
    shares = {
        name.removeprefix("http-"): part["cpu"]["others_share"]
        for name in ("http-append", "http-read", "http-start", "http-sse")
        if (part := _dict(f, name)) is not None and "cpu" in part
    }
    if shares:
        results.row(
            Row(
                "http_noise",
                "CPU taken by other processes during the HTTP parts",
                ", ".join(f"{name} {share:.0%}" for name, share in shares.items()),
            )
        )


def _ratio(ours: float, naive: float) -> str:
    if naive <= 0 or ours <= 0:
        return ""
    value = ours / naive
    return f"ours/naive {times(value)}" if value >= 0.1 else f"ours/naive 1/{1 / value:,.0f}"


def _append_rows(results: Results, append: dict[str, Any] | None) -> None:
    if append is None:
        return
    clients = append["clients"]
    labels = {
        "own": (f"HTTP appends/s, {clients} clients, own conversation each", APPEND_TARGET),
        "shared": (f"HTTP appends/s, {clients} clients, all on one conversation", None),
    }
    for variant, (label, target) in labels.items():
        by_kind = append["variants"][variant]
        ours, naive = by_kind["ours"]["per_s"], by_kind["naive"]["per_s"]
        p99 = sorted(r["latency"]["p99_ms"] for r in by_kind["ours"]["runs"])
        results.row(
            Row(
                f"http_append_{variant}",
                label,
                f"{rate(ours)} (p99 {ms(p99[len(p99) // 2])})",
                f"naive {rate(naive)}",
                ratio=_ratio(ours, naive),
                target="" if target is None else f">= {target:,.0f}/s",
                met=None if target is None else ours >= target,
            )
        )


def _read_rows(results: Results, read: dict[str, Any] | None) -> None:
    if read is None:
        return
    ours, naive = read["ours"], read["naive"]
    load = ours["runs"][0]["append_rate_target"]
    unanswered = {k: sum(r.get("reads_unfinished", 0) for r in read[k]["runs"]) for k in KINDS}

    def cell(kind: str) -> str:
        figures = read[kind]
        text = f"{ms(figures['read_p99_ms'])} ({ms(figures['read_p50_ms'])})"
        missing = unanswered[kind]
        return text + (f", {missing} reads unanswered" if missing else "")

    results.row(
        Row(
            "http_read_under_load",
            f"GET last 50 of {read['messages']:,} msgs under {load:,.0f} appends/s: p99 (p50)",
            cell("ours"),
            f"naive {cell('naive')}",
            ratio=_ratio(ours["read_p99_ms"], naive["read_p99_ms"]),
            target=f"p99 < {READ_P99_TARGET_MS:g} ms",
            met=ours["read_p99_ms"] < READ_P99_TARGET_MS and unanswered["ours"] == 0,
        )
    )
    results.row(
        Row(
            "http_read_idle",
            "same GET, no load: p99 (p50); first read after start",
            f"{ms(ours['idle']['p99_ms'])} ({ms(ours['idle']['p50_ms'])}); "
            f"{ms(ours['first_read_ms'])}",
            f"naive {ms(naive['idle']['p99_ms'])} ({ms(naive['idle']['p50_ms'])})",
            ratio=f"appends achieved: ours {rate(ours['append_rate_achieved'])}, "
            f"naive {rate(naive['append_rate_achieved'])}",
        )
    )


def _start_rows(results: Results, start: dict[str, Any] | None) -> None:
    if start is None:
        return
    naive = start["naive"]["ready_s"] * 1000
    conversations = start["dataset"]["conversations"]
    for name, label in (
        ("empty", f"cold start to ready line, empty data dir (median of {start['runs']})"),
        ("big", f"cold start to ready line, {conversations:,} conversations"),
    ):
        ours = start[name]["ready_s"] * 1000
        results.row(
            Row(
                f"http_start_{name}",
                label,
                ms(ours),
                f"naive {ms(naive)}",
                ratio=f"{_ratio(ours, naive)}; first answer {ms(start[name]['first_answer_s'] * 1000)}",
                target=f"< {START_TARGET_S * 1000:,.0f} ms",
                met=ours < START_TARGET_S * 1000,
            )
        )
    first = start["big_first"]
    results.row(
        Row(
            "http_start_rebuild",
            f"first start on {conversations:,} conversations (no catalog yet)",
            ms(first["ready_s"] * 1000),
            ratio=f"first answer {ms(first['first_answer_s'] * 1000)}",
        )
    )


def _sse_rows(results: Results, events: dict[str, Any] | None) -> None:
    if events is None:
        return
    ours, naive = events["ours"], events["naive"]
    run = ours["runs"][0]
    missing = ours["missing"] + naive["missing"]
    results.row(
        Row(
            "http_sse",
            f"append to message.created at {run['clients']} SSE clients: p99 (p50)",
            f"{ms(ours['p99_ms'])} ({ms(ours['p50_ms'])})",
            f"naive {ms(naive['p99_ms'])} ({ms(naive['p50_ms'])})",
            ratio=_ratio(ours["p99_ms"], naive["p99_ms"])
            + (f"; {missing} events MISSING" if missing else ""),
            target=f"p99 < {SSE_P99_TARGET_MS:g} ms",
            met=ours["p99_ms"] < SSE_P99_TARGET_MS and ours["missing"] == 0,
        )
    )
