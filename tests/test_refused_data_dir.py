"""``serve`` on a data dir whose own files it must not trust: a clear exit 2, no traceback.

Issue #15, the same class of fault as the shard files: ``store.json`` as a FIFO used to hang
the start (now read as a regular file only), and a symlinked ``sidecar.lock`` was followed
(``O_CREAT`` made its target outside the data dir).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.subprocess


def serve(data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sidecar", "serve", "--data-dir", str(data_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def test_a_fifo_store_file_is_refused_with_a_reason(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    os.mkfifo(data_dir / "store.json")
    result = serve(data_dir)
    assert result.returncode == 2, result.stderr
    assert "store.json cannot be read (a FIFO, not a regular file)" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (data_dir / "sidecar.json").exists()
    assert (data_dir / "store.json").is_fifo(), "left as it was"


def test_a_symlinked_lock_file_is_not_followed(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    target = tmp_path / "outside.lock"
    (data_dir / "sidecar.lock").symlink_to(target)
    result = serve(data_dir)
    assert result.returncode == 2, result.stderr
    assert "sidecar.lock cannot be used as the lock" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert not target.exists(), "nothing created through the link"
