"""CONTRACT §3 for JSON-RPC: the error codes, and the mapping from our errors to them.

Every error a client sees carries ``error.data.code``, the same string REST would put in
``error.code`` (``not_found``, ``conflict``, ...), plus ``data.details`` (and ``data.field`` when a
parameter is named). The numeric code is the standard one where JSON-RPC has one (-32700 parse,
-32600 invalid request, -32601 method not found, -32602 invalid params, -32603 internal) and one
fixed number per REST code in the application range -32000..-32099 otherwise. A cancelled request
answers -32800 (LSP's RequestCancelled, which pygls and vscode-jsonrpc use) with ``data.code``
``cancelled``.

No pygls here: handler code raises :class:`RpcError` (or a store / HTTP-layer error) without
importing the JSON-RPC engine.
"""

from __future__ import annotations

from typing import Any, Final

from ..api.errors import ApiError
from ..store import StoreError

PARSE_ERROR: Final = -32700
INVALID_REQUEST: Final = -32600
METHOD_NOT_FOUND: Final = -32601
INVALID_PARAMS: Final = -32602
INTERNAL_ERROR: Final = -32603
REQUEST_CANCELLED: Final = -32800

#: REST code (CONTRACT §3) -> JSON-RPC code.
RPC_CODE: Final[dict[str, int]] = {
    "bad_request": -32000,
    "unauthorized": -32001,
    "forbidden": -32003,
    "not_found": -32004,
    "conflict": -32009,
    "payload_too_large": -32013,
    "unsupported_media_type": -32015,
    "unavailable": -32053,
    "validation_failed": INVALID_PARAMS,
    "internal": INTERNAL_ERROR,
}

#: JSON-RPC code -> REST code, for errors raised inside pygls (which has no ``data.code``).
REST_CODE: Final[dict[int, str]] = {
    PARSE_ERROR: "bad_request",
    INVALID_REQUEST: "bad_request",
    METHOD_NOT_FOUND: "not_found",
    INVALID_PARAMS: "validation_failed",
    INTERNAL_ERROR: "internal",
    REQUEST_CANCELLED: "cancelled",
    **{number: code for code, number in RPC_CODE.items()},
}


class RpcError(Exception):
    """An error a method handler raises on purpose; ``code`` is a REST code of CONTRACT §3."""

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        if code not in RPC_CODE:
            raise ValueError(f"unknown error code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}


def error_data(code: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """``error.data``: the REST code, the details, and the field a validation error names."""
    data: dict[str, Any] = {"code": code, "details": details or {}}
    field = data["details"].get("field")
    if isinstance(field, str):
        data["field"] = field
    return data


def describe(exc: Exception) -> tuple[int, str, dict[str, Any]] | None:
    """``(rpc code, message, data)`` for an error raised on purpose; ``None`` for a bug."""
    if isinstance(exc, RpcError | ApiError | StoreError):
        code = exc.code if exc.code in RPC_CODE else "internal"
        return RPC_CODE[code], exc.message, error_data(code, exc.details)
    return None
