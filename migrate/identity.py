"""Deterministic store ids: the same (app, legacy id) always becomes the same store id.

A conversation id is a readable prefix, the legacy id made id-safe (cut to 60 characters) and a
hash of the exact identity, so two legacy ids that sanitise alike still differ and re-importing an
export addresses the very same conversation. Message ids hash the conversation id with the legacy
message id (or, without one, role, content and time), so re-importing is a no-op.
"""

from __future__ import annotations

import hashlib
import re

ID_SAFE = re.compile(r"[^A-Za-z0-9_-]")
SLUG_CHARS = 60


def _digest(*parts: str, size: int = 10) -> str:
    blob = "\x00".join(parts).encode("utf-8", "surrogatepass")
    return hashlib.blake2b(blob, digest_size=size).hexdigest()


def conversation_id(app: str, legacy_id: str) -> str:
    slug = ID_SAFE.sub("_", legacy_id)[:SLUG_CHARS] or "x"
    return f"{app}-{slug}-{_digest(app, legacy_id, size=6)}"


class MessageIds:
    """Hands out the message ids of one conversation, in export order.

    A key seen before in the same conversation (a legacy id reused for another message, or the
    same role, content and time twice) gets an occurrence number, so ids never clash.
    """

    def __init__(self, store_id: str) -> None:
        self._store_id = store_id
        self._seen: dict[str, int] = {}

    def next(self, legacy_id: str | None, role: str, content: str, created_ms: int) -> str:
        key = f"id\x00{legacy_id}" if legacy_id else f"rc\x00{role}\x00{created_ms}\x00{content}"
        count = self._seen.get(key, 0)
        self._seen[key] = count + 1
        if count:
            key = f"{key}\x00{count}"
        return "m-" + _digest(self._store_id, key, size=12)
