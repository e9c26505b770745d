"""The shared example exports give exactly the store described by their expected.json."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import FIXTURES, cli, store_state


def _fixture_files() -> list[Path]:
    expected = json.loads((FIXTURES / "expected.json").read_text())
    return [FIXTURES / name for name in expected["files"]]


def test_importing_every_fixture_together_gives_expected_json(data_dir: Path) -> None:
    expected = json.loads((FIXTURES / "expected.json").read_text())
    result = cli("import", "--json", "--data-dir", data_dir, *_fixture_files())
    assert result.exit_code == 0, result.output
    messages = json.loads(result.stdout)["messages"]
    exported = sum(i["messages"] for i in json.loads(result.stdout)["inputs"])
    kept = sum(len(c["messages"]) for c in expected["conversations"])
    assert messages["imported"] == kept
    assert exported == kept + messages["dropped_as_duplicates"] + messages["same_in_another_copy"]
    state = store_state(data_dir)
    assert len(state) == len(expected["conversations"])
    for want in expected["conversations"]:
        matches = [c for c in state if c["messages"] == want["messages"]]
        assert len(matches) == 1, (
            f"{want['title']!r}: {len(matches)} conversations hold its messages"
        )
        got = matches[0]
        for name in ("title", "starred", "pinned", "archived"):
            assert got[name] == want[name], (want["title"], name)
        if want["backend_id"] is not None:
            assert got["id"] == want["backend_id"]


def test_fixtures_validate_clean_and_reimport_is_unchanged(data_dir: Path) -> None:
    files = _fixture_files()
    assert cli("import", "--data-dir", data_dir, *files).exit_code == 0
    before = store_state(data_dir)
    again = cli("import", "--json", "--data-dir", data_dir, *files)
    assert again.exit_code == 0, again.output
    report = json.loads(again.stdout)
    assert report["conversations"]["created"] == []
    assert report["conversations"]["merged"] == []
    assert len(report["conversations"]["unchanged"]) == 7
    assert [c["document"] for c in store_state(data_dir)] == [c["document"] for c in before]
    checked = cli("validate", "--data-dir", data_dir, *files)
    assert checked.exit_code == 0, checked.output
    assert "0 difference(s)" in checked.output


def test_each_fixture_alone_then_all_converge_on_the_same_store(tmp_path: Path) -> None:
    """Importing the files one run at a time ends where importing them together does: the
    zustand copy of a navi chat is recognised in the store and not created again."""
    files = _fixture_files()
    together, apart = tmp_path / "together", tmp_path / "apart"
    assert cli("import", "--data-dir", together, *files).exit_code == 0
    for path in files:
        result = cli("import", "--data-dir", apart, path)
        assert result.exit_code == 0, result.output
    want = sorted(json.dumps(c["messages"]) for c in store_state(together))
    assert sorted(json.dumps(c["messages"]) for c in store_state(apart)) == want
    assert cli("validate", "--data-dir", apart, *files).exit_code == 0
    assert json.loads(cli("dedupe", "--json", "--data-dir", apart).stdout)["merges"] == []
