"""Reading request bodies and query parameters with errors that name the field (CONTRACT §3)."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from ..api.checks import check_object, wide_integer_message
from ..api.errors import ApiError
from ..store.numbers import rounded_integers, wide_integer
from .body import read_body


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")


async def read_object(request: web.Request, allowed: frozenset[str]) -> dict[str, Any]:
    """The JSON object body (``{}`` when empty), refusing fields the endpoint does not know."""
    raw = await read_body(request)
    if not raw or raw.isspace():  # no copy of the body (``strip`` made one per request)
        return {}
    body = parse_body(raw)
    if not isinstance(body, dict):
        raise ApiError("validation_failed", "request body must be a JSON object", {"field": "body"})
    return check_object(body, allowed)


def parse_body(raw: bytes) -> Any:
    """A request body's JSON value: 400 if it is not JSON, 422 if it holds an integer that
    would be stored rounded (:func:`wide_integer`)."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ApiError("bad_request", "request body is not valid JSON") from None
    literal = wide_integer(raw) if rounded_integers(value) else None
    if literal is not None:
        raise ApiError("validation_failed", wide_integer_message(literal), {"field": "body"})
    return value


def query_int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise ApiError(
            "validation_failed", f"{name} must be an integer from {low} to {high}", {"field": name}
        )
    return value


def query_flag(request: web.Request, name: str, default: bool | None) -> bool | None:
    """``true`` / ``false`` / ``any`` (→ ``None``); absent → ``default``."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    if lowered == "any":
        return None
    raise ApiError("validation_failed", f"{name} must be true, false or any", {"field": name})


def query_str(request: web.Request, name: str) -> str | None:
    raw = request.query.get(name)
    return raw if raw else None
