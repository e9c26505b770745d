"""The error both faces raise around the services (CONTRACT §3 codes): REST answers it with its
HTTP status, JSON-RPC with its error code."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error raised by a face or the shared checks (before or around the store)."""

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}
