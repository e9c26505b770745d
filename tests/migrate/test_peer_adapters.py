"""The rules of LEGACY_FORMATS §7 that are each tool's own, one by one, and bad input."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from migrate.adapters.vscode_chat import ReplayError, apply_entry
from migrate.identity import conversation_id
from migrate.peerplan import build_peer_plan
from migrate.stored import branch_path

from . import peergen
from .conftest import cli, store_state, tree_files
from .test_peer_fixtures import PEERS

T0 = peergen.T0


def _write(path: Path, value: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value), encoding="utf-8")
    return path


def _plan(format_name: str, *paths: Path) -> Any:
    plan, _ = build_peer_plan(format_name, list(paths))
    return plan


# ---------------------------------------------------------------------------- vscode-chat


def test_jsonl_replay_sets_pushes_truncates_and_deletes() -> None:
    state = apply_entry(None, {"kind": 0, "v": {"requests": [], "customTitle": "x"}})
    state = apply_entry(state, {"kind": 2, "k": ["requests"], "v": [{"a": 1}, {"a": 2}, {"a": 3}]})
    state = apply_entry(state, {"kind": 2, "k": ["requests"], "v": [{"a": 9}], "i": 1})
    assert state["requests"] == [{"a": 1}, {"a": 9}]
    state = apply_entry(state, {"kind": 1, "k": ["requests", 1, "a"], "v": 10})
    state = apply_entry(state, {"kind": 1, "k": ["requests", 2], "v": {"a": 11}})  # append
    state = apply_entry(state, {"kind": 2, "k": ["requests", 0, "response"], "v": [1]})
    state = apply_entry(state, {"kind": 3, "k": ["customTitle"]})
    assert state == {"requests": [{"a": 1, "response": [1]}, {"a": 10}, {"a": 11}]}
    with pytest.raises(ReplayError):
        apply_entry(state, {"kind": 1, "k": ["requests", 7, "a"], "v": 1})


def test_jsonl_wins_over_json_and_statuses_follow_model_state(tmp_path: Path) -> None:
    folder = tmp_path / "User" / "workspaceStorage" / "h" / "chatSessions"

    def request(number: int, state: int | None, **extra: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "requestId": f"r{number}",
            "message": {"text": f"q{number}"},
            "timestamp": T0 + number,
            "response": [{"value": f"a{number}"}, {"kind": "inlineReference", "x": 1}],
            **extra,
        }
        if state is not None:
            body["modelState"] = {"value": state, "completedAt": T0 + 100 + number}
        return body

    old = {"sessionId": "s", "requests": [request(0, 1)]}
    _write(folder / "s.json", old)
    new = {
        "version": 3,
        "sessionId": "s",
        "requests": [request(0, 1), request(1, 2), request(2, 3), request(3, 0), request(4, None)],
    }
    (folder / "s.jsonl").write_text(
        json.dumps({"kind": 0, "v": new}) + "\n{broken", encoding="utf-8"
    )
    plan = _plan("vscode-chat", tmp_path)
    (conversation,) = plan.conversations
    replies = [m for m in conversation.messages if m.role == "assistant"]
    assert [m.status for m in replies] == [
        "complete",
        "cancelled",
        "failed",
        "interrupted",
        "interrupted",
    ]
    assert replies[0].created_ms == T0 + 100 and replies[4].created_ms == T0 + 4
    assert replies[0].metadata["legacy"]["references"] == [{"kind": "inlineReference", "x": 1}]
    assert conversation.files == [str(folder / "s.jsonl")]
    (problem,) = plan.inputs[0].problems  # the cut-off last line is reported, the rest read
    assert problem.severity == "error" and "line 2" in problem.message


# ---------------------------------------------------------------------------- cline / roo


def test_cline_times_come_from_ui_messages_then_the_previous_message(tmp_path: Path) -> None:
    task = tmp_path / "tasks" / "42"
    _write(
        task / "api_conversation_history.json",
        [
            {"role": "user", "content": "<task>\ndo it\n</task>"},
            {
                "role": "assistant",
                "content": [{"type": "text", "text": "ok"}, {"type": "thinking", "thinking": "hm"}],
            },
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "<feedback>\nmore\n</feedback>"},
                    {"type": "text", "text": "and this"},
                ],
            },
            {"role": "assistant", "content": "done", "ts": T0 + 5000},
            {"role": "user", "content": [{"type": "text", "text": peergen.ENV}]},
            {"role": "assistant", "content": "bye"},
        ],
    )
    _write(
        task / "ui_messages.json",
        [
            {"ts": T0, "type": "say", "say": "task", "text": "do it\nsecond line"},
            {"ts": T0 + 10, "type": "say", "say": "api_req_started"},
            {"ts": T0 + 20, "type": "say", "say": "text", "text": "ok"},
            {"ts": T0 + 30, "type": "say", "say": "api_req_started"},
        ],
    )
    (conversation,) = _plan("cline", tmp_path).conversations
    assert [m.pair for m in conversation.messages] == [
        ("user", "do it"),
        ("assistant", "ok"),
        ("user", "more\n\nand this"),
        ("assistant", "done"),
        ("assistant", "bye"),
    ]
    assert [m.created_ms for m in conversation.messages] == [
        T0 + 10,
        T0 + 20,
        T0 + 30,
        T0 + 5000,
        T0 + 5000,
    ]
    assert conversation.messages[1].metadata["legacy"]["thinking"][0]["thinking"] == "hm"
    assert conversation.messages[4].metadata["legacy"]["environment_details"] == [peergen.ENV]
    assert conversation.title == "do it"  # the first say:task line (no HistoryItem)


def test_a_failed_tool_result_fails_its_call(tmp_path: Path) -> None:
    task = tmp_path / "tasks" / "7"
    _write(
        task / "api_conversation_history.json",
        [
            {"role": "user", "content": "go"},
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "t1", "name": "x", "input": {"a": 1}},
                    {"type": "tool_use", "id": "t2", "name": "y", "input": {}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "t2", "content": "fine"},
                    {
                        "type": "tool_result",
                        "tool_use_id": "t1",
                        "content": "boom",
                        "is_error": True,
                    },
                ],
            },
        ],
    )
    (conversation,) = _plan("roo", tmp_path).conversations
    calls = conversation.messages[1].tool_calls
    assert [(c["id"], c["status"], c["result"], c["error"]) for c in calls] == [
        ("t1", "failed", "boom", "boom"),
        ("t2", "succeeded", "fine", None),
    ]
    assert calls[0]["arguments"] == {"a": 1}
    assert [m.tool_call_id for m in conversation.messages[2:]] == ["t2", "t1"]  # block order


# ---------------------------------------------------------------------------- continue


def test_continue_times_are_synthetic_and_new_session_is_no_title(tmp_path: Path) -> None:
    chat = peergen.Chat([peergen.Turn("hello there", "hi")], None, False, 0, 0)
    root, _ = peergen.write_continue(tmp_path / ".continue", chat, "s", dated=True)
    (conversation,) = _plan("continue", root).conversations
    assert [m.created_ms for m in conversation.messages] == [T0, T0 + 1]
    assert conversation.title == "hello there"
    (root / "sessions" / "sessions.json").unlink()
    os.utime(root / "sessions" / "s.json", (1_700_000_000, 1_700_000_000))
    (conversation,) = _plan("continue", root).conversations
    assert [m.created_ms for m in conversation.messages] == [1_700_000_000_000, 1_700_000_000_001]


# ---------------------------------------------------------------------------- chatgpt


def test_a_truncated_export_keeps_what_came_before_and_says_so(tmp_path: Path) -> None:
    chats = [peergen.Chat([peergen.Turn("q", "a")], f"t{n}", False, 0, 0) for n in range(3)]
    bodies = [peergen.chatgpt_conversation(c, f"c{n}")[0] for n, c in enumerate(chats)]
    text = json.dumps(bodies)
    path = tmp_path / "conversations.json"
    path.write_text(text[: text.index('"c2"') + 2], encoding="utf-8")
    plan = _plan("chatgpt", path)
    assert sorted(c.legacy_id for c in plan.conversations) == ["c0", "c1"]
    (problem,) = plan.inputs[0].problems
    assert "truncated after 2 complete item(s)" in problem.message
    assert "2 conversation(s) read before it kept" in problem.message


def test_a_bad_conversation_is_skipped_and_named(tmp_path: Path) -> None:
    good, _ = peergen.chatgpt_conversation(
        peergen.Chat([peergen.Turn("q", "a")], None, False, 0, 0), "ok"
    )
    path = _write(
        tmp_path / "conversations.json", [{"title": "no id"}, good, {"id": "x", "mapping": 3}]
    )
    plan = _plan("chatgpt", path)
    assert [c.legacy_id for c in plan.conversations] == ["ok"]
    assert [p.key for p in plan.inputs[0].problems] == ["[0]", "[2]"]


# ---------------------------------------------------------------------------- open-webui


def test_open_webui_details_become_calls_and_reasoning(tmp_path: Path) -> None:
    chat = peergen.Chat(
        [peergen.Turn("q", "answer", [peergen.Call("run_sql", {"q": "a<b & 'c'"}, '{"rows": 5}')])],
        None,
        False,
        0,
        0,
    )
    body, _ = peergen.open_webui_chat(chat, "w")
    path = peergen.write_array(tmp_path / "chat-export-1.json", [body])
    (conversation,) = _plan("open-webui", path).conversations
    reply = conversation.messages[1]
    assert reply.content == "answer"
    (call,) = reply.tool_calls
    assert call["arguments"] == {"q": "a<b & 'c'"} and call["result"] == '{"rows": 5}'
    assert reply.metadata["legacy"]["reasoning"][0]["text"] == "> think"
    assert conversation.tags == ["t1"]


# ---------------------------------------------------------------------------- bad files, strict


def _tasks(tmp_path: Path) -> Path:
    tool = tmp_path / "cline"
    shutil.copytree(PEERS / "cline" / "saoudrizwan.claude-dev", tool)
    bad = tool / "tasks" / "1735400000000"
    bad.mkdir()
    (bad / "api_conversation_history.json").write_text(
        '[{"role": "user", "content": "cut', encoding="utf-8"
    )
    return tool


def test_one_bad_task_is_reported_with_its_path_and_the_rest_imported(tmp_path: Path) -> None:
    tool, data = _tasks(tmp_path), tmp_path / "data"
    result = cli("import", "--from", "cline", "--json", "--data-dir", data, tool)
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["conversations"]["created"] == [conversation_id("cline", "1735395936261")]
    (problem,) = [p for p in body["problems"] if p["severity"] == "error"]
    assert problem["file"] == str(tool / "tasks" / "1735400000000")
    assert "not JSON or truncated" in problem["message"]
    text = cli("import", "--from", "cline", "--data-dir", data, tool)
    assert str(tool / "tasks" / "1735400000000") in text.output  # printed, even when re-run


def test_strict_makes_a_bad_task_fatal_with_nothing_written(tmp_path: Path) -> None:
    tool, data = _tasks(tmp_path), tmp_path / "data"
    result = cli("import", "--from", "cline", "--strict", "--data-dir", data, tool)
    assert result.exit_code == 2
    assert "1735400000000" in result.output and "--strict" in result.output
    assert tree_files(data) == []


def test_a_path_with_nothing_of_the_format_is_bad_input(tmp_path: Path) -> None:
    result = cli("import", "--from", "roo", "--data-dir", tmp_path / "d", PEERS / "continue")
    assert result.exit_code == 2 and "holds no roo history" in result.output
    assert cli("import", "--from", "nope", "--data-dir", tmp_path / "d").exit_code == 2


@pytest.mark.parametrize("command", ["import", "validate"])
def test_dup_window_with_from_is_refused_not_ignored(tmp_path: Path, command: str) -> None:
    """The re-save window is an export rule; another tool's history never applies it, so asking
    for it there is a usage error (exit 2, one line), before anything is read or written."""
    data = tmp_path / "data"
    result = cli(command, "--from", "continue", "--dup-window", "10", "--data-dir", data, PEERS)
    assert result.exit_code == 2, result.output
    assert "--dup-window" in result.output and "--from continue" in result.output
    assert not data.exists()


def test_dry_run_writes_nothing_and_rollback_undoes_a_run(tmp_path: Path) -> None:
    data = tmp_path / "data"
    path = PEERS / "open-webui"
    dry = cli("import", "--from", "open-webui", "--dry-run", "--json", "--data-dir", data, path)
    assert dry.exit_code == 0 and not data.exists()
    assert [a["action"] for a in json.loads(dry.stdout)["actions"]] == ["create", "create"]
    run = json.loads(
        cli("import", "--from", "open-webui", "--json", "--data-dir", data, path).stdout
    )
    assert (data / "migrations" / run["run_id"] / "inputs").is_dir()
    assert len(store_state(data)) == 2
    assert cli("rollback", "--data-dir", data, run["run_id"]).exit_code == 0
    assert store_state(data) == []


def test_big_images_are_replaced_by_a_note_and_small_ones_kept(tmp_path: Path) -> None:
    turns = [peergen.Turn("small", "a", image=1), peergen.Turn("big", "b", image=2)]
    tool, _ = peergen.write_task(
        tmp_path / "t", peergen.Chat(turns, None, False, 0, 0), "9", roo=False
    )
    data = tmp_path / "data"
    body = json.loads(cli("import", "--from", "cline", "--json", "--data-dir", data, tool).stdout)
    assert body["large_parts_replaced"] == 1
    (stored,) = store_state(data)
    users = [m for m in branch_path(stored["document"]) if m["role"] == "user"]
    small = users[0]["metadata"]["legacy"]["images"][0]["source"]["data"]
    big = users[1]["metadata"]["legacy"]["images"][0]["source"]["data"]
    assert small.startswith("iVBOR") and len(small) < 1000
    assert big.startswith("[base64 part of 1,048,603 bytes not kept")


def test_chunks_of_a_few_messages_give_the_same_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A big history is imported a chunk at a time; the store is the same as in one go, also
    when the same conversation comes twice (two copies of an export) in different chunks."""
    chats = [peergen.Chat([peergen.Turn(f"q{n}", "a")] * 3, None, False, 1, 1) for n in range(4)]
    bodies = [peergen.chatgpt_conversation(c, f"c{n}")[0] for n, c in enumerate(chats)]
    first = peergen.write_array(tmp_path / "a" / "conversations.json", bodies)
    second = peergen.write_array(tmp_path / "b" / "conversations.json", bodies[::-1])
    whole, chunked = tmp_path / "whole", tmp_path / "chunked"
    assert cli("import", "--from", "chatgpt", "--data-dir", whole, first, second).exit_code == 0
    monkeypatch.setattr("migrate.peerplan.CHUNK_MESSAGES", 5)
    result = cli("import", "--from", "chatgpt", "--json", "--data-dir", chunked, first, second)
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert len(body["conversations"]["created"]) == 4
    assert body["hidden_skipped"] == 2 * 4 * 2
    assert len(body["inputs"]) == 2 and body["inputs"][0]["conversations"] == 4

    def shape(data: Path) -> list[Any]:
        return [(c["id"], c["messages"], c["branches"]) for c in store_state(data)]

    assert shape(chunked) == shape(whole)
    checked = cli("validate", "--from", "chatgpt", "--data-dir", chunked, first, second)
    assert checked.exit_code == 0, checked.output


def test_validate_checks_branches_and_tool_calls(tmp_path: Path) -> None:
    data = tmp_path / "data"
    path = tmp_path / "chat-export-1.json"
    shutil.copy(PEERS / "open-webui" / "chat-export-1735697219297.json", path)
    assert cli("import", "--from", "open-webui", "--data-dir", data, path).exit_code == 0
    assert cli("validate", "--from", "open-webui", "--data-dir", data, path).exit_code == 0
    chats = json.loads(path.read_text(encoding="utf-8"))
    messages = chats[0]["chat"]["history"]["messages"]
    root = next(k for k, m in messages.items() if m["parentId"] is None)
    messages["late"] = {
        "id": "late",
        "parentId": root,
        "childrenIds": [],
        "role": "assistant",
        "content": "a third reply",
    }
    messages[root]["childrenIds"].append("late")
    tool = chats[1]["chat"]["history"]["messages"][chats[1]["chat"]["history"]["currentId"]]
    tool["content"] = tool["content"].replace('name="run_sql"', 'name="run_query"')
    path.write_text(json.dumps(chats), encoding="utf-8")
    result = cli("validate", "--from", "open-webui", "--data-dir", data, path)
    assert result.exit_code == 1
    assert "the branch ending at late is missing from the store" in result.output
    assert "tool calls differ from the history's" in result.output
