"""The one launcher of server subprocesses (``benchmarks/launch.py``) keeps its promises.

Real child processes (small Python programs, and one real ``chat-sidecar serve``): the ready line
is read without swallowing what follows it, a silent or dying child fails within its deadline
with a reason, SIGTERM escalates to SIGKILL, and ``kill`` is a real ``kill -9``.
"""

from __future__ import annotations

import signal
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from benchmarks import launch

pytestmark = pytest.mark.subprocess


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


READY = 'import json, sys; print(json.dumps({"event": "ready", "url": "http://x", "n": %d}), flush=True)'


def test_two_ready_lines_are_read_one_at_a_time() -> None:
    """``serve --reload`` prints a second ready line later: the first read must not eat it."""
    code = f"{READY % 1}; {READY % 2}; import time; time.sleep(30)"
    process = launch.spawn(_python(code))
    try:
        assert launch.read_ready(process, 10)["n"] == 1
        assert launch.read_ready(process, 10)["n"] == 2
    finally:
        launch.stop_process(process)


def test_a_child_that_exits_without_a_ready_line_fails_at_once(tmp_path: Path) -> None:
    log = tmp_path / "err.log"
    begin = time.monotonic()
    with pytest.raises(launch.NoReadyLine, match="went wrong"):
        launch.start(_python("import sys; sys.exit('went wrong')"), stderr=log, timeout=20)
    assert time.monotonic() - begin < 10


def test_a_silent_child_fails_at_the_deadline_and_is_stopped() -> None:
    begin = time.monotonic()
    with pytest.raises(launch.NoReadyLine, match=r"within 0\.5 s"):
        launch.start(_python("import time; time.sleep(60)"), timeout=0.5)
    assert time.monotonic() - begin < 10


def test_stop_escalates_to_sigkill_and_kill_is_kill_9() -> None:
    stubborn = "import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    server = launch.start(_python(stubborn + READY % 0 + "; import time; time.sleep(60)"))
    assert server.stop(grace_s=0.5) is None  # had to be killed
    assert server.process.returncode == -signal.SIGKILL
    other = launch.start(_python(READY % 0 + "; import time; time.sleep(60)"))
    assert other.kill() == -signal.SIGKILL


def test_a_real_sidecar_starts_answers_its_fields_and_stops_gracefully(tmp_path: Path) -> None:
    server = launch.start_sidecar(tmp_path / "data", "--idle-timeout", "0", stderr=tmp_path / "log")
    try:
        assert server.ready["pid"] == server.pid and server.url.startswith("http://127.0.0.1:")
        assert server.token and server.headers == {"Authorization": f"Bearer {server.token}"}
        assert server.rss_mb() > 0 and server.cpu_s() >= 0
        # serve installs its SIGTERM handler just after the ready line: once it answers, it has.
        request = urllib.request.Request(f"{server.url}/health", headers=server.headers)
        with urllib.request.urlopen(request, timeout=20) as response:
            assert response.status == 200
    finally:
        assert server.stop() == 0
