"""Named JSON-RPC parameters, checked with the same rules as the REST bodies and queries.

Params are the REST body and query fields plus the path parts (``conversation_id``,
``message_id``, ``name``). Unknown fields and over-deep values are refused by the REST body check
itself (:func:`sidecar.api.checks.check_object`); values the store validates (titles, tags,
content, ...) are passed through to it unchanged, exactly as the REST handlers pass the body.
What REST parses from query strings (limits, flags, ids), JSON-RPC gets as JSON values, checked
here; every refusal is a :class:`ValidationFailed` naming the field, which the engine answers with
-32602 and ``data.field``.
"""

from __future__ import annotations

from typing import Any

from ..api.checks import check_object
from ..store import ValidationFailed
from ..store.ids import check_id


class Params:
    """One request's params; construction refuses fields outside ``allowed`` (and ``request_id``)."""

    def __init__(self, raw: dict[str, Any], allowed: frozenset[str]) -> None:
        self.raw = check_object(raw, allowed)

    def __contains__(self, name: str) -> bool:
        return name in self.raw

    def get(self, name: str, default: Any = None) -> Any:
        """The value as given (the store checks it), or ``default`` when absent."""
        return self.raw.get(name, default)

    def pick(self, names: frozenset[str]) -> dict[str, Any]:
        """The given fields among ``names``, as a REST body would carry them."""
        return {name: value for name, value in self.raw.items() if name in names}

    def required(self, name: str) -> Any:
        """A value that must be given (a path part in REST); the store checks what it is."""
        if name not in self.raw:
            raise ValidationFailed(name, f"{name} is required")
        return self.raw[name]

    def id(self, name: str) -> str:
        """A required id."""
        return check_id(self.required(name), name)

    def optional_id(self, name: str) -> str | None:
        value = self.raw.get(name)
        return None if value is None else check_id(value, name)

    def text(self, name: str) -> str | None:
        """An optional string; empty counts as absent, as in a REST query."""
        value = self.raw.get(name)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise ValidationFailed(name, f"{name} must be a string")
        return value

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        value = self.raw.get(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValidationFailed(name, f"{name} must be an integer from {low} to {high}")
        return value

    def optional_integer(self, name: str, low: int, high: int) -> int | None:
        if self.raw.get(name) is None:
            return None
        return self.integer(name, low, low, high)

    def flag(self, name: str, default: bool | None) -> bool | None:
        """``true`` / ``false`` / ``"any"`` (-> ``None``); absent or ``null`` -> ``default``."""
        value = self.raw.get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if value == "any":
            return None
        raise ValidationFailed(name, f'{name} must be true, false or "any"')

    def boolean(self, name: str, default: bool) -> bool:
        value = self.raw.get(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise ValidationFailed(name, f"{name} must be true or false")
        return value
