"""Generated histories of every other tool: import gives what the generator wrote, validate agrees,
and importing again changes nothing (LEGACY_FORMATS §7 with §4's identity)."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migrate.identity import conversation_id
from migrate.stored import branch_path

from . import peergen
from .conftest import cli, store_state

SETTINGS = settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@contextmanager
def scratch() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="migrate-peer-"))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def check(format_name: str, paths: list[Path], expects: list[peergen.Expect], data: Path) -> None:
    """Import, compare with the generator's expectations, validate, import again."""
    args = ["--from", format_name, "--data-dir", data, *paths]
    first = cli("import", "--json", *args)
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert [p for p in report["problems"] if p["severity"] == "error"] == []
    assert len(report["conversations"]["created"]) == len(expects)
    assert report["hidden_skipped"] == sum(e.hidden for e in expects)
    assert report["large_parts_replaced"] == sum(e.large for e in expects)
    state = {c["id"]: c for c in store_state(data)}
    for expect in expects:
        stored = state[conversation_id(format_name, expect.legacy_id)]
        assert stored["messages"] == expect.main
        assert len(stored["document"]["branches"]) == 1 + expect.branches
        main = branch_path(stored["document"])
        calls = [c for m in main for c in m["tool_calls"]]
        assert len(calls) == expect.calls
        ids = {c["id"] for c in calls}
        for message in main:
            if message["role"] == "tool":  # every result answers a call on the same branch
                assert message["tool_call_id"] in ids
        for name in stored["branches"]:
            path = branch_path(stored["document"], name)
            assert path[0]["id"] == main[0]["id"]  # a branch is a whole path from the start
    checked = cli("validate", *args)
    assert checked.exit_code == 0, checked.output
    again = cli("import", "--json", *args)
    body = json.loads(again.stdout)
    assert body["conversations"]["created"] == body["conversations"]["merged"] == []
    assert [c["document"] for c in store_state(data)] == [c["document"] for c in state.values()]
    # Another machine: the same history elsewhere on disk gives the very same ids.
    root = data.parent
    other = root.parent / f"{root.name}-other"
    shutil.copytree(
        root, other, ignore=lambda folder, names: ["data"] if folder == str(root) else []
    )
    try:
        moved = [other / p.relative_to(root) for p in paths]
        assert (
            cli("import", "--from", format_name, "--data-dir", other / "data", *moved).exit_code
            == 0
        )
        assert _ids(other / "data") == _ids(data)
    finally:
        shutil.rmtree(other, ignore_errors=True)


def _ids(data: Path) -> list[tuple[str, list[str]]]:
    return sorted(
        (c["id"], sorted(m["id"] for m in c["document"]["messages"])) for c in store_state(data)
    )


@given(chat=peergen.chats, log=st.booleans(), version=st.integers(min_value=1, max_value=3))
@SETTINGS
def test_vscode_chat(chat: peergen.Chat, log: bool, version: int) -> None:
    with scratch() as root:
        _, expect = peergen.write_vscode(root / "Code", chat, "sess-1", log=log, version=version)
        check("vscode-chat", [root / "Code"], [expect], root / "data")


@given(chat=peergen.chats, roo=st.booleans())
@SETTINGS
def test_cline_and_roo(chat: peergen.Chat, roo: bool) -> None:
    with scratch() as root:
        tool, expect = peergen.write_task(root / "tool", chat, "1735395936261", roo=roo)
        check("roo" if roo else "cline", [tool], [expect], root / "data")


@given(chat=peergen.chats, dated=st.booleans())
@SETTINGS
def test_continue(chat: peergen.Chat, dated: bool) -> None:
    with scratch() as root:
        folder, expect = peergen.write_continue(root / ".continue", chat, "s-1", dated=dated)
        check("continue", [folder], [expect], root / "data")


def _export(
    build: Callable[[peergen.Chat, str], tuple[dict[str, object], peergen.Expect]],
    chats: list[peergen.Chat],
    path: Path,
) -> list[peergen.Expect]:
    built = [build(chat, f"c{n}") for n, chat in enumerate(chats)]
    peergen.write_array(path, [body for body, _ in built])
    return [expect for _, expect in built]


@given(chats=st.lists(peergen.chats, min_size=1, max_size=3), zipped=st.booleans())
@SETTINGS
def test_chatgpt(chats: list[peergen.Chat], zipped: bool) -> None:
    import zipfile

    with scratch() as root:
        path = root / "conversations.json"
        expects = _export(peergen.chatgpt_conversation, chats, path)
        if zipped:
            archive = root / "export.zip"
            with zipfile.ZipFile(archive, "w") as out:
                out.write(path, "conversations.json")
            path.unlink()
            path = archive
        check("chatgpt", [path], expects, root / "data")


@given(chats=st.lists(peergen.chats, min_size=1, max_size=3))
@SETTINGS
def test_open_webui(chats: list[peergen.Chat]) -> None:
    with scratch() as root:
        path = root / "chat-export-1735697219297.json"
        expects = _export(peergen.open_webui_chat, chats, path)
        check("open-webui", [path], expects, root / "data")
