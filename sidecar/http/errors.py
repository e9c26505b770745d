"""The error shape of CONTRACT §3, and the mapping from store errors to HTTP statuses."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from ..api.errors import ApiError
from ..store import StoreError

STATUS = {
    "bad_request": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "conflict": 409,
    "payload_too_large": 413,
    "unsupported_media_type": 415,
    "validation_failed": 422,
    "unavailable": 503,
    "internal": 500,
}


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def error_response(code: str, message: str, details: dict[str, Any] | None = None) -> web.Response:
    return web.Response(
        status=STATUS[code],
        body=orjson.dumps(error_body(code, message, details)),
        content_type="application/json",
    )


def from_exception(exc: ApiError | StoreError) -> web.Response:
    return error_response(exc.code, exc.message, exc.details)
