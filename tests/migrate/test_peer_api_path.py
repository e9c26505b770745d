"""Other tools' histories through a running sidecar's REST API give the store the direct path
gives (tool calls, branches and big exports in chunks included)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import cli, store_state
from .test_api_path import Sidecar, _comparable, _list_live, sidecar  # noqa: F401 (fixture)
from .test_peer_fixtures import EXPECTED, PEERS

pytestmark = pytest.mark.subprocess


def test_every_format_through_the_api_matches_the_direct_path(
    tmp_path: Path,
    sidecar: Sidecar,  # noqa: F811
) -> None:
    api_dir = Path(sidecar.ready["data_dir"])
    direct_dir = tmp_path / "direct"
    created: list[str] = []
    for format_name, spec in EXPECTED["formats"].items():
        paths = [PEERS / p for p in spec["paths"]]
        result = cli("import", "--from", format_name, "--json", "--data-dir", api_dir, *paths)
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        assert report["write_path"] == "api"
        created += report["conversations"]["created"]
        checked = cli("validate", "--from", format_name, "--data-dir", api_dir, *paths)
        assert checked.exit_code == 0, checked.output
        direct = cli("import", "--from", format_name, "--data-dir", direct_dir, *paths)
        assert direct.exit_code == 0, direct.output
    assert _list_live(sidecar.ready) == sorted(created)
    assert len(created) == len(EXPECTED["conversations"])
    sidecar.stop()
    assert _comparable(store_state(api_dir)) == _comparable(store_state(direct_dir))
