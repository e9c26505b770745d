"""Reading one export file: encoding, JSON, and the two shapes (flat object or envelope).

Memory: the file's bytes are parsed once and dropped; string values (JSON text inside JSON) are
parsed one key at a time by the adapters, each replacing its raw text, so a huge export is never
held three times over (raw bytes, outer parse, inner parse).
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from .problems import BadInput

ENVELOPE_KIND = "localstorage-export"
ENVELOPE_VERSIONS = (1,)
SIDECAR_FORMAT = "chat-sidecar.export"


@dataclass(slots=True)
class ExportFile:
    """One parsed input: its items (key → value, raw text or already parsed) and its shape."""

    path: Path
    label: str
    shape: str
    items: dict[str, Any]
    size: int
    envelope: dict[str, Any] | None = None


def _decode(data: bytes, label: str) -> Any:
    """Parse JSON bytes in UTF-8 (with or without a BOM) or UTF-16 with a BOM."""
    try:
        if data.startswith(codecs.BOM_UTF8):
            return orjson.loads(memoryview(data)[len(codecs.BOM_UTF8) :])
        if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            try:
                text = data.decode("utf-16")
            except UnicodeDecodeError as exc:
                raise BadInput(label, f"not valid UTF-16 text ({exc.reason})") from None
            return orjson.loads(text)
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if not data.strip():
            raise BadInput(label, "the file is empty") from None
        raise BadInput(label, f"not JSON or truncated ({exc})") from None


def parse_value(value: Any) -> Any:
    """A localStorage value: JSON text is parsed, anything already parsed is returned as is.

    Raises ``ValueError`` when a string is not JSON.
    """
    if isinstance(value, str):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"value is not JSON ({exc})") from None
    return value


def read_export(path: Path, label: str | None = None) -> ExportFile:
    """Read and parse ``path``; :class:`BadInput` for anything that is not a usable export."""
    name = label or str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise BadInput(name, "no such file") from None
    except IsADirectoryError:
        raise BadInput(name, "is a directory, not an export file") from None
    except OSError as exc:
        raise BadInput(name, f"cannot be read ({exc.strerror})") from None
    size = len(data)
    document = _decode(data, name)
    del data
    if not isinstance(document, dict):
        kind = type(document).__name__
        raise BadInput(name, f"not a localStorage export (the top level is a JSON {kind})")
    if document.get("format") == SIDECAR_FORMAT:
        return ExportFile(path, name, "sidecar-export", {"": document}, size)
    if document.get("kind") == ENVELOPE_KIND:
        version = document.get("version")
        if version not in ENVELOPE_VERSIONS:
            raise BadInput(name, f"envelope version {version!r} is not supported (only 1)")
        items = document.get("items")
        if not isinstance(items, dict):
            raise BadInput(name, "envelope has no 'items' object")
        envelope = {k: v for k, v in document.items() if k != "items"}
        return ExportFile(path, name, "envelope", items, size, envelope)
    return ExportFile(path, name, "flat", document, size)
