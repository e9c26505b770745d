"""A legacy value holding an integer outside 64 bits is imported with the integer's digits
kept as a string, not rounded (orjson read ``123456789012345678901234567890`` as
``1.2345678901234568e+29``): an import never changes what it keeps. The real CLI, a real store."""

from __future__ import annotations

from pathlib import Path

from migrate.stored import branch_path

from .conftest import cli, navi_items, store_state, write_export

WIDE = 123456789012345678901234567890
T0 = 1_735_144_337_407


def test_an_integer_wider_than_64_bits_keeps_its_digits(tmp_path: Path) -> None:
    metadata = {"wide": WIDE, "negative": -WIDE, "edge": 2**64 - 1, "float": 1e30}
    message = {"id": "m1", "role": "user", "content": "hi", "createdAt": T0, "metadata": metadata}
    export = write_export(
        tmp_path / "export.json", navi_items([{"id": "s1", "title": "Wide", "messages": [message]}])
    )
    result = cli("import", export, "--data-dir", tmp_path / "data")
    assert result.exit_code == 0, result.output
    [conversation] = store_state(tmp_path / "data")
    [stored] = branch_path(conversation["document"])
    kept = stored["metadata"]["legacy"]["metadata"]
    assert kept == {"wide": str(WIDE), "negative": str(-WIDE), "edge": 2**64 - 1, "float": 1e30}
