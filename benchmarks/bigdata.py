"""Listing 10,000 conversations and RSS with a million messages on disk, in fresh processes.

The data dir is generated once (see :mod:`.datagen`), then probed three times by
:mod:`.probe`, each in a new interpreter:

1. ``rebuild``: no ``catalog.json`` yet and the files evicted from the page cache: the store
   rebuilds the catalog from every shard's meta file, from disk.
2. ``warm_catalog_disk_cold``: ``catalog.json`` present (written by run 1), page cache evicted.
3. ``warm_catalog``: the same with the page cache as run 2 left it (a restart of the sidecar).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

from .common import ROOT, Figures, drop_page_cache, files_under, now
from .datagen import clone_conversations

PROBE_RUNS = ("rebuild", "warm_catalog_disk_cold", "warm_catalog")
STORAGE = "checksummed"


def generate(data_dir: Path, conversations: int, messages_each: int, content_chars: int) -> Figures:
    start = now()
    figures = clone_conversations(data_dir, conversations, messages_each, content_chars, STORAGE)
    figures["generate_s"] = now() - start
    return figures


def run_probe(data_dir: Path, opened: int, list_calls: int) -> Figures:
    command = [
        sys.executable,
        "-m",
        "benchmarks.probe",
        str(data_dir),
        "--storage",
        STORAGE,
        "--opened",
        str(opened),
        "--list-calls",
        str(list_calls),
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"probe failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    result: Figures = orjson.loads(done.stdout.strip().splitlines()[-1])
    return result


def probe_all(data_dir: Path, opened: int, list_calls: int) -> Figures:
    figures: Figures = {}
    for run in PROBE_RUNS:
        if run == "rebuild" and (data_dir / "catalog.json").exists():
            (data_dir / "catalog.json").unlink()
        if run != "warm_catalog":
            start = now()
            dropped = drop_page_cache(files_under(data_dir))
            figures[f"{run}_evicted_files"] = dropped
            figures[f"{run}_evict_s"] = now() - start
        figures[run] = run_probe(data_dir, opened, list_calls)
    return figures
