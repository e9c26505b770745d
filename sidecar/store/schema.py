"""The store's schema version, in ``store.json``, and in-place upgrades.

A store written by a newer schema refuses to open with a clear message (we might misread it and
then overwrite what we misread). An older one is upgraded step by step; each step must be safe to
run again if it was interrupted, and the version is bumped atomically only after its step is done.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path

import orjson

from .durable import atomic_write
from .errors import StoreVersionError
from .safe_read import read_regular
from .timeutil import now_iso

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
STORE_FILE = "store.json"

#: ``UPGRADES[n]`` turns a data dir of schema ``n`` into one of schema ``n + 1``.
UpgradeStep = Callable[[Path], None]
UPGRADES: Mapping[int, UpgradeStep] = {}


def read_version(data_dir: Path) -> int | None:
    try:
        raw = read_regular(data_dir / STORE_FILE)
    except FileNotFoundError:
        return None
    except OSError as exc:  # no permission, a FIFO, a link: refuse rather than guess or hang
        raise StoreVersionError(
            f"{data_dir / STORE_FILE} cannot be read ({exc.strerror}); run 'chat-sidecar doctor'"
        ) from None
    try:
        version = orjson.loads(raw)["schema_version"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        raise StoreVersionError(
            f"{data_dir / STORE_FILE} is unreadable; run 'chat-sidecar doctor'"
        ) from None
    if not isinstance(version, int) or version < 1:
        raise StoreVersionError(f"{data_dir / STORE_FILE} names no valid schema version")
    return version


def write_version(data_dir: Path, version: int) -> None:
    body = {"schema_version": version, "written_at": now_iso(), "format": "chat-sidecar store"}
    atomic_write(data_dir / STORE_FILE, orjson.dumps(body, option=orjson.OPT_INDENT_2))


def ensure_schema(
    data_dir: Path,
    *,
    current: int = SCHEMA_VERSION,
    upgrades: Mapping[int, UpgradeStep] = UPGRADES,
) -> int:
    """Check (and if needed upgrade) the data dir's schema; return the version found on disk."""
    found = read_version(data_dir)
    if found is None:
        if (data_dir / "conversations").exists():
            log.warning("%s was missing; the shards describe their own format", STORE_FILE)
        write_version(data_dir, current)
        return current
    if found > current:
        raise StoreVersionError(
            f"the store in {data_dir} was written by a newer chat-sidecar (schema {found}; this "
            f"version reads up to {current}); upgrade chat-sidecar to open it"
        )
    for version in range(found, current):
        step = upgrades.get(version)
        if step is None:
            raise StoreVersionError(f"no upgrade from schema {version} to {version + 1}")
        log.warning(
            "upgrading the store in %s from schema %d to %d", data_dir, version, version + 1
        )
        step(data_dir)
        write_version(data_dir, version + 1)
    return found
