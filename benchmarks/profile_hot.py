"""Where our server's time and memory go on the hot path (docs/benchmarks.md, "Hot path").

``python -m benchmarks.profile_hot MODE [--seconds S]``, each against a real ``serve`` process
driven by the hot suite's keep-alive client (1 KiB appends):

- ``cprofile``: cProfile of the loop thread during a one-writer and a 16-writer load (separately),
  top functions by own and by cumulative time, and calls per request of the functions that
  create tasks, futures and executor hops.
- ``pyspy``: ``py-spy record --gil`` (the thread holding the GIL, sampled) during the same loads,
  the samples folded by function: own share and inclusive share of the run.
- ``uvloop``: ours on the standard loop against ours on uvloop, alternating rounds.
- ``ablate``: ours, and ours with the search index, the event hub and the request checks
  switched off (``serve_runner --without``), each against the naive server in the same
  alternating rounds: what each required part costs in the targets' ratios.
- ``importtime``: ``python -X importtime -m sidecar serve`` to the ready line, by package.
- ``memory``: tracemalloc's top allocations after 2,000 appended messages, and the RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import io
import pstats
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from . import http_procs, launch
from .common import BENCH_TMP, median
from .hot_bench import _create, bodies
from .hot_clients import Load, keepalive_appends

LOADS: dict[str, Callable[[int], Load]] = {
    "one": lambda per: Load(("p-one",), 1, per * 16),
    "own16": lambda per: Load(tuple(f"p-own-{i:02d}" for i in range(16)), 16, per),
}
SPY_FLAGS = ("record", "--format", "raw", "--threads", "--gil", "--rate", "250")
COUNTED = (
    "create_task",
    "create_future",
    "run_in_executor",
    "call_soon",
    "call_soon_threadsafe",
    "ensure_future",
    "wait_for",
    "gather",
    "shield",
)


def runner_command(data_dir: Path, *flags: str) -> list[str]:
    """``serve`` through ``serve_runner`` with ``flags``, on any free port, never idle-exiting."""
    serve = ["--data-dir", str(data_dir), "--port", "0", "--idle-timeout", "0"]
    return [sys.executable, "-m", "benchmarks.serve_runner", *flags, "--", *serve]


@contextlib.contextmanager
def _server(
    workdir: Path, name: str, *flags: str, env: dict[str, str] | None = None
) -> Iterator[launch.Server]:
    command = runner_command(workdir / name, *flags)
    log = workdir / f"{name}.log"
    full_env = {**http_procs.server_env(), **(env or {})}
    with launch.running(command, env=full_env, stderr=log, timeout=180.0) as server:
        yield server


def _drive(server: launch.Server, load: Load) -> dict[str, float]:
    figures = keepalive_appends(server.url, server.headers, load, bodies())
    return {"per_s": figures["per_s"], "p50_ms": figures["latency"]["p50_ms"]}


def _prepare(server: launch.Server) -> None:
    ids = sorted({c for make in LOADS.values() for c in make(1).conversations})
    _create(server, ids)
    for make in LOADS.values():
        _drive(server, make(5))  # warm-up: shards open, connections and threads up


def cprofile(workdir: Path, per_writer: int) -> None:
    for name, make in LOADS.items():
        out = workdir / f"{name}.prof"
        with _server(workdir, f"cprofile-{name}", "--cprofile", str(out)) as server:
            _prepare(server)
            server.process.send_signal(signal.SIGUSR1)
            time.sleep(0.2)
            load = make(per_writer)
            figures = _drive(server, load)
            server.process.send_signal(signal.SIGUSR2)
            for _ in range(50):
                if out.exists():
                    break
                time.sleep(0.1)
        requests = load.writers * load.per_writer
        print(f"\n=== cProfile, load {name}: {requests} appends, {figures}")
        stats = pstats.Stats(str(out), stream=(buffer := io.StringIO()))
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(45)
        print(buffer.getvalue())
        print(f"--- calls per request ({requests} requests)")
        for (file, _line, function), row in stats.stats.items():  # type: ignore[attr-defined]
            if function in COUNTED and "asyncio" in file:
                print(f"{row[1] / requests:8.2f}  {function}  ({Path(file).name})")


def pyspy(workdir: Path, per_writer: int) -> None:
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    for name, make in LOADS.items():
        out = workdir / f"{name}.txt"
        with _server(workdir, f"pyspy-{name}") as server:
            _prepare(server)
            record = subprocess.Popen(
                [spy, *SPY_FLAGS, "--pid", str(server.pid), "--output", str(out)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            time.sleep(1.0)
            figures = _drive(server, make(per_writer))
            record.send_signal(signal.SIGINT)
            _, err = record.communicate(timeout=60)
        if not out.exists():
            raise RuntimeError(f"py-spy wrote nothing: {err.decode()[-500:]}")
        print(f"\n=== py-spy, load {name}: {figures}")
        _fold(out)


def _function(frame: str) -> str:
    """``name (path/file.py:123)`` -> ``name (path/file.py)``: lines of one function together."""
    head, _, line = frame.rpartition(":")
    return f"{head})" if line.rstrip(")").isdigit() else frame


def _fold(path: Path, top: int = 45) -> None:
    """Own and inclusive sample shares per function from py-spy's folded stacks."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    threads: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        frames = [_function(frame) for frame in stack.split(";")]
        total += count
        threads[frames[0]] += count
        own[frames[-1]] += count
        for frame in set(frames[1:]):
            inclusive[frame] += count
    print(
        f"samples {total}; by thread: "
        + ", ".join(f"{t} {c / total:.0%}" for t, c in threads.most_common(6))
    )
    print("--- own share")
    for frame, count in own.most_common(top):
        print(f"{count / total:6.1%}  {frame}")
    print("--- inclusive share")
    for frame, count in inclusive.most_common(top * 3):
        print(f"{count / total:6.1%}  {frame}")


#: ``ablate``'s variants: ours whole, then without one or more parts the contract requires
#: (``serve_runner --without``), each against the naive server in the same rounds.
ABLATIONS: dict[str, tuple[str, ...]] = {
    "ours": (),
    "without search": ("--without", "search"),
    "without events": ("--without", "events"),
    "without search, events": ("--without", "search", "--without", "events"),
    "without search, events, checks": (
        *("--without", "search", "--without", "events", "--without", "checks"),
    ),
}


def _compare(
    workdir: Path, variants: dict[str, tuple[str, ...] | None], per_writer: int, rounds: int
) -> dict[str, dict[str, float]]:
    """Each variant (serve_runner flags; ``None``: the naive server) under both loads, in
    alternating rounds (the order reversed every other round): each figure's median."""
    results: dict[str, dict[str, list[float]]] = {}
    with contextlib.ExitStack() as stack:
        servers = {
            name: stack.enter_context(
                http_procs.running("naive", workdir / "naive", workdir)
                if flags is None
                else _server(workdir, f"v{i}", *flags)
            )
            for i, (name, flags) in enumerate(variants.items())
        }
        for server in servers.values():
            _prepare(server)
        for round_number in range(rounds):
            names = list(servers) if round_number % 2 == 0 else list(servers)[::-1]
            for load_name, make in LOADS.items():
                for name in names:
                    figures = _drive(servers[name], make(per_writer))
                    for key, value in figures.items():
                        results.setdefault(f"{load_name} {key}", {}).setdefault(name, []).append(
                            value
                        )
    return {
        figure: {name: median(values) for name, values in by_name.items()}
        for figure, by_name in results.items()
    }


def compare_uvloop(workdir: Path, per_writer: int, rounds: int) -> None:
    medians = _compare(workdir, {"asyncio": (), "uvloop": ("--uvloop",)}, per_writer, rounds)
    print(f"\n=== uvloop against the standard loop, medians of {rounds} alternating rounds")
    for figure, by_kind in medians.items():
        a, b = by_kind["asyncio"], by_kind["uvloop"]
        print(f"{figure:14} asyncio {a:9.2f}  uvloop {b:9.2f}  uvloop/asyncio {b / a:5.2f}x")


def ablate(workdir: Path, per_writer: int, rounds: int) -> None:
    """What the parts the contract requires cost: the targets' ratios (ours / naive) with
    each switched off. Only the ``ours`` row is a server one may run."""
    variants: dict[str, tuple[str, ...] | None] = {"naive": None, **ABLATIONS}
    medians = _compare(workdir, variants, per_writer, rounds)
    print(f"\n=== parts switched off, medians of {rounds} alternating rounds; x = to naive")
    for figure, by_name in medians.items():
        naive = by_name["naive"]
        for name, value in by_name.items():
            print(f"{figure:14} {name:32} {value:9.2f}  {value / naive:5.2f}x")


def importtime(workdir: Path) -> None:
    """Imports before the ready line (``serve`` writes "chat UI:" to stderr right after it)."""
    log = workdir / "importtime.log"
    command = [sys.executable, "-X", "importtime", "-m", "sidecar", "serve"]
    command += ["--data-dir", str(workdir / "it"), "--port", "0", "--idle-timeout", "0"]
    launch.start(command, env=http_procs.server_env(), stderr=log).stop()  # caches written
    log.unlink()
    server = launch.start(command, env=http_procs.server_env(), stderr=log)
    time.sleep(1.0)
    server.stop()
    before, _, after = log.read_text().partition("chat UI:")
    print(
        f"\n=== import time, spawn to ready line {server.ready_s * 1000:.0f} ms (with -X importtime)"
    )
    for label, text in (("before the ready line", before), ("after it", after)):
        rows = _import_rows(text)
        by_package: collections.Counter[str] = collections.Counter()
        for own_us, _, name in rows:
            by_package[name.strip().split(".")[0]] += own_us
        total = sum(by_package.values())
        print(f"--- {label}: {total / 1000:.0f} ms own time, {len(rows)} modules; by package")
        for package, own_us in by_package.most_common(20):
            print(f"{own_us / 1000:8.1f} ms  {package}")
        print(f"--- {label}: by own time")
        for own_us, cumulative, name in sorted(rows, reverse=True)[:25]:
            print(f"{own_us / 1000:8.1f} ms  (cumulative {cumulative / 1000:6.1f})  {name.strip()}")


def _import_rows(text: str) -> list[tuple[int, int, str]]:
    rows: list[tuple[int, int, str]] = []
    for line in text.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        own_text, cumulative_text, name = line.removeprefix("import time:").split("|")
        rows.append((int(own_text), int(cumulative_text), name.rstrip()))
    return rows


async def _fill(server: launch.Server, messages: int) -> None:
    ids = tuple(f"m-{i:02d}" for i in range(16))
    _create(server, list(ids))
    load = Load(ids, 16, messages // 16, warmup=0)
    await asyncio.to_thread(keepalive_appends, server.url, server.headers, load, bodies())


def memory(workdir: Path, messages: int) -> None:
    out = workdir / "tracemalloc.txt"
    variants: list[tuple[str, tuple[str, ...], dict[str, str]]] = [
        ("plain", (), {}),
        ("pygls loaded, as after a first /rpc", ("--with-rpc-engine",), {}),
        ("MALLOC_ARENA_MAX=2", (), {"MALLOC_ARENA_MAX": "2"}),
        ("tracemalloc", ("--tracemalloc", str(out)), {}),
    ]
    for number, (label, flags, env) in enumerate(variants):
        with _server(workdir, f"memory-{number}", *flags, env=env) as server:
            at_ready = server.rss_mb()
            asyncio.run(_fill(server, messages))
            time.sleep(2.0)
            rss = server.rss_mb()
            if "--tracemalloc" in flags:
                server.process.send_signal(signal.SIGUSR1)
                for _ in range(1800):  # a snapshot of ~1M blocks takes a while on a busy machine
                    if out.exists():
                        break
                    time.sleep(0.1)
        print(
            f"\n=== memory ({label}): RSS at ready {at_ready:.1f} MB, after {messages} {rss:.1f} MB"
        )
    print(out.read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_hot")
    parser.add_argument(
        "mode", choices=["cprofile", "pyspy", "uvloop", "ablate", "importtime", "memory"]
    )
    parser.add_argument(
        "--per-writer", type=int, default=100, help="appends per writer (16 writers)"
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--messages", type=int, default=2_000)
    args = parser.parse_args(argv)
    BENCH_TMP.mkdir(exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="profile-", dir=BENCH_TMP))
    try:
        if args.mode == "cprofile":
            cprofile(workdir, args.per_writer)
        elif args.mode == "pyspy":
            pyspy(workdir, args.per_writer)
        elif args.mode == "uvloop":
            compare_uvloop(workdir, args.per_writer, args.rounds)
        elif args.mode == "ablate":
            ablate(workdir, args.per_writer, args.rounds)
        elif args.mode == "importtime":
            importtime(workdir)
        else:
            memory(workdir, args.messages)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
