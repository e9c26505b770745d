"""The chat-migrate commands end to end on real files and a real store (direct path)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from migrate.identity import conversation_id
from sidecar.store import Store
from tests.store.helpers import put_turn

from .conftest import cli, navi_items, store_state, tree_files, with_store, write_export

T0 = 1_735_144_337_407


def session(sid: str, count: int, *, updated: int | None = None, **fields: Any) -> dict[str, Any]:
    messages = [
        {
            "id": f"{sid}-m{i}",
            "role": "user" if i % 2 == 0 else "assistant",
            "content": f"{sid} message {i}",
            "createdAt": T0 + i * 60_000,
        }
        for i in range(count)
    ]
    return {
        "id": sid,
        "title": f"Chat {sid}",
        "createdAt": T0 - 1000,
        "updatedAt": updated if updated is not None else T0 + count * 60_000,
        "starred": False,
        "pinned": False,
        "archived": False,
        **fields,
        "messages": messages,
    }


def navi_file(path: Path, *sessions: dict[str, Any], **options: Any) -> Path:
    return write_export(path, navi_items(list(sessions)), **options)


# ---------------------------------------------------------------------------- usage


@pytest.mark.parametrize("command", ["inspect", "import", "validate", "dedupe", "rollback"])
def test_every_command_has_help(command: str) -> None:
    result = cli(command, "--help")
    assert result.exit_code == 0
    assert "--quiet" in result.output
    if command != "inspect":
        assert "--data-dir" in result.output and "--url" in result.output


def test_python_dash_m_migrate_runs_the_cli(tmp_path: Path) -> None:
    path = navi_file(tmp_path / "n.json", session("s1", 2))
    done = subprocess.run(
        [sys.executable, "-m", "migrate", "inspect", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "apps: navi" in done.stdout


def test_data_dir_and_url_together_is_usage_error(tmp_path: Path) -> None:
    path = navi_file(tmp_path / "n.json", session("s1", 2))
    result = cli("import", path, "--data-dir", tmp_path / "d", "--url", "http://127.0.0.1:1")
    assert result.exit_code == 2
    assert "not both" in result.output


def test_url_without_token_is_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHAT_SIDECAR_TOKEN", raising=False)
    path = navi_file(tmp_path / "n.json", session("s1", 2))
    result = cli("import", path, "--url", "http://127.0.0.1:1")
    assert result.exit_code == 2
    assert "CHAT_SIDECAR_TOKEN" in result.output


def test_missing_arguments_exit_2() -> None:
    assert cli("import").exit_code == 2
    assert cli("rollback").exit_code == 2


# ---------------------------------------------------------------------------- bad input


BAD_FILES: dict[str, tuple[bytes, str]] = {
    "not-json.json": (b"this is not json", "not JSON"),
    "truncated.json": (b'{"navi.chatSessions": "[{\\"id\\": \\"s1\\"', "not JSON or truncated"),
    "empty.json": (b"", "empty"),
    "array.json": (b"[1, 2, 3]", "top level is a JSON list"),
    "unknown.json": (b'{"theme": "dark", "flags": "{\\"a\\": 1}"}', "no known app's keys"),
    "envelope-v9.json": (
        b'{"kind": "localstorage-export", "version": 9, "items": {}}',
        "version 9 is not supported",
    ),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_file_exits_2_naming_it_and_writes_nothing(tmp_path: Path, name: str) -> None:
    body, reason = BAD_FILES[name]
    good = navi_file(tmp_path / "good.json", session("s1", 3))
    bad = tmp_path / name
    bad.write_bytes(body)
    data = tmp_path / "data"
    result = cli("import", "--data-dir", data, good, bad)
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line]
    assert len(lines) == 1 and str(bad) in lines[0] and reason in lines[0], result.output
    assert not data.exists()
    assert cli("inspect", bad).exit_code == 2
    assert cli("validate", "--data-dir", data, bad).exit_code == 2


def test_missing_file_exits_2(tmp_path: Path) -> None:
    result = cli("inspect", tmp_path / "nope.json")
    assert result.exit_code == 2
    assert "nope.json: no such file" in result.output


def test_one_bad_key_is_reported_and_the_rest_imported(tmp_path: Path, data_dir: Path) -> None:
    items = navi_items([session("s1", 3)])
    items["navi.chatSession.messages.s2"] = "{not json"
    path = write_export(tmp_path / "n.json", items)
    result = cli("import", "--json", "--data-dir", data_dir, path)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert len(report["conversations"]["created"]) == 1
    bad = [p for p in report["problems"] if p["key"] == "navi.chatSession.messages.s2"]
    assert bad and bad[0]["severity"] == "error" and bad[0]["file"] == str(path)
    strict_dir = tmp_path / "strict"
    strict = cli("import", "--strict", "--data-dir", strict_dir, path)
    assert strict.exit_code == 2
    assert "navi.chatSession.messages.s2" in strict.output and str(path) in strict.output
    assert not strict_dir.exists()


# ---------------------------------------------------------------------------- file shapes


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16-le", "utf-16-be"])
@pytest.mark.parametrize("envelope", [False, True])
@pytest.mark.parametrize("as_text", [True, False])
def test_encodings_shapes_and_value_forms_read_alike(
    tmp_path: Path, encoding: str, envelope: bool, as_text: bool
) -> None:
    item = session("s1", 4)
    item["messages"][1]["content"] = "héllo wörld 多语言 🚀"
    path = navi_file(
        tmp_path / "n.json", item, envelope=envelope, encoding=encoding, as_text=as_text
    )
    data = tmp_path / "data"
    assert cli("import", "--data-dir", data, path).exit_code == 0
    (stored,) = store_state(data)
    assert stored["messages"][1] == ["assistant", "héllo wörld 多语言 🚀"]
    assert stored["id"] == conversation_id("navi", "s1")


def test_inspect_reports_apps_counts_unrelated_keys_and_problems(tmp_path: Path) -> None:
    items = navi_items([session("s1", 3)])
    items["theme"] = "dark"
    items["featureFlags"] = {"beta": True}
    items["navi.activeSessionId"] = "s1"
    items["navi.chatSession.messages.orphan"] = [
        {"id": "o1", "role": "wizard", "content": "abracadabra", "createdAt": T0}
    ]
    path = write_export(tmp_path / "n.json", items)
    result = cli("inspect", path)
    assert result.exit_code == 0, result.output
    assert "apps: navi" in result.output
    assert "conversations: 2, messages: 4" in result.output
    assert "unrelated keys (ignored): theme, featureFlags" in result.output
    assert "missing from navi.chatSessions" in result.output
    assert "unknown role 'wizard'" in result.output
    body = json.loads(cli("inspect", "--json", path).stdout)
    assert body["inputs"][0]["apps"] == ["navi"]
    assert body["inputs"][0]["unrelated_keys"] == ["theme", "featureFlags"]


# ---------------------------------------------------------------------------- import


def test_dry_run_writes_nothing_and_prints_the_plan(tmp_path: Path) -> None:
    path = navi_file(tmp_path / "n.json", session("s1", 3), session("s2", 2))
    data = tmp_path / "data"
    result = cli("import", "--dry-run", "--data-dir", data, path)
    assert result.exit_code == 0, result.output
    assert "dry run" in result.output and result.output.count("create ") == 2
    assert not data.exists()
    assert cli("import", "--data-dir", data, path).exit_code == 0
    before = tree_files(data)
    state = store_state(data)
    again = cli("import", "--dry-run", "--data-dir", data, path)
    assert again.output.count("unchanged") == 2
    assert tree_files(data) == before
    assert store_state(data) == state


def test_report_json_and_input_copies(tmp_path: Path, data_dir: Path) -> None:
    item = session("s1", 3)
    item["messages"].insert(2, dict(item["messages"][1], createdAt=T0 + 60_500))  # a re-save
    path = navi_file(tmp_path / "n.json", item)
    result = cli("import", "--json", "--data-dir", data_dir, path)
    report = json.loads(result.stdout)
    folder = Path(report["report"]).parent
    assert folder.parent == data_dir / "migrations"
    saved = json.loads(Path(report["report"]).read_text())
    assert saved["run_id"] == report["run_id"]
    (entry,) = saved["inputs"]
    assert entry["path"] == str(path) and entry["apps"] == ["navi"]
    assert entry["conversations"] == 1 and entry["messages"] == 4
    assert (folder / entry["copy"]).read_bytes() == path.read_bytes()
    assert saved["conversations"]["created"] == [conversation_id("navi", "s1")]
    assert saved["messages"] == {
        "imported": 3,
        "dropped_as_duplicates": 1,
        "same_in_another_copy": 0,
    }
    stored = store_state(data_dir)[0]["document"]
    assert stored["source"] == {
        "kind": "migration",
        "format": "navi",
        "legacy_id": "s1",
        "run_id": report["run_id"],
    }
    assert all(m["source"]["run_id"] == report["run_id"] for m in stored["messages"])


def test_reimport_is_unchanged(tmp_path: Path, data_dir: Path) -> None:
    path = navi_file(tmp_path / "n.json", session("s1", 5), session("s2", 1))
    assert cli("import", "--data-dir", data_dir, path).exit_code == 0
    first = store_state(data_dir)
    result = cli("import", "--data-dir", data_dir, path)
    assert "0 created, 0 merged, 2 unchanged" in result.output
    assert store_state(data_dir) == first


def test_dup_window_option(tmp_path: Path) -> None:
    item = session("s1", 2)
    item["messages"].append(dict(item["messages"][1], id="other", createdAt=T0 + 65_000))
    path = navi_file(tmp_path / "n.json", item)
    assert cli("import", "--data-dir", tmp_path / "a", path).exit_code == 0
    assert len(store_state(tmp_path / "a")[0]["messages"]) == 3  # 5 s apart: real
    assert cli("import", "--dup-window", "10", "--data-dir", tmp_path / "b", path).exit_code == 0
    assert len(store_state(tmp_path / "b")[0]["messages"]) == 2


def test_later_export_extends_and_diverging_one_branches(tmp_path: Path, data_dir: Path) -> None:
    short = navi_file(tmp_path / "a.json", session("s1", 3))
    longer = navi_file(tmp_path / "b.json", session("s1", 6))
    assert cli("import", "--data-dir", data_dir, short).exit_code == 0
    merged = cli("import", "--data-dir", data_dir, longer)
    assert "0 created, 1 merged" in merged.output
    (stored,) = store_state(data_dir)
    assert len(stored["messages"]) == 6
    fork = session("s1", 4, updated=T0 + 10**8)
    fork["messages"][3] = dict(fork["messages"][3], id="fork", content="a different ending")
    fork_path = navi_file(tmp_path / "c.json", fork)
    assert cli("import", "--data-dir", data_dir, fork_path).exit_code == 0
    (stored,) = store_state(data_dir)
    assert stored["messages"][-1] == ["assistant", "a different ending"]  # the later copy
    assert any(name.startswith("import-") for name in stored["branches"])
    assert cli("import", "--data-dir", data_dir, fork_path).output.count("1 unchanged") == 1


def test_backend_conversation_id_merges_into_the_existing_conversation(
    tmp_path: Path, data_dir: Path
) -> None:
    item = session("s1", 4, backendConversationId="backend-42")
    docs = [
        {
            "id": f"server-{i}",
            "conversation_id": "backend-42",
            "parent_id": None if i == 0 else f"server-{i - 1}",
            "role": m["role"],
            "content": m["content"],
            "created_at": _iso(m["createdAt"]),
        }
        for i, m in enumerate(item["messages"][:2])
    ]

    async def seed(store: Store) -> None:
        from sidecar.service.importer import import_document

        await import_document(
            store,
            {
                "format": "chat-sidecar.export",
                "version": 1,
                "conversations": [
                    {
                        "id": "backend-42",
                        "title": "From the server",
                        "created_at": _iso(T0),
                        "updated_at": _iso(T0 + 1),
                        "messages": docs,
                    }
                ],
            },
        )

    with_store(data_dir, seed)
    path = navi_file(tmp_path / "n.json", item)
    result = cli("import", "--data-dir", data_dir, path)
    assert "0 created, 1 merged" in result.output, result.output
    (stored,) = store_state(data_dir)
    assert stored["id"] == "backend-42"
    assert stored["messages"] == [[m["role"], m["content"]] for m in item["messages"]]
    ids = [m["id"] for m in stored["document"]["messages"]]
    assert ids[:2] == ["server-0", "server-1"]  # matched by role, content and time
    assert stored["title"] == "Chat s1"  # the export is the later copy
    assert cli("validate", "--data-dir", data_dir, path).exit_code == 0


def test_backend_conversation_id_naming_nothing_becomes_the_id(
    tmp_path: Path, data_dir: Path
) -> None:
    path = navi_file(tmp_path / "n.json", session("s1", 2, backendConversationId="new-7"))
    assert cli("import", "--data-dir", data_dir, path).exit_code == 0
    assert [c["id"] for c in store_state(data_dir)] == ["new-7"]


def _iso(ms: int) -> str:
    from migrate.normalize import format_ms

    return format_ms(ms)


# ---------------------------------------------------------------------------- validate


def test_validate_catches_changed_missing_and_reordered_messages(
    tmp_path: Path, data_dir: Path
) -> None:
    full = session("s1", 6)
    path = navi_file(tmp_path / "full.json", full)
    missing = session("s2", 4)
    reordered = session("s3", 4)
    path_other = navi_file(tmp_path / "other.json", missing, reordered)
    # The store gets s2 without its third message and s3 with two messages swapped.
    damaged_s2 = dict(missing, messages=[m for i, m in enumerate(missing["messages"]) if i != 2])
    swapped = list(reordered["messages"])
    swapped[1], swapped[2] = swapped[2], swapped[1]
    damaged_s3 = dict(reordered, messages=swapped)
    seeded = navi_file(tmp_path / "seed.json", damaged_s2, damaged_s3)
    assert cli("import", "--data-dir", data_dir, path, seeded).exit_code == 0
    assert cli("validate", "--data-dir", data_dir, path).exit_code == 0

    async def change(store: Store) -> None:
        cid = conversation_id("navi", "s1")
        messages, _ = await store.list_messages(cid)
        await store.update_message(cid, messages[3]["id"], content="edited afterwards")
        await store.update_conversation(cid, {"starred": True})

    with_store(data_dir, change)
    # Starring it in the sidecar made the store's copy the later one: its flags win, as an import
    # would leave them. An export updated later still than that is expected to have set them.
    assert not any(
        "starred" in line
        for line in cli("validate", "--data-dir", data_dir, path).stdout.splitlines()
    )
    path = navi_file(tmp_path / "full-later.json", session("s1", 6, updated=4_102_444_800_000))
    result = cli("validate", "--data-dir", data_dir, path, path_other)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert any(
        "navi:s1" in line and "message 4" in line and "content changed" in line for line in lines
    )
    assert any("navi:s1" in line and "starred is True, expected False" in line for line in lines)
    assert any("navi:s2" in line and "message 3 (s2-m2): missing" in line for line in lines)
    assert any("navi:s3" in line and "out of order" in line for line in lines)
    assert "4 difference(s)" in lines[-1], lines
    body = json.loads(cli("validate", "--json", "--data-dir", data_dir, path, path_other).stdout)
    assert len(body["differences"]) == 4


def test_validate_reports_a_missing_conversation(tmp_path: Path, data_dir: Path) -> None:
    path = navi_file(tmp_path / "n.json", session("s1", 2))
    result = cli("validate", "--data-dir", data_dir, path)
    assert result.exit_code == 1
    assert "missing from the store" in result.output
    assert not data_dir.exists()  # validate only reads: no store is made for it


# ---------------------------------------------------------------------------- rollback


def _run_id(result: Any) -> str:
    return str(json.loads(result.stdout)["run_id"])


def test_rollback_removes_what_the_run_added_and_nothing_else(
    tmp_path: Path, data_dir: Path
) -> None:
    first = navi_file(tmp_path / "a.json", session("s1", 2), session("keep", 2))
    assert cli("import", "--data-dir", data_dir, first).exit_code == 0
    second = navi_file(tmp_path / "b.json", session("s1", 4), session("s9", 2))
    run = _run_id(cli("import", "--json", "--data-dir", data_dir, second))
    result = cli("rollback", "--data-dir", data_dir, run)
    assert result.exit_code == 0, result.output
    assert "removed: 1" in result.output and "reverted: 1" in result.output
    state = {c["id"]: c for c in store_state(data_dir)}
    assert sorted(state) == sorted([conversation_id("navi", "s1"), conversation_id("navi", "keep")])
    assert len(state[conversation_id("navi", "s1")]["messages"]) == 2


def test_rollback_refuses_changed_conversations_unless_forced(
    tmp_path: Path, data_dir: Path
) -> None:
    path = navi_file(tmp_path / "a.json", session("s1", 2), session("s2", 2))
    run = _run_id(cli("import", "--json", "--data-dir", data_dir, path))

    async def chat_on(store: Store) -> None:
        await store.append_message(conversation_id("navi", "s1"), role="user", content="new")

    with_store(data_dir, chat_on)
    refused = cli("rollback", "--data-dir", data_dir, run)
    assert refused.exit_code == 1
    assert (
        f"refused (changed since the run; use --force): {conversation_id('navi', 's1')}"
        in refused.output
    )
    assert [c["id"] for c in store_state(data_dir)] == [conversation_id("navi", "s1")]
    forced = cli("rollback", "--force", "--data-dir", data_dir, run)
    assert forced.exit_code == 0, forced.output
    assert store_state(data_dir) == []


def test_rollback_bad_or_unknown_run_id_exits_2(data_dir: Path) -> None:
    assert cli("rollback", "--data-dir", data_dir, "../etc").exit_code == 2
    unknown = cli("rollback", "--data-dir", data_dir, "run-nothing")
    assert unknown.exit_code == 2
    assert "run-nothing" in unknown.output


# ---------------------------------------------------------------------------- dedupe


def test_dedupe_dry_run_then_merge(tmp_path: Path, data_dir: Path) -> None:
    original = session("s1", 5)
    copy = {
        **session("z1", 0),
        "messages": [dict(m, id=f"z{i}") for i, m in enumerate(original["messages"][:3])],
    }
    zustand = {"chat-store": {"state": {"chats": [copy]}, "version": 1}}
    # The shorter copy first: an import never trashes what is stored, so this is dedupe's job.
    assert (
        cli("import", "--data-dir", data_dir, write_export(tmp_path / "z.json", zustand)).exit_code
        == 0
    )
    assert (
        cli("import", "--data-dir", data_dir, navi_file(tmp_path / "n.json", original)).exit_code
        == 0
    )
    assert len(store_state(data_dir)) == 2
    dry = cli("dedupe", "--dry-run", "--data-dir", data_dir)
    assert dry.exit_code == 0
    assert f"would merge {conversation_id('zustand', 'z1')}" in dry.output
    assert all(c["deleted_at"] is None for c in store_state(data_dir))
    done = cli("dedupe", "--json", "--data-dir", data_dir)
    body = json.loads(done.stdout)
    assert body["merges"] == [
        {
            "from": conversation_id("zustand", "z1"),
            "into": conversation_id("navi", "s1"),
            "identity": "zustand:z1",
        }
    ]
    state = {c["id"]: c for c in store_state(data_dir)}
    assert state[conversation_id("zustand", "z1")]["deleted_at"] is not None
    survivor = state[conversation_id("navi", "s1")]["document"]
    assert survivor["metadata"]["migration"]["aliases"] == ["zustand:z1"]
    # The copy is now known: importing it again creates nothing.
    again = cli("import", "--data-dir", data_dir, tmp_path / "z.json")
    assert "0 created" in again.output
    assert json.loads(cli("dedupe", "--json", "--data-dir", data_dir).stdout)["merges"] == []


def test_dedupe_is_a_run_that_rollback_undoes(tmp_path: Path, data_dir: Path) -> None:
    original = session("s1", 5)
    copy = {
        **session("z1", 0, updated=T0 + 10**9, starred=True),
        "messages": [dict(m, id=f"z{i}") for i, m in enumerate(original["messages"][:3])],
    }
    zustand = write_export(
        tmp_path / "z.json", {"chat-store": {"state": {"chats": [copy]}, "version": 1}}
    )
    navi = navi_file(tmp_path / "n.json", original)
    assert cli("import", "--data-dir", data_dir, zustand).exit_code == 0
    assert cli("import", "--data-dir", data_dir, navi).exit_code == 0
    before = {c["id"]: c for c in store_state(data_dir)}
    done = cli("dedupe", "--json", "--data-dir", data_dir)
    assert done.exit_code == 0, done.output
    run_id = json.loads(done.stdout)["run_id"]
    report = json.loads((data_dir / "migrations" / run_id / "report.json").read_text())
    assert report["kind"] == "dedupe" and len(report["merges"]) == 1
    merged = {c["id"]: c for c in store_state(data_dir)}
    survivor, gone = conversation_id("navi", "s1"), conversation_id("zustand", "z1")
    assert merged[gone]["deleted_at"] is not None
    assert merged[survivor]["starred"] is True  # the copy was updated later: its flags
    assert merged[survivor]["document"]["metadata"]["migration"]["aliases"] == ["zustand:z1"]

    rolled = cli("rollback", "--data-dir", data_dir, run_id)
    assert rolled.exit_code == 0, rolled.output
    assert "reverted: 2" in rolled.output
    after = {c["id"]: c for c in store_state(data_dir)}
    for cid in (survivor, gone):
        for name in ("title", "starred", "pinned", "archived", "deleted_at", "messages"):
            assert after[cid][name] == before[cid][name], (cid, name)
        assert after[cid]["document"]["metadata"] == before[cid]["document"]["metadata"]
        assert after[cid]["document"]["updated_at"] == before[cid]["document"]["updated_at"]
    for path in (zustand, navi):  # each as its own import left it
        assert cli("validate", "--data-dir", data_dir, path).exit_code == 0


def test_quiet_prints_nothing_on_success(tmp_path: Path, data_dir: Path) -> None:
    path = navi_file(tmp_path / "n.json", session("s1", 2))
    assert cli("import", "--quiet", "--data-dir", data_dir, path).output == ""
    assert cli("validate", "--quiet", "--data-dir", data_dir, path).output == ""


def test_default_data_dir_is_the_sidecars(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("CHAT_SIDECAR_DATA_DIR", raising=False)
    path = navi_file(tmp_path / "n.json", session("s1", 2))
    assert cli("import", path).exit_code == 0
    assert (tmp_path / "xdg" / "chat-sidecar" / "migrations").is_dir()
    assert os.path.isdir(tmp_path / "xdg" / "chat-sidecar")


def test_a_conversation_the_store_refuses_is_reported_and_the_rest_imported(
    tmp_path: Path, data_dir: Path
) -> None:
    busy = session("s1", 2, backendConversationId="busy-1")

    async def seed(store: Store) -> None:
        await store.create_conversation(id="busy-1", title="a reply is streaming here")
        await put_turn(
            store,
            "busy-1",
            {"id": "t1", "state": "streaming", "created_at": _iso(T0), "updated_at": _iso(T0)},
        )

    with_store(data_dir, seed)
    path = navi_file(tmp_path / "n.json", busy, session("s2", 3))
    result = cli("import", "--data-dir", data_dir, path)
    assert result.exit_code == 2
    assert "1 conversation(s) refused by the store" in result.output
    assert "busy-1" in result.output
    state = {c["id"]: c for c in store_state(data_dir)}
    assert len(state[conversation_id("navi", "s2")]["messages"]) == 3
    assert state["busy-1"]["messages"] == []
    (report_path,) = (data_dir / "migrations").glob("*/report.json")
    report = json.loads(report_path.read_text())
    assert [f["id"] for f in report["conversations"]["failed"]] == ["busy-1"]
    assert report["conversations"]["created"] == [conversation_id("navi", "s2")]
