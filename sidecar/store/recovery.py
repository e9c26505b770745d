"""Opening a data dir after a clean exit or a crash.

1. Clear leftovers: temp files of interrupted atomic writes, folders half way through a purge.
2. Read the catalog (a damaged one is quarantined and rebuilt) and the reserved ids.
3. Scan the journal: every intact record, in seq order; torn tails are kept in quarantine.
4. Reconcile the catalog with the shard folders on disk: an entry whose meta file changed (by
   stamp) or that has no entry is re-derived from the shard; a damaged shard is quarantined.
5. Replay each journal record newer than its shard's ``applied_seq`` through the same
   :meth:`Shard.apply` that live commits use. Purged ids win over everything before their purge;
   a ``drop`` (a rolled back import: the id is not reserved) voids the records before it.

The result is handed to the live :class:`~sidecar.store.store.Store`, which then checkpoints it.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path

import orjson

from .catalog import Catalog
from .documents import CorruptDocument, StorageFactory, plain_storage
from .durable import fsync_dir, make_dirs, remove_stale_temps
from .errors import ValidationFailed
from .ids import id_from_path_name
from .journal import Record, scan_segment, segment_first_seq, segment_paths
from .layout import Layout
from .quarantine import Quarantine
from .shard import META_FILE, Shard, file_stamp

log = logging.getLogger(__name__)


@dataclass
class Recovered:
    catalog: Catalog
    shards: dict[str, Shard]
    reserved: set[str]
    next_seq: int
    reserved_dirty: bool = False
    replayed: int = 0
    notes: list[str] = field(default_factory=list)


def load_reserved(layout: Layout, storage: StorageFactory) -> set[str]:
    tables = storage(layout.reserved).read()
    if tables is None:
        return set()
    return set(tables.get("reserved", {}).get("1", {}).get("ids", []))


def reserved_tables(reserved: set[str]) -> dict[str, dict[str, object]]:
    return {"reserved": {"1": {"ids": sorted(reserved)}}}


def remove_shard_folder(layout: Layout, folder: Path) -> None:
    """Purge a shard folder: rename it out of the way (one atomic step), then delete it.

    An interrupted purge leaves the folder under ``purging/``, which nothing loads and the next
    start finishes removing: it can neither come back nor be mistaken for damage.
    """
    make_dirs(layout.purging)
    if folder.exists():
        target = layout.purging / folder.name
        if target.exists():
            shutil.rmtree(target)
        folder.rename(target)
        fsync_dir(folder.parent)
        fsync_dir(layout.purging)
    for leftover in list(layout.purging.iterdir()):
        shutil.rmtree(leftover, ignore_errors=True)


def quarantine_shard(
    layout: Layout,
    quarantine: Quarantine,
    conversation_id: str,
    reason: str,
    *,
    memory: Shard | None = None,
    records: list[Record] | None = None,
) -> None:
    """Move a damaged shard aside, together with whatever newer state exists only in memory."""
    slot = quarantine.move(
        layout.shard(conversation_id),
        kind="conversation",
        reason=reason,
        conversation_id=conversation_id,
    )
    if memory is not None and memory.exists:
        memory.dirty_meta = True
        memory.dirty_chunks |= memory.chunks.keys()
        memory.dirty_turns = memory.turns is not None
        replace(memory.snapshot(), folder=slot / "in-memory").write(plain_storage)
    if records:
        lines = b"\n".join(
            orjson.dumps({"s": r.seq, "c": r.conversation_id, "o": r.ops}) for r in records
        )
        (slot / "journal-records.jsonl").write_bytes(lines + b"\n")


def recover(layout: Layout, storage: StorageFactory, quarantine: Quarantine) -> Recovered:
    for folder in (layout.root, layout.journal, layout.conversations):
        make_dirs(folder)
        remove_stale_temps(folder)
    if layout.purging.exists():
        for leftover in list(layout.purging.iterdir()):
            shutil.rmtree(leftover, ignore_errors=True)

    try:
        catalog = Catalog.load(storage, layout.catalog) or Catalog()
    except CorruptDocument as exc:
        quarantine.move(layout.catalog, kind="catalog", reason=f"{exc}; rebuilt from shards")
        catalog = Catalog()
    reserved = load_reserved(layout, storage)

    records: list[Record] = []
    max_seq = catalog.seq
    for path in segment_paths(layout.journal):
        max_seq = max(max_seq, segment_first_seq(path) - 1)
        scan = scan_segment(path)
        records.extend(scan.records)
        if scan.torn_bytes:
            quarantine.keep_bytes(
                f"{path.name}.tail",
                path.read_bytes()[scan.valid_bytes :],
                kind="journal",
                reason="torn or damaged journal tail (a crash during a write); ignored",
            )
    records.sort(key=lambda r: r.seq)
    if records:
        max_seq = max(max_seq, max(r.last_seq for r in records))

    purged_at: dict[str, int] = {}
    reloaded_at: dict[str, int] = {}  # files replaced from outside: older records are void
    dropped_at: dict[str, int] = {}  # removed without reserving the id: older records are void
    for record in records:
        if record.ops[0][0] == "purge":
            purged_at[record.conversation_id] = record.seq
        elif record.ops[0][0] == "external":
            for conversation_id in record.ops[0][1]:
                reloaded_at[conversation_id] = record.seq
        elif record.ops[0][0] == "drop":
            dropped_at[record.conversation_id] = record.seq
    state = Recovered(catalog, {}, reserved, max_seq + 1)
    for conversation_id in purged_at.keys() - reserved:
        reserved.add(conversation_id)
        state.reserved_dirty = True

    metaless = _reconcile_folders(layout, storage, quarantine, state, dropped_at)
    by_conversation: dict[str, list[Record]] = {}
    for record in records:
        if record.conversation_id in reserved or record.ops[0][0] == "external":
            continue  # purged, or only an announcement of files changed outside
        if record.seq < reloaded_at.get(record.conversation_id, 0):
            continue  # superseded by files another program put in place
        if record.seq <= dropped_at.get(record.conversation_id, 0):
            continue  # the drop itself, or what it removed
        by_conversation.setdefault(record.conversation_id, []).append(record)
    for conversation_id, its_records in by_conversation.items():
        _replay(layout, storage, quarantine, state, conversation_id, its_records)
    for conversation_id in metaless - state.shards.keys():
        catalog.remove(conversation_id)
        quarantine_shard(
            layout,
            quarantine,
            conversation_id,
            f"{META_FILE} is missing and the journal does not recreate it",
        )
    for conversation_id in list(catalog.entries):
        if conversation_id not in state.shards and not layout.shard(conversation_id).exists():
            catalog.remove(conversation_id)
    return state


def _reconcile_folders(
    layout: Layout,
    storage: StorageFactory,
    quarantine: Quarantine,
    state: Recovered,
    dropped_at: dict[str, int],
) -> set[str]:
    """Bring catalog entries level with shard folders; return ids whose folder has no meta.

    A folder older than a journalled drop of its conversation (a crash between the drop's record
    and the folder's removal) is removed now, as the drop was acknowledged.
    """
    catalog = state.catalog
    metaless: set[str] = set()
    for folder in sorted(layout.conversations.iterdir()):
        if folder.name.startswith(".") or not folder.is_dir():
            continue
        try:
            conversation_id = id_from_path_name(folder.name)
        except ValidationFailed:
            log.warning("ignoring %s: not a conversation folder name", folder)
            continue
        if conversation_id in state.reserved:
            remove_shard_folder(layout, folder)
            catalog.remove(conversation_id)
            continue
        if conversation_id in dropped_at and _older_than(
            folder, conversation_id, storage, dropped_at[conversation_id]
        ):
            remove_shard_folder(layout, folder)
            catalog.remove(conversation_id)
            continue
        try:
            stamp = file_stamp(folder / META_FILE)
        except FileNotFoundError:
            metaless.add(conversation_id)
            continue
        if catalog.stamps.get(conversation_id) == stamp:
            continue
        try:
            shard = Shard.load(conversation_id, folder, storage)
        except CorruptDocument as exc:
            catalog.remove(conversation_id)
            quarantine_shard(layout, quarantine, conversation_id, str(exc))
            continue
        catalog.put(shard.summary(), len(shard.ids))
        catalog.set_stamp(conversation_id, stamp)
        state.next_seq = max(state.next_seq, shard.applied_seq + 1)
    return metaless


def _older_than(folder: Path, conversation_id: str, storage: StorageFactory, seq: int) -> bool:
    """Whether the shard in ``folder`` was last written before ``seq`` (unreadable: not known,
    so it is left to the normal checks, which quarantine rather than delete)."""
    if not (folder / META_FILE).exists():
        return True
    try:
        return Shard.load(conversation_id, folder, storage).applied_seq < seq
    except CorruptDocument:
        return False


def _replay(
    layout: Layout,
    storage: StorageFactory,
    quarantine: Quarantine,
    state: Recovered,
    conversation_id: str,
    records: list[Record],
) -> None:
    folder = layout.shard(conversation_id)
    shard: Shard | None = None
    try:
        if (folder / META_FILE).exists():
            shard = Shard.load(conversation_id, folder, storage)
        else:
            shard = Shard(conversation_id, folder)
            shard.on_disk = folder.exists()
        for record in records:
            if record.seq <= shard.applied_seq:
                continue
            shard.load_for_replay(record.ops, storage)
            shard.apply(record.seq, record.ops)
            state.replayed += 1
    except (CorruptDocument, LookupError, ValueError, KeyError, TypeError) as exc:
        state.catalog.remove(conversation_id)
        quarantine_shard(
            layout,
            quarantine,
            conversation_id,
            f"could not replay its journal: {exc}",
            memory=shard,
            records=records,
        )
        return
    if shard.exists:
        state.shards[conversation_id] = shard
        state.catalog.put(shard.summary(), len(shard.ids))
        state.next_seq = max(state.next_seq, shard.applied_seq + 1)
