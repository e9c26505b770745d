"""The journal's format on disk: how a record is framed and encoded, and how a segment is read.

A record is ``length (u32 LE) | crc32 (u32 LE) | payload``, the payload orjson with ``s`` (seq)
first; a segment file is named by the zero-padded seq of its first record. While it is written,
a segment may end in zero bytes: the space the journal zeroes ahead of its records, so that a
sync covers data alone (:mod:`.journal`). A record never ends in a zero byte (its payload ends
with ``}``), so that space is told apart from a record exactly. Reading skips damaged records and
resynchronises on the next intact one (:func:`scan_segment`). The writing side, group commit and
its thread, is :mod:`.journal`.
"""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from .safe_read import read_regular

HEADER = struct.Struct("<II")
MAX_RECORD_BYTES = 256 * 1024 * 1024
SEGMENT_SUFFIX = ".wal"

Operation = list[Any]


@dataclass(frozen=True, slots=True)
class Record:
    """One committed change: idempotent ``ops`` on one conversation, at seqs ``seq .. last_seq``."""

    seq: int
    conversation_id: str
    ops: list[Operation]
    width: int = 1

    @property
    def last_seq(self) -> int:
        return self.seq + self.width - 1


#: How every payload begins (``encode_record`` puts ``s`` first; orjson keeps key order). After a
#: damaged record, the scan looks for the next occurrence whose header (length and CRC) checks
#: out: the record there is intact, so one bad record hides nothing after it. Old journals
#: already have it: no format change was needed.
RESYNC_MARKER = b'{"s":'
_GUESS = re.compile(rb'\{"s":(\d{1,20}),"c":"([A-Za-z0-9_-]{0,128})"')


def encode_record(seq: int, conversation_id: str, ops: list[Operation], width: int = 1) -> bytes:
    body: dict[str, Any] = {"s": seq, "c": conversation_id, "o": ops}
    if width != 1:
        body["n"] = width
    payload = orjson.dumps(body)
    return HEADER.pack(len(payload), zlib.crc32(payload)) + payload


@dataclass(frozen=True, slots=True)
class Damage:
    """Unreadable bytes between two intact records of a segment.

    ``lost_seqs``: the seqs no intact record holds between its neighbours (empty: the bytes held
    no record, or a record that was never given a seq). ``guess``: the seq and conversation the
    damaged bytes still name, when their start survived.
    """

    offset: int
    data: bytes
    lost_seqs: range
    guess: tuple[int, str] | None

    def describe(self, segment: str) -> str:
        where = f"journal {segment}: {len(self.data)} bytes at offset {self.offset} are damaged"
        if not self.lost_seqs:
            return f"{where}; they held no record that is missing"
        seqs = f"{self.lost_seqs.start}-{self.lost_seqs.stop - 1}"
        whose = f" of conversation '{self.guess[1]}'" if self.guess and self.guess[1] else ""
        return (
            f"{where}: record seqs {seqs}{whose} could not be read and are missing from the"
            " store; every intact record after them was replayed"
        )


@dataclass(slots=True)
class SegmentScan:
    """What reading one segment found: its intact records, the damage between them, how many
    bytes after the last intact record were bad (a torn tail) and how many zero bytes followed
    (``spare_bytes``: space zeroed ahead of records that never came, not damage)."""

    path: Path
    records: list[Record]
    valid_bytes: int
    torn_bytes: int
    damage: list[Damage] = field(default_factory=list)
    spare_bytes: int = 0


def _record_at(data: bytes, offset: int) -> tuple[Record, int] | None:
    """The intact record starting at ``offset`` and where it ends, or ``None``."""
    if offset + HEADER.size > len(data):
        return None
    length, crc = HEADER.unpack_from(data, offset)
    start = offset + HEADER.size
    end = start + length
    if length > MAX_RECORD_BYTES or end > len(data):
        return None
    payload = data[start:end]
    if zlib.crc32(payload) != crc:
        return None
    try:
        body = orjson.loads(payload)
        record = Record(int(body["s"]), str(body["c"]), list(body["o"]), int(body.get("n", 1)))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
    return record, end


def _resync(data: bytes, offset: int) -> int | None:
    """Where the next intact record after damage at ``offset`` starts (``None``: none does)."""
    search = offset + HEADER.size + 1
    while (found := data.find(RESYNC_MARKER, search)) >= 0:
        candidate = found - HEADER.size
        if candidate > offset and _record_at(data, candidate) is not None:
            return candidate
        search = found + 1
    return None


def scan_segment(path: Path) -> SegmentScan:
    """Read every intact record of a segment, skipping damaged ones.

    Damage followed by an intact record is resynchronised on (:data:`RESYNC_MARKER`) and
    reported as :class:`Damage`; damage that nothing intact follows is the torn tail a crash
    mid-write leaves (never acknowledged: its fsync had not returned). Zero bytes at the end are
    the journal's spare space, neither record nor damage.
    Raises ``OSError`` (:class:`~.safe_read.NotRegularFile` included) when it cannot be read.
    """
    data = read_regular(path)
    end = len(data.rstrip(b"\0"))
    records: list[Record] = []
    damage: list[Damage] = []
    offset = 0
    while offset < end:
        found = _record_at(data, offset)
        if found is not None:
            records.append(found[0])
            offset = found[1]
            continue
        resume = _resync(data, offset)
        if resume is None:
            break
        after = records[-1].last_seq if records else segment_first_seq(path) - 1
        following = _record_at(data, resume)
        assert following is not None
        bad = data[offset:resume]
        guess = _GUESS.search(bad[: HEADER.size + 200])
        damage.append(
            Damage(
                offset,
                bad,
                range(after + 1, following[0].seq),
                (int(guess[1]), guess[2].decode()) if guess else None,
            )
        )
        offset = resume
    return SegmentScan(path, records, offset, end - offset, damage, len(data) - end)


def segment_paths(folder: Path) -> list[Path]:
    """Segments in seq order (their names are zero-padded first seqs)."""
    return sorted(p for p in folder.glob(f"*{SEGMENT_SUFFIX}") if p.stem.isdigit())


def segment_first_seq(path: Path) -> int:
    return int(path.stem)
