"""Reading a file of the data dir without ever blocking on it or following a link into it.

A FIFO named like a shard file used to hang the thread that opened it forever (and with it every
request waiting on that conversation, and the shutdown, which waits for its threads); a symlink
made the store read whatever it pointed at. Every file the store loads goes through
:func:`read_regular`: it looks before it opens (``lstat``), opens without blocking and without
following a final symlink (``O_NONBLOCK | O_NOFOLLOW``), then checks the opened file itself
(``fstat``), so a swap between the look and the open is caught too. Anything but a regular file
raises :class:`NotRegularFile`, which the callers treat like damage: quarantined and reported.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

_KINDS = {
    stat.S_IFDIR: "folder",
    stat.S_IFIFO: "FIFO",
    stat.S_IFLNK: "symbolic link",
    stat.S_IFSOCK: "socket",
    stat.S_IFCHR: "character device",
    stat.S_IFBLK: "block device",
}


class NotRegularFile(OSError):
    """The path names something other than a regular file; it was not read (nor opened, for a
    FIFO or a device seen by the first look)."""

    def __init__(self, path: Path, mode: int) -> None:
        kind = _KINDS.get(stat.S_IFMT(mode), "special file")
        super().__init__(errno.EINVAL, f"a {kind}, not a regular file", str(path))
        self.kind = kind


def check_regular(path: Path) -> None:
    """Raise :class:`NotRegularFile` unless ``path`` itself (not a link's target) is a regular
    file; ``FileNotFoundError`` when there is nothing."""
    mode = os.lstat(path).st_mode
    if not stat.S_ISREG(mode):
        raise NotRegularFile(path, mode)


def read_regular(path: Path) -> bytes:
    """The whole content of the regular file ``path``; never blocks on a FIFO or a device."""
    check_regular(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # became a symlink since the look
            raise NotRegularFile(path, stat.S_IFLNK) from None
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFile(path, mode)
        with os.fdopen(fd, "rb", closefd=False) as file:
            return file.read()
    finally:
        os.close(fd)
