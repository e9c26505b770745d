"""What one durable write of a journal record costs on this disk, appending or overwriting zeros.

``python -m benchmarks.sync_modes [--syncs N] [--rounds N]`` writes 1,100 B records one at a
time in a temp file under ``.bench-tmp/`` (the benchmarks' own disk), each made durable before
the next, three ways in alternating rounds:

- ``append``: ``write`` to a file opened ``O_APPEND``, then ``fdatasync`` (the file grows: the
  sync also commits its new size), as the journal did before it kept spare space;
- ``overwrite``: ``pwrite`` over zeros written and synced beforehand, then ``fdatasync`` (the
  size does not change: the sync covers the data alone), as the journal writes now;
- ``dsync``: the same overwrite as one ``pwritev`` with ``RWF_DSYNC`` (one call instead of two);
- ``fallocate``: ``pwrite`` + ``fdatasync`` into space reserved by ``posix_fallocate`` instead of
  zeros (ext4 marks it unwritten: the first write into each block changes metadata).

It prints each way's median over the rounds of the per-write p50 and p90 and of the CPU per
write, the measurement behind docs/storage.md, "Records overwrite zeroed spare space".
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from .common import BENCH_TMP, median, percentile

RECORD = b"x" * 1100
WAYS = ("append", "overwrite", "dsync", "fallocate")


def _durable_write(fd: int, way: str, offset: int) -> None:
    if way == "append":
        os.write(fd, RECORD)
        os.fdatasync(fd)
    elif way in ("overwrite", "fallocate"):
        os.pwrite(fd, RECORD, offset)
        os.fdatasync(fd)
    else:
        os.pwritev(fd, [RECORD], offset, os.RWF_DSYNC)


def _one_way(folder: Path, way: str, syncs: int) -> tuple[float, float, float]:
    """(p50 ms, p90 ms, CPU ms) per durable write of ``RECORD``, ``syncs`` times."""
    path = folder / f"{way}.bin"
    if way == "append":
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
    else:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        if way == "fallocate":
            os.posix_fallocate(fd, 0, len(RECORD) * syncs)
        else:
            os.write(fd, bytes(len(RECORD) * syncs))
        os.fsync(fd)
    took: list[float] = []
    cpu = time.process_time()
    try:
        for n in range(syncs):
            began = time.perf_counter()
            _durable_write(fd, way, n * len(RECORD))
            took.append(time.perf_counter() - began)
        cpu = time.process_time() - cpu
    finally:
        os.close(fd)
        path.unlink()
    return percentile(took, 50) * 1e3, percentile(took, 90) * 1e3, cpu / syncs * 1e3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sync_modes")
    parser.add_argument("--syncs", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    BENCH_TMP.mkdir(exist_ok=True)
    figures: dict[str, list[tuple[float, float, float]]] = {way: [] for way in WAYS}
    with tempfile.TemporaryDirectory(dir=BENCH_TMP) as folder:
        for round_ in range(args.rounds):
            for way in WAYS if round_ % 2 == 0 else reversed(WAYS):
                figures[way].append(_one_way(Path(folder), way, args.syncs))
    print(f"durable writes of {len(RECORD)} B, {args.syncs} per round, {args.rounds} rounds")
    for way, rounds in figures.items():
        p50, p90, cpu = (median([r[i] for r in rounds]) for i in range(3))
        print(f"  {way:9}  p50 {p50:.3f} ms  p90 {p90:.3f} ms  CPU {cpu:.3f} ms per write")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
