"""With a sidecar owning the data dir, chat-migrate works through its REST API, and the store it
leaves is the one the direct path leaves."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from benchmarks import launch

from .conftest import FIXTURES, cli, store_state

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.subprocess
FILES = [
    "navi-export.json",
    "navi-export-later.json",
    "zustand-export.json",
    "memory-loop-export.json",
]


class Sidecar:
    def __init__(self, data_dir: Path, log: Path, env: dict[str, str] | None = None) -> None:
        self.server = launch.start_sidecar(
            data_dir, "--idle-timeout", "0", env=launch.child_env(env), stderr=log
        )
        self.process = self.server.process
        self.ready: dict[str, Any] = self.server.ready

    def stop(self) -> None:
        self.server.stop(grace_s=30)


@pytest.fixture
def sidecar(tmp_path: Path) -> Iterator[Sidecar]:
    running = Sidecar(tmp_path / "api-data", tmp_path / "sidecar.log")
    yield running
    running.stop()
    if running.process.poll() is None:
        running.process.kill()


@pytest.fixture
def busy_sidecar(tmp_path: Path) -> Iterator[Sidecar]:
    """A sidecar that checkpoints and evicts often while the import runs.

    Its outside-change watcher once took a conversation's first checkpoint, seen half written
    (chunks before meta.json), for a deletion, and the conversation vanished from the list until
    a restart; this keeps that path busy (tests/store/test_external.py pins the fix).
    """
    running = Sidecar(
        tmp_path / "api-data",
        tmp_path / "sidecar.log",
        {"CHAT_SIDECAR_CACHE_SIZE": "16", "CHAT_SIDECAR_CHECKPOINT_BYTES": str(64 * 1024)},
    )
    yield running
    running.stop()
    if running.process.poll() is None:
        running.process.kill()


def padded_messages(count: int, filler: str) -> list[dict[str, Any]]:
    """``count`` legacy messages, user and assistant in turn, a second apart, each ``filler``
    long: a conversation whose size the test picks."""
    return [
        {
            "id": f"m{i}",
            "role": "user" if i % 2 == 0 else "assistant",
            "content": f"{i} {filler}",
            "createdAt": 1_735_144_337_407 + i * 1000,
        }
        for i in range(count)
    ]


def _list_live(ready: dict[str, Any]) -> list[str]:
    async def fetch() -> list[str]:
        headers = {"Authorization": f"Bearer {ready['token']}"}
        async with (
            aiohttp.ClientSession() as session,
            session.get(
                f"{ready['url']}/api/v1/conversations?limit=500&archived=any", headers=headers
            ) as response,
        ):
            body = await response.json()
            return sorted(item["id"] for item in body["items"])

    return asyncio.run(fetch())


def _comparable(state: list[dict[str, Any]]) -> list[Any]:
    """The store's export without what differs by run (run ids, migration record fields)."""

    def scrub(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: scrub(v) for k, v in value.items() if k != "run_id"}
        if isinstance(value, list):
            return [scrub(v) for v in value]
        return value

    return sorted(json.dumps(scrub(c["document"]), sort_keys=True) for c in state)


def test_import_with_an_owner_goes_through_the_api_and_matches_the_direct_path(
    tmp_path: Path, sidecar: Sidecar
) -> None:
    files = [FIXTURES / name for name in FILES]
    api_dir = Path(sidecar.ready["data_dir"])
    result = cli("import", "--json", "--data-dir", api_dir, *files)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["write_path"] == "api"
    assert len(report["conversations"]["created"]) == 7
    assert _list_live(sidecar.ready) == sorted(report["conversations"]["created"])  # live
    again = json.loads(cli("import", "--json", "--data-dir", api_dir, *files).stdout)
    assert len(again["conversations"]["unchanged"]) == 7
    checked = cli("validate", "--data-dir", api_dir, *files)
    assert checked.exit_code == 0, checked.output
    sidecar.stop()

    direct_dir = tmp_path / "direct-data"
    direct = json.loads(cli("import", "--json", "--data-dir", direct_dir, *files).stdout)
    assert direct["write_path"] == "direct"
    assert _comparable(store_state(api_dir)) == _comparable(store_state(direct_dir))
    assert (api_dir / "migrations").is_dir()


def test_url_and_token_from_the_environment(
    tmp_path: Path, sidecar: Sidecar, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAT_SIDECAR_TOKEN", sidecar.ready["token"])
    path = FIXTURES / "zustand-export.json"
    result = cli("import", "--json", "--url", sidecar.ready["url"], path)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["write_path"] == "api"
    run_folder = Path(report["report"]).parent
    assert run_folder.parent == Path(sidecar.ready["data_dir"]) / "migrations"
    assert cli("validate", "--url", sidecar.ready["url"], path).exit_code == 0
    rolled = cli("rollback", "--url", sidecar.ready["url"], report["run_id"])
    assert rolled.exit_code == 0, rolled.output
    assert "removed: 3" in rolled.output
    assert _list_live(sidecar.ready) == []
    monkeypatch.setenv("CHAT_SIDECAR_TOKEN", "wrong-token")
    refused = cli("validate", "--url", sidecar.ready["url"], path)
    assert refused.exit_code == 2
    assert "token was refused" in refused.output


def test_rollback_refusal_over_the_api_exits_1(tmp_path: Path, sidecar: Sidecar) -> None:
    api_dir = Path(sidecar.ready["data_dir"])
    path = FIXTURES / "memory-loop-export.json"
    run_id = json.loads(cli("import", "--json", "--data-dir", api_dir, path).stdout)["run_id"]
    (conversation,) = _list_live(sidecar.ready)

    async def append() -> None:
        headers = {"Authorization": f"Bearer {sidecar.ready['token']}"}
        url = f"{sidecar.ready['url']}/api/v1/conversations/{conversation}/messages"
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                url, json={"role": "user", "content": "later"}, headers=headers
            ) as response,
        ):
            assert response.status == 201

    asyncio.run(append())
    refused = cli("rollback", "--data-dir", api_dir, run_id)
    assert refused.exit_code == 1
    assert conversation in refused.output
    forced = cli("rollback", "--force", "--data-dir", api_dir, run_id)
    assert forced.exit_code == 0, forced.output
    assert _list_live(sidecar.ready) == []


def test_large_imports_are_split_under_the_body_limit_and_dedupe_works_over_rest(
    tmp_path: Path, busy_sidecar: Sidecar
) -> None:
    """~5 MB of conversations (the server takes at most 4 MiB per body) and a cross-app copy."""
    from .conftest import navi_items, write_export

    api_dir = Path(busy_sidecar.ready["data_dir"])
    filler = "lorem ipsum dolor sit amet " * 30
    sessions: list[dict[str, Any]] = [
        {
            "id": f"s{n}",
            "title": f"Chat {n}",
            "updatedAt": 1_735_144_337_407 + n,
            "messages": [
                {
                    "id": f"s{n}-{i}",
                    "role": "user" if i % 2 == 0 else "assistant",
                    "content": f"{n}.{i} {filler}",
                    "createdAt": 1_735_144_337_407 + i * 10_000,
                }
                for i in range(20)
            ],
        }
        for n in range(240)
    ]
    big = write_export(tmp_path / "big.json", navi_items(sessions))
    copy = {
        "id": "z",
        "title": "copy",
        "createdAt": 1,
        "updatedAt": 2,
        "messages": sessions[0]["messages"][:5],
    }
    zustand = write_export(
        tmp_path / "z.json", {"chat-store": {"state": {"chats": [copy]}, "version": 1}}
    )
    # The short copy first (a later copy of a stored chat would not be created at all).
    first = cli("import", "--data-dir", api_dir, zustand)
    assert first.exit_code == 0, first.output
    assert "1 created" in first.output, first.output
    result = cli("import", "--json", "--data-dir", api_dir, big)
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["conversations"]["created"]) == 240
    assert len(_list_live(busy_sidecar.ready)) == 241
    deduped = cli("dedupe", "--json", "--data-dir", api_dir)
    assert deduped.exit_code == 0, deduped.output
    assert len(json.loads(deduped.stdout)["merges"]) == 1, deduped.stdout
    assert len(_list_live(busy_sidecar.ready)) == 240  # the copy is in the trash
    assert cli("validate", "--data-dir", api_dir, big, zustand).exit_code == 0


def test_a_body_the_sidecar_refuses_is_exit_2_with_a_report(tmp_path: Path) -> None:
    from .conftest import navi_items, write_export

    running = Sidecar(
        tmp_path / "api-data", tmp_path / "sidecar.log", {"CHAT_SIDECAR_MAX_BODY_BYTES": "100000"}
    )
    try:
        big = {
            "id": "big",
            "messages": [{"id": "m", "role": "user", "content": "x" * 300_000, "createdAt": 1}],
        }
        path = write_export(tmp_path / "big.json", navi_items([big]))
        result = cli("import", "--data-dir", running.ready["data_dir"], path)
        assert result.exit_code == 2
        assert "--max-body-bytes" in result.output
        (report_path,) = (Path(running.ready["data_dir"]) / "migrations").glob("*/report.json")
        report = json.loads(report_path.read_text())
        (failed,) = report["conversations"]["failed"]
        assert "max-body-bytes" in failed["reason"]
        assert report["conversations"]["created"] == []
        assert _list_live(running.ready) == []
    finally:
        running.stop()


def test_a_sidecar_with_a_lower_body_limit_gets_smaller_bodies(tmp_path: Path) -> None:
    """A sidecar started with --max-body-bytes 200000 (chat-migrate's parts are 3 MiB): each
    413 changed nothing, so the bodies shrink until they pass; everything arrives once."""
    from .conftest import navi_items, write_export

    running = Sidecar(
        tmp_path / "api-data", tmp_path / "sidecar.log", {"CHAT_SIDECAR_MAX_BODY_BYTES": "200000"}
    )
    try:
        filler = "y" * 10_000
        long = {"id": "long", "messages": padded_messages(60, filler)}
        small = [
            {
                "id": f"s{n}",
                "messages": [
                    {"id": "a", "role": "user", "content": f"{n} {filler}", "createdAt": 1},
                    {"id": "b", "role": "assistant", "content": filler, "createdAt": 2},
                ],
            }
            for n in range(30)
        ]
        path = write_export(tmp_path / "many.json", navi_items([long, *small]))
        data_dir = running.ready["data_dir"]
        result = cli("import", "--json", "--data-dir", data_dir, path)
        assert result.exit_code == 0, result.output
        assert len(json.loads(result.stdout)["conversations"]["created"]) == 31
        assert len(_list_live(running.ready)) == 31
        checked = cli("validate", "--data-dir", data_dir, path)  # every message, in order
        assert checked.exit_code == 0, checked.output
        again = cli("import", "--json", "--data-dir", data_dir, path)
        assert len(json.loads(again.stdout)["conversations"]["unchanged"]) == 31
    finally:
        running.stop()


def test_a_conversation_over_the_body_limit_goes_in_parts(tmp_path: Path, sidecar: Sidecar) -> None:
    """~6 MB in one conversation (the server takes at most 4 MiB per body): sent in parts, each
    continuing the last; the store holds it whole, once, and a rollback removes it whole."""
    from .conftest import navi_items, write_export

    messages = padded_messages(60, "x" * 100_000)
    big = write_export(tmp_path / "big.json", navi_items([{"id": "big", "messages": messages}]))
    api_dir = Path(sidecar.ready["data_dir"])
    result = cli("import", "--json", "--data-dir", api_dir, big)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["write_path"] == "api"
    (created,) = report["conversations"]["created"]
    assert report["conversations"]["merged"] == []
    again = json.loads(cli("import", "--json", "--data-dir", api_dir, big).stdout)
    assert again["conversations"]["unchanged"] == [created]
    assert cli("validate", "--data-dir", api_dir, big).exit_code == 0
    rolled = cli("rollback", "--data-dir", api_dir, report["run_id"])
    assert rolled.exit_code == 0, rolled.output
    assert "removed: 1" in rolled.output
    assert _list_live(sidecar.ready) == []
    assert cli("import", "--data-dir", api_dir, big).exit_code == 0
    sidecar.stop()
    (stored,) = store_state(api_dir)
    assert stored["messages"] == [[m["role"], m["content"]] for m in messages]
    assert stored["branches"] == ["main"]
