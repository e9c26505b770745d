"""Keeping big short-lived strings off glibc's heap while an export is read.

Reading an export leaves one string per localStorage key (a navi session's JSON text is ~12 KB)
that is parsed and dropped while the planned conversations grow as small objects. glibc serves
such strings from its heap, and the heap pages they free are not reused by Python's small-object
arenas nor given back to the system, so the peak RSS counted the file once more than needed
(measured: 2.7 → 1.7 copies of a 29 MB export above the interpreter's own). While planning,
allocations of 8 KiB and more are given their own mappings (``mallopt(M_MMAP_THRESHOLD)``),
which go back to the system when freed; the default is restored afterwards. Elsewhere than
glibc this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Iterator
from contextlib import contextmanager

M_MMAP_THRESHOLD = -3
PLANNING_THRESHOLD = 8 * 1024
GLIBC_DEFAULT_THRESHOLD = 128 * 1024


def _mallopt() -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        function = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int]
    function.restype = ctypes.c_int
    return function


@contextmanager
def big_strings_mapped() -> Iterator[None]:
    """Within the block, allocations of 8 KiB and more are mapped on their own (glibc)."""
    mallopt = _mallopt()
    if mallopt is None or not mallopt(M_MMAP_THRESHOLD, PLANNING_THRESHOLD):
        yield
        return
    try:
        yield
    finally:
        mallopt(M_MMAP_THRESHOLD, GLIBC_DEFAULT_THRESHOLD)
