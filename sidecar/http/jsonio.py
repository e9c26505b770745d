"""Reading request bodies and query parameters with errors that name the field (CONTRACT §3)."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from .body import read_body
from .errors import ApiError


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")


async def read_object(request: web.Request, allowed: frozenset[str]) -> dict[str, Any]:
    """The JSON object body (``{}`` when empty), refusing fields the endpoint does not know."""
    raw = await read_body(request)
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ApiError("bad_request", "request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError("validation_failed", "request body must be a JSON object", {"field": "body"})
    return check_object(body, allowed)


def check_object(body: dict[str, Any], allowed: frozenset[str]) -> dict[str, Any]:
    """``body`` if it has only ``allowed`` fields (plus ``request_id``), none nested too deep.

    Shared by the REST bodies and the JSON-RPC params, so both refuse the same things.
    """
    unknown = sorted(set(body) - allowed - {"request_id"})
    if unknown:
        raise ApiError("validation_failed", f"unknown field '{unknown[0]}'", {"field": unknown[0]})
    for name, value in body.items():
        if nesting(value) > MAX_NESTING:
            raise ApiError(
                "validation_failed",
                f"{name} is nested more than {MAX_NESTING} levels deep",
                {"field": name},
            )
    return body


#: Deeper JSON cannot be stored: orjson refuses to serialise past ~250 levels, and a journal
#: record wraps a field in a few more (it was a 500 before this check).
MAX_NESTING = 64


def nesting(value: Any) -> int:
    """How many arrays and objects deep ``value`` goes (without recursion)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children)
    return deepest


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
