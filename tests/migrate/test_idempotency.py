"""Idempotency as a property (issue #12): for every generated export — each legacy app, re-saves,
duplicate files, a backend-linked session with 0..n of its messages already in the store, a
later export that grew or diverged — importing again changes nothing (same revisions, the report
says unchanged), ``validate`` passes, and tampering with one stored message makes it fail.

A real store in a temp dir, the real CLI; the store's own API seeds the synced messages.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sidecar.store import Store

from .conftest import cli, store_state, with_store, write_export

T0 = 1_735_144_337_407
APPS = ("navi", "memory-loop", "zustand", "redux-persist")
LINKABLE = ("navi", "zustand", "redux-persist")  # apps whose sessions carry backendConversationId
ROLE_SPELLINGS = {"user": ["user", "human"], "assistant": ["assistant", "ai", "bot"]}
WORDS = ["yes", "no", "hello", "Here is how", "多语言 🚀", "line\nbreak", "ok"]


@dataclass
class Chat:
    """One legacy conversation as its app would write it (messages already with re-saves)."""

    app: str
    legacy_id: str
    updated: int
    messages: list[dict[str, Any]]
    backend_id: str | None = None
    title: str = "A chat"
    flags: dict[str, bool] = field(default_factory=dict)


@st.composite
def true_messages(draw: st.DrawFn, tag: str, start: int, count: int) -> list[dict[str, Any]]:
    """Distinct messages a minute apart (so no two of them are re-saves of each other)."""
    with_ids = draw(st.booleans())
    result = []
    for index in range(count):
        role = "user" if index % 2 == 0 else "assistant"
        result.append(
            {
                "id": f"{tag}{start + index}" if with_ids else None,
                "role": role,
                "spelling": draw(st.sampled_from(ROLE_SPELLINGS[role])),
                "content": draw(st.sampled_from(WORDS)) + f" {tag}{start + index}",
                "ms": T0 + (start + index) * 60_000,
                "time_as": draw(st.sampled_from(["ms", "seconds", "iso", "text"])),
            }
        )
    return result


def _time(message: dict[str, Any], shift: int = 0) -> Any:
    ms = message["ms"] + shift
    kind = message["time_as"]
    if kind == "seconds":
        return (ms - ms % 1000) / 1000 if shift == 0 else ms / 1000
    if kind == "iso":
        from migrate.normalize import format_ms

        return format_ms(ms)
    return str(ms) if kind == "text" else ms


@st.composite
def saved(draw: st.DrawFn, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages as the app saved them: some re-saved (same id or same text, within a second),
    a streaming reply with an id growing across its saves."""
    out: list[dict[str, Any]] = []
    for message in messages:
        saves = draw(st.integers(min_value=1, max_value=3))
        grows = message["id"] is not None and saves > 1 and draw(st.booleans())
        for number in range(saves):
            content = message["content"]
            if grows and number < saves - 1:
                content = content[: max(1, len(content) * (number + 1) // saves)]
            out.append({**message, "content": content, "shift": 0 if number == 0 else 500})
    return out


def _legacy(message: dict[str, Any], time_field: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "role": message["spelling"],
        "content": message["content"],
        time_field: _time(message, message.get("shift", 0)),
    }
    if message["id"] is not None:
        body["id"] = message["id"]
    return body


def export_items(chat: Chat) -> dict[str, Any]:
    """The localStorage keys of one chat in its app's format."""
    if chat.app == "memory-loop":
        return {
            f"memory-loop:session:{chat.legacy_id}": {
                "sessionId": chat.legacy_id,
                "vaultId": chat.legacy_id,
                "createdAt": T0 - 1000,
            },
            f"memory-loop:messages:{chat.legacy_id}": [
                _legacy(m, "timestamp") for m in chat.messages
            ],
        }
    record: dict[str, Any] = {
        "id": chat.legacy_id,
        "title": chat.title,
        "createdAt": T0 - 1000,
        "updatedAt": chat.updated,
        **chat.flags,
    }
    if chat.backend_id is not None:
        record["backendConversationId"] = chat.backend_id
    messages = [_legacy(m, "createdAt") for m in chat.messages]
    if chat.app == "navi":
        return {
            "navi.chatSessions": [record],
            f"navi.chatSession.messages.{chat.legacy_id}": messages,
        }
    chats = [{**record, "messages": messages}]
    if chat.app == "zustand":
        return {"chat-store": {"state": {"chats": chats}, "version": 0}}
    return {"persist:root": {"chats": json.dumps(chats), "_persist": json.dumps({"version": -1})}}


@dataclass
class Case:
    first: Chat
    truth: list[dict[str, Any]]
    later: Chat | None
    synced: int | None  # messages of ``truth`` already in the store (None: no stored copy)
    duplicate_file: bool
    one_run: bool
    envelope: bool
    tamper_at: int


@st.composite
def cases(draw: st.DrawFn) -> Case:
    app = draw(st.sampled_from(APPS))
    count = draw(st.integers(min_value=0, max_value=5))
    truth = draw(true_messages("m", 0, count))
    linked = app in LINKABLE and draw(st.booleans())
    first = Chat(
        app,
        "s1",
        T0 + 10 * 60_000,
        draw(saved(truth)),
        backend_id="backend-1" if linked else None,
        flags={name: draw(st.booleans()) for name in ("starred", "pinned", "archived")},
    )
    synced = draw(st.one_of(st.none(), st.integers(0, count))) if linked else None
    later = None
    kind = draw(st.sampled_from(["none", "grew", "diverged"]))
    if kind != "none":
        keep = count if kind == "grew" else draw(st.integers(0, count))
        tail = draw(true_messages("x" if kind == "diverged" else "m", keep + 100, 2))
        if kind == "grew":
            tail = draw(true_messages("m", count, draw(st.integers(1, 2))))
        later = Chat(
            app,
            "s1",
            T0 + draw(st.sampled_from([5, 20])) * 60_000,
            draw(saved(truth[:keep] + tail)),
            backend_id=first.backend_id,
            title=draw(st.sampled_from(["A chat", "Renamed"])),
            flags=first.flags,
        )
    return Case(
        first,
        truth,
        later,
        synced,
        draw(st.booleans()),
        draw(st.booleans()),
        draw(st.booleans()),
        draw(st.integers(0, 100)),
    )


def _seed(data_dir: Path, case: Case) -> None:
    """The stored copy the old app made through the API: its own ids and times."""
    assert case.first.backend_id is not None and case.synced is not None
    backend_id = case.first.backend_id
    synced = case.truth[: case.synced]

    async def seed(store: Store) -> None:
        await store.create_conversation(id=backend_id, title="From the backend")
        for message in synced:
            await store.append_message(backend_id, role=message["role"], content=message["content"])

    with_store(data_dir, seed)


def _tamper(data_dir: Path, at: int) -> bool:
    """Change one stored message on an active branch; False when there is none."""
    state = store_state(data_dir)
    targets = [
        (c["id"], m["id"])
        for c in state
        for m in c["document"]["messages"]
        if m["id"] in {x["id"] for x in _active(c["document"])}
    ]
    if not targets:
        return False
    conversation, message = targets[at % len(targets)]

    async def edit(store: Store) -> None:
        current = await store.get_message(conversation, message)
        await store.update_message(conversation, message, content=current["content"] + " (edited)")

    with_store(data_dir, edit)
    return True


def _active(document: dict[str, Any]) -> list[dict[str, Any]]:
    from migrate.stored import branch_path

    return branch_path(document)


def _revisions(state: list[dict[str, Any]]) -> dict[str, int]:
    return {c["id"]: c["document"]["revision"] for c in state}


@given(case=cases())
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
def test_import_twice_changes_nothing_validate_passes_and_catches_tampering(case: Case) -> None:
    root = Path(tempfile.mkdtemp(prefix="migrate-idem-"))
    try:
        data = root / "data"
        files = [
            write_export(root / "first.json", export_items(case.first), envelope=case.envelope)
        ]
        if case.duplicate_file:
            files.append(write_export(root / "copy.json", export_items(case.first)))
        if case.later is not None:
            files.append(write_export(root / "later.json", export_items(case.later)))
        if case.synced is not None:
            _seed(data, case)
        runs = [files] if case.one_run else [[f] for f in files]
        for run in runs:
            done = cli("import", "--json", "--data-dir", data, *run)
            assert done.exit_code == 0, done.output
        state = store_state(data)
        (conversation,) = state
        if case.later is None:  # one copy: exactly its messages on the active branch, once each
            assert conversation["messages"] == [[m["role"], m["content"]] for m in case.truth]
            assert conversation["branches"] == ["main"]
            assert len(conversation["document"]["messages"]) == len(case.truth)

        again = cli("import", "--json", "--data-dir", data, *files)
        assert again.exit_code == 0, again.output
        report = json.loads(again.stdout)
        assert report["conversations"]["created"] == report["conversations"]["merged"] == []
        assert report["conversations"]["unchanged"] == [conversation["id"]]
        after = store_state(data)
        assert _revisions(after) == _revisions(state)
        assert [c["document"] for c in after] == [c["document"] for c in state]

        checked = cli("validate", "--data-dir", data, *files)
        assert checked.exit_code == 0, checked.output
        if _tamper(data, case.tamper_at):
            tampered = cli("validate", "--data-dir", data, *files)
            assert tampered.exit_code == 1, tampered.output
    finally:
        shutil.rmtree(root, ignore_errors=True)
