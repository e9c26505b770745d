"""Reading one export file: encoding, JSON, and the two shapes (flat object or envelope).

Memory (LEGACY_FORMATS §5): the file is parsed as a stream (ijson, on its C yajl2 backend), in
one pass, one top-level value at a time, and an envelope's ``items`` one member at a time, so
neither the file's bytes nor a second parse of it are ever held whole: what stays is each key's
value (the JSON text localStorage held; a long one waits on a :class:`Spill`), and the adapters
parse each of those in turn and drop it. A flat export and the same keys in an envelope cost the
same. A key that appears twice in one file or in an envelope's ``items`` (JSON allows it; the
last value wins) is reported by name, never dropped silently.

Broken text: ``JSON.stringify`` writes a string cut in the middle of an emoji as a lone UTF-16
surrogate (``"\\ud83d"``), which strict parsers refuse. A value holding one is still read: the
broken character becomes U+FFFD and the adapters report how many were replaced.
"""

from __future__ import annotations

import codecs
import json
import re
import stat
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import ijson
import orjson

from sidecar.store.numbers import int_or_digits, loads_exact

from .problems import BadInput, Problems
from .spill import Spill

ENVELOPE_KIND = "localstorage-export"
ENVELOPE_VERSIONS = (1,)
SIDECAR_FORMAT = "chat-sidecar.export"
CHUNK = 1024 * 1024
#: Shorter strings (top level or in ``items``) stay in memory (ids, flags, the envelope's fields).
SPILL_CHARS = 4096
SURROGATE = re.compile("[\ud800-\udfff]")
SURROGATE_ESCAPE = re.compile(rb"(\\+)u([dD][89a-fA-F][0-9a-fA-F]{2})")
LOW_ESCAPE = re.compile(rb"\\u[dD][c-fC-F][0-9a-fA-F]{2}")
BACKSLASH = ord("\\")
ESCAPE_PAIR = 12
#: The envelope's member holding the localStorage keys (LEGACY_FORMATS §1).
ITEMS = "items"
#: One ijson event: the path of the value it belongs to, its kind, its value.
Event = tuple[str, str, Any]
JSON_TYPES = {
    "start_array": "list",
    "string": "str",
    "number": "number",
    "boolean": "bool",
    "null": "null",
}


class SpilledText:
    """A long value of a flat export or of an envelope's ``items`` (a key's JSON text), kept on
    a :class:`Spill` from the moment it is read until an adapter parses it (:func:`parse_text`
    reads it back): an export's values are nearly all of it, and the adapters take them one at
    a time."""

    __slots__ = ("_spill", "_where")

    def __init__(self, spill: Spill, text: str) -> None:
        self._spill = spill
        self._where = spill.put(text.encode("utf-8", "surrogatepass"))

    def text(self) -> str:
        return self._spill.get(self._where).decode("utf-8", "surrogatepass")


def unspilled(value: Any) -> Any:
    """The value as it was read (the text of a :class:`SpilledText`)."""
    return value.text() if isinstance(value, SpilledText) else value


@dataclass(slots=True)
class ExportFile:
    """One parsed input: its items (key → value, raw text or already parsed) and its shape.

    ``repeated``: keys that appeared more than once in the file, with how often (the last
    value is the one in ``items``)."""

    path: Path
    label: str
    shape: str
    items: dict[str, Any]
    size: int
    envelope: dict[str, Any] | None = None
    repeated: dict[str, int] = field(default_factory=dict)
    #: Lone surrogate escapes in the file's own JSON text, replaced by U+FFFD.
    broken: int = 0


class _Utf8Stream:
    """The file's bytes as UTF-8 for the parser: a UTF-8 BOM skipped, UTF-16 (with its BOM)
    decoded and re-encoded a chunk at a time."""

    def __init__(self, handle: BinaryIO, label: str) -> None:
        self._handle = handle
        self._label = label
        head = handle.read(2)
        self._done = False
        self._offset = 0
        self._held = b""
        #: Lone surrogate escapes replaced by U+FFFD so far.
        self.broken = 0
        self._decoder: codecs.IncrementalDecoder | None = None
        if head in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
            self._decoder = codecs.getincrementaldecoder("utf-16")()
            self._pending = self._decode(head)
        else:
            head += handle.read(1)
            self._pending = b"" if head == codecs.BOM_UTF8 else head

    def _decode(self, data: bytes, final: bool = False) -> bytes:
        assert self._decoder is not None
        try:
            text = self._decoder.decode(data, final)
        except UnicodeDecodeError as exc:
            raise BadInput(self._label, f"not valid UTF-16 text ({exc.reason})") from None
        return text.encode("utf-8", "surrogatepass")

    def read(self, size: int = CHUNK) -> bytes:
        """At most ``size`` bytes (``b""`` at the end)."""
        if size == 0:  # ijson asks for nothing first, to learn whether we give bytes or text
            return b""
        while self._offset >= len(self._pending) and not self._done:
            raw = self._handle.read(CHUNK)
            self._done = not raw
            data = self._decode(raw, final=self._done) if self._decoder else raw
            self._pending = self._mend(data)
            self._offset = 0
        start = self._offset
        self._offset = min(start + size, len(self._pending))
        return self._pending[start : self._offset]

    def _mend(self, data: bytes) -> bytes:
        """``data`` with each lone surrogate escape *of this JSON text* (not of JSON text nested
        in a string, whose backslash is itself escaped) turned into ``\\ufffd``, counted in
        ``broken``: the C parser would turn it into ``?`` without a word. A tail that may be
        the start of an escape waits for the next chunk."""
        data = self._held + data
        cut = len(data)
        if not self._done:
            tail = data.find(b"\\", max(0, len(data) - ESCAPE_PAIR))
            if tail >= 0:
                while tail > 0 and data[tail - 1] == BACKSLASH:
                    tail -= 1
                cut = tail
        if b"\\u" not in data[:cut]:
            data, self._held = data[:cut], data[cut:]
            return data
        out = bytearray()
        start = paired = 0
        for found in SURROGATE_ESCAPE.finditer(data, 0, cut):
            slashes, code = found.group(1), int(found.group(2), 16)
            at = found.end(1) - 1  # the escape's own backslash
            if len(slashes) % 2 == 0 or at < paired:
                continue  # an escaped backslash, or the low half of a pair
            if code < 0xDC00:
                low = LOW_ESCAPE.match(data, found.end())
                if low is not None:
                    paired = low.end()  # a whole pair: kept as it is
                    cut = max(cut, paired)
                    continue
            out += data[start:at] + b"\\ufffd"
            start = found.end()
            self.broken += 1
        self._held = data[cut:]
        return bytes(out + data[start:cut])

    def first_significant(self) -> bytes:
        """The first byte that is not JSON whitespace (``b""``: there is none), kept to read."""
        while True:
            chunk = self.read()
            if not chunk:
                return b""
            stripped = chunk.lstrip(b" \t\r\n")
            if stripped:
                self._pending = stripped + self._pending[self._offset :]
                self._offset = 0
                return stripped[:1]


def _not_json(label: str, exc: Exception) -> BadInput:
    reason = " ".join(str(exc).split())
    return BadInput(label, f"not JSON or truncated ({reason[:160]})")


def _describe_top_level(stream: _Utf8Stream, label: str) -> str:
    try:
        _, event, _ = next(iter(ijson.parse(stream)))
    except ijson.JSONError as exc:
        raise _not_json(label, exc) from None
    except StopIteration:
        raise BadInput(label, "the file is empty") from None
    return JSON_TYPES.get(str(event), str(event))


def repaired(value: Any) -> tuple[Any, int]:
    """``value`` with every lone surrogate replaced by U+FFFD, and how many there were."""
    if isinstance(value, str):
        return SURROGATE.subn("\ufffd", value)
    if isinstance(value, list):
        total = 0
        for index, item in enumerate(value):
            value[index], count = repaired(item)
            total += count
        return value, total
    if isinstance(value, dict):
        total = 0
        for key in list(value):
            value[key], count = repaired(value[key])
            total += count
        return value, total
    return value, 0


def parse_text(value: Any) -> tuple[Any, int]:
    """A localStorage value, parsed when it is JSON text, and how many broken characters (lone
    surrogates) were replaced by U+FFFD to read it. ``ValueError`` when a string is not JSON."""
    value = unspilled(value)
    if not isinstance(value, str):
        return value, 0
    try:
        return loads_exact(value), 0
    except orjson.JSONDecodeError as exc:
        if "memory" in str(exc).lower():  # orjson says so as a decode error: it is none
            raise ValueError(
                f"not enough memory to parse this value ({len(value):,} characters)"
            ) from None
        if "surrogate" not in str(exc):
            raise ValueError(f"value is not JSON ({exc})") from None
    except MemoryError:
        raise ValueError(
            f"not enough memory to parse this value ({len(value):,} characters)"
        ) from None
    try:
        return repaired(json.loads(value, parse_int=int_or_digits))
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"value is not JSON ({exc})") from None


def report_broken(problems: Problems, key: str | None, count: int) -> None:
    problems.warning(
        key,
        f"{count} broken character(s) (a lone UTF-16 surrogate, as a string cut in the middle "
        "of an emoji) replaced by U+FFFD",
    )


def parse_value(value: Any) -> Any:
    """A localStorage value: JSON text is parsed, anything already parsed is returned as is.

    Raises ``ValueError`` when a string is not JSON.
    """
    return parse_text(value)[0]


def _open(path: Path, name: str) -> tuple[BinaryIO, int]:
    """Only a regular file: a pipe would be read once (and opening one waits for a writer), a
    device may never end. The command line spools pipes first (:mod:`migrate.inputs`)."""
    try:
        if not stat.S_ISREG(path.stat().st_mode) and not path.is_dir():
            raise BadInput(name, "is not a regular file (give pipes to the command line)")
        handle = path.open("rb")
        return handle, path.stat().st_size
    except FileNotFoundError:
        raise BadInput(name, "no such file") from None
    except IsADirectoryError:
        raise BadInput(name, "is a directory, not an export file") from None
    except OSError as exc:
        raise BadInput(name, f"cannot be read ({exc.strerror})") from None


def _repeated(seen: Counter[str]) -> dict[str, int]:
    return {key: count for key, count in seen.items() if count > 1}


def _kept(value: Any, spill: Spill | None) -> Any:
    """``value``, or a :class:`SpilledText` of it when it is a long string and there is a spill."""
    if spill is not None and isinstance(value, str) and len(value) >= SPILL_CHARS:
        return SpilledText(spill, value)
    return value


def _items_events(parsed: Iterator[Event], start: Event) -> Iterator[Event]:
    """The events of a top-level ``items`` object, from its ``start`` (just read) to its end
    (the only ``end_map`` at its path: what it holds is deeper)."""
    yield start
    for event in parsed:
        yield event
        if event[1] == "end_map" and event[0] == ITEMS:
            return


@dataclass(slots=True)
class _Document:
    """A top-level object as read: its members, how often each key appeared, and how often
    each key of a top-level ``items`` object appeared."""

    members: dict[str, Any] = field(default_factory=dict)
    seen: Counter[str] = field(default_factory=Counter)
    items_seen: Counter[str] = field(default_factory=Counter)
    #: The ``items`` object just streamed, until its (empty) place in the top level is read.
    streamed: dict[str, Any] | None = None

    def read_items(self, events: Iterator[Event], spill: Spill | None) -> None:
        """A top-level ``items`` object (an envelope's localStorage keys) a member at a time,
        each long value spilled as a flat export's are: the object is never whole in memory."""
        items: dict[str, Any] = {}
        for key, value in ijson.kvitems(events, ITEMS):
            self.items_seen[key] += 1
            items[key] = _kept(value, spill)
        self.streamed = items

    def add(self, key: str, value: Any, spill: Spill | None) -> None:
        self.seen[key] += 1
        if key == ITEMS and self.streamed is not None:
            value, self.streamed = self.streamed, None
        self.members[key] = _kept(value, spill)


def _read_document(stream: _Utf8Stream, label: str, spill: Spill | None) -> _Document:
    """The top-level object in one pass, a member at a time (and an ``items`` object too)."""
    document = _Document()
    parsed = ijson.parse(stream, use_float=True)

    def top_level() -> Iterator[Event]:
        """The parser's events, but for a top-level ``items`` object's members (streamed to
        :meth:`_Document.read_items`): the top-level builder sees that object empty."""
        for event in parsed:
            if event[0] == ITEMS and event[1] == "start_map":
                document.read_items(_items_events(parsed, event), spill)
                yield event
                yield (ITEMS, "end_map", None)
            else:
                yield event

    try:
        for key, value in ijson.kvitems(top_level(), ""):
            document.add(key, value, spill)
    except ijson.JSONError as exc:
        raise _not_json(label, exc) from None
    return document


def read_export(path: Path, label: str | None = None, spill: Spill | None = None) -> ExportFile:
    """Read and parse ``path``; :class:`BadInput` for anything that is not a usable export.

    ``spill``: where a string value of ``SPILL_CHARS`` or more, at the top level or in an
    envelope's ``items``, is kept (:class:`SpilledText`) instead of in memory.
    """
    name = label or str(path)
    handle, size = _open(path, name)
    with handle:
        stream = _Utf8Stream(handle, name)
        first = stream.first_significant()
        if not first:
            raise BadInput(name, "the file is empty")
        if first != b"{":
            kind = _describe_top_level(stream, name)
            raise BadInput(name, f"not a localStorage export (the top level is a JSON {kind})")
        try:
            document = _read_document(stream, name, spill)
        except (MemoryError, OSError) as exc:
            what = "not enough memory" if isinstance(exc, MemoryError) else exc.strerror
            raise BadInput(name, f"cannot be read ({what}; {size:,} bytes)") from None
    members, repeated, broken = document.members, _repeated(document.seen), stream.broken
    items = members.get(ITEMS)
    if members.get("format") != SIDECAR_FORMAT and members.get("kind") == ENVELOPE_KIND:
        version = members.get("version")
        if version not in ENVELOPE_VERSIONS:
            raise BadInput(name, f"envelope version {version!r} is not supported (only 1)")
        if not isinstance(items, dict):
            raise BadInput(name, "envelope has no 'items' object")
        envelope = {k: v for k, v in members.items() if k != ITEMS}
        repeated = {**repeated, **_repeated(document.items_seen)}
        return ExportFile(path, name, "envelope", items, size, envelope, repeated, broken)
    if isinstance(items, dict):  # an ordinary key named "items": its value as it was written
        members[ITEMS] = {key: unspilled(value) for key, value in items.items()}
    if members.get("format") == SIDECAR_FORMAT:
        return ExportFile(path, name, "sidecar-export", {"": members}, size, broken=broken)
    return ExportFile(path, name, "flat", members, size, repeated=repeated, broken=broken)
