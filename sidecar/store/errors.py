"""Typed store errors.

The HTTP and JSON-RPC faces map each class to one code of CONTRACT §3 through ``code``; the store
never needs to know about HTTP statuses.
"""

from __future__ import annotations

from typing import Any


class StoreError(Exception):
    """Base class: every error the store raises on purpose."""

    code = "internal"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details or {}


class NotFound(StoreError):
    code = "not_found"


class Conflict(StoreError):
    """The request contradicts the stored state (revision mismatch, idempotency clash, reserved id)."""

    code = "conflict"


class ValidationFailed(StoreError):
    """A field is malformed. ``details["field"]`` names it."""

    code = "validation_failed"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, details={"field": field})
        self.field = field


class Unavailable(StoreError):
    """The store cannot write right now (disk full, I/O error); reads keep working."""

    code = "unavailable"


class StoreLocked(StoreError):
    """Another process owns the data dir (holds ``sidecar.lock``)."""

    code = "conflict"


class StoreVersionError(StoreError):
    """The data dir was written by a newer schema than this program understands."""

    code = "unavailable"
