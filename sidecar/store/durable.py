"""The only place that makes bytes durable outside the journal.

Every helper here ends with an ``fsync`` of the data and, where a name was created or changed, of
the folder holding it: on Linux a new or renamed directory entry is durable only once its
directory is fsynced. Tests wrap ``os.fsync`` to prove this ordering.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

TEMP_MARKER = ".tmp-"


def fsync_dir(path: Path) -> None:
    """Make the entries of ``path`` (creations, renames, removals) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_dirs(path: Path, mode: int = 0o700) -> None:
    """Create ``path`` and missing parents, fsyncing each parent that gained an entry."""
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=mode)
        fsync_dir(folder.parent)


def atomic_write(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves either the old or the new file.

    Temp file in the same folder, write, fsync, rename over the target, fsync the folder.
    """
    temp = path.with_name(f".{path.name}{TEMP_MARKER}{secrets.token_hex(4)}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    os.close(fd)
    try:
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    fsync_dir(path.parent)


def remove_stale_temps(folder: Path) -> None:
    """Delete temp files an interrupted :func:`atomic_write` left behind (never a real file)."""
    with contextlib.suppress(FileNotFoundError):
        for entry in folder.iterdir():
            if entry.name.startswith(".") and TEMP_MARKER in entry.name and entry.is_file():
                entry.unlink()
