"""The one way tests and benchmarks start a server subprocess and wait for its ready line.

``chat-sidecar serve`` (and the benchmark's naive server) print one JSON line on stdout once they
serve, and nothing else there. :func:`spawn` starts the process (stdout a pipe, stderr to a file,
a pipe or the null device), :func:`read_ready` waits for that line with a deadline (it never
blocks past it, even if the child hangs silently), :func:`start` does both and returns a
:class:`Server` (process, url, token, pid, the whole ready line, how long it took); its
:meth:`Server.stop` is SIGTERM then SIGKILL after a grace period, :meth:`Server.kill` is
``kill -9`` for crash tests. On Linux a started process is also told to die with its parent
(``PR_SET_PDEATHSIG``) when asked, so an interrupted benchmark leaves no server behind.

It lives in ``benchmarks/`` because the tests already import the benchmarks (the harness tests)
and the benchmarks must never import the tests; the product's ``sidecar/launcher.py`` is another
thing: ``chat-sidecar open``'s detached owner, which must outlive its parent.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_S = 30.0
STOP_GRACE_S = 10.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_PR_SET_PDEATHSIG = 1

#: Where a child's stderr goes: a file (appended to), ``subprocess.PIPE``/``DEVNULL``, or inherited.
Stderr = Path | int | None


class NoReadyLine(RuntimeError):
    """The process exited, or the deadline passed, before printing its ready line."""


def serve_command(data_dir: Path, *options: str, prefix: tuple[str, ...] = ()) -> list[str]:
    """``python -m sidecar serve --data-dir DATA_DIR OPTIONS`` (``prefix``: e.g. ``unshare``)."""
    return [
        *prefix,
        sys.executable,
        "-m",
        "sidecar",
        "serve",
        "--data-dir",
        str(data_dir),
        *options,
    ]


def child_env(extra: Mapping[str, str] | None = None, *, clean: bool = False) -> dict[str, str]:
    """This process's environment with the repository importable, plus ``extra``.

    ``clean`` drops every ``CHAT_SIDECAR_*`` first: the benchmarks measure the defaults.
    """
    env = {k: v for k, v in os.environ.items() if not (clean and k.startswith("CHAT_SIDECAR_"))}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra or {})
    return env


def _die_with_parent() -> Callable[[], None] | None:
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)

    def set_pdeathsig() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)

    return set_pdeathsig


def spawn(
    command: list[str],
    *,
    env: Mapping[str, str] | None = None,
    stderr: Stderr = subprocess.PIPE,
    cwd: Path = ROOT,
    die_with_parent: bool = False,
) -> subprocess.Popen[bytes]:
    """Start ``command`` with stdout a pipe (for the ready line); ``env`` defaults to
    :func:`child_env`. A file for ``stderr`` is appended to, so a full pipe never stalls a child
    nobody reads.
    ``die_with_parent`` ties the child to the *thread* that spawns it (Linux's rule): only for a
    spawn from the main thread."""
    with contextlib.ExitStack() as stack:
        err: IO[bytes] | int | None = (
            stack.enter_context(stderr.open("ab")) if isinstance(stderr, Path) else stderr
        )
        return subprocess.Popen(
            command,
            cwd=cwd,
            env=dict(env) if env is not None else child_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
            preexec_fn=_die_with_parent() if die_with_parent else None,  # prctl only, no locks
        )


def read_line(process: subprocess.Popen[bytes], timeout: float = READY_TIMEOUT_S) -> bytes:
    """The child's next stdout line; ``b""`` if it closes stdout (exits) first; raises
    :class:`TimeoutError` when ``timeout`` passes. Reads the fd directly, one byte at a time:
    it never blocks past the deadline and never consumes what follows the line (``serve
    --reload`` prints a second ready line later)."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    deadline = time.perf_counter() + timeout
    buffer = b""
    while not buffer.endswith(b"\n"):
        left = deadline - time.perf_counter()
        if left <= 0:
            raise TimeoutError(f"no line from pid {process.pid} within {timeout:g} s")
        readable, _, _ = select.select([fd], [], [], left)
        if readable:
            chunk = os.read(fd, 1)
            if not chunk:
                return buffer
            buffer += chunk
    return buffer


def read_ready(
    process: subprocess.Popen[bytes], timeout: float = READY_TIMEOUT_S
) -> dict[str, Any]:
    """The parsed ready line (``{"event": "ready", "url": ...}``), else :class:`NoReadyLine`."""
    try:
        line = read_line(process, timeout)
    except TimeoutError as exc:
        raise NoReadyLine(str(exc)) from exc
    try:
        body = orjson.loads(line) if line.strip() else None
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict) or body.get("event") != "ready" or "url" not in body:
        raise NoReadyLine(f"pid {process.pid}: no ready line (got {line[:200]!r})")
    return body


def stop_process(process: subprocess.Popen[bytes], grace_s: float = STOP_GRACE_S) -> int | None:
    """SIGTERM, wait ``grace_s``, then SIGKILL: the exit code, ``None`` if it had to be killed."""
    code: int | None
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=grace_s)
            code = None
    else:
        code = process.returncode
    _close_pipes(process)
    return code


def _close_pipes(process: subprocess.Popen[bytes]) -> None:
    for pipe in (process.stdout, process.stderr):
        if pipe is not None:
            pipe.close()


@dataclass(slots=True)
class Server:
    """A started server: its process, the ready line's fields, when it was spawned
    (``perf_counter``) and how long after that its ready line arrived."""

    process: subprocess.Popen[bytes]
    ready: dict[str, Any]
    spawned_at: float
    ready_s: float
    log_path: Path | None = None
    kind: str = "ours"

    @property
    def url(self) -> str:
        return str(self.ready["url"])

    @property
    def token(self) -> str | None:
        token = self.ready.get("token")
        return str(token) if token else None

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def cpu_s(self) -> float:
        """User + system CPU the server process (all its threads) has used so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def rss_mb(self) -> float:
        """Resident set size now, in MiB (``VmRSS`` of ``/proc/PID/status``)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError(f"no VmRSS for pid {self.pid}")

    def log_tail(self, chars: int = 2000) -> str:
        if self.log_path is not None:
            with contextlib.suppress(OSError):
                return self.log_path.read_text(errors="replace")[-chars:]
        return ""

    def stop(self, grace_s: float = STOP_GRACE_S) -> int | None:
        return stop_process(self.process, grace_s)

    def kill(self) -> int:
        """``kill -9``: no goodbye, no cleanup, like a crash. Returns the exit code (-9)."""
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGKILL)
        code = self.process.wait(timeout=STOP_GRACE_S)
        _close_pipes(self.process)
        return code


def start(
    command: list[str],
    *,
    env: Mapping[str, str] | None = None,
    stderr: Stderr = None,
    timeout: float = READY_TIMEOUT_S,
    kind: str = "ours",
    cwd: Path = ROOT,
    die_with_parent: bool = False,
) -> Server:
    """Spawn ``command`` and wait for its ready line; a child that prints none is stopped and
    :class:`NoReadyLine` says why (with its stderr's tail when that went to a file)."""
    begin = time.perf_counter()
    process = spawn(command, env=env, stderr=stderr, cwd=cwd, die_with_parent=die_with_parent)
    try:
        ready = read_ready(process, timeout)
    except BaseException as exc:
        stop_process(process)
        if isinstance(exc, NoReadyLine):
            tail = ""
            if isinstance(stderr, Path) and stderr.exists():
                tail = stderr.read_text(errors="replace")[-2000:]
            raise NoReadyLine(f"{kind} did not start: {exc}; stderr: {tail}") from exc
        raise
    log_path = stderr if isinstance(stderr, Path) else None
    return Server(process, ready, begin, time.perf_counter() - begin, log_path, kind)


def start_sidecar(
    data_dir: Path,
    *options: str,
    env: Mapping[str, str] | None = None,
    stderr: Stderr = None,
    timeout: float = READY_TIMEOUT_S,
) -> Server:
    """``chat-sidecar serve`` on ``data_dir`` with ``options``, ready."""
    return start(serve_command(data_dir, *options), env=env, stderr=stderr, timeout=timeout)


@contextlib.contextmanager
def running(command: list[str], **kwargs: Any) -> Iterator[Server]:
    """:func:`start` for the length of a ``with`` block, then :meth:`Server.stop`."""
    server = start(command, **kwargs)
    try:
        yield server
    finally:
        server.stop()
