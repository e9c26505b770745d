"""TinyDB storages for the store's document files (shard snapshots, catalog).

Every document file is a TinyDB database (``{table: {doc_id: document}}``), so any one of them opens
with plain ``TinyDB(path)`` for inspection. The store reads and writes them whole, through the tiny
``Storage`` interface, and never on the hot path: durability of each write comes from the journal,
these files are compacted snapshots of it.

- :class:`OrjsonFileStorage`: orjson, written by temp file + fsync + rename + folder fsync, so a crash
  leaves the old or the new file, never a torn one (TinyDB's default ``JSONStorage`` truncates and
  rewrites in place).
- :class:`ChecksumMiddleware`: adds an ``_integrity`` table with a CRC-32 of the other tables, so a
  file that still parses but was damaged (a flipped bit inside a string) is caught and quarantined.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from tinydb.middlewares import Middleware
from tinydb.storages import Storage

from .durable import atomic_write
from .safe_read import NotRegularFile, read_regular

Tables = dict[str, dict[str, Any]]

INTEGRITY_TABLE = "_integrity"


class CorruptDocument(Exception):
    """A document file exists but cannot be trusted: unparsable, wrong shape, or bad checksum."""


#: What reading the tables of a well-formed file of the wrong shape raises (valid JSON, even a
#: right checksum, but a list where an object was written, a string where a number was): whoever
#: reads tables turns these into :class:`CorruptDocument`, so such a file is quarantined like
#: damage instead of stopping the store.
SHAPE_ERRORS = (KeyError, TypeError, ValueError, IndexError, AttributeError)


class UnreadableDocument(CorruptDocument):
    """A document file exists but cannot be read at all: no permission, or not a regular file
    (a FIFO, a device, a symlink). Handled like damage: quarantined, never opened again."""


class OrjsonFileStorage(Storage):
    """A TinyDB storage: one JSON file, replaced atomically and durably on every write."""

    def __init__(self, path: str | Path, **_: Any) -> None:
        self.path = Path(path)

    def read(self) -> Tables | None:
        try:
            raw = read_regular(self.path)
        except FileNotFoundError:
            return None
        except (PermissionError, IsADirectoryError, NotRegularFile) as exc:
            raise UnreadableDocument(f"{self.path.name} cannot be read: {exc.strerror}") from None
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise CorruptDocument(f"{self.path.name}: not valid JSON ({exc})") from None
        if not isinstance(data, dict) or not all(isinstance(t, dict) for t in data.values()):
            raise CorruptDocument(f"{self.path.name}: not a TinyDB document of tables")
        return data

    def write(self, data: Tables) -> None:
        atomic_write(self.path, orjson.dumps(data))


def _crc(tables: Tables) -> int:
    body = {name: table for name, table in tables.items() if name != INTEGRITY_TABLE}
    return zlib.crc32(orjson.dumps(body, option=orjson.OPT_SORT_KEYS))


class ChecksumMiddleware(Middleware):
    """Verify on read, stamp on write: a CRC-32 over the canonical JSON of every other table."""

    def read(self) -> Tables | None:
        data: Tables | None = self.storage.read()
        if data is None:
            return None
        stamp = data.get(INTEGRITY_TABLE, {}).get("1")
        if not isinstance(stamp, dict) or "crc32" not in stamp:
            raise CorruptDocument("document has no integrity stamp")
        if stamp["crc32"] != _crc(data):
            raise CorruptDocument("document checksum does not match its content")
        return {name: table for name, table in data.items() if name != INTEGRITY_TABLE}

    def write(self, data: Tables) -> None:
        stamped = dict(data)
        stamped[INTEGRITY_TABLE] = {"1": {"crc32": _crc(data)}}
        self.storage.write(stamped)


StorageFactory = Callable[[Path], Storage]


def plain_storage(path: Path) -> Storage:
    """Plain orjson files: smallest and fastest, corruption inside strings goes unnoticed."""
    return OrjsonFileStorage(path)


def checksummed_storage(path: Path) -> Storage:
    """The default: orjson files stamped with a CRC-32."""
    storage: Storage = ChecksumMiddleware(OrjsonFileStorage)(path)
    return storage


STORAGES: dict[str, StorageFactory] = {"checksummed": checksummed_storage, "plain": plain_storage}
