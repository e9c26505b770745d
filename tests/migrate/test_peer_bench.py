"""The benchmark of other tools' histories works end to end at a tiny size (real subprocesses),
and its generated data is what it claims to be."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import peer_bench
from benchmarks.common import Results

from .conftest import cli

pytestmark = pytest.mark.subprocess


def test_generated_histories_import_whole(tmp_path: Path) -> None:
    export = tmp_path / "conversations.json"
    dataset = peer_bench.generate_chatgpt(export, 11, 6, chars=30)
    body = json.loads(
        cli("import", "--from", "chatgpt", "--json", "--data-dir", tmp_path / "a", export).stdout
    )
    assert body["messages"]["imported"] == dataset["messages"]
    assert body["hidden_skipped"] == 11
    tasks = peer_bench.generate_cline(tmp_path / "cline", 5, 6, chars=30)
    body = json.loads(
        cli(
            "import", "--from", "cline", "--json", "--data-dir", tmp_path / "b", tmp_path / "cline"
        ).stdout
    )
    assert body["messages"]["imported"] == tasks["messages"]
    assert [p for p in body["problems"] if p["severity"] == "error"] == []


def test_peer_bench_runs_and_reports(tmp_path: Path) -> None:
    shape = {"conversations": 8, "messages_each": 4, "tasks": 3, "entries_each": 4, "reps": 1}
    figures = peer_bench.run_suite(tmp_path, shape)
    for name in ("chatgpt", "chatgpt_quarter", "navi", "cline", "navi_cline_size"):
        (run,) = figures[name]
        assert run["exit_code"] == 0, (name, run["stderr_tail"])
        assert run["peak_rss_mb"] > 0
    results = Results(figures={"peers": figures})
    peer_bench.build_rows(results)
    assert [row.key for row in results.rows] == [
        "peers_chatgpt_import",
        "peers_chatgpt_rss",
        "peers_cline_import",
    ]
    assert all(row.met is None for row in results.rows)
