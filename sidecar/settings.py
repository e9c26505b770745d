"""The settings table: one row per setting, from which the CLI, ``--help`` and the docs all come.

Each setting has a command-line flag and an environment twin ``CHAT_SIDECAR_<NAME>`` (CONTRACT §1).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .store import StoreConfig

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
    #: The only values allowed, where there is such a list (checked before anything starts).
    choices: tuple[str, ...] = ()

    @property
    def env(self) -> str:
        return f"CHAT_SIDECAR_{self.name.upper()}"

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def cli_type(self) -> Any:
        """The type ``serve`` reads the flag as: a list setting is a repeatable flag."""
        return _CLI_TYPES.get(self.parse, self.parse)

    def from_env(self) -> Any:
        """The environment's value (parsed) or the default."""
        raw = os.environ.get(self.env)
        if raw is None or raw == "":
            return self.default() if callable(self.default) else self.default
        return self.parse(raw)


def _bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"not a boolean: {raw!r}")


def _origins(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


_CLI_TYPES: dict[Callable[[str], Any], Any] = {_bool: bool, _origins: list[str]}

SETTINGS: tuple[Setting, ...] = (
    Setting(
        "data_dir",
        default_data_dir,
        "Folder holding the store; one sidecar owns it at a time. "
        "Default: $XDG_DATA_HOME/chat-sidecar, else ~/.local/share/chat-sidecar.",
        Path,
    ),
    Setting("host", "127.0.0.1", "Address to bind: loopback only unless --allow-remote.", str),
    Setting("port", 0, "Port to bind; 0 picks a free one (announced in the ready line).", int),
    Setting(
        "idle_timeout",
        300.0,
        "Exit after this many seconds with no event stream, RPC connection or request; 0 = never.",
        float,
    ),
    Setting(
        "provider",
        "echo",
        "Who writes the assistant's reply: echo, openai or external.",
        str,
        ("echo", "openai", "external"),
    ),
    Setting(
        "allow_remote",
        False,
        "Allow a non-loopback --host (the token is still required).",
        _bool,
    ),
    Setting(
        "allow_origin",
        (),
        "Extra allowed Origin values, comma-separated (vscode-webview:// and our own are always "
        "allowed).",
        _origins,
    ),
    Setting("max_body_bytes", 4 * 1024 * 1024, "Largest request body accepted (413 beyond).", int),
    Setting(
        "heartbeat_interval",
        15.0,
        "Seconds between heartbeat comments on an idle event stream.",
        float,
    ),
    Setting(
        "event_retention",
        10_000,
        "Events kept for replay; older ones are also kept while younger than 10 minutes.",
        int,
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
        ("checksummed", "plain"),
    ),
    Setting(
        "log_level",
        "info",
        "Log level for stderr: debug, info, warning, error.",
        str,
        ("debug", "info", "warning", "error"),
    ),
    Setting("echo_chunk", 8, "Echo provider: characters per streamed chunk.", int),
    Setting("echo_delay_ms", 20.0, "Echo provider: milliseconds between chunks.", float),
    Setting(
        "openai_base_url",
        "https://api.openai.com/v1",
        "OpenAI-compatible endpoint (OpenAI, Ollama, LM Studio, vLLM); its key comes only from "
        "CHAT_SIDECAR_OPENAI_API_KEY.",
        str,
    ),
    Setting(
        "openai_model", "gpt-4o-mini", "Model name sent to the OpenAI-compatible endpoint.", str
    ),
    Setting(
        "provider_timeout",
        60.0,
        "Seconds to wait for the model's next piece of a reply before the attempt fails "
        "(a transient failure, retried).",
        float,
    ),
    Setting(
        "retry_attempts",
        3,
        "Attempts per model call when it fails transiently (timeouts, 5xx, 429, cuts).",
        int,
    ),
    Setting(
        "retry_base_delay",
        0.5,
        "Seconds before the first automatic retry; doubled each time, with jitter.",
        float,
    ),
    Setting(
        "tool_auto_approve",
        (),
        "Tools that run without asking, comma-separated (* = all); by default every tool call "
        "waits for the user's approval.",
        _origins,
    ),
    Setting("tool_timeout", 60.0, "Seconds a tool call may take before it fails.", float),
    Setting(
        "external_claim_timeout",
        30.0,
        "External provider: seconds for an RPC client to claim a turn before it fails (transient).",
        float,
    ),
    Setting(
        "sync_url",
        "",
        "PostgreSQL hub shared by several machines (docs/sync.md), e.g. "
        "postgresql://me@db.example:5432/chats?sslmode=require; empty = no sync. The password "
        "comes only from CHAT_SIDECAR_SYNC_PASSWORD or ~/.pgpass, never the URL.",
        str,
    ),
    Setting(
        "device_name",
        socket.gethostname,
        "This machine's name in the hub (default: the host name).",
        str,
    ),
)

BY_NAME = {setting.name: setting for setting in SETTINGS}


def _default(name: str) -> Any:
    """A ``ServerConfig`` field's default: the settings table's, so it is written only there.

    A default the table computes (the host name) is computed per config, as the table does.
    """
    default = BY_NAME[name].default
    return field(default_factory=default) if callable(default) else default


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Everything ``serve`` runs with, resolved from flags, then environment, then defaults.

    One field per setting (a test holds them to the table), defaults taken from the table. The
    data dir has none here: a config built in code names its folder rather than fall back to
    the user's real one.
    """

    data_dir: Path
    host: str = _default("host")
    port: int = _default("port")
    idle_timeout: float = _default("idle_timeout")
    provider: str = _default("provider")
    allow_remote: bool = _default("allow_remote")
    allow_origin: tuple[str, ...] = _default("allow_origin")
    max_body_bytes: int = _default("max_body_bytes")
    heartbeat_interval: float = _default("heartbeat_interval")
    event_retention: int = _default("event_retention")
    cache_size: int = _default("cache_size")
    checkpoint_bytes: int = _default("checkpoint_bytes")
    checkpoint_interval: float = _default("checkpoint_interval")
    storage: str = _default("storage")
    log_level: str = _default("log_level")
    echo_chunk: int = _default("echo_chunk")
    echo_delay_ms: float = _default("echo_delay_ms")
    openai_base_url: str = _default("openai_base_url")
    openai_model: str = _default("openai_model")
    provider_timeout: float = _default("provider_timeout")
    retry_attempts: int = _default("retry_attempts")
    retry_base_delay: float = _default("retry_base_delay")
    tool_auto_approve: tuple[str, ...] = _default("tool_auto_approve")
    tool_timeout: float = _default("tool_timeout")
    external_claim_timeout: float = _default("external_claim_timeout")
    sync_url: str = _default("sync_url")
    device_name: str = _default("device_name")
    #: Not settings (no flag of their own): replay's age floor (the 10 minutes that
    #: ``--event-retention`` promises), and the two secrets ``resolve`` reads only from the
    #: environment.
    event_retention_seconds: float = 600.0
    token: str | None = None
    openai_api_key: str | None = None

    def store(self) -> StoreConfig:
        """The store's share of the settings."""
        return StoreConfig(
            cache_size=self.cache_size,
            checkpoint_bytes=self.checkpoint_bytes,
            checkpoint_interval=self.checkpoint_interval,
            storage=self.storage,
        )

    @classmethod
    def resolve(cls, **flags: Any) -> ServerConfig:
        """Flags given (not ``None``) win over ``CHAT_SIDECAR_*`` variables, which win over defaults.

        The token comes only from ``CHAT_SIDECAR_TOKEN`` and the provider key only from
        ``CHAT_SIDECAR_OPENAI_API_KEY`` (a flag would show in ``ps``).
        """
        values: dict[str, Any] = {}
        for setting in SETTINGS:
            flag = flags.get(setting.name)
            if flag is not None and setting.parse is _origins and not isinstance(flag, str):
                # a repeatable flag (or Typer's reading of the variable, split on spaces): each
                # value is still the comma-separated list the help promises
                flag = tuple(part for value in flag for part in _origins(value))
            values[setting.name] = flag if flag is not None else setting.from_env()
        for setting in SETTINGS:
            if setting.choices and values[setting.name] not in setting.choices:
                raise ValueError(
                    f"{setting.flag} (or {setting.env}) must be one of "
                    f"{', '.join(setting.choices)}, not {values[setting.name]!r}"
                )
        if values["sync_url"]:
            from .sync.config import check_hub_url

            check_hub_url(values["sync_url"])
        values["token"] = os.environ.get("CHAT_SIDECAR_TOKEN") or None
        values["openai_api_key"] = os.environ.get("CHAT_SIDECAR_OPENAI_API_KEY") or None
        return cls(**values)


def markdown_table() -> str:
    """``docs/configuration.md``'s table, generated so it cannot drift from the code."""
    lines = [
        "| flag | environment | default | what |",
        "| --- | --- | --- | --- |",
    ]
    for s in SETTINGS:
        default = (
            "platform data dir"
            if s.default is default_data_dir
            else "host name"
            if callable(s.default)
            else f"`{s.default}`"
        )
        lines.append(f"| `{s.flag}` | `{s.env}` | {default} | {s.help} |")
    return "\n".join(lines) + "\n"


def configuration_doc() -> str:
    return (
        "# Configuration\n\n"
        "Generated from the settings table in `sidecar/settings.py` "
        "(`python -m sidecar.settings > docs/configuration.md`); a test keeps it current.\n"
        "Every setting is read from its environment variable; `doctor` takes `--data-dir` and "
        "`--log-level` as flags, and `serve` takes every setting as a flag (the flag wins).\n\n"
        + markdown_table()
    )


if __name__ == "__main__":
    print(configuration_doc(), end="")
