"""The hot-path suite (issue #18) works end to end at tiny sizes (``HotSizes.tiny``).

Real ``sidecar serve`` and naive-server subprocesses, both clients, the in-process store figures:
every figure must come out positive for both servers in every round, the report must give every
target a verdict, and no server may outlive the suite.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from benchmarks import hot_bench, hot_report
from benchmarks.common import Results

from .test_http_bench import _children

pytestmark = pytest.mark.subprocess
SIZES = hot_bench.HotSizes.tiny()


@pytest.fixture(scope="module")
def figures(tmp_path_factory: pytest.TempPathFactory) -> Results:
    results = Results()
    results.figures["hot"] = asyncio.run(hot_bench.hot(SIZES, tmp_path_factory.mktemp("hot")))
    return results


def test_no_server_outlives_the_suite(figures: Results) -> None:
    assert _children() == []


def test_every_http_figure_for_both_servers_in_every_round(figures: Results) -> None:
    http = figures.figures["hot"]["http"]
    assert set(http) == {"one", "own16", "own50", "shared", "held_one", "held16"}
    assert http["own16"]["ours"]["writers"] == SIZES.many[0]
    assert http["own50"]["ours"]["writers"] == SIZES.many[1]
    assert http["held16"]["ours"]["client"] == "streams"
    for figure, by_kind in http.items():
        for kind in ("ours", "naive", "aiohttp"):
            runs = by_kind[kind]["runs"]
            assert len(runs) == SIZES.rounds, (figure, kind)
            for run in runs:
                assert run["latency"]["n"] == run["messages"] > 0
                assert run["per_s"] > 0 and run["latency"]["p50_ms"] > 0


def test_in_process_and_process_figures(figures: Results) -> None:
    hot = figures.figures["hot"]
    assert hot["floor"]["n"] == SIZES.floor_samples * SIZES.rounds * 2  # HTTP and store rounds
    assert len(hot["store"]["rounds_p50_ms"]) == SIZES.rounds
    assert hot["store"]["p50_ms"] > 0 and hot["store"]["floor_p50_ms"] > 0
    assert hot["stream"]["deltas"] == SIZES.stream_replies * SIZES.stream_deltas
    assert len(hot["stream"]["runs_s"]) == SIZES.rounds
    for kind in ("ours", "naive"):
        assert len(hot["start"][kind]["runs_ms"]) == SIZES.rounds
        assert hot["start"][kind]["ready_ms"] > 0
        assert hot["rss"][kind]["rss_mb"] > 0
    assert hot["rss"]["messages"] == SIZES.rss_messages


def test_report_gives_every_target_a_verdict(figures: Results) -> None:
    hot_report.build_rows(figures)
    rows = {row.key: row for row in figures.rows}
    targeted = [
        "hot_one",
        "hot_own16",
        "hot_own50",
        "hot_shared",
        "hot_held_one",
        "hot_held16",
        "hot_store",
        "hot_stream",
        "hot_start",
        "hot_rss",
    ]
    for key in targeted:
        assert rows[key].met is not None, key
        assert rows[key].target, key
    assert "naive" in rows["hot_one"].baselines
    assert "aiohttp alone" in (rows["hot_own16"].ratio or "")
    assert "floor" in rows["hot_rest_floor"].baselines


def test_rounds_alternate_which_server_goes_first() -> None:
    assert [hot_bench.order(n)[0] for n in range(4)] == ["ours", "naive", "ours", "naive"]
    three = hot_bench.HTTP_KINDS
    assert [hot_bench.order(n, three)[0] for n in range(3)] == ["ours", "naive", "aiohttp"]


def test_suite_is_registered(tmp_path: Path) -> None:
    from benchmarks.__main__ import SUITES, parse_args

    assert SUITES["hot"] == ("hot",)
    args = parse_args(["--suite", "hot", "--rounds", "2", "--out", str(tmp_path / "r.json")])
    assert args.selected == ["hot"] and args.rounds == 2
