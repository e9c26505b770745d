"""The checks every request passes, and their refusals: the same for REST and JSON-RPC."""

from __future__ import annotations

from typing import Any

from ..store.nesting import MAX_NESTING, nesting
from .errors import ApiError


def check_object(body: dict[str, Any], allowed: frozenset[str]) -> dict[str, Any]:
    """``body`` if it has only ``allowed`` fields (plus ``request_id``), none nested too deep.

    Shared by the REST bodies and the JSON-RPC params, so both refuse the same things.
    """
    unknown = [] if body.keys() <= allowed else sorted(set(body) - allowed - {"request_id"})
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


def wide_integer_message(literal: str) -> str:
    """The refusal of an integer outside 64 bits, the same over REST and JSON-RPC."""
    shown = literal if len(literal) <= 40 else f"{literal[:20]}...{literal[-10:]}"
    return (
        f"the integer {shown} does not fit in 64 bits and would be stored rounded;"
        " send it as a string"
    )
