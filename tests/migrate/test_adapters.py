"""Each adapter on its own shapes, several apps in one file, and the chat-sidecar round trip."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migrate.identity import conversation_id
from migrate.plan import scan_file
from migrate.reading import read_export

from .conftest import cli, store_state, write_export

T0 = 1_735_144_337_407


def chat(chat_id: str, messages: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    return {
        "id": chat_id,
        "title": f"Chat {chat_id}",
        "createdAt": T0,
        "updatedAt": T0 + 10**6,
        **fields,
        "messages": messages,
    }


def test_zustand_content_parts_are_joined_and_other_parts_kept(
    tmp_path: Path, data_dir: Path
) -> None:
    parts = [
        {"type": "text", "text": "Hello, "},
        {"type": "image", "url": "https://example.invalid/x.png"},
        {"type": "text", "text": "world"},
    ]
    messages: list[dict[str, Any]] = [
        {"id": "a", "role": "human", "content": "question", "createdAt": T0 + 1},
        {
            "id": "b",
            "role": "ai",
            "content": parts,
            "createdAt": T0 + 2,
            "toolCalls": [{"name": "x"}],
        },
        {"id": "c", "role": "function", "content": "result"},
    ]
    path = write_export(
        tmp_path / "z.json",
        {
            "chat-store": {
                "state": {"chats": [chat("c1", messages, pinned=True)], "currentChatId": "c1"},
                "version": 3,
            }
        },
    )
    assert cli("import", "--data-dir", data_dir, path).exit_code == 0
    (stored,) = store_state(data_dir)
    assert stored["id"] == conversation_id("zustand", "c1")
    assert stored["messages"] == [
        ["user", "question"],
        ["assistant", "Hello, world"],
        ["tool", "result"],
    ]
    assert stored["pinned"] is True
    doc = stored["document"]["messages"]
    assert doc[1]["metadata"]["legacy"]["content"] == parts
    assert doc[1]["metadata"]["legacy"]["toolCalls"] == [{"name": "x"}]
    assert doc[1]["metadata"]["legacy"]["role"] == "ai"
    assert doc[2]["created_at"] == doc[1]["created_at"]  # missing time: the previous one's


def test_redux_persist_slices_are_json_text(tmp_path: Path, data_dir: Path) -> None:
    chats = [chat("r1", [{"id": "m", "role": "user", "content": "from redux", "createdAt": T0}])]
    value = {
        "chats": json.dumps({"chats": chats}),
        "settings": json.dumps({"theme": "dark"}),
        "_persist": json.dumps({"version": -1, "rehydrated": True}),
    }
    sessions_value = {"sessions": json.dumps([chat("r2", [])])}
    path = write_export(
        tmp_path / "r.json", {"persist:root": value, "persist:other": sessions_value}
    )
    result = cli("inspect", path)
    assert "apps: redux-persist" in result.output
    assert "slices not imported: settings" in result.output
    assert cli("import", "--data-dir", data_dir, path).exit_code == 0
    ids = sorted(c["id"] for c in store_state(data_dir))
    assert ids == sorted(
        [conversation_id("redux-persist", "r1"), conversation_id("redux-persist", "r2")]
    )


def test_memory_loop_legacy_id_is_session_id_else_vault(tmp_path: Path, data_dir: Path) -> None:
    items = {
        "memory-loop:session:v1": {
            "sessionId": "sess-1",
            "vaultId": "v1",
            "createdAt": "2024-12-25T17:19:08Z",
        },
        "memory-loop:messages:v1": [
            {"role": "user", "content": "first", "timestamp": "2024-12-25T17:19:09.5"}
        ],
        "memory-loop:messages:v2": [
            {
                "id": "x",
                "role": "assistant",
                "content": "orphan",
                "timestamp": "2024-12-25T18:00:00+01:00",
            }
        ],
    }
    path = write_export(tmp_path / "m.json", items)
    assert cli("import", "--data-dir", data_dir, path).exit_code == 0
    state = {c["id"]: c for c in store_state(data_dir)}
    first = state[conversation_id("memory-loop", "sess-1")]
    assert first["title"] == "first"
    assert first["times"] == ["2024-12-25T17:19:09.500Z"]
    second = state[conversation_id("memory-loop", "v2")]
    assert second["times"] == ["2024-12-25T17:00:00.000Z"]
    assert second["title"] is None  # no user message to take a title from


def test_several_apps_in_one_envelope(tmp_path: Path) -> None:
    items = {
        "navi.chatSessions": [{"id": "n1", "title": "N"}],
        "navi.chatSession.messages.n1": [
            {"id": "a", "role": "user", "content": "hi", "createdAt": T0}
        ],
        "chat-store": {"state": {"chats": [chat("z1", [])]}, "version": 0},
        "memory-loop:messages:v": [],
        "theme": "dark",
    }
    export = read_export(write_export(tmp_path / "e.json", items, envelope=True))
    seen: list[str] = []
    report, documents = scan_file(export, lambda raw: seen.append(f"{raw.app}:{raw.legacy_id}"))
    assert report.shape == "envelope"
    assert report.apps == ["navi", "memory-loop", "zustand"]
    assert report.unrelated_keys == ["theme"]
    assert sorted(seen) == ["memory-loop:v", "navi:n1", "zustand:z1"]
    assert documents == []


def test_wrong_shapes_inside_a_good_file_are_reported_by_key(tmp_path: Path) -> None:
    items = {
        "navi.chatSessions": {"not": "a list"},
        "navi.chatSession.messages.s1": [
            {"id": "a", "role": "user", "content": "ok", "createdAt": T0},
            "junk",
        ],
        "persist:root": "[1, 2]",
    }
    body = json.loads(cli("inspect", "--json", write_export(tmp_path / "w.json", items)).stdout)
    problems = {(p["key"], p["severity"]) for p in body["inputs"][0]["problems"]}
    assert ("navi.chatSessions", "error") in problems
    assert ("navi.chatSession.messages.s1", "error") in problems
    assert ("persist:root", "error") in problems
    assert body["conversations"] == 1


def _without_run(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_run(v) for k, v in value.items() if k != "run_id"}
    if isinstance(value, list):
        return [_without_run(v) for v in value]
    return value


def test_chat_sidecar_export_round_trips_losslessly(tmp_path: Path) -> None:
    source = tmp_path / "source"
    path = write_export(
        tmp_path / "z.json",
        {
            "chat-store": {
                "state": {
                    "chats": [
                        chat("c1", [{"id": "m1", "role": "user", "content": "x", "createdAt": T0}])
                    ]
                },
                "version": 1,
            }
        },
    )
    assert cli("import", "--data-dir", source, path).exit_code == 0
    (original,) = store_state(source)
    exported = tmp_path / "export.json"
    exported.write_text(
        json.dumps(
            {
                "format": "chat-sidecar.export",
                "version": 1,
                "exported_at": "2026-01-01T00:00:00.000Z",
                "conversations": [original["document"]],
            }
        )
    )
    copy = tmp_path / "copy"
    result = cli("import", "--json", "--data-dir", copy, exported)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["inputs"][0]["apps"] == ["chat-sidecar"]
    (again,) = store_state(copy)
    # Only the run id differs: the importer marks what this run created, so it can be undone.
    assert _without_run(again["document"]) == _without_run(original["document"])
    assert cli("validate", "--data-dir", copy, exported).exit_code == 0
    second = json.loads(cli("import", "--json", "--data-dir", copy, exported).stdout)
    assert second["conversations"]["unchanged"] == [original["id"]]


ids = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=200
)


@given(app=st.sampled_from(["navi", "zustand", "memory-loop", "redux-persist"]), legacy=ids)
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_store_ids_are_valid_deterministic_and_distinct(app: str, legacy: str) -> None:
    from sidecar.store.ids import ID_PATTERN

    made = conversation_id(app, legacy)
    assert ID_PATTERN.fullmatch(made)
    assert made == conversation_id(app, legacy)
    assert made != conversation_id(app, legacy + "x")
    assert made != conversation_id("other", legacy)


def test_what_the_store_would_refuse_is_kept_another_way(tmp_path: Path, data_dir: Path) -> None:
    """A 600-character title and legacy data nested 100 deep do not stop the import."""
    deep: Any = "bottom"
    for _ in range(100):
        deep = {"down": deep}
    long_title = "t" * 600
    items = {
        "navi.chatSessions": [{"id": "s1", "title": long_title}],
        "navi.chatSession.messages.s1": [
            {"id": "a", "role": "user", "content": "hi", "createdAt": T0, "extra": deep},
            {"id": "b", "role": "assistant", "content": "far", "createdAt": 1.7e18},
        ],
    }
    path = write_export(tmp_path / "n.json", items)
    result = cli("import", "--json", "--data-dir", data_dir, path)
    assert result.exit_code == 0, result.output
    messages = [p["message"] for p in json.loads(result.stdout)["problems"]]
    assert any("title cut to 500" in m for m in messages)
    assert any("nested too deep" in m for m in messages)
    assert any("unreadable timestamp" in m for m in messages)
    (stored,) = store_state(data_dir)
    assert stored["title"] == "t" * 500
    document = stored["document"]
    assert document["metadata"]["legacy"]["title"] == long_title
    first, second = document["messages"]
    assert json.loads(first["metadata"]["legacy"]["json"])["extra"] == deep
    assert second["created_at"] == first["created_at"]
    assert second["metadata"]["legacy"]["timestamp"] == 1.7e18
