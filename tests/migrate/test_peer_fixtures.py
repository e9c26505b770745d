"""The shared example histories of other tools give exactly the store their expected.json describes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from migrate.identity import conversation_id
from migrate.stored import branch_path

from .conftest import cli, store_state

PEERS = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "peers"
EXPECTED = json.loads((PEERS / "expected.json").read_text())


def _paths(format_name: str) -> list[Path]:
    return [PEERS / p for p in EXPECTED["formats"][format_name]["paths"]]


def _calls(document: dict[str, Any], path: list[dict[str, Any]], want: list[Any]) -> list[Any]:
    """Tool calls as [name, status], the status left out where expected.json names none."""
    return [
        [
            [c["name"], c["status"] if w[1] is not None else None]
            for c, w in zip(m["tool_calls"], wanted, strict=False)
        ]
        if len(m["tool_calls"]) == len(wanted)
        else [[c["name"], c["status"]] for c in m["tool_calls"]]
        for m, wanted in zip(path, want, strict=False)
    ]


def _answers(path: list[dict[str, Any]]) -> list[Any]:
    """For each message, [index of the message, index of the call] it answers, or None."""
    where = {c["id"]: [i, j] for i, m in enumerate(path) for j, c in enumerate(m["tool_calls"])}
    return [where.get(m["tool_call_id"]) if m["role"] == "tool" else None for m in path]


@pytest.mark.parametrize("format_name", list(EXPECTED["formats"]))
def test_each_format_gives_expected_json(format_name: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    result = cli(
        "import", "--from", format_name, "--json", "--data-dir", data, *_paths(format_name)
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    counts = EXPECTED["report"][format_name]
    assert len(report["conversations"]["created"]) == counts["conversations"]
    assert report["hidden_skipped"] == counts["hidden_skipped"]
    assert report["large_parts_replaced"] == counts["big_binaries"]
    assert [p for p in report["problems"] if p["severity"] == "error"] == []
    state = {c["id"]: c for c in store_state(data)}
    wanted = [c for c in EXPECTED["conversations"] if c["format"] == format_name]
    assert len(state) == len(wanted)
    for want in wanted:
        got = state[conversation_id(format_name, want["id"])]
        document = got["document"]
        assert document["source"]["format"] == format_name
        assert document["source"]["legacy_id"] == want["id"]
        for name in ("title", "starred", "pinned", "archived"):
            assert got[name] == want[name], (want["id"], name)
        assert got["messages"] == want["messages"]
        main = branch_path(document)
        assert _calls(document, main, want["tool_calls"]) == want["tool_calls"]
        assert _answers(main) == want["answers"]
        others = [
            [[m["role"], m["content"]] for m in branch_path(document, b["name"])]
            for b in document["branches"]
            if b["name"] != "main"
        ]
        assert others == want["branches"]
    checked = cli("validate", "--from", format_name, "--data-dir", data, *_paths(format_name))
    assert checked.exit_code == 0, checked.output
    again = cli("import", "--from", format_name, "--json", "--data-dir", data, *_paths(format_name))
    body = json.loads(again.stdout)
    assert body["conversations"]["created"] == body["conversations"]["merged"] == []
    assert [c["document"] for c in store_state(data)] == [c["document"] for c in state.values()]


def test_the_same_history_on_two_machines_gets_the_same_ids(tmp_path: Path) -> None:
    """Ids come from (format, the tool's ids) only: two stores that import the same ChatGPT
    export, from different paths, hold the very same conversation and message ids."""
    source = _paths("chatgpt")[0]
    copy = tmp_path / "elsewhere" / "conversations.json"
    copy.parent.mkdir()
    copy.write_bytes(source.read_bytes())
    for data, path in ((tmp_path / "a", source), (tmp_path / "b", copy)):
        assert cli("import", "--from", "chatgpt", "--data-dir", data, path).exit_code == 0

    def ids(data: Path) -> list[Any]:
        return sorted(
            (c["id"], sorted(m["id"] for m in c["document"]["messages"])) for c in store_state(data)
        )

    assert ids(tmp_path / "a") == ids(tmp_path / "b")
