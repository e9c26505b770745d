"""The HTTP benchmark harness works end to end at tiny sizes (``HttpSizes.tiny``).

Real ``sidecar serve`` and naive-server subprocesses on loopback, real requests: every figure of
the HTTP suite must come out as a positive number, the naive server must have answered the same
load, no event may go missing, and no server may outlive its part.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from benchmarks import http_bench, http_report
from benchmarks.common import Results
from benchmarks.http_client import HttpSizes

pytestmark = pytest.mark.subprocess


def _children() -> list[int]:
    """Pids whose parent is this process (servers the harness failed to stop would be here)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == os.getpid():
            found.append(int(entry.name))
    return found


@pytest.fixture(scope="module")
def figures(tmp_path_factory: pytest.TempPathFactory) -> Results:
    sizes = HttpSizes.tiny()
    results = Results()
    for name, part in http_bench.PARTS.items():
        results.figures[name] = asyncio.run(part(sizes, tmp_path_factory.mktemp(name)))
    return results


def test_no_server_outlives_the_harness(figures: Results) -> None:
    assert _children() == []


def test_appends_measured_for_both_servers(figures: Results) -> None:
    sizes = HttpSizes.tiny()
    append = figures.figures["http-append"]
    for variant in ("own", "shared"):
        for kind in ("ours", "naive"):
            runs = append["variants"][variant][kind]["runs"]
            assert len(runs) == sizes.append_reps
            for run in runs:
                assert run["messages"] == sizes.clients * sizes.per_client
                assert run["latency"]["n"] == run["messages"]
                assert run["per_s"] > 0 and run["latency"]["p99_ms"] > 0


def test_reads_under_open_loop_load(figures: Results) -> None:
    sizes = HttpSizes.tiny()
    read = figures.figures["http-read"]
    assert read["messages"] == sizes.long_messages
    for kind in ("ours", "naive"):
        assert read[kind]["first_read_ms"] > 0
        assert read[kind]["idle"]["n"] == sizes.idle_reads
        (run,) = read[kind]["runs"]
        assert run["appends"] == int(sizes.load_rate * sizes.load_seconds)
        assert run["read"]["n"] == int(sizes.read_rate * sizes.load_seconds)
        assert run["read"]["p99_ms"] >= run["read"]["p50_ms"] > 0
        assert read[kind]["append_rate_achieved"] > 0


def test_cold_starts(figures: Results) -> None:
    start = figures.figures["http-start"]
    assert start["big_first"]["catalog_written"]
    for scenario in ("empty", "big", "naive"):
        for run in start[scenario]["runs"]:
            assert 0 < run["ready_s"] <= run["first_answer_s"]
            assert run["exit_code"] == 0, f"{scenario}: not a graceful exit"


def test_every_event_delivered(figures: Results) -> None:
    sizes = HttpSizes.tiny()
    events = figures.figures["http-sse"]
    for kind in ("ours", "naive"):
        assert events[kind]["missing"] == 0
        (run,) = events[kind]["runs"]
        assert run["deliveries"] == sizes.sse_clients * sizes.sse_appends
        assert events[kind]["p99_ms"] >= events[kind]["p50_ms"] > 0


def test_report_rows_have_a_verdict_for_every_target(figures: Results) -> None:
    http_report.build_rows(figures)
    rows = {row.key: row for row in figures.rows}
    targeted = ["http_append_own", "http_read_under_load", "http_start_empty", "http_start_big"]
    for key in [*targeted, "http_sse"]:
        assert rows[key].met is not None, key
        assert "naive" in rows[key].baselines, key
    assert {"http_append_shared", "http_read_idle", "http_start_rebuild"} <= rows.keys()
