"""Reading the files of other tools: whole small JSON files, and big arrays streamed with ijson.

Per-session files (VS Code, Cline, Roo, Continue) are small and read whole. Export files that hold
every conversation at once (ChatGPT's ``conversations.json``, Open WebUI's export) can be hundreds
of megabytes: they are streamed one array item at a time, so memory holds one conversation's raw
records, never the file.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from typing import IO, Any

import ijson
import orjson

from sidecar.store.numbers import loads_exact

from ..problems import BadInput

PathLike = Any  # a pathlib.Path or a zipfile.Path: both have read_bytes() and open()


def load_json(path: PathLike, label: str) -> Any:
    """The parsed file (UTF-8 with or without a BOM, or UTF-16 with one); BadInput otherwise."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise BadInput(label, "no such file") from None
    except OSError as exc:
        raise BadInput(label, f"cannot be read ({exc.strerror})") from None
    try:
        if data.startswith(codecs.BOM_UTF8):
            return loads_exact(data[len(codecs.BOM_UTF8) :])
        if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return loads_exact(data.decode("utf-16"))
        return loads_exact(data)
    except (orjson.JSONDecodeError, UnicodeDecodeError) as exc:
        reason = "the file is empty" if not data.strip() else f"not JSON or truncated ({exc})"
        raise BadInput(label, reason) from None


def _skip_bom(handle: IO[bytes]) -> IO[bytes]:
    head = handle.read(3)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise BadInput(getattr(handle, "name", "file"), "UTF-16 is not supported for big exports")
    if head != codecs.BOM_UTF8:
        handle.seek(0)
    return handle


def stream_array(handle: IO[bytes], label: str) -> Iterator[Any]:
    """The items of a top-level JSON array, one at a time (floats as float, not Decimal).

    A file that is not an array, or that breaks off part way, raises BadInput after the items
    that were complete: the caller keeps those and reports the rest as unreadable.
    """
    _skip_bom(handle)
    started = False
    count = 0
    try:
        for prefix, event, _ in ijson.parse(handle, use_float=True):
            if not started:
                if (prefix, event) != ("", "start_array"):
                    raise BadInput(label, f"not a JSON array at the top level ({event})")
                started = True
                break
        if not started:
            raise BadInput(label, "the file is empty")
        handle.seek(0)
        _skip_bom(handle)
        for item in ijson.items(handle, "item", use_float=True):
            count += 1
            yield item
    except ijson.JSONError as exc:
        where = f"after {count} complete item(s)" if count else "before any item"
        raise BadInput(label, f"not JSON or truncated {where} ({exc})") from None
