"""Reading export files (issue #15): repeated keys are reported by name, a lone UTF-16 surrogate
costs one character instead of a whole message list, and big files are parsed as a stream."""

from __future__ import annotations

import json
from pathlib import Path

from migrate.reading import read_export

from .conftest import cli, navi_items, store_state

T0 = 1_735_144_337_407


def _messages(tag: str, count: int) -> str:
    return json.dumps(
        [
            {"id": f"{tag}{i}", "role": "user", "content": f"{tag} {i}", "createdAt": T0 + i}
            for i in range(count)
        ]
    )


def test_a_key_repeated_in_a_flat_file_is_reported_by_name(tmp_path: Path, data_dir: Path) -> None:
    key = "navi.chatSession.messages.s1"
    sessions = json.dumps([{"id": "s1", "title": "Twice"}])
    body = (
        f'{{"navi.chatSessions": {json.dumps(sessions)}, {json.dumps(key)}: '
        f"{json.dumps(_messages('first', 2))}, {json.dumps(key)}: {json.dumps(_messages('b', 3))}}}"
    )
    path = tmp_path / "twice.json"
    path.write_text(body)
    result = cli("import", "--json", "--data-dir", data_dir, path)
    assert result.exit_code == 0, result.output
    (problem,) = [p for p in json.loads(result.stdout)["problems"] if p["key"] == key]
    assert problem["severity"] == "error" and "appears 2 times" in problem["message"]
    assert "appears 2 times" in cli("inspect", path).output
    strict = cli("import", "--strict", "--data-dir", tmp_path / "strict", path)
    assert strict.exit_code == 2 and key in strict.output


def test_a_key_repeated_in_an_envelope_is_reported_by_name(tmp_path: Path) -> None:
    key = "navi.chatSession.messages.s1"
    items = (
        f"{{{json.dumps(key)}: {json.dumps(_messages('a', 1))}, "
        f"{json.dumps(key)}: {json.dumps(_messages('b', 1))}}}"
    )
    path = tmp_path / "envelope.json"
    path.write_text(f'{{"items": {items}, "kind": "localstorage-export", "version": 1}}')
    export = read_export(path)
    assert export.shape == "envelope" and export.repeated == {key: 2}


def test_a_lone_surrogate_costs_one_character_not_the_message_list(
    tmp_path: Path, data_dir: Path
) -> None:
    """What JSON.stringify writes for a string cut in the middle of an emoji."""
    messages = [
        {"id": "a", "role": "user", "content": "hello", "createdAt": T0},
        {"id": "b", "role": "assistant", "content": "cut \ud83d", "createdAt": T0 + 1},
        {"id": "c", "role": "user", "content": "whole 🚀", "createdAt": T0 + 2},
    ]
    text = json.dumps(messages)  # escapes the lone surrogate as \ud83d, like JSON.stringify
    assert "\\ud83d" in text
    items = {**navi_items([{"id": "s1", "title": "Emoji"}]), "navi.chatSession.messages.s1": text}
    items["navi.chatSessions"] = json.dumps(items["navi.chatSessions"])
    path = tmp_path / "emoji.json"
    path.write_text(json.dumps(items))
    result = cli("import", "--json", "--data-dir", data_dir, path)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    (problem,) = [p for p in report["problems"] if "U+FFFD" in p["message"]]
    assert problem["key"] == "navi.chatSession.messages.s1" and problem["message"].startswith("1 ")
    (stored,) = store_state(data_dir)
    assert stored["messages"] == [
        ["user", "hello"],
        ["assistant", "cut \ufffd"],
        ["user", "whole 🚀"],
    ]
    assert cli("validate", "--data-dir", data_dir, path).exit_code == 0


def test_a_big_file_is_read_as_a_stream_with_every_encoding(tmp_path: Path) -> None:
    """Chunk boundaries fall inside keys, strings and multi-byte characters."""
    body = {
        "navi.chatSessions": json.dumps([{"id": "s" * 3000}]),
        "k" * 70_000: "v" * 3_000_000,
        "text": "é🚀 " * 400_000,
    }
    text = json.dumps(body, ensure_ascii=False)
    for encoding, bom in [("utf-8", b""), ("utf-8", b"\xef\xbb\xbf"), ("utf-16-le", b"\xff\xfe")]:
        path = tmp_path / f"{encoding}-{len(bom)}.json"
        path.write_bytes(bom + "\n \t".encode(encoding) + text.encode(encoding))
        export = read_export(path)
        assert export.shape == "flat" and export.items == body and export.repeated == {}


def test_a_lone_surrogate_in_an_already_parsed_value_is_mended_and_reported(
    tmp_path: Path, data_dir: Path
) -> None:
    """A tool that stored the chats as objects: the escape is in the file's own JSON text, where
    the C parser would silently turn it into '?'. An escaped backslash before it is no escape."""
    chat = {
        "id": "c1",
        "title": "Parsed",
        "messages": [
            {"id": "a", "role": "user", "content": "cut \ud83d", "createdAt": T0},
            {"id": "b", "role": "assistant", "content": "pair 😀 and \\ud83d", "createdAt": T0 + 1},
        ],
    }
    path = tmp_path / "parsed.json"
    path.write_text(json.dumps({"chat-store": {"state": {"chats": [chat]}, "version": 1}}))
    assert "\\ud83d" in path.read_text() and "\\\\ud83d" in path.read_text()
    result = cli("import", "--json", "--data-dir", data_dir, path)
    assert result.exit_code == 0, result.output
    (problem,) = [p for p in json.loads(result.stdout)["problems"] if "U+FFFD" in p["message"]]
    assert problem["message"].startswith("1 broken")
    (stored,) = store_state(data_dir)
    assert stored["messages"] == [["user", "cut \ufffd"], ["assistant", "pair 😀 and \\ud83d"]]


def test_read_export_itself_refuses_what_is_not_a_regular_file(tmp_path: Path) -> None:
    """Callers other than the command line (the sidecar's legacy import, other importers) get a
    clear refusal instead of a read that blocks on a FIFO or never ends on a device."""
    import os

    import pytest

    from migrate.problems import BadInput

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for path in (fifo, Path("/dev/zero")):
        with pytest.raises(BadInput) as caught:
            read_export(path)
        assert "not a regular file" in caught.value.reason
