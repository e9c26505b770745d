"""Turn benchmarks (issue #4): tool-call cycles and concurrent streaming replies, all durable.

Both run the real turn engine over a real store in a temporary data dir, with the echo provider
at zero delay, so what is measured is the engine and the store (every transition and every
piece of a reply made durable), not a model:

- ``tools``: 100 tool-call cycles one after another: send ``/tool clock {}`` → the proposal is
  persisted (awaiting_tool_approval) → the user approves → the tool runs → its result and the
  model's next reply are persisted → completed.
- ``chunks``: 50 turns at once, each reply streamed as 100 chunks (5,000 chunks in all), until
  every turn is completed and every reply's content is durable and checked.

``cancel`` measures how long cancelling a streaming reply takes, until the turn is durably
``cancelled`` with its partial content (target < 100 ms).

Anchors (the Context Manager v2 release notes): 100 tool cycles < 3 s, 5,000 chunks across 50
replies < 5 s. Targets: < 1 s and < 0.5 s. The ``per_chunk_records`` variant writes each chunk
as its own awaited journal record — what persisting every delta without coalescing would cost —
as the naive baseline in the same run.

``python -m benchmarks.turn_bench [--quick]`` prints the figures as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import orjson

from sidecar.providers import EchoProvider
from sidecar.service.turns import TurnConfig, TurnEngine
from sidecar.store import Store, StoreConfig, TurnEffect
from sidecar.tools import ToolRegistry, builtin_tools

from .common import Figures, Results, Row, Sizes, latency_summary, median, now

CHUNK = 8


async def _engine(data_dir: Path, chunk: int = CHUNK) -> tuple[Store, TurnEngine]:
    store = await Store.open(data_dir, StoreConfig(checkpoint_interval=3600))
    engine = TurnEngine(store, EchoProvider(chunk, 0), ToolRegistry(builtin_tools()), TurnConfig())
    return store, engine


async def _settled(store: Store, cid: str, turn_id: str, *states: str) -> dict[str, Any]:
    """Wait for a turn's state through the store's own announcements (no polling delay)."""
    reached = asyncio.Event()

    def listener(changes: Any) -> None:
        for change in changes:
            for effect in change.effects:
                turn = effect.turn if isinstance(effect, TurnEffect) else None
                if turn is not None and turn["id"] == turn_id and turn["state"] in states:
                    reached.set()

    unsubscribe = store.subscribe(listener)
    try:
        turn = await store.get_turn(cid, turn_id)
        if turn["state"] not in states:
            await asyncio.wait_for(reached.wait(), 30)
        return await store.get_turn(cid, turn_id)
    finally:
        unsubscribe()


async def tool_cycles(cycles: int, data_dir: Path) -> Figures:
    store, engine = await _engine(data_dir)
    try:
        cid = (await store.create_conversation(title="tools"))[0]["id"]
        start = now()
        for _ in range(cycles):
            sent, _ = await engine.send_message(cid, content="/tool clock {}")
            turn_id = sent["turn"]["id"]
            turn = await _settled(store, cid, turn_id, "awaiting_tool_approval")
            proposer = await store.get_message(cid, turn["assistant_message_id"])
            call_id = proposer["tool_calls"][0]["id"]
            await engine.approve_tools(cid, turn_id, [{"tool_call_id": call_id, "approved": True}])
            done = await _settled(store, cid, turn_id, "completed", "permanent_failure")
            assert done["state"] == "completed", done
        elapsed = now() - start
        page = await store.read_page(cid, limit=1000)
        assert len(page.messages) == 4 * cycles
        return {"cycles": cycles, "seconds": elapsed, "per_cycle_ms": elapsed / cycles * 1000}
    finally:
        await engine.close()
        await store.close()


async def concurrent_chunks(turns: int, chunks: int, data_dir: Path) -> Figures:
    store, engine = await _engine(data_dir)
    try:
        text = ("abcdefgh" * (chunks + 1))[: CHUNK * chunks]
        cids = [(await store.create_conversation(title=f"c{i}"))[0]["id"] for i in range(turns)]
        seq_before = store.seq
        start = now()
        sent = await asyncio.gather(*(engine.send_message(c, content=text) for c in cids))
        await asyncio.gather(
            *(
                _settled(store, cid, result["turn"]["id"], "completed")
                for cid, (result, _) in zip(cids, sent, strict=True)
            )
        )
        elapsed = now() - start
        for cid, (result, _) in zip(cids, sent, strict=True):
            reply = await store.get_message(cid, result["turn"]["assistant_message_id"])
            assert reply["content"] == text and reply["status"] == "complete"
        return {
            "turns": turns,
            "chunks": turns * chunks,
            "seconds": elapsed,
            "events": store.seq - seq_before,
        }
    finally:
        await engine.close()
        await store.close()


async def per_chunk_records(turns: int, chunks: int, data_dir: Path) -> Figures:
    """The naive baseline: every chunk its own awaited, durable record (no coalescing)."""
    store = await Store.open(data_dir, StoreConfig(checkpoint_interval=3600))
    try:
        cids = [(await store.create_conversation(title=f"n{i}"))[0]["id"] for i in range(turns)]
        replies = [
            (await store.append_message(c, role="assistant", content="", status="streaming"))[0]
            for c in cids
        ]
        piece = "abcdefgh"[:CHUNK]

        async def stream(cid: str, message_id: str) -> None:
            offset = 0
            for _ in range(chunks):
                offset = await store.append_text(cid, message_id, offset, piece)

        start = now()
        await asyncio.gather(*(stream(c, r["id"]) for c, r in zip(cids, replies, strict=True)))
        return {"turns": turns, "chunks": turns * chunks, "seconds": now() - start}
    finally:
        await store.close()


async def cancel_latency(rounds: int, data_dir: Path) -> Figures:
    """How long ``cancel`` takes on a reply that is streaming (echo: a chunk every 20 ms)."""
    store = await Store.open(data_dir, StoreConfig(checkpoint_interval=3600))
    engine = TurnEngine(store, EchoProvider(2, 20), ToolRegistry(builtin_tools()), TurnConfig())
    try:
        cid = (await store.create_conversation(title="cancel"))[0]["id"]
        seconds = []
        for _ in range(rounds):
            sent, _ = await engine.send_message(cid, content="x" * 400)
            await asyncio.sleep(0.1)
            start = now()
            turn = await engine.cancel(cid, sent["turn"]["id"])
            seconds.append(now() - start)
            assert turn["state"] == "cancelled"
        return latency_summary(seconds)
    finally:
        await engine.close()
        await store.close()


async def run_all(quick: bool, workdir: Path, reps: int | None = None) -> Figures:
    cycles = 20 if quick else 100
    turns, chunks = (10, 20) if quick else (50, 100)
    repetitions = reps or (1 if quick else 5)
    figures: dict[str, list[Figures]] = {"tools": [], "chunks": [], "per_chunk_records": []}
    cancel = await cancel_latency(5 if quick else 20, workdir / "cancel")
    for rep in range(repetitions):
        figures["tools"].append(await tool_cycles(cycles, workdir / f"tools-{rep}"))
        figures["chunks"].append(await concurrent_chunks(turns, chunks, workdir / f"chunks-{rep}"))
        figures["per_chunk_records"].append(
            await per_chunk_records(turns, chunks, workdir / f"naive-{rep}")
        )
    tools_s = median([f["seconds"] for f in figures["tools"]])
    chunks_s = median([f["seconds"] for f in figures["chunks"]])
    naive_s = median([f["seconds"] for f in figures["per_chunk_records"]])
    return {
        "runs": figures,
        "tool_cycles": cycles,
        "tool_cycles_s": tools_s,
        "tool_target_s": 1.0 * cycles / 100,
        "tool_anchor_s": 3.0 * cycles / 100,
        "chunks": turns * chunks,
        "chunks_s": chunks_s,
        "chunks_target_s": 0.5 * turns * chunks / 5000,
        "chunks_anchor_s": 5.0 * turns * chunks / 5000,
        "per_chunk_records_s": naive_s,
        "coalescing_speedup": naive_s / chunks_s if chunks_s else float("nan"),
        "cancel": cancel,
        "cancel_target_ms": 100.0,
    }


def build_rows(results: Results) -> None:
    figures = results.figures.get("turns")
    if not isinstance(figures, dict) or "tool_cycles_s" not in figures:
        return
    full = figures["tool_cycles"] >= 100
    tools_s, chunks_s = figures["tool_cycles_s"], figures["chunks_s"]
    results.row(
        Row(
            "turn_tools",
            f"{figures['tool_cycles']} tool-call cycles (propose, approve, run, reply), durable",
            f"{tools_s:.2f} s",
            baselines=f"anchor {figures['tool_anchor_s']:.1f} s",
            ratio=f"{figures['tool_anchor_s'] / tools_s:.1f}x faster than the anchor",
            target=f"< {figures['tool_target_s']:.1f} s" if full else "",
            met=tools_s < figures["tool_target_s"] if full else None,
        )
    )
    results.row(
        Row(
            "turn_chunks",
            f"{figures['chunks']:,} chunks across concurrent replies, all persisted",
            f"{chunks_s:.3f} s",
            baselines=(
                f"one record per chunk {figures['per_chunk_records_s']:.3f} s; "
                f"anchor {figures['chunks_anchor_s']:.1f} s"
            ),
            ratio=f"{figures['coalescing_speedup']:.1f}x faster than one record per chunk",
            target=f"< {figures['chunks_target_s']:.2f} s" if full else "",
            met=chunks_s < figures["chunks_target_s"] if full else None,
        )
    )
    cancel = figures["cancel"]
    results.row(
        Row(
            "turn_cancel",
            "cancel a streaming reply until it is durably cancelled (p50 / p99)",
            f"{cancel['p50_ms']:.1f} / {cancel['p99_ms']:.1f} ms",
            target=f"< {figures['cancel_target_ms']:.0f} ms",
            met=cancel["p99_ms"] < figures["cancel_target_ms"],
        )
    )


SECTIONS = ("turns",)


def _turns(sizes: Sizes, workdir: Path) -> Coroutine[Any, Any, Figures]:
    return run_all(sizes.quick, workdir)


SUITE: dict[str, Callable[[Sizes, Path], Coroutine[Any, Any, Figures]]] = {"turns": _turns}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.turn_bench")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--reps", type=int, default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="turn-bench-") as folder:
        figures = asyncio.run(run_all(args.quick, Path(folder), args.reps))
    sys.stdout.write(orjson.dumps(figures, option=orjson.OPT_INDENT_2).decode() + "\n")


if __name__ == "__main__":
    main()
