"""The migration benchmark harness works end to end at a tiny size (real subprocesses)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import migrate_bench
from benchmarks.common import Results

pytestmark = pytest.mark.subprocess


def test_migrate_bench_runs_import_and_validate_and_reports(tmp_path: Path) -> None:
    shape = {"sessions": 20, "messages_each": 6, "content_chars": 40, "reps": 1}
    figures = migrate_bench.run_suite(tmp_path, shape)
    assert figures["dataset"]["messages"] == 120
    assert figures["dataset"]["resaves"] == 120 // migrate_bench.RESAVE_EVERY
    for name in ("import", "validate"):
        (run,) = figures[name]
        assert run["exit_code"] == 0, run["stderr_tail"]
        assert run["seconds"] > 0 and run["peak_rss_mb"] > 0
    results = Results(figures={"migrate": figures})
    migrate_bench.build_rows(results)
    assert [row.key for row in results.rows] == [
        "migrate_import",
        "migrate_import_rss",
        "migrate_validate",
    ]
    assert all(row.met is None for row in results.rows)  # targets apply to the full size only
