"""Identifiers: validation, path encoding and time-sortable generation.

Every id that can reach a path is checked against CONTRACT §2's pattern before anything else.
Ids are case-sensitive, but the folders they name must not collide on case-insensitive file
systems, so :func:`path_name` lowercases the id and appends a hex mask of where the capitals were.
"""

from __future__ import annotations

import os
import re
import threading
import time

from .errors import ValidationFailed

ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,128}$")

_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
#: Every 10-bit value as its two characters: an id is 13 lookups, not 26 (one per append).
_PAIRS = tuple(high + low for high in _CROCKFORD for low in _CROCKFORD)
_PAIR_SHIFTS = range(120, -1, -10)


def encode_ulid(value: int) -> str:
    """A 128-bit value as 26 Crockford base32 characters, most significant first (so ids sort
    as their values do)."""
    return "".join([_PAIRS[(value >> shift) & 1023] for shift in _PAIR_SHIFTS])


def check_id(value: object, field: str = "id") -> str:
    """Return ``value`` if it is a valid id, else raise :class:`ValidationFailed` naming ``field``."""
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
        raise ValidationFailed(field, f"{field} must match {ID_PATTERN.pattern}")
    return value


def path_name(conversation_id: str) -> str:
    """Encode a valid id as a folder name that is unique even when case is ignored.

    ``"abc"`` stays ``"abc"``; ``"aBc"`` becomes ``"abc~2"`` (bit 1 set: the second character was a
    capital). At most 128 + 1 + 32 characters, inside every file system's name limit.
    """
    check_id(conversation_id)
    mask = 0
    for position, char in enumerate(conversation_id):
        if char.isupper():
            mask |= 1 << position
    lowered = conversation_id.lower()
    return lowered if mask == 0 else f"{lowered}~{mask:x}"


def id_from_path_name(name: str) -> str:
    """Invert :func:`path_name`; raise :class:`ValidationFailed` for names it cannot have made."""
    lowered, _, mask_text = name.partition("~")
    try:
        mask = int(mask_text, 16) if mask_text else 0
    except ValueError:
        raise ValidationFailed("path", f"not a conversation folder name: {name!r}") from None
    chars = [c.upper() if mask >> i & 1 else c for i, c in enumerate(lowered)]
    result = check_id("".join(chars), "path")
    if path_name(result) != name:
        raise ValidationFailed("path", f"not a canonical conversation folder name: {name!r}")
    return result


class _Ulid:
    """Monotonic ULID-style ids: 48-bit milliseconds + 80 random bits, Crockford base32, lowercase.

    Within one millisecond the random part is incremented, so ids made by this process sort in
    creation order.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = -1
        self._last_rand = 0

    def new(self) -> str:
        with self._lock:
            ms = time.time_ns() // 1_000_000
            if ms <= self._last_ms:
                ms = self._last_ms
                self._last_rand = (self._last_rand + 1) & ((1 << 80) - 1)
            else:
                self._last_rand = int.from_bytes(os.urandom(10), "big") >> 1
            self._last_ms = ms
            value = (ms << 80) | self._last_rand
        return encode_ulid(value)


_generator = _Ulid()


def new_id() -> str:
    """A fresh time-sortable, URL-safe id (26 characters)."""
    return _generator.new()
