"""The one-time legacy export of a webview: its old ``localStorage``, imported once.

A chat panel that kept its history in ``localStorage`` posts all of it (an envelope,
LEGACY_FORMATS.md §1) before the editor wipes it. The sidecar saves the envelope under
``DATA_DIR/legacy-exports/`` and imports it with the migration toolkit's own code (the same
rules, run folder and report as ``chat-migrate import``), writing into the live store through the
one importer. Deterministic ids make a second post of the same storage ``unchanged``. Storage
that holds no known chat app's keys is not kept.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import weakref
from pathlib import Path
from typing import Any

import orjson

from ..store import Store, ValidationFailed
from ..store.durable import atomic_write, make_dirs
from ..store.timeutil import now_iso

ENVELOPE_FIELDS = frozenset({"kind", "version", "origin", "exported_at", "items"})
FOLDER = "legacy-exports"

#: One import at a time per store: two windows posting at once go one after the other.
_locks: weakref.WeakKeyDictionary[Store, asyncio.Lock] = weakref.WeakKeyDictionary()


def check_envelope(body: dict[str, Any]) -> dict[str, Any]:
    """The envelope as it will be saved; refusals name the field."""
    if body.get("kind") != "localstorage-export":
        raise ValidationFailed("kind", "kind must be 'localstorage-export'")
    if body.get("version") != 1:
        raise ValidationFailed("version", "version must be 1")
    items = body.get("items")
    if not isinstance(items, dict):
        raise ValidationFailed("items", "items must be an object of localStorage keys")
    for field in ("origin", "exported_at"):
        if body.get(field) is not None and not isinstance(body[field], str):
            raise ValidationFailed(field, f"{field} must be a string")
    return {
        "kind": "localstorage-export",
        "version": 1,
        "origin": body.get("origin"),
        "exported_at": body.get("exported_at") or now_iso(),
        "items": items,
    }


async def import_legacy_storage(store: Store, body: dict[str, Any]) -> dict[str, Any]:
    """Save and import one webview's storage; what was imported, for the panel to tell the user."""
    from migrate.normalize import DEFAULT_DUP_WINDOW_MS
    from migrate.plan import build_plan
    from migrate.problems import BadInput
    from migrate.progress import Reporter
    from migrate.run import import_run
    from migrate.target import TargetError

    from .direct_target import DirectTarget

    envelope = check_envelope(body)
    folder = store.data_dir / FOLDER
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = folder / f"{stamp}-{secrets.token_hex(4)}.json"
    data = orjson.dumps(envelope)
    async with _locks.setdefault(store, asyncio.Lock()):
        await asyncio.to_thread(make_dirs, folder)
        await asyncio.to_thread(atomic_write, path, data)
        try:
            plan = await asyncio.to_thread(
                build_plan, [path], window_ms=DEFAULT_DUP_WINDOW_MS, strict=False
            )
        except BadInput as exc:
            await asyncio.to_thread(path.unlink)  # our own copy of storage holding no chats
            return {"imported": False, "reason": str(exc).replace(str(path), "the storage")}
        try:
            report = await import_run(
                plan,
                [path],
                DirectTarget(store),
                dry_run=False,
                started_ms=int(time.time() * 1000),
                reporter=Reporter(False),
            )
        except TargetError as exc:
            raise ValidationFailed("items", str(exc)) from None
    conversations = report["conversations"]
    return {
        "imported": True,
        "run_id": report["run_id"],
        "created": conversations["created"],
        "merged": conversations["merged"],
        "unchanged": conversations["unchanged"],
        "messages": report["messages"]["imported"],
        "problems": len(report["problems"]),
        "saved": str(Path(FOLDER) / path.name),
    }
