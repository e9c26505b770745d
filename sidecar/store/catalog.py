"""The catalog: every conversation's summary, for listing without opening shards.

It is a derived index. In memory it is updated on every commit; on disk (``catalog.json``) it is
rewritten at checkpoints. Each entry remembers the stamp (mtime, size, inode) of the shard meta file
it was derived from, so at start an entry whose shard changed behind our back is re-derived, and a
missing, stale or corrupt catalog is rebuilt from the shards: the list can never lose a
conversation whose data is on disk.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

import orjson

from .documents import SHAPE_ERRORS, CorruptDocument, StorageFactory, Tables
from .errors import ValidationFailed
from .model import Doc
from .shard import FileStamp

CATALOG_FORMAT = 1
MAX_PAGE = 500


@dataclass(frozen=True, slots=True)
class ListQuery:
    """Filters of ``GET /api/v1/conversations``; ``None`` means "any"."""

    limit: int = 50
    cursor: str | None = None
    archived: bool | None = False
    starred: bool | None = None
    pinned: bool | None = None
    deleted: bool | None = False
    workspace: str | None = None
    q: str | None = None
    #: Only conversations whose active branch has no message (true), or some (false): how
    #: "New chat" finds an empty one to reuse without paging through every conversation.
    empty: bool | None = None


@dataclass(frozen=True, slots=True)
class ListPage:
    items: list[Doc]
    next_cursor: str | None


def _sort_key(doc: Doc) -> tuple[bool, str, str]:
    return (bool(doc.get("pinned")), str(doc.get("updated_at") or ""), str(doc["id"]))


def encode_cursor(key: tuple[bool, str, str]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(key))).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[bool, str, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        pinned, updated_at, conversation_id = orjson.loads(raw)
        if not (isinstance(pinned, bool) and isinstance(updated_at, str)):
            raise TypeError
        return (pinned, updated_at, str(conversation_id))
    except (binascii.Error, orjson.JSONDecodeError, TypeError, ValueError):
        raise ValidationFailed("cursor", "cursor is not one this server issued") from None


class Catalog:
    """Summaries by conversation id, plus each one's meta-file stamp and total message count."""

    def __init__(self) -> None:
        self.entries: dict[str, Doc] = {}
        self.stamps: dict[str, FileStamp] = {}
        self.totals: dict[str, int] = {}
        self.seq = 0
        self.dirty = False

    def put(self, summary: Doc, total_messages: int) -> None:
        self.entries[summary["id"]] = summary
        self.totals[summary["id"]] = total_messages
        self.dirty = True

    def set_stamp(self, conversation_id: str, stamp: FileStamp) -> None:
        self.stamps[conversation_id] = stamp
        self.dirty = True

    def remove(self, conversation_id: str) -> None:
        self.entries.pop(conversation_id, None)
        self.stamps.pop(conversation_id, None)
        self.totals.pop(conversation_id, None)
        self.dirty = True

    @property
    def message_total(self) -> int:
        return sum(self.totals.values())

    def list(self, query: ListQuery) -> ListPage:
        """Pinned first, then most recently updated; keyset cursor, so pages never skip or repeat."""
        if not 1 <= query.limit <= MAX_PAGE:
            raise ValidationFailed("limit", f"limit must be between 1 and {MAX_PAGE}")
        after = decode_cursor(query.cursor) if query.cursor else None
        needle = query.q.casefold() if query.q else None
        matches = [
            doc
            for doc in self.entries.values()
            if (query.archived is None or bool(doc.get("archived")) == query.archived)
            and (query.starred is None or bool(doc.get("starred")) == query.starred)
            and (query.pinned is None or bool(doc.get("pinned")) == query.pinned)
            and (query.deleted is None or (doc.get("deleted_at") is not None) == query.deleted)
            and (query.workspace is None or doc.get("workspace") == query.workspace)
            and (needle is None or needle in str(doc.get("title") or "").casefold())
            and (query.empty is None or (not doc.get("message_count")) == query.empty)
            and (after is None or _sort_key(doc) < after)
        ]
        matches.sort(key=_sort_key, reverse=True)
        page = matches[: query.limit]
        more = len(matches) > query.limit
        return ListPage(page, encode_cursor(_sort_key(page[-1])) if more else None)

    # ---------------------------------------------------------------- on disk

    def to_tables(self) -> Tables:
        rows: dict[str, Any] = {}
        for number, (conversation_id, summary) in enumerate(self.entries.items(), start=1):
            rows[str(number)] = {
                "summary": summary,
                "stamp": list(self.stamps.get(conversation_id, (0, 0, 0))),
                "total": self.totals.get(conversation_id, 0),
            }
        return {"catalog": {"1": {"format": CATALOG_FORMAT, "seq": self.seq}}, "entries": rows}

    @classmethod
    def from_tables(cls, tables: Tables) -> Catalog:
        catalog = cls()
        try:
            info = tables["catalog"]["1"]
            if info["format"] != CATALOG_FORMAT:
                raise CorruptDocument(f"catalog format {info['format']} is not {CATALOG_FORMAT}")
            catalog.seq = int(info["seq"])
            for row in tables.get("entries", {}).values():
                summary = row["summary"]
                # A catalog written before usage totals existed: its shards had none either.
                summary.setdefault("usage", {"input_tokens": 0, "output_tokens": 0})
                conversation_id = summary["id"]
                catalog.entries[conversation_id] = summary
                stamp = row["stamp"]
                catalog.stamps[conversation_id] = (int(stamp[0]), int(stamp[1]), int(stamp[2]))
                catalog.totals[conversation_id] = int(row["total"])
        except SHAPE_ERRORS as exc:
            raise CorruptDocument(f"catalog has an unexpected shape ({exc!r})") from None
        return catalog

    @classmethod
    def load(cls, storage: StorageFactory, path: Any) -> Catalog | None:
        """The catalog on disk, or ``None`` when there is none (corrupt raises)."""
        tables = storage(path).read()
        return None if tables is None else cls.from_tables(tables)
