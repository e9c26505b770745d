"""The settings table: one row per setting, from which the CLI, ``--help`` and the docs all come.

Each setting has a command-line flag and an environment twin ``CHAT_SIDECAR_<NAME>`` (CONTRACT §1).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

APP_NAME = "chat-sidecar"


def default_data_dir() -> Path:
    """The platform's user data dir for chat-sidecar (XDG on Linux), shared with chat-migrate."""
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / APP_NAME


@dataclass(frozen=True, slots=True)
class Setting:
    name: str
    default: Any
    help: str
    parse: Callable[[str], Any]

    @property
    def env(self) -> str:
        return f"CHAT_SIDECAR_{self.name.upper()}"

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def from_env(self) -> Any:
        """The environment's value (parsed) or the default."""
        raw = os.environ.get(self.env)
        if raw is None or raw == "":
            return self.default() if callable(self.default) else self.default
        return self.parse(raw)


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "data_dir",
        default_data_dir,
        "Folder holding the store; one sidecar owns it at a time. "
        "Default: $XDG_DATA_HOME/chat-sidecar, else ~/.local/share/chat-sidecar.",
        Path,
    ),
    Setting(
        "cache_size",
        64,
        "Conversations kept open in memory (least recently used are closed first).",
        int,
    ),
    Setting(
        "checkpoint_bytes",
        8 * 1024 * 1024,
        "Journal bytes after which changes are compacted into the conversation files.",
        int,
    ),
    Setting(
        "checkpoint_interval",
        30.0,
        "Seconds after which pending changes are compacted even if the journal is small.",
        float,
    ),
    Setting(
        "storage",
        "checksummed",
        "Document storage for conversation files: checksummed (default) or plain.",
        str,
    ),
    Setting("log_level", "info", "Log level for stderr: debug, info, warning, error.", str),
)

BY_NAME = {setting.name: setting for setting in SETTINGS}


def markdown_table() -> str:
    """``docs/configuration.md``'s table, generated so it cannot drift from the code."""
    lines = [
        "| flag | environment | default | what |",
        "| --- | --- | --- | --- |",
    ]
    for s in SETTINGS:
        default = "platform data dir" if callable(s.default) else f"`{s.default}`"
        lines.append(f"| `{s.flag}` | `{s.env}` | {default} | {s.help} |")
    return "\n".join(lines) + "\n"


def configuration_doc() -> str:
    return (
        "# Configuration\n\n"
        "Generated from the settings table in `sidecar/settings.py` "
        "(`python -m sidecar.settings > docs/configuration.md`); a test keeps it current.\n"
        "Every setting is read from its environment variable; `doctor` takes `--data-dir` and "
        "`--log-level` as flags, and `serve` will take every setting as a flag (the flag wins).\n\n"
        + markdown_table()
    )


if __name__ == "__main__":
    print(configuration_doc(), end="")
