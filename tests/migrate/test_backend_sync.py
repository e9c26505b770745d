"""Issue #12: a navi session the old app had begun syncing (``backendConversationId``) is merged
into the store's conversation, not forked; importing again changes nothing and ``validate``
agrees. The old app posted the first messages through the sidecar's API, which gave them its own
ids and times, so here the stored messages match the export's by position, role and content
(LEGACY_FORMATS §4). Both write paths: the store opened directly, and a running sidecar."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from migrate.normalize import format_ms
from migrate.reading import SIDECAR_FORMAT
from migrate.stored import branch_path
from sidecar.store import Store

from .conftest import cli, navi_items, store_state, with_store, write_export
from .test_api_path import Sidecar

T0 = 1_735_144_337_407
BACKEND_ID = "backend-42"


def synced_session(count: int = 6) -> dict[str, Any]:
    return {
        "id": "s1",
        "title": "Synced chat",
        "createdAt": T0 - 1000,
        "updatedAt": T0 + count * 60_000,
        "backendConversationId": BACKEND_ID,
        "messages": [
            {
                "id": f"s1-m{i}",
                "role": "user" if i % 2 == 0 else "assistant",
                "content": f"synced message {i}",
                "createdAt": T0 + i * 60_000,
            }
            for i in range(count)
        ],
    }


def _seed_direct(data_dir: Path, messages: list[dict[str, Any]]) -> None:
    """What the old app did through the backend's API: the store's own ids and times."""

    async def seed(store: Store) -> None:
        await store.create_conversation(id=BACKEND_ID, title="From the backend")
        for message in messages:
            await store.append_message(BACKEND_ID, role=message["role"], content=message["content"])

    with_store(data_dir, seed)


def _seed_api(ready: dict[str, Any], messages: list[dict[str, Any]]) -> None:
    async def seed() -> None:
        headers = {"Authorization": f"Bearer {ready['token']}"}
        base = f"{ready['url']}/api/v1/conversations"
        async with aiohttp.ClientSession(headers=headers) as session:
            body = {"id": BACKEND_ID, "title": "From the backend"}
            async with session.post(base, json=body) as response:
                assert response.status == 201, await response.text()
            for message in messages:
                body = {"role": message["role"], "content": message["content"]}
                async with session.post(f"{base}/{BACKEND_ID}/messages", json=body) as response:
                    assert response.status == 201, await response.text()

    asyncio.run(seed())


def _check_merged_once(data_dir: Path, path: Path, item: dict[str, Any], stored: int) -> None:
    first = cli("import", "--json", "--data-dir", data_dir, path)
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["conversations"]["merged"] == [BACKEND_ID]
    (conversation,) = store_state(data_dir)
    assert conversation["id"] == BACKEND_ID
    assert conversation["branches"] == ["main"]
    assert conversation["document"]["active_branch"] == "main"
    assert conversation["messages"] == [[m["role"], m["content"]] for m in item["messages"]]
    assert len(conversation["document"]["messages"]) == len(item["messages"])  # nothing doubled
    ids = [m["id"] for m in conversation["document"]["messages"]]
    kept = [m["id"] for m in conversation["document"]["messages"] if m["source"] is None]
    assert ids[:stored] == kept  # the backend's messages keep their ids and times

    again = cli("import", "--json", "--data-dir", data_dir, path)
    assert again.exit_code == 0, again.output
    report = json.loads(again.stdout)
    assert report["conversations"]["unchanged"] == [BACKEND_ID], again.stdout
    assert report["conversations"]["merged"] == report["conversations"]["created"] == []
    after = store_state(data_dir)
    assert [c["document"]["revision"] for c in after] == [conversation["document"]["revision"]]
    assert after[0]["document"] == conversation["document"]

    checked = cli("validate", "--data-dir", data_dir, path)
    assert checked.exit_code == 0, checked.output


@pytest.mark.parametrize("stored", [1, 2, 6])
def test_direct_path_merges_into_the_synced_conversation(
    tmp_path: Path, data_dir: Path, stored: int
) -> None:
    item = synced_session()
    _seed_direct(data_dir, item["messages"][:stored])
    path = write_export(tmp_path / "navi.json", navi_items([item]))
    if stored == len(item["messages"]):
        # Everything already synced: the first import already has nothing to add.
        result = cli("import", "--json", "--data-dir", data_dir, path)
        assert json.loads(result.stdout)["conversations"]["unchanged"] == [BACKEND_ID]
        assert cli("validate", "--data-dir", data_dir, path).exit_code == 0
        return
    _check_merged_once(data_dir, path, item, stored)


@pytest.fixture
def sidecar(tmp_path: Path) -> Iterator[Sidecar]:
    running = Sidecar(tmp_path / "api-data", tmp_path / "sidecar.log")
    yield running
    running.stop()
    if running.process.poll() is None:
        running.process.kill()


@pytest.mark.subprocess
def test_api_path_merges_into_the_synced_conversation(tmp_path: Path, sidecar: Sidecar) -> None:
    item = synced_session()
    _seed_api(sidecar.ready, item["messages"][:2])
    path = write_export(tmp_path / "navi.json", navi_items([item]))
    api_dir = Path(sidecar.ready["data_dir"])
    first = cli("import", "--json", "--data-dir", api_dir, path)
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["write_path"] == "api"
    assert json.loads(first.stdout)["conversations"]["merged"] == [BACKEND_ID]
    again = cli("import", "--json", "--data-dir", api_dir, path)
    assert json.loads(again.stdout)["conversations"]["unchanged"] == [BACKEND_ID], again.stdout
    checked = cli("validate", "--data-dir", api_dir, path)
    assert checked.exit_code == 0, checked.output
    sidecar.stop()
    (conversation,) = store_state(api_dir)
    assert conversation["branches"] == ["main"]
    assert conversation["messages"] == [[m["role"], m["content"]] for m in item["messages"]]
    assert len(conversation["document"]["messages"]) == len(item["messages"])


def test_a_real_divergence_keeps_the_export_tail_on_a_branch_and_stays_idempotent(
    tmp_path: Path, data_dir: Path
) -> None:
    """Only a stored message whose role or content differs at the same position forks."""
    item = synced_session()
    stored = [*item["messages"][:2], {"role": "user", "content": "typed in the sidecar"}]
    _seed_direct(data_dir, stored)
    path = write_export(tmp_path / "navi.json", navi_items([item]))
    assert cli("import", "--data-dir", data_dir, path).exit_code == 0
    (conversation,) = store_state(data_dir)
    assert sorted(conversation["branches"]) == ["import-1", "main"]
    assert len(conversation["document"]["messages"]) == 3 + 4  # shared prefix stored once
    before = conversation["document"]
    again = cli("import", "--json", "--data-dir", data_dir, path)
    assert json.loads(again.stdout)["conversations"]["unchanged"] == [BACKEND_ID], again.stdout
    assert store_state(data_dir)[0]["document"] == before
    checked = cli("validate", "--data-dir", data_dir, path)
    assert checked.exit_code == 0, checked.output


#: The messages of a later copy (written by `_linked_copy`) that diverged from the first one on.
DIVERGED: list[dict[str, Any]] = [
    {"role": "user", "content": "yes x100", "createdAt": T0 + 100 * 60_000},
    {"role": "assistant", "content": "yes x101", "createdAt": T0 + 101 * 60_000},
]


def _alternating(count: int) -> list[dict[str, Any]]:
    """``yes m0`` ... ``yes m{count-1}``, user and assistant in turn, a minute apart (no ids)."""
    return [
        {
            "role": "user" if i % 2 == 0 else "assistant",
            "content": f"yes m{i}",
            "createdAt": T0 + i * 60_000,
        }
        for i in range(count)
    ]


def _linked_copy(path: Path, minutes: int, messages: list[dict[str, Any]]) -> Path:
    """A navi export of session ``s1`` (linked to the backend conversation) saved ``minutes``
    after T0 with ``messages``: the copies the property test's cases below are made of."""
    session = {
        "id": "s1",
        "title": "A chat",
        "createdAt": T0 - 1000,
        "updatedAt": T0 + minutes * 60_000,
        "backendConversationId": BACKEND_ID,
        "messages": messages,
    }
    return write_export(path, navi_items([session]))


def test_validate_catches_an_edit_to_a_stored_message_that_an_export_keeps_on_a_branch(
    tmp_path: Path, data_dir: Path
) -> None:
    """Found by the idempotency property: the store's copy (updated now) is the latest, so an
    earlier export's diverging messages are expected on a kept branch, and here the store's
    active branch is what holds them. A message matched there by legacy id whose content was
    edited afterwards is a difference, not a match."""
    _seed_direct(data_dir, [])  # the backend conversation exists, with no messages yet
    first = [{"id": "m0", "role": "user", "content": "yes m0", "createdAt": T0}]
    files = [
        _linked_copy(tmp_path / "first.json", 10, first),
        _linked_copy(tmp_path / "later.json", 20, DIVERGED),
    ]
    for path in files:
        assert cli("import", "--data-dir", data_dir, path).exit_code == 0
    (conversation,) = store_state(data_dir)
    assert conversation["messages"] == [["user", "yes m0"]]
    assert conversation["branches"] == ["import-1", "main"]
    assert cli("validate", "--data-dir", data_dir, *files).exit_code == 0
    (edited,) = conversation["document"]["messages"][:1]
    assert edited["content"] == "yes m0"

    async def edit(store: Store) -> None:
        await store.update_message(BACKEND_ID, edited["id"], content="yes m0 (edited)")

    with_store(data_dir, edit)
    before = store_state(data_dir)[0]["document"]
    again = cli("import", "--json", "--data-dir", data_dir, *files)
    assert json.loads(again.stdout)["conversations"]["unchanged"] == [BACKEND_ID], again.stdout
    assert store_state(data_dir)[0]["document"] == before  # the user's edit is kept
    checked = cli("validate", "--data-dir", data_dir, *files)
    assert checked.exit_code == 1, checked.output
    line = "message 1 (m0) on branch main: content changed: 'yes m0 (edited)', expected 'yes m0'"
    assert line in checked.output, checked.output


def test_a_kept_branch_joins_the_synced_message_it_starts_with(
    tmp_path: Path, data_dir: Path
) -> None:
    """Found by the idempotency property: the store holds the first message the old app synced
    (no legacy id); ONE run imports the first export (five messages) and a later one that
    diverged from the start. The first export's tail, kept on a branch, starts with the synced
    message (§4: the same message), so it is attached after it: 'yes m0' is stored once, and an
    edit to it afterwards is a difference for validate."""
    _seed_direct(data_dir, [{"role": "user", "content": "yes m0"}])
    files = [
        _linked_copy(tmp_path / "first.json", 10, _alternating(5)),
        _linked_copy(tmp_path / "later.json", 20, DIVERGED),
    ]
    assert cli("import", "--data-dir", data_dir, *files).exit_code == 0
    (conversation,) = store_state(data_dir)
    assert conversation["messages"] == [["user", "yes m0"]]  # the store's copy is the later one
    document = conversation["document"]
    contents = [m["content"] for m in document["messages"]]
    assert sorted(contents) == sorted([f"yes m{i}" for i in range(5)] + ["yes x100", "yes x101"])
    synced = document["messages"][0]
    assert synced["content"] == "yes m0" and not synced.get("source")
    kept = [
        branch_path(document, b["name"])
        for b in document["branches"]
        if len(branch_path(document, b["name"])) == 5
    ]
    assert [[m["id"] for m in path][:1] for path in kept] == [[synced["id"]]]
    again = cli("import", "--json", "--data-dir", data_dir, *files)
    assert json.loads(again.stdout)["conversations"]["unchanged"] == [BACKEND_ID], again.stdout
    assert store_state(data_dir)[0]["document"] == document
    assert cli("validate", "--data-dir", data_dir, *files).exit_code == 0

    async def edit(store: Store) -> None:
        await store.update_message(BACKEND_ID, synced["id"], content="yes m0 (x)")

    with_store(data_dir, edit)
    checked = cli("validate", "--data-dir", data_dir, *files)
    assert checked.exit_code == 1, checked.output


def test_a_grown_export_extends_the_main_branch_through_the_messages_a_branch_holds(
    tmp_path: Path, data_dir: Path
) -> None:
    """After the run above, the first export's messages sit on a kept branch after the synced
    one. A later run brings that copy grown by one message: the longer copy wins the main
    branch (§4), and what a stored branch already holds is reused there, not copied."""
    _seed_direct(data_dir, [{"role": "user", "content": "yes m0"}])
    grown = _alternating(6)
    copies = [(10, grown[:5]), (20, DIVERGED), (30, grown)]
    files = [
        _linked_copy(tmp_path / f"copy{n}.json", minutes, messages)
        for n, (minutes, messages) in enumerate(copies)
    ]
    assert cli("import", "--data-dir", data_dir, *files[:2]).exit_code == 0
    assert cli("import", "--data-dir", data_dir, files[2]).exit_code == 0
    (conversation,) = store_state(data_dir)
    assert conversation["messages"] == [[m["role"], m["content"]] for m in grown]
    contents = sorted(m["content"] for m in conversation["document"]["messages"])
    assert contents == sorted(m["content"] for m in [*grown, *DIVERGED])  # nothing doubled
    again = cli("import", "--json", "--data-dir", data_dir, *files)
    assert json.loads(again.stdout)["conversations"]["unchanged"] == [BACKEND_ID], again.stdout
    assert store_state(data_dir)[0]["document"] == conversation["document"]
    assert cli("validate", "--data-dir", data_dir, *files).exit_code == 0


def test_validate_compares_every_stored_message_on_the_path_of_a_kept_tail(
    tmp_path: Path, data_dir: Path
) -> None:
    """A kept tail may hang after stored messages that are not the ones the main branch's check
    compared (here a store an older import left: the synced messages on main, and migration
    copies of the first two on import-1). An edit to such a copy is a difference."""

    def stored(key: str, parent: str | None, legacy: bool, minute: int) -> dict[str, Any]:
        stamp = format_ms(T0 + minute * 60_000)
        source = {"kind": "migration", "format": "navi", "legacy_id": key, "run_id": None}
        return {
            "id": f"{key}-{'copy' if legacy else 'synced'}",
            "parent_id": parent,
            "role": "user" if minute % 2 == 0 else "assistant",
            "content": f"yes {key}",
            "created_at": stamp,
            "source": source if legacy else None,
        }

    main = [stored("a", None, False, 0), stored("b", "a-synced", False, 1)]
    main.append(stored("c", "b-synced", False, 2))
    kept = [stored("a", None, True, 0), stored("b", "a-copy", True, 1)]
    kept.append(stored("d", "b-copy", True, 3))
    document = {
        "format": SIDECAR_FORMAT,
        "version": 1,
        "conversations": [
            {
                "id": BACKEND_ID,
                "title": "From the backend",
                "created_at": format_ms(T0 - 1000),
                "updated_at": format_ms(T0 + 60 * 60_000),
                "active_branch": "main",
                "branches": [
                    {"name": "main", "head_message_id": "c-synced"},
                    {"name": "import-1", "head_message_id": "d-copy"},
                ],
                "messages": [*main, *kept],
                "turns": [],
            }
        ],
    }
    seeded = tmp_path / "store.json"
    seeded.write_text(json.dumps(document))
    assert cli("import", "--data-dir", data_dir, seeded).exit_code == 0
    session = {"id": "s1", "createdAt": T0 - 1000, "backendConversationId": BACKEND_ID}

    def copy(minutes: int, keys: str) -> dict[str, Any]:
        """A navi export of the session holding the messages ``keys`` (ids a..d)."""
        messages = []
        for key in keys:
            minute = "abcd".index(key)
            role = "user" if minute % 2 == 0 else "assistant"
            messages.append(
                {
                    "id": key,
                    "role": role,
                    "content": f"yes {key}",
                    "createdAt": T0 + minute * 60_000,
                }
            )
        return {**session, "updatedAt": T0 + minutes * 60_000, "messages": messages}

    files = [
        write_export(tmp_path / "first.json", navi_items([copy(10, "abd")])),
        write_export(tmp_path / "later.json", navi_items([copy(20, "abc")])),
    ]
    again = cli("import", "--json", "--data-dir", data_dir, *files)
    assert json.loads(again.stdout)["conversations"]["unchanged"] == [BACKEND_ID], again.stdout
    assert cli("validate", "--data-dir", data_dir, *files).exit_code == 0

    async def edit(store: Store) -> None:
        await store.update_message(BACKEND_ID, "b-copy", content="yes b (edited)")

    with_store(data_dir, edit)
    checked = cli("validate", "--data-dir", data_dir, *files)
    assert checked.exit_code == 1, checked.output
    assert "message 2 (b) on branch import-1: content changed" in checked.output, checked.output
