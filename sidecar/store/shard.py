"""One conversation's state: in memory, as journal operations, and as snapshot files on disk.

A shard folder (``conversations/<path_name(id)>/``) holds TinyDB document files:

- ``meta.json``: the conversation, its branches, the message tree (ids and parent ordinals, in
  insertion order), the ``client_message_id`` index, the last applied journal seq and the preview.
- ``messages-NNNNNN.json``: messages in insertion order, ``MESSAGES_PER_CHUNK`` per file, so the
  last page of a long conversation is one small file away and a snapshot rewrites only the chunks
  that changed.
- ``turns.json``: the conversation's turns, loaded only when a turn is read or written.

Operations (the journal's payload) are idempotent puts, plus ``text`` for streaming growth:
``["conv", doc]``, ``["msg", ordinal, doc]``, ``["branch", name, head_id]``, ``["text", message_id,
offset, text]``, ``["unbranch", name]`` (a branch removed: a sync merge renaming a conflict
branch, see :mod:`.remote`), ``["turn", doc]``, ``["req", request_id, record]`` (a remembered ``request_id``, see
:attr:`Shard.requests`), ``["reset", {branches, messages, turns}]`` (the whole tree replaced: a
rollback removing messages, see :mod:`.rewrite`). :meth:`Shard.apply` is the single code path both for live
commits and for crash recovery, so replay cannot drift from what was acknowledged.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .documents import SHAPE_ERRORS, CorruptDocument, StorageFactory, Tables
from .durable import make_dirs
from .model import CONVERSATION_FIELDS, DEFAULT_BRANCH, PREVIEW_CHARS, Doc, preview_of
from .segments import Operation

MESSAGES_PER_CHUNK = 512
#: How much of the head message's content the preview is made from (it flattens whitespace, so
#: more than ``PREVIEW_CHARS``): a text delta at or past this offset cannot change the preview.
PREVIEW_WINDOW = 8 * PREVIEW_CHARS
#: How many ``request_id`` records a conversation remembers (oldest forgotten first). An offline
#: queue retries within minutes; this bounds the meta file whatever a client sends.
REMEMBERED_REQUESTS = 512
SHARD_FORMAT = 1
META_FILE = "meta.json"
TURNS_FILE = "turns.json"

#: What identifies a meta file's version on disk: (mtime_ns, size, inode).
FileStamp = tuple[int, int, int]


def chunk_file(number: int) -> str:
    return f"messages-{number:06d}.json"


def file_stamp(path: Path) -> FileStamp:
    st = os.stat(path)
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def usage_of(message: Doc) -> list[int] | None:
    """``[input_tokens, output_tokens]`` of a message's ``metadata.usage`` (CONTRACT §4), or None
    when it has none; counts that are not non-negative integers count as 0."""
    metadata = message.get("metadata")
    usage = metadata.get("usage") if isinstance(metadata, dict) else None
    if not isinstance(usage, dict):
        return None

    def count(name: str) -> int:
        value = usage.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0

    return [count("input_tokens"), count("output_tokens")]


def _table_rows(tables: Tables, name: str) -> list[Any]:
    table = tables.get(name, {})
    return [table[key] for key in sorted(table, key=int)]


class Shard:
    """The live state of one conversation. Mutated only by :meth:`apply`, on the event loop."""

    def __init__(self, conversation_id: str, folder: Path) -> None:
        self.conversation_id = conversation_id
        self.folder = folder
        self.conversation: Doc = {}
        self.branches: dict[str, str | None] = {DEFAULT_BRANCH: None}
        self.ids: list[str] = []
        self.parents: list[int] = []
        self.depths: list[int] = []
        self.index: dict[str, int] = {}
        self.client_ids: dict[str, str] = {}
        #: ``request_id`` -> ``{action, fingerprint, result}`` of mutations that carried one, in
        #: the order they were made, so a retried request is answered instead of run twice.
        self.requests: dict[str, Doc] = {}
        self.chunks: dict[int, list[Doc | None]] = {}
        self.turns: dict[str, Doc] | None = {}
        self.preview = ""
        #: Message id -> ``[input_tokens, output_tokens]`` of every message carrying
        #: ``metadata.usage``, kept in meta with the tree so the totals survive replay exactly.
        self.usage: dict[str, list[int]] = {}
        self.usage_total = [0, 0]
        self.applied_seq = 0
        self.on_disk = False
        self.dirty_meta = False
        self.dirty_turns = False
        self.dirty_chunks: set[int] = set()

    # ----------------------------------------------------------------- loading

    @classmethod
    def load(cls, conversation_id: str, folder: Path, storage: StorageFactory) -> Shard:
        """Read a shard's meta file (not its messages). Raises :class:`CorruptDocument`."""
        tables = storage(folder / META_FILE).read()
        if tables is None:
            raise CorruptDocument(f"{META_FILE} is missing")
        shard = cls(conversation_id, folder)
        try:
            info = tables["shard"]["1"]
            if info["format"] > SHARD_FORMAT:
                raise CorruptDocument(f"shard format {info['format']} is newer than this program")
            conversation = tables["conversation"]["1"]
            if conversation["id"] != conversation_id:
                raise CorruptDocument(f"meta names conversation {conversation['id']!r}")
            tree = tables["tree"]["1"]
            ids, parents = list(tree["ids"]), [int(p) for p in tree["parents"]]
            if len(ids) != len(parents):
                raise CorruptDocument("message tree is inconsistent")
            shard.conversation = conversation
            shard.branches = {row["name"]: row["head"] for row in _table_rows(tables, "branches")}
            shard.client_ids = dict(tables.get("client_ids", {}).get("1", {}))
            shard.requests = dict(tables.get("requests", {}).get("1", {}))
            shard.preview = str(info.get("preview", ""))
            shard.usage = {
                str(message_id): [int(counts[0]), int(counts[1])]
                for message_id, counts in tables.get("usage", {}).get("1", {}).items()
            }
            shard.usage_total = [
                sum(c[0] for c in shard.usage.values()),
                sum(c[1] for c in shard.usage.values()),
            ]
            shard.applied_seq = int(info["applied_seq"])
            for parent in parents:
                if parent >= len(shard.ids):
                    raise CorruptDocument("message tree refers forward")
                shard._add_to_tree(ids[len(shard.ids)], parent)
        except SHAPE_ERRORS as exc:
            raise CorruptDocument(f"{META_FILE} has an unexpected shape ({exc!r})") from None
        shard.turns = None
        shard.on_disk = True
        return shard

    def chunks_for(self, ordinals: Iterable[int]) -> set[int]:
        """Chunk numbers holding these ordinals that are not in memory yet."""
        chunks = self.chunks  # one set, no difference: this runs twice per write
        return {n for o in ordinals if (n := o // MESSAGES_PER_CHUNK) not in chunks}

    def read_chunk(self, number: int, storage: StorageFactory) -> list[Doc | None]:
        """Read one chunk file (any thread); a missing file is an empty chunk."""
        docs: list[Doc | None] = [None] * MESSAGES_PER_CHUNK
        if not self.on_disk:
            return docs
        tables = storage(self.folder / chunk_file(number)).read()
        if tables is None:
            return docs
        base = number * MESSAGES_PER_CHUNK
        try:
            for key, doc in tables.get("messages", {}).items():
                position = int(key) - 1 - base
                if not 0 <= position < MESSAGES_PER_CHUNK or not isinstance(doc, dict):
                    raise CorruptDocument(f"{chunk_file(number)} holds a message out of range")
                docs[position] = doc
        except SHAPE_ERRORS:
            raise CorruptDocument(f"{chunk_file(number)} has an unexpected shape") from None
        return docs

    def install_chunk(self, number: int, docs: list[Doc | None]) -> None:
        """Adopt a chunk read off the loop, unless a newer copy got here first."""
        self.chunks.setdefault(number, docs)

    def read_turns(self, storage: StorageFactory) -> dict[str, Doc]:
        if not self.on_disk:
            return {}
        tables = storage(self.folder / TURNS_FILE).read()
        if tables is None:
            return {}
        try:
            return {row["id"]: row for row in _table_rows(tables, "turns")}
        except SHAPE_ERRORS:
            raise CorruptDocument(f"{TURNS_FILE} has an unexpected shape") from None

    def install_turns(self, turns: dict[str, Doc]) -> None:
        if self.turns is None:
            self.turns = turns

    def load_for_replay(self, ops: list[Operation], storage: StorageFactory) -> None:
        """Synchronously load what applying ``ops`` touches (recovery only, before serving)."""
        for number in self.chunks_for(self.ordinals_touched(ops)):
            self.install_chunk(number, self.read_chunk(number, storage))
        if self.turns is None and any(op[0] == "turn" for op in ops):
            self.install_turns(self.read_turns(storage))

    def ordinals_touched(self, ops: list[Operation]) -> set[int]:
        """Message positions ``ops`` write, plus the resulting active head (for the preview)."""
        touched: set[int] = set()
        branches = dict(self.branches)
        active = self.conversation.get("active_branch", DEFAULT_BRANCH)
        if any(op[0] == "reset" for op in ops):
            return touched  # it brings every message it keeps; nothing needs reading first
        for op in ops:
            if op[0] == "msg":
                touched.add(op[1])
            elif op[0] == "text" and op[1] in self.index:
                touched.add(self.index[op[1]])
            elif op[0] == "branch":
                branches[op[1]] = op[2]
            elif op[0] == "conv":
                active = op[1].get("active_branch", DEFAULT_BRANCH)
        head = branches.get(active)
        if head is not None and head in self.index:
            touched.add(self.index[head])
        return touched

    # ----------------------------------------------------------------- reading

    @property
    def exists(self) -> bool:
        return bool(self.conversation)

    @property
    def active_branch(self) -> str:
        return str(self.conversation.get("active_branch", DEFAULT_BRANCH))

    def message_at(self, ordinal: int) -> Doc:
        chunk = self.chunks.get(ordinal // MESSAGES_PER_CHUNK)
        if chunk is None:
            raise LookupError(f"chunk of message {ordinal} is not loaded")
        doc = chunk[ordinal % MESSAGES_PER_CHUNK]
        if doc is None:
            raise CorruptDocument(f"message {self.ids[ordinal]!r} is missing from its chunk")
        return doc

    def path_to(self, head: str | None) -> list[int]:
        """Ordinals from the root to ``head``: the messages of the branch that ends there."""
        if head is None:
            return []
        path: list[int] = []
        ordinal = self.index[head]
        while ordinal >= 0:
            path.append(ordinal)
            ordinal = self.parents[ordinal]
        path.reverse()
        return path

    def message_count(self) -> int:
        head = self.branches.get(self.active_branch)
        return 0 if head is None else self.depths[self.index[head]] + 1

    def summary(self) -> Doc:
        """The public Conversation object (CONTRACT §4), derived fields included."""
        doc = {name: self.conversation.get(name) for name in CONVERSATION_FIELDS}
        doc["message_count"] = self.message_count()
        doc["last_message_preview"] = self.preview
        doc["usage"] = {
            "input_tokens": self.usage_total[0],
            "output_tokens": self.usage_total[1],
        }
        return doc

    # ----------------------------------------------------------------- writing

    def _add_to_tree(self, message_id: str, parent: int) -> None:
        self.index[message_id] = len(self.ids)
        self.ids.append(message_id)
        self.parents.append(parent)
        self.depths.append(0 if parent < 0 else self.depths[parent] + 1)

    def apply(self, seq: int, ops: list[Operation]) -> None:
        """Apply one committed record. Every op is idempotent, so replaying is always safe.

        A streaming delta (``text``) changes only a message's content: its usage is not
        recounted, and the preview is not recomputed when the delta lies past what it is made of.
        """
        preview_may_change = False
        for op in ops:
            kind = op[0]
            if kind == "text":
                ordinal = self.index[op[1]]
                doc = self.message_at(ordinal)
                content = str(doc.get("content", ""))[: op[2]] + op[3]
                self._store_doc(ordinal, {**doc, "content": content}, recount=False)
                preview_may_change = preview_may_change or op[2] < PREVIEW_WINDOW
                continue
            preview_may_change = True
            if kind == "conv":
                self.conversation = op[1]
                self.dirty_meta = True
            elif kind == "msg":
                self._put_message(op[1], op[2])
            elif kind == "branch":
                self.branches[op[1]] = op[2]
                self.dirty_meta = True
            elif kind == "unbranch":
                self.branches.pop(op[1], None)
                self.dirty_meta = True
            elif kind == "turn":
                if self.turns is None:
                    raise LookupError("turns are not loaded")
                self.turns[op[1]["id"]] = op[1]
                self.dirty_turns = True
            elif kind == "req":
                self.requests.pop(op[1], None)
                self.requests[op[1]] = op[2]
                while len(self.requests) > REMEMBERED_REQUESTS:
                    del self.requests[next(iter(self.requests))]
                self.dirty_meta = True
            elif kind == "reset":
                self._reset(op[1])
            else:
                raise ValueError(f"unknown journal operation {kind!r}")
        if preview_may_change:
            self._refresh_preview()
        self.applied_seq = max(self.applied_seq, seq)

    def _reset(self, image: Doc) -> None:
        """Replace the message tree, branches and turns with ``image`` (idempotent).

        Ordinals are reassigned, so every chunk up to the old and the new end is rewritten (the
        ones past the new end empty) and none is read from disk again: the store checkpoints
        right before journalling a reset, so no older record of this shard is left to replay
        against chunk files that no longer match its ordinals.
        """
        old_end = len(self.ids)
        self.ids, self.parents, self.depths = [], [], []
        self.index, self.client_ids = {}, {}
        self.chunks = {}
        self.usage, self.usage_total = {}, [0, 0]
        for doc in image["messages"]:
            self._put_message(len(self.ids), doc)
        end = max(old_end, len(self.ids))
        for number in range((end + MESSAGES_PER_CHUNK - 1) // MESSAGES_PER_CHUNK):
            self.chunks.setdefault(number, [None] * MESSAGES_PER_CHUNK)
            self.dirty_chunks.add(number)
        self.branches = dict(image["branches"])
        self.turns = {turn["id"]: turn for turn in image["turns"]}
        self.dirty_turns = True
        self.dirty_meta = True

    def _put_message(self, ordinal: int, doc: Doc) -> None:
        if ordinal == len(self.ids):
            parent_id = doc.get("parent_id")
            self._add_to_tree(doc["id"], -1 if parent_id is None else self.index[parent_id])
            if doc.get("client_message_id"):
                self.client_ids[doc["client_message_id"]] = doc["id"]
            self.dirty_meta = True
        elif ordinal > len(self.ids) or self.ids[ordinal] != doc["id"]:
            raise ValueError(f"message {doc['id']!r} does not belong at position {ordinal}")
        self._store_doc(ordinal, doc)

    def _store_doc(self, ordinal: int, doc: Doc, *, recount: bool = True) -> None:
        """Put ``doc`` at ``ordinal``; ``recount=False``: its ``metadata`` is unchanged."""
        number = ordinal // MESSAGES_PER_CHUNK
        chunk = self.chunks.setdefault(number, [None] * MESSAGES_PER_CHUNK)
        chunk[ordinal % MESSAGES_PER_CHUNK] = doc
        self.dirty_chunks.add(number)
        if recount:
            self._count_usage(self.ids[ordinal], usage_of(doc))

    def _count_usage(self, message_id: str, counts: list[int] | None) -> None:
        """Keep the conversation's usage totals as the sum over its messages, by difference."""
        old = self.usage.get(message_id)
        if counts == old:
            return
        for position in (0, 1):
            self.usage_total[position] += (counts or [0, 0])[position] - (old or [0, 0])[position]
        if counts is None:
            del self.usage[message_id]
        else:
            self.usage[message_id] = counts
        self.dirty_meta = True

    def _refresh_preview(self) -> None:
        head = self.branches.get(self.active_branch)
        if head is None:
            preview = ""
        else:
            try:
                content = self.message_at(self.index[head]).get("content", "")
            except LookupError:
                return
            preview = preview_of(str(content)[:PREVIEW_WINDOW])
        if preview != self.preview:
            self.preview = preview
            self.dirty_meta = True

    @property
    def dirty(self) -> bool:
        return self.dirty_meta or self.dirty_turns or bool(self.dirty_chunks)

    def snapshot(self) -> ShardSnapshot:
        """Capture what changed since the last snapshot, on the event loop, and mark it clean.

        Containers are copied; documents are shared, which is safe because stored documents are
        never mutated in place. The result describes exactly the state at ``applied_seq``.
        """
        chunks: dict[int, Tables] = {}
        for number in sorted(self.dirty_chunks):
            base = number * MESSAGES_PER_CHUNK
            docs = self.chunks[number]
            chunks[number] = {
                "messages": {str(base + i + 1): d for i, d in enumerate(docs) if d is not None}
            }
        turns: Tables | None = None
        if self.dirty_turns and self.turns is not None:
            turns = {"turns": {str(i + 1): t for i, t in enumerate(self.turns.values())}}
        meta: Tables = {
            "shard": {
                "1": {
                    "format": SHARD_FORMAT,
                    "applied_seq": self.applied_seq,
                    "preview": self.preview,
                    "chunk_size": MESSAGES_PER_CHUNK,
                }
            },
            "conversation": {"1": self.conversation},
            "branches": {
                str(i + 1): {"name": name, "head": head}
                for i, (name, head) in enumerate(self.branches.items())
            },
            "tree": {"1": {"ids": list(self.ids), "parents": list(self.parents)}},
            "client_ids": {"1": dict(self.client_ids)},
            "requests": {"1": dict(self.requests)},
            "usage": {"1": dict(self.usage)},
        }
        self.dirty_meta = self.dirty_turns = False
        self.dirty_chunks = set()
        return ShardSnapshot(self.folder, self.applied_seq, meta, chunks, turns)

    def mark_dirty_again(self, snapshot: ShardSnapshot) -> None:
        """After a failed snapshot write: make sure the next checkpoint writes it all again."""
        self.dirty_meta = True
        self.dirty_chunks |= snapshot.chunks.keys()
        self.dirty_turns = self.dirty_turns or snapshot.turns is not None


@dataclass(slots=True)
class ShardSnapshot:
    """A shard's changed files, ready to be written off the event loop."""

    folder: Path
    applied_seq: int
    meta: Tables
    chunks: dict[int, Tables]
    turns: Tables | None

    def write(self, storage: StorageFactory) -> FileStamp:
        """Write message chunks and turns first, meta (which names ``applied_seq``) last.

        Any crash in between leaves a meta older than its chunks; replay from the journal (kept
        until every snapshot is written) brings them level again.
        """
        make_dirs(self.folder)
        for number, tables in self.chunks.items():
            storage(self.folder / chunk_file(number)).write(tables)
        if self.turns is not None:
            storage(self.folder / TURNS_FILE).write(self.turns)
        storage(self.folder / META_FILE).write(self.meta)
        return file_stamp(self.folder / META_FILE)
