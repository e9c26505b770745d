"""Quarantine: where files that failed to load go. Nothing is ever deleted because it is damaged.

Each quarantined item is a folder ``quarantine/<name>-<time>/`` holding the moved files and a
``reason.json``. Damaged conversations are reported by the health check until someone deals with
them; damaged derived files (the catalog) and torn journal tails are kept as evidence only.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import orjson

from .durable import atomic_write, fsync_dir, make_dirs
from .ids import new_id
from .timeutil import now_iso

log = logging.getLogger(__name__)

REASON_FILE = "reason.json"


@dataclass(frozen=True, slots=True)
class QuarantinedItem:
    kind: str
    name: str
    conversation_id: str | None
    reason: str
    at: str
    path: str

    def to_json(self) -> dict[str, str | None]:
        return {
            "kind": self.kind,
            "conversation_id": self.conversation_id,
            "reason": self.reason,
            "at": self.at,
            "path": self.path,
        }


class Quarantine:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _new_slot(self, name: str) -> Path:
        make_dirs(self.folder)
        slot = self.folder / f"{name}-{new_id()}"
        slot.mkdir(mode=0o700)
        fsync_dir(self.folder)
        return slot

    def _write_reason(self, slot: Path, item: QuarantinedItem) -> None:
        atomic_write(slot / REASON_FILE, orjson.dumps(item.to_json(), option=orjson.OPT_INDENT_2))

    def move(
        self, path: Path, *, kind: str, reason: str, conversation_id: str | None = None
    ) -> Path:
        """Move a file or folder aside with its reason; return the quarantine slot."""
        slot = self._new_slot(path.name)
        target = slot / path.name
        if path.exists():
            os.rename(path, target)
            fsync_dir(path.parent)
            fsync_dir(slot)
        item = QuarantinedItem(kind, path.name, conversation_id, reason, now_iso(), str(slot))
        self._write_reason(slot, item)
        log.error("quarantined %s %s: %s (kept in %s)", kind, path.name, reason, slot)
        return slot

    def keep_bytes(self, name: str, data: bytes, *, kind: str, reason: str) -> Path:
        """Keep bytes that are being dropped from a live file (a torn journal tail)."""
        slot = self._new_slot(name)
        atomic_write(slot / name, data)
        self._write_reason(slot, QuarantinedItem(kind, name, None, reason, now_iso(), str(slot)))
        log.warning("kept %d unreadable bytes of %s in %s: %s", len(data), name, slot, reason)
        return slot

    def items(self) -> list[QuarantinedItem]:
        found: list[QuarantinedItem] = []
        with contextlib.suppress(FileNotFoundError):
            for slot in sorted(self.folder.iterdir()):
                try:
                    body = orjson.loads((slot / REASON_FILE).read_bytes())
                    found.append(
                        QuarantinedItem(
                            str(body["kind"]),
                            slot.name,
                            body.get("conversation_id"),
                            str(body["reason"]),
                            str(body["at"]),
                            str(slot),
                        )
                    )
                except (OSError, orjson.JSONDecodeError, KeyError, TypeError):
                    continue
        return found
