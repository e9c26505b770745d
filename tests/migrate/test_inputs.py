"""What `chat-migrate` accepts as an export path (issue #15, items 6 and 7): a pipe or standard
input is read like a file; a device is refused with exit 2 and nothing written. Real FIFOs,
real `/dev/zero`, the real CLI in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from .conftest import navi_items, store_state, write_export

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.subprocess
T0 = 1_735_144_337_407


def _export(path: Path) -> Path:
    messages = [
        {"id": f"m{i}", "role": "user", "content": f"hello {i}", "createdAt": T0 + i * 60_000}
        for i in range(3)
    ]
    return write_export(path, navi_items([{"id": "s1", "title": "Piped", "messages": messages}]))


def _migrate(*args: str | Path, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "migrate", *map(str, args)],
        cwd=ROOT,
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def _feed(fifo: Path, body: bytes) -> threading.Thread:
    def write() -> None:
        with fifo.open("wb") as pipe:
            pipe.write(body)

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


def test_a_fifo_is_read_like_a_file_and_copied_into_the_run(tmp_path: Path) -> None:
    body = _export(tmp_path / "e.json").read_bytes()
    fifo = tmp_path / "export.fifo"
    os.mkfifo(fifo)
    writer = _feed(fifo, body)
    data = tmp_path / "data"
    done = _migrate("import", "--json", "--data-dir", data, fifo)
    writer.join(timeout=10)
    assert done.returncode == 0, done.stderr.decode()
    report = json.loads(done.stdout)
    assert len(report["conversations"]["created"]) == 1
    assert report["inputs"][0]["path"] == str(fifo)
    (copy,) = (Path(report["report"]).parent / "inputs").iterdir()
    assert copy.name == "001-export.fifo" and copy.read_bytes() == body
    assert [c["title"] for c in store_state(data)] == ["Piped"]
    writer = _feed(fifo, body)  # a pipe again: the same export, so nothing changes
    again = _migrate("import", "--json", "--data-dir", data, fifo)
    writer.join(timeout=10)
    assert (
        json.loads(again.stdout)["conversations"]["unchanged"] == report["conversations"]["created"]
    )


def test_standard_input_is_read_as_dash(tmp_path: Path) -> None:
    body = _export(tmp_path / "e.json").read_bytes()
    data = tmp_path / "data"
    done = _migrate("import", "--json", "--data-dir", data, "-", stdin=body)
    assert done.returncode == 0, done.stderr.decode()
    report = json.loads(done.stdout)
    assert report["inputs"][0]["path"] == "-"
    assert (Path(report["report"]).parent / "inputs" / "001-stdin").read_bytes() == body
    checked = _migrate("validate", "--data-dir", data, "-", stdin=body)
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()
    twice = _migrate("inspect", "-", "-", stdin=body)
    assert twice.returncode == 2 and b"only once" in twice.stderr


def test_a_bad_pipe_is_exit_2_and_writes_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    done = _migrate("import", "--data-dir", data, "-", stdin=b"not json at all")
    assert done.returncode == 2
    lines = done.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("chat-migrate: -: not JSON"), lines
    assert not data.exists()


@pytest.mark.parametrize("command", ["import", "inspect", "validate"])
def test_dev_zero_is_refused_at_once(tmp_path: Path, command: str) -> None:
    data = tmp_path / "data"
    args = [command, "/dev/zero"] + (["--data-dir", str(data)] if command != "inspect" else [])
    done = _migrate(*args)
    assert done.returncode == 2, done.stderr.decode()
    lines = done.stderr.decode().strip().splitlines()
    assert lines == ["chat-migrate: /dev/zero: is a character device, not a regular file "
                     "(a pipe or '-' is read too)"], lines  # fmt: skip
    assert not data.exists()


def test_running_out_of_memory_is_said_so_not_not_json(tmp_path: Path) -> None:
    """Under a 400 MB address-space limit a 40 MB value cannot be parsed: the report says it
    ran out of memory (for that key, or for the file), never that the value is not JSON."""
    import resource

    messages = [{"id": "m", "role": "user", "content": "x" * 40_000_000, "createdAt": T0}]
    path = write_export(tmp_path / "big.json", navi_items([{"id": "s1", "messages": messages}]))
    limit = 400 * 1024 * 1024

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    done = subprocess.run(
        [sys.executable, "-m", "migrate", "inspect", str(path)],
        cwd=ROOT,
        capture_output=True,
        timeout=120,
        check=False,
        preexec_fn=cap,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    output = (done.stdout + done.stderr).decode()
    assert "not enough memory" in output, output
    assert "not JSON" not in output and "Traceback" not in output, output
