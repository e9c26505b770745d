"""Building data dirs fast, with the project's own code, instead of through millions of API calls.

- :func:`build_conversation` makes one conversation's shard files exactly as the store would: a
  :class:`~sidecar.store.shard.Shard` fed the same operations ``create_conversation`` and
  ``append_message`` journal, then ``snapshot().write(storage)``.
- :func:`clone_conversations` writes one such conversation as a template and copies its bytes for
  every other conversation, substituting the id and the timestamp (same length) and re-stamping
  the CRC-32 that the checksummed storage keeps in its ``_integrity`` table.

Generated shards carry ``applied_seq`` 0: the data dir has no journal yet, so the store starts its
sequence at 1, and a shard claiming a higher seq would make the store skip replaying its records
after a crash (see the report in ``docs/benchmarks.md``).
"""

from __future__ import annotations

import os
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from sidecar.store.digest import fingerprint
from sidecar.store.documents import (
    INTEGRITY_TABLE,
    StorageFactory,
    checksummed_storage,
    plain_storage,
)
from sidecar.store.ids import path_name
from sidecar.store.model import DEFAULT_BRANCH, Doc
from sidecar.store.schema import SCHEMA_VERSION, write_version
from sidecar.store.segments import Operation
from sidecar.store.shard import META_FILE, Shard, chunk_file
from sidecar.store.timeutil import format_iso

from .common import text_of

STORAGES_BY_NAME: dict[str, StorageFactory] = {
    "checksummed": checksummed_storage,
    "plain": plain_storage,
}


def conversation_doc(conversation_id: str, title: str, at: str, revision: int) -> Doc:
    """The conversation document ``Store.create_conversation`` journals (then later revisions)."""
    fields: dict[str, Any] = {
        "title": title,
        "workspace": None,
        "tags": [],
        "metadata": {},
        "source": None,
    }
    return {
        "id": conversation_id,
        "title": title,
        "created_at": at,
        "updated_at": at,
        "starred": False,
        "pinned": False,
        "archived": False,
        "deleted_at": None,
        "workspace": None,
        "tags": [],
        "metadata": {},
        "active_branch": DEFAULT_BRANCH,
        "revision": revision,
        "state": "idle",
        "source": None,
        "_request": fingerprint(fields),
    }


def message_doc(
    conversation_id: str, message_id: str, parent_id: str | None, role: str, content: str, at: str
) -> Doc:
    """The message document ``Store.append_message`` journals."""
    fields: dict[str, Any] = {
        "role": role,
        "content": content,
        "status": "complete",
        "metadata": {},
        "tool_calls": [],
        "tool_call_id": None,
        "turn_id": None,
        "source": None,
    }
    request = fingerprint({**fields, "parent_id": None, "branch": None})
    return {
        "id": message_id,
        "conversation_id": conversation_id,
        "parent_id": parent_id,
        "created_at": at,
        "updated_at": at,
        "client_message_id": None,
        **fields,
        "_request": request,
    }


def build_conversation(
    conversations_dir: Path,
    conversation_id: str,
    messages: int,
    content_chars: int,
    storage: StorageFactory,
    at: str,
) -> Path:
    """Write one conversation with ``messages`` messages (alternating roles) as shard files."""
    folder = conversations_dir / path_name(conversation_id)
    shard = Shard(conversation_id, folder)
    title = f"Benchmark conversation {conversation_id}"
    shard.apply(0, [["conv", conversation_doc(conversation_id, title, at, 1)]])
    shard.apply(0, [["branch", DEFAULT_BRANCH, None]])
    parent: str | None = None
    for ordinal in range(messages):
        message_id = f"{conversation_id}-m{ordinal:06d}"
        role = "user" if ordinal % 2 == 0 else "assistant"
        doc = message_doc(
            conversation_id, message_id, parent, role, text_of(content_chars, ordinal), at
        )
        ops: list[Operation] = [["msg", ordinal, doc], ["branch", DEFAULT_BRANCH, message_id]]
        shard.apply(0, ops)
        parent = message_id
    final = conversation_doc(conversation_id, title, at, messages + 1)
    shard.apply(0, [["conv", final]])
    shard.snapshot().write(storage)
    return folder


def prepare_data_dir(data_dir: Path) -> Path:
    """Create a data dir with ``store.json`` and an empty ``conversations/``; return the latter."""
    conversations = data_dir / "conversations"
    conversations.mkdir(parents=True, exist_ok=True)
    data_dir.chmod(0o700)
    write_version(data_dir, SCHEMA_VERSION)
    return conversations


# ----------------------------------------------------------------------------- cloning

_TEMPLATE_ID = "zzzzzzzzzzzzz"
_TEMPLATE_AT = "1999-09-09T09:09:09.999Z"


def clone_id(index: int) -> str:
    """Conversation ids of the cloned data set: same length as the template's."""
    return f"conv{index:09d}"


class _TemplateFile:
    """One file of the template: its bytes on disk and (checksummed) its canonical CRC body."""

    def __init__(self, name: str, raw: bytes, checksummed: bool) -> None:
        self.name = name
        self.raw = raw
        self.canonical: bytes | None = None
        self.stamp = b""
        if checksummed:
            tables = orjson.loads(raw)
            crc = tables.pop(INTEGRITY_TABLE)["1"]["crc32"]
            self.canonical = orjson.dumps(tables, option=orjson.OPT_SORT_KEYS)
            if zlib.crc32(self.canonical) != crc:
                raise RuntimeError(f"template {name}: CRC does not match the canonical body")
            self.stamp = b'"crc32":%d' % crc
            if raw.count(self.stamp) != 1:
                raise RuntimeError(f"template {name}: the CRC stamp is not unique in the file")

    def render(self, conversation_id: bytes, at: bytes) -> bytes:
        def swap(data: bytes) -> bytes:
            return data.replace(_TEMPLATE_ID.encode(), conversation_id).replace(
                _TEMPLATE_AT.encode(), at
            )

        out = swap(self.raw)
        if self.canonical is not None:
            crc = zlib.crc32(swap(self.canonical))
            out = out.replace(self.stamp, b'"crc32":%d' % crc)
        return out


def clone_conversations(
    data_dir: Path,
    conversations: int,
    messages_each: int,
    content_chars: int,
    storage_name: str,
) -> dict[str, Any]:
    """A data dir of ``conversations`` x ``messages_each`` messages, written at byte speed.

    No catalog: the store rebuilds it from the shards on first open. Files are written without
    fsync and flushed once with ``os.sync()`` at the end (generation is not what is measured).
    """
    storage = STORAGES_BY_NAME[storage_name]
    conversations_dir = prepare_data_dir(data_dir)
    template_root = data_dir.parent / f"{data_dir.name}-template"
    folder = build_conversation(
        template_root, _TEMPLATE_ID, messages_each, content_chars, storage, _TEMPLATE_AT
    )
    names = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
    if META_FILE not in names or chunk_file(0) not in names:
        raise RuntimeError(f"unexpected template files: {names}")
    templates = [
        _TemplateFile(name, (folder / name).read_bytes(), storage_name == "checksummed")
        for name in names
    ]
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()
    template_root.rmdir()

    start = datetime(2026, 1, 1, tzinfo=UTC)
    total_bytes = 0
    for index in range(conversations):
        conversation_id = clone_id(index)
        at = format_iso(start + timedelta(seconds=index)).encode()
        target = conversations_dir / path_name(conversation_id)
        target.mkdir(mode=0o700)
        for template in templates:
            data = template.render(conversation_id.encode(), at)
            fd = os.open(target / template.name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
            total_bytes += len(data)
    os.sync()
    # The first clone must read back through the project's own (verifying) storage.
    first = conversations_dir / path_name(clone_id(0))
    for template in templates:
        if storage(first / template.name).read() is None:
            raise RuntimeError(f"clone {first / template.name} did not read back")
    return {
        "conversations": conversations,
        "messages_each": messages_each,
        "messages": conversations * messages_each,
        "content_chars": content_chars,
        "storage": storage_name,
        "bytes": total_bytes,
    }
