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
from collections.abc import AsyncIterator, Iterator
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
    """

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        with self.using(key):
            async with self._locks[key][0]:
                yield

    @contextlib.contextmanager
    def using(self, key: str) -> Iterator[None]:
        """Mark ``key`` busy without taking its lock (a write queued, waiting for its fsync)."""
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def busy(self, key: str) -> bool:
        return key in self._locks
