"""One anonymous temporary file that big values are written to and read back from, compressed.

A huge export must not be held in memory whole (LEGACY_FORMATS §5, issue #15): what is read
but not needed yet (a key's JSON text until its adapter parses it, a planned conversation's
messages until they are compared and sent) goes here. The file is unlinked as soon as it is made,
so nothing is left behind, even after a crash; it is where :mod:`tempfile` puts files
(``TMPDIR``), and takes about a third of what is written to it (zlib level 1, for speed).
"""

from __future__ import annotations

import os
import tempfile
import zlib

COMPRESSION_LEVEL = 1


class Spill:
    """Appended to, read at random; closed (and gone) when let go of or :meth:`close`\\ d."""

    def __init__(self) -> None:
        # Open as long as its owner lives (a plan, or the reading of one file).
        self._file = tempfile.TemporaryFile(prefix="chat-migrate-")  # noqa: SIM115
        self._end = 0

    def put(self, data: bytes) -> tuple[int, int]:
        """Write ``data``; where it is, for :meth:`get`."""
        packed = memoryview(zlib.compress(data, COMPRESSION_LEVEL))
        where = (self._end, len(packed))
        while packed:
            written = os.pwrite(self._file.fileno(), packed, self._end)
            packed, self._end = packed[written:], self._end + written
        return where

    def get(self, where: tuple[int, int]) -> bytes:
        offset, size = where
        chunks: list[bytes] = []
        while size:
            chunk = os.pread(self._file.fileno(), size, offset)
            if not chunk:
                raise OSError(f"a temporary file of chat-migrate ended early (at byte {offset})")
            chunks.append(chunk)
            offset, size = offset + len(chunk), size - len(chunk)
        return zlib.decompress(b"".join(chunks))

    def close(self) -> None:
        self._file.close()
