"""An envelope export (LEGACY_FORMATS §1) is read as its flat export is: its ``items`` a member at
a time in the one pass over the file, whichever order its fields come in, with long values
spilled, repeated keys reported and lone surrogates mended, and no more memory."""

from __future__ import annotations

import gc
import json
import shutil
import tempfile
import tracemalloc
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.migrate_bench import generate_navi_export
from migrate.reading import SPILL_CHARS, ExportFile, SpilledText, read_export, unspilled
from migrate.spill import Spill

from .conftest import cli, navi_items, store_state, write_export

T0 = 1_735_144_337_407
KEY = "navi.chatSession.messages.s1"
FIELDS = (
    '"kind": "localstorage-export", "version": 1, "origin": "vscode-webview://test", '
    '"exported_at": "2026-01-01T00:00:00Z"'
)
ENVELOPE_FIELDS = {
    "kind": "localstorage-export",
    "version": 1,
    "origin": "vscode-webview://test",
    "exported_at": "2026-01-01T00:00:00Z",
}


def _messages(tag: str, count: int, chars: int = 100) -> list[dict[str, Any]]:
    return [
        {
            "id": f"{tag}{i}",
            "role": "user",
            "content": f"{tag} {i} " + "x" * chars,
            "createdAt": T0 + i * 60_000,
        }
        for i in range(count)
    ]


def _envelope(items_text: str, items_first: bool) -> str:
    """An envelope around ``items_text`` (an object's JSON text, written by hand so that it may
    repeat a key), its ``items`` before or after its other fields."""
    if items_first:
        return f'{{"items": {items_text}, {FIELDS}}}'
    return f'{{{FIELDS}, "items": {items_text}}}'


def _read(path: Path) -> tuple[ExportFile, Spill]:
    spill = Spill()
    return read_export(path, None, spill), spill


def test_an_envelope_in_either_order_is_read_and_imported_as_its_flat_export(
    tmp_path: Path,
) -> None:
    """Same items, same long values spilled (one key's JSON text is over ``SPILL_CHARS``), same
    conversations stored; importing the envelope again changes nothing."""
    items = navi_items(
        [{"id": "s1", "title": "Long", "messages": _messages("a", 60)}, {"id": "s2"}]
    )
    items["navi.chatSession.messages.s2"] = _messages("b", 2)
    assert len(json.dumps(items[KEY])) > SPILL_CHARS > len(json.dumps(items["navi.chatSessions"]))
    flat_path = write_export(tmp_path / "flat.json", items)
    flat, flat_spill = _read(flat_path)
    assert isinstance(flat.items[KEY], SpilledText)
    flat_data = tmp_path / "flat-data"
    assert cli("import", "--data-dir", flat_data, flat_path).exit_code == 0
    flat_messages = {c["id"]: c["messages"] for c in store_state(flat_data)}
    for items_first in (False, True):
        path = write_export(
            tmp_path / f"e-{items_first}.json", items, envelope=True, items_first=items_first
        )
        assert path.read_text().startswith('{"items"') is items_first
        export, spill = _read(path)
        try:
            assert export.shape == "envelope" and export.envelope == ENVELOPE_FIELDS
            assert {k: type(v) for k, v in export.items.items()} == {
                k: type(v) for k, v in flat.items.items()
            }
            assert isinstance(export.items[KEY], SpilledText)
            assert {k: unspilled(v) for k, v in export.items.items()} == {
                k: unspilled(v) for k, v in flat.items.items()
            }
            assert export.repeated == {} and export.broken == 0
        finally:
            spill.close()
        data = tmp_path / f"data-{items_first}"
        first = json.loads(cli("import", "--json", "--data-dir", data, path).stdout)
        assert len(first["conversations"]["created"]) == 2
        state = store_state(data)
        assert {c["id"]: c["messages"] for c in state} == flat_messages
        assert cli("validate", "--data-dir", data, path).exit_code == 0
        again = json.loads(cli("import", "--json", "--data-dir", data, path).stdout)
        assert again["conversations"]["created"] == again["conversations"]["merged"] == []
        assert store_state(data) == state
    flat_spill.close()


def test_a_key_repeated_inside_items_is_reported_in_either_order(tmp_path: Path) -> None:
    """The last value wins (and, long, waits on the spill like any other); the key is named."""
    sessions = json.dumps(json.dumps([{"id": "s1", "title": "Twice"}]))
    first, last = json.dumps(_messages("first", 50)), json.dumps(_messages("last", 60))
    assert min(len(first), len(last)) > SPILL_CHARS
    items = (
        f'{{"navi.chatSessions": {sessions}, {json.dumps(KEY)}: {json.dumps(first)}, '
        f"{json.dumps(KEY)}: {json.dumps(last)}}}"
    )
    for items_first in (False, True):
        path = tmp_path / f"twice-{items_first}.json"
        path.write_text(_envelope(items, items_first))
        export, spill = _read(path)
        try:
            assert export.shape == "envelope" and export.repeated == {KEY: 2}
            assert isinstance(export.items[KEY], SpilledText)
            assert export.items[KEY].text() == last
        finally:
            spill.close()
        data = tmp_path / f"data-{items_first}"
        result = cli("import", "--json", "--data-dir", data, path)
        assert result.exit_code == 0, result.output
        (problem,) = [p for p in json.loads(result.stdout)["problems"] if p["key"] == KEY]
        assert problem["severity"] == "error" and "appears 2 times" in problem["message"]
        (stored,) = store_state(data)
        assert [content.split()[0] for _, content in stored["messages"]] == ["last"] * 60
        assert "appears 2 times" in cli("inspect", path).output
        strict = cli("import", "--strict", "--data-dir", tmp_path / f"strict-{items_first}", path)
        assert strict.exit_code == 2 and KEY in strict.output


def test_a_lone_surrogate_inside_items_is_mended_and_counted(tmp_path: Path) -> None:
    """In a long value's JSON text (spilled, mended when parsed) and in the file's own JSON text
    (an already-parsed value: mended as the file is read)."""
    messages = [*_messages("m", 40), {"id": "cut", "role": "assistant", "content": "cut \ud83d"}]
    text = json.dumps(messages)
    assert "\\ud83d" in text and len(text) > SPILL_CHARS
    chat = {"id": "c1", "title": "Parsed", "messages": [{"role": "user", "content": "half \ud83d"}]}
    items = {
        "navi.chatSessions": json.dumps([{"id": "s1", "title": "Emoji"}]),
        KEY: text,
        "chat-store": {"state": {"chats": [chat]}, "version": 1},
    }
    for items_first in (False, True):
        path = tmp_path / f"emoji-{items_first}.json"
        path.write_text(_envelope(json.dumps(items), items_first))
        export, spill = _read(path)
        try:
            assert export.broken == 1 and isinstance(export.items[KEY], SpilledText)
            assert export.items["chat-store"]["state"]["chats"][0]["messages"][0] == {
                "role": "user",
                "content": "half \ufffd",
            }
        finally:
            spill.close()
        data = tmp_path / f"data-{items_first}"
        result = cli("import", "--json", "--data-dir", data, path)
        assert result.exit_code == 0, result.output
        broken = {
            p["key"]: p["message"]
            for p in json.loads(result.stdout)["problems"]
            if "U+FFFD" in p["message"]
        }
        assert broken.keys() == {KEY, None}
        assert broken[KEY].startswith("1 ") and broken[None].startswith("1 ")
        stored = {c["title"]: c["messages"] for c in store_state(data)}
        assert stored["Emoji"][-1] == ["assistant", "cut \ufffd"]
        assert stored["Parsed"] == [["user", "half \ufffd"]]
        assert cli("validate", "--data-dir", data, path).exit_code == 0


def _traced_read(path: Path) -> tuple[int, int]:
    """What reading ``path`` keeps and takes at most (tracemalloc: independent of load)."""
    spill = Spill()
    gc.collect()
    tracemalloc.start()
    try:
        export = read_export(path, None, spill)
        kept, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        spill.close()
    assert len(export.items) == 1002
    return kept, peak


def test_an_envelope_takes_no_more_memory_than_its_flat_export(tmp_path: Path) -> None:
    """LEGACY_FORMATS §5: the envelope's items used to be built whole (13 MB kept, 1.27 bytes
    per export byte at the peak, where the flat export takes 0.33 and keeps 0.3 MB)."""
    flat = tmp_path / "flat.json"
    size = generate_navi_export(flat, 1000, 50, 160)["bytes"]
    envelope = tmp_path / "envelope.json"
    with flat.open("rb") as source, envelope.open("wb") as target:
        target.write(f"{{{FIELDS}, {json.dumps('items')}: ".encode())
        shutil.copyfileobj(source, target)
        target.write(b"}")
    _traced_read(flat)  # the modules reading imports are not the reading's
    flat_kept, flat_peak = _traced_read(flat)
    kept, peak = _traced_read(envelope)
    assert kept <= flat_kept * 1.25 + 64 * 1024, f"kept {kept:,} bytes (flat: {flat_kept:,})"
    assert peak <= flat_peak * 1.25, f"peak {peak:,} bytes (flat: {flat_peak:,})"
    assert peak / size <= 0.6, f"peak: {peak / size:.2f} bytes per export byte"


# ---------------------------------------------------------------------------- property


class Obj:
    """A JSON object as written, so that a key may appear twice."""

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        self.pairs = pairs


def _json(value: Any) -> str:
    if isinstance(value, Obj):
        return "{" + ", ".join(f"{json.dumps(k)}: {_json(v)}" for k, v in value.pairs) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_json(v) for v in value) + "]"
    return json.dumps(value)


keys = st.sampled_from(["a", "b", "items", "x.y", "", "k é", "navi.chatSessions"])
texts = st.one_of(
    st.sampled_from(["", "s", "[1, 2]", "cut \ud83d", "pair 😀 and \\ud83d"]),
    st.integers(min_value=SPILL_CHARS - 2, max_value=SPILL_CHARS + 2).map(lambda n: "é" * n),
)
values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-3, 3), texts),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.lists(st.tuples(keys, inner), max_size=3).map(Obj),
    ),
    max_leaves=8,
)


#: A key's value: most often a string (JSON text, as localStorage holds), else anything.
members = st.lists(st.tuples(keys, st.one_of(texts, values)), max_size=6)


@given(pairs=members, items_first=st.booleans())
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_an_envelope_is_read_as_its_flat_export_is(
    pairs: list[tuple[str, Any]], items_first: bool
) -> None:
    """For any keys and values (repeated keys, nested objects, long strings, lone surrogates):
    the same items, spilled the same, the same repeated keys and mended characters."""
    root = Path(tempfile.mkdtemp(prefix="migrate-envelope-"))
    try:
        flat_path, envelope_path = root / "flat.json", root / "envelope.json"
        flat_path.write_text(_json(Obj(pairs)))
        envelope_path.write_text(_envelope(_json(Obj(pairs)), items_first))
        flat, flat_spill = _read(flat_path)
        envelope, spill = _read(envelope_path)
        try:
            assert flat.shape == "flat" and envelope.shape == "envelope"
            assert envelope.envelope == ENVELOPE_FIELDS
            assert {k: type(v) for k, v in envelope.items.items()} == {
                k: type(v) for k, v in flat.items.items()
            }
            assert {k: unspilled(v) for k, v in envelope.items.items()} == {
                k: unspilled(v) for k, v in flat.items.items()
            }
            assert envelope.repeated == flat.repeated
            assert envelope.broken == flat.broken
        finally:
            spill.close()
            flat_spill.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
