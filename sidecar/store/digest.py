"""The digest of a create request's fields, apart from the idempotency records that keep it.

Its own module because both the values the API takes (``values.AppendRequest``) and the
idempotency records need it, and the records import the shard, which imports the values.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson


def fingerprint(fields: dict[str, Any]) -> str:
    """A short digest of a create request, to tell a retry (same fields) from a clash."""
    body = orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(body, digest_size=12).hexdigest()
