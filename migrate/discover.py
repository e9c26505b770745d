"""Where other tools keep this user's chat history, and what is there (LEGACY_FORMATS §7).

The places are a table per platform, relative to the home folder (``$HOME``) or to the config
folder (``$XDG_CONFIG_HOME`` on Linux, ``%APPDATA%`` on Windows), so a test with a fake home finds
exactly what it laid out. :func:`discover` only reads.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .adapters.peer import Tally, finish
from .adapters.peers import PEER_FORMATS, peer_adapter
from .normalize import format_ms
from .problems import BadInput, Problems

#: VS Code builds whose ``User`` folder holds chat sessions and extensions' global storage.
EDITORS = ("Code", "Code - Insiders", "VSCodium")
CLINE = "saoudrizwan.claude-dev"
ROO = "rooveterinaryinc.roo-cline"
DOWNLOADS = "Downloads"
#: Formats whose exports are files people download (one row per file found in ~/Downloads).
DOWNLOADED = ("chatgpt", "open-webui")


def config_home(home: Path, env: Mapping[str, str], platform: str) -> Path:
    """Where the editors keep their ``<Editor>/User`` folders on this platform."""
    if platform == "darwin":
        return home / "Library" / "Application Support"
    if platform == "win32":
        appdata = env.get("APPDATA")
        return Path(appdata) if appdata else home / "AppData" / "Roaming"
    xdg = env.get("XDG_CONFIG_HOME")
    return Path(xdg) if xdg and Path(xdg).is_absolute() else home / ".config"


def home_of(env: Mapping[str, str]) -> Path:
    home = env.get("HOME") or env.get("USERPROFILE")
    return Path(home) if home else Path.home()


def places(
    format_name: str, env: Mapping[str, str] | None = None, platform: str | None = None
) -> list[Path]:
    """The usual places of one format's history for this user, whether they exist or not."""
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    home = home_of(env)
    users = [config_home(home, env, platform) / editor / "User" for editor in EDITORS]
    table: dict[str, list[Path]] = {
        "vscode-chat": users,
        "cline": [u / "globalStorage" / CLINE for u in users] + [home / ".cline" / "data"],
        "roo": [u / "globalStorage" / ROO for u in users],
        "continue": [home / ".continue"],
        "chatgpt": [home / DOWNLOADS],
        "open-webui": [home / DOWNLOADS],
    }
    return table[format_name]


@dataclass(slots=True)
class Found:
    """One history found: what ``discover`` prints per row."""

    format: str
    path: str
    conversations: int = 0
    messages: int = 0
    newest_ms: int | None = None
    problems: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "path": self.path,
            "conversations": self.conversations,
            "messages": self.messages,
            "newest": format_ms(self.newest_ms) if self.newest_ms is not None else None,
            "problems": self.problems,
        }


def default_paths(
    format_name: str, env: Mapping[str, str] | None = None, platform: str | None = None
) -> list[Path]:
    """The usual places that hold some of this format's history (for ``import`` without PATH)."""
    adapter = peer_adapter(format_name)
    return [p for p in places(format_name, env, platform) if p.is_dir() and adapter.units(p)]


def _survey(format_name: str, label: str, units: list[Path]) -> Found:
    adapter = peer_adapter(format_name)
    found = Found(format_name, label)
    tally = Tally()
    for unit in units:
        problems = Problems(str(unit))
        try:
            for thread in adapter.read(unit, problems):
                finish(thread, problems, tally)
        except BadInput as exc:
            problems.error(None, exc.reason)
        found.problems.extend(
            f"{p.file}: {p.message}" for p in problems.items if p.severity == "error"
        )
    found.conversations, found.messages = tally.conversations, tally.messages
    found.newest_ms = tally.newest_ms
    return found


def discover(
    env: Mapping[str, str] | None = None,
    platform: str | None = None,
    on_place: Callable[[str], None] | None = None,
) -> list[Found]:
    """Every history in the usual places, per format and place; nothing is written."""
    rows: list[Found] = []
    for format_name in PEER_FORMATS:
        adapter = peer_adapter(format_name)
        for place in places(format_name, env, platform):
            if not place.is_dir():
                continue
            units = adapter.units(place)
            if on_place is not None:
                on_place(str(place))
            if format_name in DOWNLOADED:
                rows.extend(_survey(format_name, str(u), [u]) for u in units)
            elif units:
                rows.append(_survey(format_name, str(place), units))
    return rows
