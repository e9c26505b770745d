"""chat-migrate benchmarks for other tools' histories (issue #17).

``peers``: a synthetic ChatGPT export of 100,000 messages (2,000 conversations of 50, every
tenth with an edited question, so a branch; a hidden system message each) and 1,000 Cline tasks
(20 API entries each, tool calls with their results, ui_messages.json for times). Each is
imported with ``python -m migrate import --from FORMAT`` in a fresh process on a fresh data dir
(direct path): wall time and peak RSS, median of the repetitions.

Anchors, measured in the same run: a navi export holding the same number of messages (the legacy
import, ``migrate_bench``), so the ratio says what another tool's shape costs over the legacy
path; and the same ChatGPT export at a quarter of the size, so the RSS ratio says whether memory
grows with the export (it is streamed: it should not grow with the file, only with the chunk).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import orjson

from .common import Figures, Results, Row, Sizes, median, text_of
from .migrate_bench import _timed, generate_navi_export

CHATGPT_MESSAGES = 100_000
CLINE_TASKS = 1_000
T0 = 1_735_395_600.0


def sizes_for(quick: bool) -> dict[str, int]:
    if quick:
        return {
            "conversations": 200,
            "messages_each": 50,
            "tasks": 100,
            "entries_each": 20,
            "reps": 1,
        }
    return {
        "conversations": 2_000,
        "messages_each": 50,
        "tasks": CLINE_TASKS,
        "entries_each": 20,
        "reps": 3,
    }


def generate_chatgpt(
    path: Path, conversations: int, messages_each: int, chars: int = 160
) -> Figures:
    """``conversations.json`` written one conversation at a time (the generator holds one)."""
    texts = [text_of(chars, seed) for seed in range(499)]
    messages = 0
    with path.open("wb") as out:
        out.write(b"[")
        for c in range(conversations):
            conversation_id = f"conv-{c:06d}"
            mapping: dict[str, Any] = {
                "root": {"id": "root", "message": None, "parent": None, "children": ["sys"]},
                "sys": {
                    "id": "sys",
                    "parent": "root",
                    "children": [],
                    "message": {
                        "id": "sys",
                        "author": {"role": "system"},
                        "content": {"content_type": "text", "parts": [""]},
                        "metadata": {"is_visually_hidden_from_conversation": True},
                        "recipient": "all",
                    },
                },
            }
            parent = "sys"
            for m in range(messages_each):
                node = f"n{m}"
                role = "user" if m % 2 == 0 else "assistant"
                mapping[node] = {
                    "id": node,
                    "parent": parent,
                    "children": [],
                    "message": {
                        "id": node,
                        "author": {"role": role, "name": None, "metadata": {}},
                        "create_time": T0 + c * 1000 + m,
                        "content": {
                            "content_type": "text",
                            "parts": [f"#{c}.{m} " + texts[(c * 7 + m) % 499]],
                        },
                        "metadata": {"model_slug": "gpt-4o"} if role == "assistant" else {},
                        "recipient": "all",
                        "status": "finished_successfully",
                    },
                }
                mapping[parent]["children"].append(node)
                parent = node
                messages += 1
            if c % 10 == 0 and messages_each > 2:  # an edited first question: another leaf
                mapping["edit"] = {
                    "id": "edit",
                    "parent": "sys",
                    "children": [],
                    "message": {
                        "id": "edit",
                        "author": {"role": "user"},
                        "create_time": T0 + c * 1000,
                        "content": {"content_type": "text", "parts": ["an earlier question"]},
                        "recipient": "all",
                    },
                }
                mapping["sys"]["children"].append("edit")
                messages += 1
            body = {
                "id": conversation_id,
                "conversation_id": conversation_id,
                "title": f"Conversation {c}",
                "create_time": T0 + c * 1000,
                "update_time": T0 + c * 1000 + messages_each,
                "current_node": parent,
                "mapping": mapping,
                "default_model_slug": "gpt-4o",
            }
            if c:
                out.write(b",")
            out.write(orjson.dumps(body))
        out.write(b"]")
    return {"conversations": conversations, "messages": messages, "bytes": path.stat().st_size}


def generate_cline(root: Path, tasks: int, entries_each: int, chars: int = 160) -> Figures:
    """A Cline folder: ``tasks/<id>/`` with the API history and ui_messages.json, and
    ``state/taskHistory.json``."""
    texts = [text_of(chars, seed) for seed in range(499)]
    history: list[dict[str, Any]] = []
    messages = 0
    for t in range(tasks):
        task_id = str(1_735_395_600_000 + t * 1000)
        folder = root / "tasks" / task_id
        folder.mkdir(parents=True)
        entries: list[dict[str, Any]] = []
        ui: list[dict[str, Any]] = [
            {"ts": int(task_id), "type": "say", "say": "task", "text": "task"}
        ]
        for e in range(entries_each):
            text = f"#{t}.{e} " + texts[(t * 13 + e) % 499]
            stamp = int(task_id) + e * 100
            if e % 2 == 0:
                blocks: list[dict[str, Any]] = []
                if e:
                    blocks.append(
                        {"type": "tool_result", "tool_use_id": f"tu{e - 1}", "content": text}
                    )
                    messages += 1
                blocks.append(
                    {
                        "type": "text",
                        "text": f"<feedback>\n{text}\n</feedback>"
                        if e
                        else f"<task>\n{text}\n</task>",
                    }
                )
                blocks.append(
                    {
                        "type": "text",
                        "text": "<environment_details>\n# Open Tabs\na.py\n</environment_details>",
                    }
                )
                entries.append({"role": "user", "content": blocks})
                ui.append({"ts": stamp, "type": "say", "say": "api_req_started", "text": "{}"})
            else:
                entries.append(
                    {
                        "role": "assistant",
                        "content": [
                            {"type": "text", "text": text},
                            {
                                "type": "tool_use",
                                "id": f"tu{e}",
                                "name": "read_file",
                                "input": {"path": "a.py"},
                            },
                        ],
                    }
                )
                ui.append({"ts": stamp + 50, "type": "say", "say": "text", "text": text})
            messages += 1
        (folder / "api_conversation_history.json").write_bytes(orjson.dumps(entries))
        (folder / "ui_messages.json").write_bytes(orjson.dumps(ui))
        history.append(
            {
                "id": task_id,
                "ts": int(task_id) + entries_each * 100,
                "task": f"Task {t}",
                "tokensIn": 100,
                "totalCost": 0.01,
            }
        )
    (root / "state").mkdir(parents=True)
    (root / "state" / "taskHistory.json").write_bytes(orjson.dumps(history))
    return {"tasks": tasks, "messages": messages}


def _runs(reps: int, workdir: Path, args: list[str]) -> list[Figures]:
    out: list[Figures] = []
    for rep in range(reps):
        data_dir = workdir / f"data-{rep}"
        out.append(_timed(["import", "--quiet", "--data-dir", str(data_dir), *args]))
        shutil.rmtree(data_dir, ignore_errors=True)
    return out


def run_suite(workdir: Path, shape: dict[str, int]) -> Figures:
    reps = shape["reps"]
    chatgpt = workdir / "conversations.json"
    quarter = workdir / "quarter" / "conversations.json"
    quarter.parent.mkdir()
    navi = workdir / "navi.json"
    cline = workdir / "cline"
    figures: Figures = {
        "chatgpt_dataset": generate_chatgpt(
            chatgpt, shape["conversations"], shape["messages_each"]
        ),
        "chatgpt_quarter_dataset": generate_chatgpt(
            quarter, shape["conversations"] // 4, shape["messages_each"]
        ),
        "cline_dataset": generate_cline(cline, shape["tasks"], shape["entries_each"]),
    }
    figures["navi_dataset"] = generate_navi_export(
        navi, shape["conversations"], shape["messages_each"], 160
    )
    figures["chatgpt"] = _runs(reps, workdir, ["--from", "chatgpt", str(chatgpt)])
    figures["chatgpt_quarter"] = _runs(reps, workdir, ["--from", "chatgpt", str(quarter)])
    figures["navi"] = _runs(reps, workdir, [str(navi)])
    navi_small = workdir / "navi-cline-size.json"
    messages_each = max(2, figures["cline_dataset"]["messages"] // shape["tasks"])
    figures["navi_cline_size_dataset"] = generate_navi_export(
        navi_small, shape["tasks"], messages_each, 160
    )
    figures["cline"] = _runs(reps, workdir, ["--from", "cline", str(cline)])
    figures["navi_cline_size"] = _runs(reps, workdir, [str(navi_small)])
    figures["load_average"] = list(os.getloadavg())
    return figures


async def peers_section(sizes: Sizes, workdir: Path) -> Figures:
    return run_suite(workdir, sizes_for(sizes.quick))


SECTIONS = ("peers",)
SUITE: dict[str, Callable[[Sizes, Path], Coroutine[Any, Any, Figures]]] = {"peers": peers_section}


def _median(runs: list[Figures], key: str) -> float:
    return median([r[key] for r in runs])


def build_rows(results: Results) -> None:
    figures = results.figures.get("peers")
    if not isinstance(figures, dict) or "chatgpt" not in figures:
        return
    ok = all(
        r["exit_code"] == 0
        for k in ("chatgpt", "chatgpt_quarter", "navi", "cline", "navi_cline_size")
        for r in figures[k]
    )
    gpt = figures["chatgpt_dataset"]
    gpt_s, navi_s = _median(figures["chatgpt"], "seconds"), _median(figures["navi"], "seconds")
    gpt_rss = _median(figures["chatgpt"], "peak_rss_mb")
    quarter_rss = _median(figures["chatgpt_quarter"], "peak_rss_mb")
    size = f"{gpt['messages']:,} messages, {gpt['bytes'] / 1e6:,.0f} MB"
    results.row(
        Row(
            "peers_chatgpt_import",
            f"import --from chatgpt, {size}",
            f"{gpt_s:.1f} s",
            baselines=f"navi export, same messages: {navi_s:.1f} s",
            ratio=f"{gpt_s / navi_s:.2f}x" if navi_s else "",
            met=None if ok else False,
        )
    )
    results.row(
        Row(
            "peers_chatgpt_rss",
            f"import --from chatgpt peak RSS, {size}",
            f"{gpt_rss:,.0f} MB",
            baselines=f"a quarter of the export: {quarter_rss:,.0f} MB",
            ratio=f"{gpt_rss / quarter_rss:.2f}x" if quarter_rss else "",
        )
    )
    cline = figures["cline_dataset"]
    cline_s = _median(figures["cline"], "seconds")
    anchor_s = _median(figures["navi_cline_size"], "seconds")
    results.row(
        Row(
            "peers_cline_import",
            f"import --from cline, {cline['tasks']:,} tasks / {cline['messages']:,} messages",
            f"{cline_s:.1f} s, peak RSS {_median(figures['cline'], 'peak_rss_mb'):,.0f} MB",
            baselines=f"navi export, same messages: {anchor_s:.1f} s",
            ratio=f"{cline_s / anchor_s:.2f}x" if anchor_s else "",
            met=None if ok else False,
        )
    )
