"""`chat-migrate discover` and `import --from` without a PATH, under a fake home on each platform."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest

from migrate.discover import discover, places

from .conftest import cli
from .test_peer_fixtures import PEERS

SESSION = "workspaceStorage/f266f24a7a44668ed66887a3a5561782"


def _lay_out(config: Path, home: Path, editors: tuple[str, ...] = ("Code",)) -> None:
    """The shared examples placed where each tool keeps them, under ``config`` and ``home``."""
    for editor in editors:
        user = config / editor / "User"
        shutil.copytree(PEERS / "vscode-chat" / "User" / SESSION, user / SESSION)
        shutil.copytree(
            PEERS / "cline" / "saoudrizwan.claude-dev",
            user / "globalStorage" / "saoudrizwan.claude-dev",
        )
        shutil.copytree(
            PEERS / "roo" / "rooveterinaryinc.roo-cline",
            user / "globalStorage" / "rooveterinaryinc.roo-cline",
        )
    shutil.copytree(PEERS / "continue", home / ".continue")
    downloads = home / "Downloads"
    downloads.mkdir(parents=True)
    shutil.copy(PEERS / "open-webui" / "chat-export-1735697219297.json", downloads)
    with zipfile.ZipFile(downloads / "3f2a-2025-01-02-10-00-00.zip", "w") as archive:
        archive.write(PEERS / "chatgpt" / "conversations.json", "conversations.json")
        archive.writestr("chat.html", "<html></html>")
    with zipfile.ZipFile(downloads / "photos.zip", "w") as archive:
        archive.writestr("a.txt", "not an export")


def _rows(found: list[object]) -> dict[tuple[str, str], dict[str, object]]:
    return {(r["format"], r["path"]): r for r in (f.to_json() for f in found)}  # type: ignore[attr-defined]


def _snapshot(root: Path) -> list[tuple[str, int, int]]:
    return sorted(
        (str(p.relative_to(root)), p.stat().st_mtime_ns, p.stat().st_size) for p in root.rglob("*")
    )


def test_linux_places_follow_home_and_xdg_config_home(tmp_path: Path) -> None:
    home, config = tmp_path / "home", tmp_path / "xdg"
    _lay_out(config, home, ("Code", "Code - Insiders", "VSCodium"))
    (home / ".config" / "Code" / "User").mkdir(parents=True)  # not looked at: XDG wins
    before = _snapshot(tmp_path)
    rows = _rows(discover({"HOME": str(home), "XDG_CONFIG_HOME": str(config)}, "linux"))
    assert _snapshot(tmp_path) == before  # reading only
    for editor in ("Code", "Code - Insiders", "VSCodium"):
        user = config / editor / "User"
        vscode = rows[("vscode-chat", str(user))]
        assert (vscode["conversations"], vscode["messages"]) == (2, 8)
        assert (
            rows[("cline", str(user / "globalStorage" / "saoudrizwan.claude-dev"))]["conversations"]
            == 1
        )
        assert (
            rows[("roo", str(user / "globalStorage" / "rooveterinaryinc.roo-cline"))]["messages"]
            == 6
        )
    assert rows[("continue", str(home / ".continue"))]["conversations"] == 1
    chatgpt = rows[("chatgpt", str(home / "Downloads" / "3f2a-2025-01-02-10-00-00.zip"))]
    assert (chatgpt["conversations"], chatgpt["messages"]) == (2, 12)
    assert chatgpt["newest"] == "2024-12-30T08:07:05.309Z"
    webui = rows[("open-webui", str(home / "Downloads" / "chat-export-1735697219297.json"))]
    assert webui["conversations"] == 2
    assert len(rows) == 3 * 3 + 3  # nothing else, and not photos.zip
    assert all(r["problems"] == [] for r in rows.values())


def test_without_xdg_config_home_linux_uses_dot_config(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _lay_out(home / ".config", home)
    rows = _rows(discover({"HOME": str(home)}, "linux"))
    assert ("vscode-chat", str(home / ".config" / "Code" / "User")) in rows
    cline_dir = home / ".cline" / "data"
    shutil.copytree(PEERS / "cline" / "saoudrizwan.claude-dev", cline_dir)
    rows = _rows(discover({"HOME": str(home)}, "linux"))
    assert rows[("cline", str(cline_dir))]["conversations"] == 1


@pytest.mark.parametrize(
    ("platform", "config", "env_extra"),
    [
        ("darwin", "Library/Application Support", {}),
        ("win32", "AppData/Roaming", {}),
        ("win32", "../roaming-elsewhere", {"APPDATA": "ROAMING"}),
    ],
)
def test_macos_and_windows_places_from_the_table(
    tmp_path: Path, platform: str, config: str, env_extra: dict[str, str]
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    config_dir = (home / config).resolve()
    env = {"HOME": str(home), **{k: str(config_dir) for k in env_extra}}
    _lay_out(config_dir, home)
    rows = _rows(discover(env, platform))
    user = config_dir / "Code" / "User"
    assert rows[("vscode-chat", str(user))]["conversations"] == 2
    assert (
        rows[("cline", str(user / "globalStorage" / "saoudrizwan.claude-dev"))]["conversations"]
        == 1
    )
    assert places("vscode-chat", env, platform)[1] == config_dir / "Code - Insiders" / "User"


def test_discover_cli_and_import_without_a_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    _lay_out(home / ".config", home)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    result = cli("discover", "--json")
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)["histories"]
    assert {r["format"] for r in found} == {
        "vscode-chat",
        "cline",
        "roo",
        "continue",
        "chatgpt",
        "open-webui",
    }
    text = cli("discover")
    assert "cline" in text.stdout and str(home / ".continue") in text.stdout
    data = tmp_path / "data"
    imported = cli("import", "--from", "cline", "--json", "--data-dir", data)
    assert imported.exit_code == 0, imported.output
    body = json.loads(imported.stdout)
    assert len(body["conversations"]["created"]) == 1
    assert body["inputs"][0]["path"].startswith(str(home / ".config" / "Code" / "User"))
    assert cli("validate", "--from", "cline", "--data-dir", data).exit_code == 0


def test_nothing_in_the_usual_places_is_a_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    result = cli("import", "--from", "roo", "--data-dir", tmp_path / "data")
    assert result.exit_code == 2
    assert "no roo history in its usual places" in result.output
    assert not (tmp_path / "data").exists()
    assert cli("discover").stdout.startswith("no other tool's history")
