"""Which JSON numbers the store holds exactly, for its faces and its importers.

orjson, which every JSON text the sidecar stores passes through, holds integers of 64 bits
(int64 and uint64) exactly. It reads a longer integer literal as a float, rounded
(``123456789012345678901234567890`` comes back as ``1.2345678901234568e+29``), and refuses
to write a Python int that long. So the faces refuse such a number with a clear error
(:func:`rounded_integers`, then :func:`wide_integer`), and ``chat-migrate``, whose inputs it
cannot send back, keeps its digits as a string (:func:`loads_exact`).
"""

from __future__ import annotations

import json
from typing import Any, Final

import orjson

#: The integers JSON values may hold: what orjson reads exactly and writes back (int64 and
#: uint64). It reads a longer integer literal as a float, rounded.
INT_LOW: Final = -(2**63)
INT_HIGH: Final = 2**64 - 1
_WIDE: Final = float(2**63)


def rounded_integers(value: Any) -> bool:
    """Whether ``value`` (as orjson read it) holds a float that may be an integer literal
    outside 64 bits read rounded: a whole number of magnitude 2**63 or more. Cheap enough for
    every request (a walk of the containers, no second read of the text); only when it says
    yes does :func:`wide_integer` read the text again to tell ``1e30`` from ``10**30``."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float):
            if abs(item) >= _WIDE and item.is_integer():
                return True
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def wide_integer(text: str | bytes) -> str | None:
    """The first integer literal of the JSON ``text`` that is outside 64 bits, else ``None``.

    Such a number would be stored rounded (orjson reads it as a float) and read back as a
    different value, so the faces refuse it instead. The standard library hands over every
    integer literal as written. Call it on text orjson already accepted.
    """
    wide: list[str] = []

    def parse_int(literal: str) -> int:
        number = int(literal)
        if not INT_LOW <= number <= INT_HIGH and not wide:
            wide.append(literal)
        return number

    try:
        json.loads(text, parse_int=parse_int)
    except ValueError:  # orjson read it, so this does not happen; if it did, nothing is lost
        return None
    return wide[0] if wide else None


def int_or_digits(literal: str) -> int | str:
    """An integer literal as a ``json.loads`` ``parse_int``: the int, or outside 64 bits its digits."""
    number = int(literal)
    return number if INT_LOW <= number <= INT_HIGH else literal


def loads_exact(text: str | bytes) -> Any:
    """``orjson.loads(text)``, except that an integer literal outside 64 bits comes back as
    the string of its digits instead of a rounded float. Raises what ``orjson.loads`` raises."""
    value = orjson.loads(text)
    if rounded_integers(value):  # read once more, keeping every integer literal as written
        return json.loads(text, parse_int=int_or_digits)
    return value
