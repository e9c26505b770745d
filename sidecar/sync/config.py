"""How sync is configured (CONTRACT §10): the hub URL, this device's name, the password's source."""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

PASSWORD_ENV = "CHAT_SIDECAR_SYNC_PASSWORD"


def check_hub_url(url: str) -> str:
    """The URL if it is a PostgreSQL URL without a password; else ``ValueError`` (one line)."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError("--sync-url must be a postgresql:// URL")
    if parts.password is not None:
        raise ValueError(
            f"--sync-url must not carry a password (a command line shows in ps): "
            f"put it in {PASSWORD_ENV} or ~/.pgpass"
        )
    if not parts.hostname and "host=" not in parts.query:
        raise ValueError("--sync-url needs a host")
    return url


def redact(url: str) -> str:
    """The URL as shown in health and logs: never a password, even one given by mistake."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.hostname or ""
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


@dataclass(frozen=True, slots=True)
class SyncConfig:
    url: str
    device_name: str
    #: Seconds local changes wait to be coalesced (a streaming reply: a few hub writes a second).
    coalesce_s: float = 0.2
    #: Longest wait between reconnection attempts.
    max_backoff_s: float = 30.0

    @property
    def password(self) -> str | None:
        """From the environment only; ``None`` lets the driver read ``~/.pgpass``."""
        return os.environ.get(PASSWORD_ENV) or None

    @property
    def shown_url(self) -> str:
        return redact(self.url)
