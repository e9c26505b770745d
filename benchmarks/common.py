"""Shared pieces of the benchmarks: statistics, timing, sizes, rows of the report, machine facts."""

from __future__ import annotations

import contextlib
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH_TMP = ROOT / ".bench-tmp"

Figures = dict[str, Any]


# ---------------------------------------------------------------------------- statistics


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0..100) with linear interpolation; ``nan`` for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: list[float]) -> float:
    return percentile(values, 50)


def latency_summary(seconds: list[float]) -> Figures:
    """p50/p90/p99/min/max in milliseconds, plus the sample count."""
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "p50_ms": median(ms),
        "p90_ms": percentile(ms, 90),
        "p99_ms": percentile(ms, 99),
        "min_ms": min(ms) if ms else float("nan"),
        "max_ms": max(ms) if ms else float("nan"),
    }


def now() -> float:
    return time.perf_counter()


# ---------------------------------------------------------------------------- sizes


@dataclass(frozen=True, slots=True)
class Sizes:
    """How much each benchmark does; ``--quick`` picks the small set."""

    quick: bool
    append_sizes: tuple[int, ...] = (10, 1_000, 10_000)
    append_rounds: int = 8
    append_per_round: int = 50
    floor_per_round: int = 50
    warmup: int = 5
    baseline_inserts: tuple[tuple[int, int], ...] = ((10, 100), (1_000, 40), (10_000, 12))
    sequential_appends: int = 500
    sequential_reps: int = 5
    baseline_sequential: int = 500
    writers: int = 50
    per_writer: int = 40
    concurrent_reps: int = 5
    baseline_per_writer: int = 20
    open_messages: int = 10_000
    open_reps: int = 9
    list_conversations: int = 10_000
    list_calls: int = 200
    stream_replies: int = 50
    stream_deltas: int = 100
    stream_reps: int = 5
    rss_conversations: int = 10_000
    rss_messages_each: int = 100
    rss_opened: int = 10
    hot_rounds: int | None = None  # ``--rounds``: the hot suite's alternating rounds

    @classmethod
    def pick(cls, quick: bool) -> Sizes:
        if not quick:
            return cls(quick=False)
        return cls(
            quick=True,
            append_rounds=3,
            append_per_round=30,
            floor_per_round=40,
            warmup=3,
            baseline_inserts=((10, 40), (1_000, 15), (10_000, 5)),
            sequential_appends=200,
            sequential_reps=2,
            baseline_sequential=200,
            per_writer=20,
            concurrent_reps=2,
            baseline_per_writer=10,
            open_reps=3,
            list_conversations=1_000,
            list_calls=50,
            stream_reps=2,
            rss_conversations=1_000,
        )


# ---------------------------------------------------------------------------- content


_PROSE = (
    "the store keeps every message durable before it answers so a reload never loses a reply "
    "streaming tokens arrive one small delta at a time while the assistant thinks about code "
    "function class return value error test file path branch commit journal shard catalog"
)
_WORDS = _PROSE.split()


def text_of(length: int, seed: int) -> str:
    """Deterministic prose-like text of exactly ``length`` characters."""
    rng = random.Random(seed)
    parts: list[str] = []
    size = 0
    while size < length:
        word = rng.choice(_WORDS)
        parts.append(word)
        size += len(word) + 1
    return " ".join(parts)[:length]


# ---------------------------------------------------------------------------- report rows


@dataclass(slots=True)
class Row:
    """One line of the table: our figure, the baselines', the floor, the ratio and the target."""

    key: str
    operation: str
    ours: str
    baselines: str = ""
    floor: str = ""
    ratio: str = ""
    target: str = ""
    met: bool | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class Results:
    figures: Figures = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def row(self, row: Row) -> None:
        self.rows.append(row)


def ms(value: float) -> str:
    if value != value:  # nan
        return "n/a"
    if value >= 100:
        return f"{value:,.0f} ms"
    if value >= 10:
        return f"{value:.1f} ms"
    return f"{value:.2f} ms"


def rate(value: float) -> str:
    return f"{value:,.0f}/s"


def times(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}x"
    return f"{value:.1f}x" if value >= 10 else f"{value:.2f}x"


# ---------------------------------------------------------------------------- temp dirs


@contextlib.contextmanager
def bench_dir(name: str) -> Iterator[Path]:
    """A fresh temp dir under ``.bench-tmp/`` (same disk as the project), removed afterwards."""
    BENCH_TMP.mkdir(exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=BENCH_TMP))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def remove_bench_root() -> None:
    """Remove ``.bench-tmp/`` when nothing else is left in it."""
    with contextlib.suppress(OSError):
        BENCH_TMP.rmdir()


def drop_page_cache(paths: list[Path]) -> int:
    """Evict these files (clean pages only) from the page cache: a cold read without root.

    ``POSIX_FADV_DONTNEED`` touches only the named files, so other users of the machine keep
    theirs. It drops clean pages only, hence one ``sync`` first. Returns how many files were
    dropped.
    """
    os.sync()
    dropped = 0
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            dropped += 1
        finally:
            os.close(fd)
    return dropped


def files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


# ---------------------------------------------------------------------------- machine


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _mem_total_mb() -> int | None:
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    return None


def filesystem_of(path: Path) -> dict[str, str]:
    """The mount holding ``path`` (longest matching mount point in /proc/mounts), else df -T."""
    target = str(path.resolve())
    best: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/mounts").read_text().splitlines():
            parts = line.split()
            if len(parts) < 4:
                continue
            device, mount_point, fstype, options = parts[:4]
            mount_point = mount_point.replace("\\040", " ")
            inside = target == mount_point or target.startswith(mount_point.rstrip("/") + "/")
            if inside and len(mount_point) >= len(best.get("mount_point", "")):
                best = {
                    "device": device,
                    "mount_point": mount_point,
                    "fstype": fstype,
                    "options": options,
                }
    if best:
        return best
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(
            ["df", "-T", target], capture_output=True, text=True, check=True, timeout=10
        ).stdout.splitlines()
        fields = out[-1].split()
        return {"device": fields[0], "fstype": fields[1], "mount_point": fields[-1]}
    return {"fstype": "unknown"}


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def code_version() -> Figures:
    """The commit benchmarked, and whether ``sidecar/store/`` differs from it (read-only git calls)."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()

    try:
        return {
            "commit": git("rev-parse", "HEAD"),
            "store_modified": bool(git("status", "--porcelain", "--", "sidecar/store")),
        }
    except (OSError, subprocess.SubprocessError):
        return {"commit": "unknown"}


def machine_info(temp_dir: Path) -> Figures:
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "nproc": affinity or os.cpu_count(),
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_mb": _mem_total_mb(),
        "kernel": platform.release(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "filesystem": filesystem_of(temp_dir),
        "temp_dir": str(temp_dir),
        "load_average_at_start": list(os.getloadavg()),
        "packages": {name: _version(name) for name in ("orjson", "tinydb", "psutil")},
    }
