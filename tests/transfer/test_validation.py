"""Bad documents: refused whole with the JSON path of the first problem, nothing written."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from sidecar.service.import_merge import outside_error
from sidecar.service.importer import import_document, parse_document
from sidecar.store import Store, ValidationFailed

from .documents import chain, conversation, document, message


def validate_document(document: object) -> None:
    """Raise :class:`ValidationFailed` (``field`` = the JSON path) unless ``document`` is a
    valid export document that this sidecar can import into any store: whole, so every parent
    and branch head is in it (:func:`import_document` also takes a part of a conversation whose
    earlier messages are stored)."""
    for entry in parse_document(document).conversations:
        if entry["outside"]:
            raise outside_error(entry, list(entry["outside"]))


def good() -> dict[str, Any]:
    return document(
        conversation("first", chain("a", "b", conversation_id="first")),
        conversation(
            "second",
            chain("m0", "m1", "m2", conversation_id="second"),
            turns=[{"id": "t", "state": "completed", "user_message_id": "m0"}],
        ),
    )


def deep(levels: int) -> Any:
    value: Any = "leaf"
    for _ in range(levels):
        value = {"k": value}
    return value


Edit = Callable[[dict[str, Any]], object]


def second(doc: dict[str, Any]) -> dict[str, Any]:
    conversation_entry: dict[str, Any] = doc["conversations"][1]
    return conversation_entry


CASES: list[tuple[str, Edit, str]] = [
    ("not an object", lambda d: d.clear(), "format"),
    ("wrong format", lambda d: d.update(format="other"), "format"),
    ("newer version", lambda d: d.update(version=2), "version"),
    ("version as text", lambda d: d.update(version="1"), "version"),
    ("unknown top field", lambda d: d.update(extra=1), "extra"),
    ("bad run id", lambda d: d.update(run_id="has space"), "run_id"),
    ("bad exported_at", lambda d: d.update(exported_at="yesterday"), "exported_at"),
    ("conversations missing", lambda d: d.pop("conversations"), "conversations"),
    ("bad role", lambda d: second(d)["messages"][2].update(role="robot"),
     "conversations[1].messages[2].role"),
    ("missing content", lambda d: second(d)["messages"][1].pop("content"),
     "conversations[1].messages[1].content"),
    ("content not text", lambda d: second(d)["messages"][1].update(content=5),
     "conversations[1].messages[1].content"),
    ("child before parent", lambda d: second(d)["messages"].reverse(),
     "conversations[1].messages[0].parent_id"),
    ("duplicate message", lambda d: second(d)["messages"].append(message("m0", "m2")),
     "conversations[1].messages[3].id"),
    ("message of another conversation",
     lambda d: second(d)["messages"][0].update(conversation_id="first"),
     "conversations[1].messages[0].conversation_id"),
    ("unknown message field", lambda d: second(d)["messages"][0].update(colour="red"),
     "conversations[1].messages[0].colour"),
    ("month 13", lambda d: second(d)["messages"][0].update(created_at="2026-13-01T00:00:00.000Z"),
     "conversations[1].messages[0].created_at"),
    ("no milliseconds", lambda d: second(d).update(updated_at="2026-01-01T00:00:00Z"),
     "conversations[1].updated_at"),
    ("unicode digits", lambda d: second(d).update(created_at="٢٠٢٦-01-01T00:00:00.000Z"),
     "conversations[1].created_at"),
    ("bad status", lambda d: second(d)["messages"][0].update(status="done"),
     "conversations[1].messages[0].status"),
    ("bad tool calls", lambda d: second(d)["messages"][0].update(tool_calls=[{"id": 1}]),
     "conversations[1].messages[0].tool_calls"),
    ("deep metadata", lambda d: second(d)["messages"][0].update(metadata=deep(70)),
     "conversations[1].messages[0].metadata"),
    ("deep turn", lambda d: second(d)["turns"][0].update(extra=deep(70)),
     "conversations[1].turns[0]"),
    ("duplicate client id",
     lambda d: [m.update(client_message_id="k") for m in second(d)["messages"]],
     "conversations[1].messages[1].client_message_id"),
    ("branch at unknown message",
     lambda d: second(d)["branches"].append({"name": "x", "head_message_id": "nope"}),
     "conversations[1].branches[1].head_message_id"),
    ("bad branch name",
     lambda d: second(d)["branches"].append({"name": "a b", "head_message_id": None}),
     "conversations[1].branches[1].name"),
    ("active branch missing", lambda d: second(d).update(active_branch="ghost"),
     "conversations[1].active_branch"),
    ("internal turn field", lambda d: second(d)["turns"][0].update(_request="x"),
     "conversations[1].turns[0]._request"),
    ("bad turn state", lambda d: second(d)["turns"][0].update(state="thinking"),
     "conversations[1].turns[0].state"),
    ("turn of unknown message", lambda d: second(d)["turns"][0].update(user_message_id="zz"),
     "conversations[1].turns[0].user_message_id"),
    ("revision zero", lambda d: second(d).update(revision=0), "conversations[1].revision"),
    ("flag not bool", lambda d: second(d).update(starred="yes"), "conversations[1].starred"),
    ("title too long", lambda d: second(d).update(title="x" * 501), "conversations[1].title"),
    ("bad conversation id", lambda d: second(d).update(id="../etc"), "conversations[1].id"),
    ("duplicate conversation",
     lambda d: [x.update(id="first") for x in d["conversations"][1:]]
     + [m.pop("conversation_id") for m in second(d)["messages"]],
     "conversations[1].id"),
    ("source without kind", lambda d: second(d).update(source={"run_id": "r"}),
     "conversations[1].source"),
    ("source run id with slash", lambda d: second(d).update(source={"kind": "m", "run_id": "a/b"}),
     "conversations[1].source.run_id"),
]  # fmt: skip


def test_the_good_document_is_valid() -> None:
    validate_document(good())


@pytest.mark.parametrize(("name", "change", "path"), CASES, ids=[c[0] for c in CASES])
async def test_a_bad_document_names_the_path_and_writes_nothing(
    store: Store, name: str, change: Edit, path: str
) -> None:
    bad = copy.deepcopy(good())
    change(bad)
    with pytest.raises(ValidationFailed) as caught:
        validate_document(bad)
    assert caught.value.field == path, caught.value.message
    assert caught.value.message.startswith(path)
    seq = store.seq
    with pytest.raises(ValidationFailed):
        await import_document(store, bad)
    assert store.seq == seq and store.list_conversations().items == []


def test_a_document_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate_document([good()])
    assert caught.value.field == "document"


async def test_the_run_id_argument_must_agree_with_the_document(store: Store) -> None:
    with pytest.raises(ValidationFailed) as caught:
        await import_document(store, good() | {"run_id": "one"}, run_id="two")
    assert caught.value.field == "run_id"


async def test_a_part_continuing_stored_messages_is_imported(store: Store) -> None:
    """A conversation too big for one request goes in parts (chat-migrate over REST): a part's
    parents and branch heads may be messages already stored in that conversation, never others."""
    first = document(conversation("c", chain("a", "b")), run_id="run-1")
    assert (await import_document(store, first)).created == ["c"]
    part = document(conversation("c", chain("c1", "c2", parent="b")), run_id="run-1")
    with pytest.raises(ValidationFailed) as caught:
        validate_document(part)  # on its own it is not a whole document
    assert caught.value.field == "conversations[0].messages[0].parent_id"
    assert (await import_document(store, part)).merged == ["c"]
    _, messages = await store.all_messages("c")
    assert [m["id"] for m in messages] == ["a", "b", "c1", "c2"]
    assert (await import_document(store, part)).unchanged == ["c"]
    stray = document(conversation("c", chain("d1", parent="nowhere")))
    seq = store.seq
    with pytest.raises(ValidationFailed) as caught:
        await import_document(store, stray)
    assert caught.value.field == "conversations[0].messages[0].parent_id"
    new = document(conversation("fresh", chain("e1", parent="b")))
    with pytest.raises(ValidationFailed):
        await import_document(store, new)  # another conversation's message is not a parent
    assert store.seq == seq
