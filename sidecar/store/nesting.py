"""How deep stored JSON may nest: one limit for the store's writers, its importers and the faces.

Deeper JSON cannot be stored: orjson refuses to serialise past ~250 levels, and a journal record
wraps a field in a few more (it was a 500 before the faces checked it). It lives here, at the
bottom, so the importer, ``chat-migrate`` and both faces read it without importing each other.
"""

from __future__ import annotations

from typing import Any, Final

MAX_NESTING: Final = 64


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
