"""What the faces need from sync (the health's ``sync`` block), without importing the driver."""

from __future__ import annotations

from typing import Any, Protocol


class SyncStatus(Protocol):
    def status(self) -> dict[str, Any]:
        """CONTRACT §10's ``sync`` block of ``/health``."""
        ...


def sync_off() -> dict[str, Any]:
    return {"state": "off"}
