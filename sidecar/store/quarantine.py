"""Quarantine: where files that failed to load go. Nothing is ever deleted because it is damaged.

Each quarantined item is a folder ``quarantine/<name>-<time>/`` holding the moved files and a
``reason.json``. Damaged conversations, refused folders and journal records that could not be read
are reported by the health check until someone deals with them (:data:`REPORTED_KINDS`); damaged
derived files (the catalog) and torn journal tails (never acknowledged) are kept as evidence only.

What cannot be moved (a folder without write permission, or any move while ``quarantine/``
itself is not a real folder of ours) is *left in place*: reported the same way, from memory, and
found again at the next start if it is still there.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import orjson

from .durable import atomic_write, fsync_dir, make_dirs
from .ids import new_id
from .safe_read import NotRegularFile, read_regular
from .timeutil import now_iso

log = logging.getLogger(__name__)

REASON_FILE = "reason.json"
#: Kinds of item that mean something may be missing from the store: they make health degraded.
REPORTED_KINDS = frozenset({"conversation", "folder", "file", "journal-records"})


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
        #: Items that could not be moved, by their path: reported, but only from memory.
        self.in_place: dict[str, QuarantinedItem] = {}

    def _check_folder(self) -> None:
        """Refuse to put anything through a ``quarantine/`` that is not our own real folder
        (a symlink to elsewhere would carry damaged chat content out of the data dir)."""
        with contextlib.suppress(FileNotFoundError):
            mode = os.lstat(self.folder).st_mode
            if not stat.S_ISDIR(mode):
                raise NotRegularFile(self.folder, mode)

    def _new_slot(self, name: str) -> Path:
        self._check_folder()
        make_dirs(self.folder)
        slot = self.folder / f"{name}-{new_id()}"
        slot.mkdir(mode=0o700)
        fsync_dir(self.folder)
        return slot

    def _write_reason(self, slot: Path, item: QuarantinedItem) -> None:
        atomic_write(slot / REASON_FILE, orjson.dumps(item.to_json(), option=orjson.OPT_INDENT_2))

    def move(
        self, path: Path, *, kind: str, reason: str, conversation_id: str | None = None
    ) -> Path | None:
        """Move a file or folder aside with its reason; return the quarantine slot.

        ``None`` when it cannot be moved: it is left where it is and reported as such.
        """
        slot: Path | None = None
        try:
            slot = self._new_slot(path.name)
            if os.path.lexists(path):
                os.rename(path, slot / path.name)  # a symlink moves as itself, never followed
                fsync_dir(path.parent)
                fsync_dir(slot)
        except OSError as exc:
            if slot is not None:
                with contextlib.suppress(OSError):
                    slot.rmdir()
            self._leave_in_place(path, kind, reason, conversation_id, exc)
            return None
        item = QuarantinedItem(kind, path.name, conversation_id, reason, now_iso(), str(slot))
        self._write_reason(slot, item)
        log.error("quarantined %s %s: %s (kept in %s)", kind, path.name, reason, slot)
        return slot

    def record(
        self, name: str, *, kind: str, reason: str, conversation_id: str | None = None
    ) -> Path | None:
        """An empty slot with its reason, for copies of what is being dropped; ``None`` when
        ``quarantine/`` cannot take it."""
        try:
            slot = self._new_slot(name)
        except OSError as exc:
            log.error("could not keep a copy of %s: %s", name, exc.strerror)
            return None
        self._write_reason(
            slot, QuarantinedItem(kind, name, conversation_id, reason, now_iso(), str(slot))
        )
        return slot

    def _leave_in_place(
        self, path: Path, kind: str, reason: str, conversation_id: str | None, exc: OSError
    ) -> None:
        why = f"{reason}; left in place: it could not be moved to quarantine ({exc.strerror})"
        item = QuarantinedItem(kind, path.name, conversation_id, why, now_iso(), str(path))
        self.in_place[str(path)] = item
        log.error("damaged %s %s left in place: %s", kind, path, why)

    def keep_bytes(self, name: str, data: bytes, *, kind: str, reason: str) -> Path | None:
        """Keep bytes that are being dropped from a live file (a torn journal tail); ``None``
        (reported, in memory) when ``quarantine/`` cannot take them."""
        try:
            slot = self._new_slot(name)
            atomic_write(slot / name, data)
        except OSError as exc:
            item = QuarantinedItem(
                kind, name, None, f"{reason}; not kept ({exc.strerror})", now_iso(), ""
            )
            self.in_place[f"bytes:{name}"] = item
            log.error("could not keep %d bytes of %s: %s", len(data), name, exc.strerror)
            return None
        self._write_reason(slot, QuarantinedItem(kind, name, None, reason, now_iso(), str(slot)))
        log.warning("kept %d unreadable bytes of %s in %s: %s", len(data), name, slot, reason)
        return slot

    def items(self) -> list[QuarantinedItem]:
        """Everything in ``quarantine/`` (each slot's ``reason.json``), then what was left in
        place. Reason files are read as regular files only: nothing here can block."""
        found: list[QuarantinedItem] = []
        with contextlib.suppress(OSError):
            self._check_folder()
            for slot in sorted(self.folder.iterdir()):
                try:
                    body = orjson.loads(read_regular(slot / REASON_FILE))
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
        return found + list(self.in_place.values())
