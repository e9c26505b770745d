"""Locks: the data-dir lock (one owner process per data dir), and one lock per conversation.

The data-dir lock is an exclusive ``flock`` on ``DIR/sidecar.lock`` held for the owner's whole
life. The OS drops it when the owner dies, so the lock alone decides ownership; a pid written
anywhere proves nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import stat
from pathlib import Path

from .errors import Unavailable

LOCK_NAME = "sidecar.lock"


class DataDirLock:
    """A non-blocking exclusive lock on a data dir."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_NAME
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self) -> bool:
        """Take the lock if nobody holds it; return whether this object now holds it."""
        if self._fd is not None:
            return True
        flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK
        try:
            fd = os.open(self.path, flags, 0o600)
        except OSError as exc:  # a symlink (ELOOP): never followed, so never created elsewhere
            raise Unavailable(f"{self.path} cannot be used as the lock: {exc.strerror}") from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise Unavailable(f"{self.path} is not a regular file; remove it")
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None


def is_owned(data_dir: Path) -> bool:
    """Whether some process (possibly this one, through another lock object) owns ``data_dir``."""
    if not (data_dir / LOCK_NAME).exists():
        return False
    probe = DataDirLock(data_dir)
    if probe.try_acquire():
        probe.release()
        return False
    return True


class KeyedLocks:
    """One asyncio lock per key (a conversation id), dropped when nobody holds or waits for it.

    Writes to one conversation run one at a time; ``busy`` tells the cache and the watcher of
    outside changes which conversations a write is using, so they leave those alone.

    Every write enters these twice, so they are plain context-manager objects: the generator
    based ``contextlib`` managers cost ~13 % of a streamed delta's CPU (issue #18's profile).
    """

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}

    def hold(self, key: str) -> _Hold:
        """``async with``: take ``key``'s lock (marking it busy while waiting and holding)."""
        return _Hold(self, key)

    def using(self, key: str) -> _Using:
        """``with``: mark ``key`` busy without taking its lock (a write queued, waiting for its
        fsync)."""
        return _Using(self, key)

    def busy(self, key: str) -> bool:
        return key in self._entries

    def _enter(self, key: str) -> _Entry:
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _Entry()
        entry.users += 1
        return entry

    def _leave(self, key: str, entry: _Entry) -> None:
        entry.users -= 1
        if not entry.users:
            del self._entries[key]


class _Entry:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


class _Using:
    __slots__ = ("_entry", "_key", "_locks")

    def __init__(self, locks: KeyedLocks, key: str) -> None:
        self._locks = locks
        self._key = key

    def __enter__(self) -> None:
        self._entry = self._locks._enter(self._key)

    def __exit__(self, *exc_info: object) -> None:
        self._locks._leave(self._key, self._entry)


class _Hold:
    __slots__ = ("_entry", "_key", "_locks")

    def __init__(self, locks: KeyedLocks, key: str) -> None:
        self._locks = locks
        self._key = key

    async def __aenter__(self) -> None:
        entry = self._entry = self._locks._enter(self._key)
        try:
            await entry.lock.acquire()
        except BaseException:  # cancelled while waiting: neither holding nor using it
            self._locks._leave(self._key, entry)
            raise

    async def __aexit__(self, *exc_info: object) -> None:
        self._entry.lock.release()
        self._locks._leave(self._key, self._entry)
