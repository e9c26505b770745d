"""The before/after tools of issue #18 run end to end: real servers from two checkouts (here
this checkout twice), one tiny round each, every figure printed. Figures are not asserted:
speed is measured by running them, not by tests."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from benchmarks import ab_rest, ab_shared, cold_compare, index_batches, launch, sync_modes


def test_ab_rest_prints_both_sides_for_each_load(capsys: pytest.CaptureFixture[str]) -> None:
    assert ab_rest.main([str(launch.ROOT), "--rounds", "1", "--per-writer", "2"]) == 0
    out = capsys.readouterr().out
    for load in ("one writer", "16 writers"):
        assert f"{load} (1 alternating rounds, medians)" in out
    assert out.count("after/before") == 6  # p50, appends/s and CPU, per load


def test_ab_shared_reports_every_kind_and_ratio() -> None:
    figures = asyncio.run(ab_shared.compare(launch.ROOT, 1))
    medians = figures["median_per_s"]
    assert isinstance(medians, dict) and set(medians) == {"before", "after", "naive"}
    assert all(rate > 0 for rate in medians.values())
    json.dumps(figures)


def test_cold_compare_runs_every_kind(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--base", str(launch.ROOT), "--rounds", "1", "--rss-rounds", "1", "--messages", "20"]
    assert cold_compare.main(argv) == 0
    out = capsys.readouterr().out
    for kind in ("branch", "base", "naive"):
        assert kind in out


def test_sync_modes_measures_every_way_and_leaves_no_file(
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = set(launch.ROOT.joinpath(".bench-tmp").glob("*"))
    assert sync_modes.main(["--syncs", "3", "--rounds", "2"]) == 0
    out = capsys.readouterr().out
    for way in sync_modes.WAYS:
        assert f"  {way} " in out
    assert set(launch.ROOT.joinpath(".bench-tmp").glob("*")) == before


def test_index_batches_measures_every_size_on_both_checkouts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = set(launch.ROOT.joinpath(".bench-tmp").glob("*"))
    argv = ["--base", str(launch.ROOT), "--messages", "40", "--rounds", "1"]
    assert index_batches.main(argv) == 0
    lines = capsys.readouterr().out.splitlines()[1:]
    assert [line.split()[1] for line in lines] == [str(size) for size in index_batches.SIZES]
    assert all("this cpu" in line and "base cpu" in line and "this/base" in line for line in lines)
    assert set(launch.ROOT.joinpath(".bench-tmp").glob("*")) == before
