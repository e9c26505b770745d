"""``chat-sidecar serve`` with instruments the product does not carry (``benchmarks.profile_hot``).

``python -m benchmarks.serve_runner [--uvloop] [--cprofile OUT] [--tracemalloc OUT] -- SERVE_ARGS``
runs exactly what ``chat-sidecar serve SERVE_ARGS`` runs (the CLI's own entry point), with:

- ``--uvloop``: uvloop's event loop policy installed first (what uvloop would give, measured
  without changing ``sidecar/``);
- ``--cprofile OUT``: cProfile of the event loop's thread between SIGUSR1 (start) and SIGUSR2
  (stop and write ``OUT`` as pstats), so a profile covers the load window only;
- ``--tracemalloc OUT``: tracemalloc from the first import; SIGUSR1 writes the top allocations
  by file and line to ``OUT`` (what holds the idle RSS);
- ``--with-rpc-engine``: pygls imported before serving, as a first ``/rpc`` connection would:
  what that import costs in RSS (the product imports it only for an RPC client);
- ``--without PART`` (repeatable): a part the contract requires switched off, to measure what
  it costs per request (``profile_hot ablate``; never a way to serve): ``search`` (the index
  hears of no change), ``events`` (the event hub hears of no change) or ``checks`` (no
  Host/Origin/token/body middleware).
"""

from __future__ import annotations

import argparse
import cProfile
import signal
import sys
import tracemalloc
from pathlib import Path
from types import FrameType
from typing import Any


def _profiled(out: Path) -> None:
    profile = cProfile.Profile()

    def begin(_signum: int, _frame: FrameType | None) -> None:
        profile.enable()

    def end(_signum: int, _frame: FrameType | None) -> None:
        profile.disable()
        profile.dump_stats(str(out))

    signal.signal(signal.SIGUSR1, begin)
    signal.signal(signal.SIGUSR2, end)


def _traced(out: Path) -> None:
    tracemalloc.start(1)  # one frame: by file and line is what is reported, at a tenth of the cost

    def dump(_signum: int, _frame: FrameType | None) -> None:
        snapshot = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__)]
        )
        current, peak = tracemalloc.get_traced_memory()
        lines = [f"traced now {current / 2**20:.1f} MiB, peak {peak / 2**20:.1f} MiB"]
        for key in ("filename", "lineno"):
            lines.append(f"--- top by {key}")
            for stat in snapshot.statistics(key)[:40]:
                lines.append(
                    f"{stat.size / 2**20:8.2f} MiB {stat.count:9,d} blocks  {stat.traceback}"
                )
        partial = out.with_suffix(".partial")
        partial.write_text("\n".join(lines) + "\n")
        partial.replace(out)  # whole or absent: the caller waits for this name

    signal.signal(signal.SIGUSR1, dump)


#: What ``--without`` can switch off.
PARTS = ("search", "events", "checks")


def _replace(owner: Any, name: str, value: Any) -> None:
    """Set ``owner.name``, which must exist: a renamed entry point fails here instead of
    leaving the part on and the measurement silently of the whole server."""
    if not hasattr(owner, name):
        raise SystemExit(f"serve_runner --without: {owner.__name__}.{name} no longer exists")
    setattr(owner, name, value)


def _switch_off(parts: list[str]) -> None:
    """Replace each part's entry point by one that does nothing, before the app is imported."""
    if "search" in parts:
        from sidecar.search.index import SearchIndex

        _replace(SearchIndex, "_on_change", lambda self, changes: None)
    if "events" in parts:
        from sidecar.events.hub import EventHub

        _replace(EventHub, "_on_change", lambda self, changes: None)
    if "checks" in parts:
        from sidecar.http import security

        _replace(security, "build_middlewares", lambda config, token, activity: [])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.serve_runner")
    parser.add_argument("--uvloop", action="store_true")
    parser.add_argument("--cprofile", type=Path)
    parser.add_argument("--tracemalloc", type=Path)
    parser.add_argument("--with-rpc-engine", action="store_true")
    parser.add_argument("--without", action="append", choices=PARTS, default=[])
    parser.add_argument("serve_args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.tracemalloc is not None:
        _traced(args.tracemalloc)
    if args.uvloop:
        import uvloop

        uvloop.install()
    if args.cprofile is not None:
        _profiled(args.cprofile)
    _switch_off(args.without)
    from sidecar.entry import main as cli_main

    if args.with_rpc_engine:
        from sidecar.rpc import endpoint

        endpoint._import_engine()

    rest = [a for a in args.serve_args if a != "--"]
    sys.argv = ["chat-sidecar", "serve", *rest]
    cli_main()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
