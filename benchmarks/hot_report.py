"""The hot suite's rows: issue #18's goal, each as a ratio of medians with its target, met or not.

"baselines" holds the naive server's figure (or the disk's floor) from the same run; "ratio" is
ours over it for latencies and times, ours over it for rates too (so > 1 is better for a rate,
< 1 is better for a latency).
"""

from __future__ import annotations

from typing import Any

from .common import Results, Row, ms, rate, times

#: The goal of issue #18: figure -> (how ours compares, bound).
APPEND_P50_MAX = 1.0  # ours/naive
MANY_WRITERS_MIN = 1.5  # ours/naive appends/s
SHARED_MIN = 1.0  # ours/naive appends/s
STORE_FLOOR_MAX = 2.0  # store append p50 / bare write + fsync
STREAM_MAX_S = 0.5
START_MAX = 1.5  # ours/naive
IDLE_RSS_MAX_MB = 60.0


def build_rows(results: Results) -> None:
    hot = results.figures.get("hot")
    if not isinstance(hot, dict) or "error" in hot:
        return
    http = hot["http"]
    rounds = hot["rounds"]
    _latency(results, http, "one", "main", rounds)
    for figure, minimum in (("own16", MANY_WRITERS_MIN), ("own50", MANY_WRITERS_MIN)):
        _throughput(results, http, figure, "own conversation each", minimum, "main")
    _throughput(results, http, "shared", "all on one conversation", SHARED_MIN, "main")
    _latency(results, http, "held_one", "held-out", rounds)
    _throughput(results, http, "held16", "own conversation each", MANY_WRITERS_MIN, "held-out")
    _floors(results, hot)
    _stream(results, hot["stream"])
    _start(results, hot["start"])
    _rss(results, hot["rss"])
    load = hot["load_average"]
    results.row(
        Row(
            "hot_noise",
            "load average (1 min) at the hot suite's start / end",
            f"{load['start'][0]:.2f} / {load['end'][0]:.2f}",
        )
    )


def _latency(results: Results, http: dict[str, Any], figure: str, client: str, n: int) -> None:
    ours, naive = http[figure]["ours"]["p50_ms"], http[figure]["naive"]["p50_ms"]
    value = ours / naive
    results.row(
        Row(
            f"hot_{figure}",
            f"append p50, one writer, 1 KiB ({client} client, median of {n} rounds)",
            ms(ours),
            f"naive {ms(naive)}",
            ratio=f"ours/naive {times(value)}; server CPU/msg {_cpu(http[figure])}",
            target=f"<= {APPEND_P50_MAX:g}x naive",
            met=value <= APPEND_P50_MAX,
        )
    )


def _throughput(
    results: Results, http: dict[str, Any], figure: str, label: str, minimum: float, client: str
) -> None:
    ours, naive = http[figure]["ours"]["per_s"], http[figure]["naive"]["per_s"]
    value = ours / naive
    results.row(
        Row(
            f"hot_{figure}",
            f"appends/s, {http[figure]['ours']['writers']} writers, {label} ({client} client)",
            rate(ours),
            f"naive {rate(naive)}",
            ratio=f"ours/naive {times(value)}; server CPU/msg {_cpu(http[figure])}",
            target=f">= {minimum:g}x naive",
            met=value >= minimum,
        )
    )


def _cpu(by_kind: dict[str, Any]) -> str:
    """The servers' CPU per message, ours / naive (absent in results from before it was kept),
    and what aiohttp alone reaches, when the run measured it."""
    if "server_cpu_ms_per_msg" not in by_kind["ours"]:
        return "n/a"
    ours, naive = (by_kind[k]["server_cpu_ms_per_msg"] for k in ("ours", "naive"))
    text = f"{ms(ours)} / {ms(naive)}"
    alone = by_kind.get("aiohttp")
    if alone is not None:
        text += (
            f"; aiohttp alone (no disk): p50 {ms(alone['p50_ms'])}, {rate(alone['per_s'])},"
            f" CPU/msg {ms(alone['server_cpu_ms_per_msg'])}"
        )
    return text


def _floors(results: Results, hot: dict[str, Any]) -> None:
    floor = hot["floor"]["p50_ms"]
    one = hot["http"]["one"]
    results.row(
        Row(
            "hot_rest_floor",
            f"REST append p50 against bare write + fsync of {hot['record_bytes']:,} B",
            ms(one["ours"]["p50_ms"]),
            f"floor {ms(floor)}; naive {times(one['naive']['p50_ms'] / floor)} of it",
            ratio=f"ours/floor {times(one['ours']['p50_ms'] / floor)}",
        )
    )
    store = hot["store"]
    value = store["p50_ms"] / store["floor_p50_ms"]
    results.row(
        Row(
            "hot_store",
            "store append p50 (in-process Store.append_message) against the same floor",
            ms(store["p50_ms"]),
            f"floor {ms(store['floor_p50_ms'])}",
            ratio=f"ours/floor {times(value)}",
            target=f"<= {STORE_FLOOR_MAX:g}x floor",
            met=value <= STORE_FLOOR_MAX,
        )
    )


def _stream(results: Results, stream: dict[str, Any]) -> None:
    results.row(
        Row(
            "hot_stream",
            f"{stream['deltas']:,} streaming deltas through the store "
            f"({stream['replies']} replies x {stream['deltas_each']})",
            ms(stream["wall_s"] * 1000),
            ratio=f"{rate(stream['per_s'])}; p50 {ms(stream['latency']['p50_ms'])} per delta",
            target=f"< {STREAM_MAX_S * 1000:,.0f} ms",
            met=stream["wall_s"] < STREAM_MAX_S,
        )
    )


def _start(results: Results, start: dict[str, Any]) -> None:
    ours, naive = start["ours"]["ready_ms"], start["naive"]["ready_ms"]
    value = ours / naive
    results.row(
        Row(
            "hot_start",
            "cold start to ready line, empty data dir",
            ms(ours),
            f"naive {ms(naive)}",
            ratio=f"ours/naive {times(value)}",
            target=f"<= {START_MAX:g}x naive",
            met=value <= START_MAX,
        )
    )


def _rss(results: Results, rss: dict[str, Any]) -> None:
    ours, naive = rss["ours"], rss["naive"]
    results.row(
        Row(
            "hot_rss",
            f"idle RSS after {rss['messages']:,} messages (at ready line)",
            f"{ours['rss_mb']:.0f} MB ({ours['at_ready_mb']:.0f} MB)",
            f"naive {naive['rss_mb']:.0f} MB ({naive['at_ready_mb']:.0f} MB)",
            ratio=f"ours/naive {times(ours['rss_mb'] / naive['rss_mb'])}",
            target=f"< {IDLE_RSS_MAX_MB:g} MB",
            met=ours["rss_mb"] < IDLE_RSS_MAX_MB,
        )
    )
