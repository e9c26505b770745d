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
import os
import shutil
import stat
from dataclasses import dataclass, field, replace
from pathlib import Path

import orjson

from .catalog import Catalog
from .documents import SHAPE_ERRORS, CorruptDocument, StorageFactory, plain_storage
from .durable import fsync_dir, make_dirs, remove_stale_temps
from .errors import ValidationFailed
from .ids import id_from_path_name, new_id
from .layout import Layout
from .quarantine import Quarantine
from .safe_read import NotRegularFile, read_regular
from .segments import (
    Damage,
    Record,
    SegmentScan,
    scan_segment,
    segment_first_seq,
    segment_paths,
)
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


def load_reserved(
    layout: Layout, storage: StorageFactory, quarantine: Quarantine
) -> tuple[set[str], bool]:
    """The ids of purged conversations, and whether the file must be written again.

    A damaged file is quarantined and reported, and the store starts with the ids the journal
    still names (purges since the last checkpoint): refusing to start would lock every
    conversation away over a list whose loss only lets an older purged id be taken again.
    """
    try:
        tables = storage(layout.reserved).read()
        if tables is None:
            return set(), False
        ids = tables.get("reserved", {}).get("1", {}).get("ids", [])
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise CorruptDocument(f"{layout.reserved.name} has an unexpected shape")
        return set(ids), False
    except SHAPE_ERRORS as exc:
        reason = f"{layout.reserved.name} has an unexpected shape ({exc!r})"
    except CorruptDocument as exc:
        reason = str(exc)
    reason += "; ids of conversations purged before the last checkpoint are no longer reserved"
    quarantine.move(layout.reserved, kind="file", reason=reason)
    return set(), True


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
    """Move a damaged shard aside, together with whatever newer state exists only in memory.

    A shard that cannot be moved stays where it is (reported as left in place); the state held
    only in memory, if any, still goes to a quarantine slot of its own.
    """
    folder = layout.shard(conversation_id)
    slot = quarantine.move(
        folder, kind="conversation", reason=reason, conversation_id=conversation_id
    )
    keep = (memory is not None and memory.exists) or bool(records)
    if slot is None and keep:
        slot = quarantine.record(
            folder.name,
            kind="conversation-copy",
            reason=f"what memory held of '{conversation_id}', whose files were left in place",
            conversation_id=conversation_id,
        )
    if slot is None:
        return
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


def describe(path: Path, mode: int) -> str:
    """What a non-folder is, for a reason that names it (a link names its target)."""
    if stat.S_ISLNK(mode):
        try:
            return f"a symbolic link to '{path.readlink()}'"
        except OSError:
            return "a symbolic link"
    return "a file" if stat.S_ISREG(mode) else f"a {NotRegularFile(path, mode).kind}"


def refuse_foreign_folders(layout: Layout, quarantine: Quarantine) -> None:
    """Move aside every folder of the data dir that is a symlink.

    The store writes only into folders it made: a ``quarantine/`` linked elsewhere would carry
    damaged chat content out of the data dir, a linked ``journal/`` would put acknowledged
    writes there. The link itself is moved (never followed) into ``quarantine/`` and reported;
    a real, empty folder takes its place. A linked ``quarantine/`` is first renamed out of the
    way, so that the quarantine it goes into is a real one.
    """
    for folder in layout.owned_folders:
        try:
            mode = os.lstat(folder).st_mode
        except FileNotFoundError:
            continue
        if not stat.S_ISLNK(mode):
            continue  # a folder; or a file in its way, which makes its user fail as before
        reason = (
            f"{folder.name}/ is {describe(folder, mode)}, not a folder the store made; the store"
            " never writes through a link it did not create, so it was moved aside, unfollowed"
        )
        if folder == layout.quarantine:
            aside = layout.root / f"{folder.name}.link-{new_id()}"
            os.rename(folder, aside)
            fsync_dir(layout.root)
            folder = aside
        quarantine.move(folder, kind="folder", reason=reason)


def recover(layout: Layout, storage: StorageFactory, quarantine: Quarantine) -> Recovered:
    make_dirs(layout.root)
    refuse_foreign_folders(layout, quarantine)
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
    reserved, reserved_damaged = load_reserved(layout, storage, quarantine)

    records: list[Record] = []
    damaged: list[tuple[Path, Damage]] = []
    max_seq = catalog.seq
    for path in segment_paths(layout.journal):
        max_seq = max(max_seq, segment_first_seq(path) - 1)
        try:
            scan = scan_segment(path)
        except OSError as exc:  # no permission, a FIFO, a link: not read, moved aside
            reason = f"journal segment cannot be read ({exc.strerror}); its records are missing"
            quarantine.move(path, kind="journal-records", reason=reason)
            continue
        records.extend(scan.records)
        damaged.extend((path, damage) for damage in scan.damage)
        if scan.torn_bytes:
            _keep_torn_tail(quarantine, scan)
        elif scan.spare_bytes:
            _cut_after_records(scan)
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
    state = Recovered(catalog, {}, reserved, max_seq + 1, reserved_dirty=reserved_damaged)
    for conversation_id in purged_at.keys() - reserved:
        reserved.add(conversation_id)
        state.reserved_dirty = True

    metaless = _reconcile_folders(layout, storage, quarantine, state, dropped_at)
    for path, damage in damaged:
        _keep_damage(layout, storage, quarantine, path, damage)
    by_conversation: dict[str, list[Record]] = {}
    for record in records:
        if record.conversation_id in reserved or record.ops[0][0] == "external":
            continue  # purged, or only an announcement of files changed outside
        if record.seq < reloaded_at.get(record.conversation_id, 0):
            continue  # superseded by files another program put in place
        if record.seq <= dropped_at.get(record.conversation_id, 0):
            continue  # the drop itself, or what it removed
        by_conversation.setdefault(record.conversation_id, []).append(record)
    left_in_place = {item.conversation_id for item in quarantine.in_place.values()}
    for conversation_id, its_records in by_conversation.items():
        if conversation_id in left_in_place:  # unreadable where it is: keep a copy of its records
            reason = "its files cannot be read; its journal records are copied here"
            quarantine_shard(layout, quarantine, conversation_id, reason, records=its_records)
            continue
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
        if conversation_id not in state.shards and not os.path.lexists(
            layout.shard(conversation_id)
        ):
            catalog.remove(conversation_id)
    return state


def _keep_torn_tail(quarantine: Quarantine, scan: SegmentScan) -> None:
    """Keep the bad bytes after a segment's last intact record (not the zeroed spare space
    after them), then cut both off, so that a segment appended to again (it can be, under the
    same name) has no garbage in the middle."""
    data = read_regular(scan.path)[scan.valid_bytes : scan.valid_bytes + scan.torn_bytes]
    slot = quarantine.keep_bytes(
        f"{scan.path.name}.tail",
        data,
        kind="journal",
        reason="torn or damaged journal tail (a crash during a write); never acknowledged",
    )
    if slot is None:
        return  # not kept, so not cut either; appended after, the scan resynchronises past it
    _cut_after_records(scan)


def _cut_after_records(scan: SegmentScan) -> None:
    """Cut a segment right after its last intact record (the torn tail or the zeroed spare
    space a crash left), so the journal, reopening it, writes there."""
    try:
        fd = os.open(scan.path, os.O_WRONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            os.ftruncate(fd, scan.valid_bytes)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        log.warning("could not cut %s after its last record: %s", scan.path.name, exc.strerror)


def _keep_damage(
    layout: Layout, storage: StorageFactory, quarantine: Quarantine, path: Path, damage: Damage
) -> None:
    """Keep damaged bytes found between intact records, reported when records are missing.

    The records around them were replayed. What the damage held is missing only if no snapshot
    has it already: when the bytes still name their conversation, its files say.
    """
    reason = damage.describe(path.name)
    kind = "journal-records" if damage.lost_seqs else "journal"
    if damage.lost_seqs and damage.guess is not None:
        try:
            saved = Shard.load(damage.guess[1], layout.shard(damage.guess[1]), storage).applied_seq
        except (CorruptDocument, OSError, ValidationFailed):
            saved = 0
        if saved >= damage.lost_seqs.stop - 1:
            kind = "journal"
            reason += " (they were already in the conversation's files: nothing is missing)"
    quarantine.keep_bytes(f"{path.name}.at-{damage.offset}", damage.data, kind=kind, reason=reason)


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
        if folder.name.startswith("."):
            continue
        try:
            conversation_id = id_from_path_name(folder.name)
        except ValidationFailed:
            log.warning("ignoring %s: not a conversation folder name", folder)
            continue
        mode = os.lstat(folder).st_mode
        if not stat.S_ISDIR(mode):  # a link (never followed), a FIFO, a stray file
            catalog.remove(conversation_id)
            reason = f"its shard is {describe(folder, mode)}, not a folder the store made"
            quarantine_shard(layout, quarantine, conversation_id, reason)
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
        except OSError as exc:  # e.g. a folder without permissions
            catalog.remove(conversation_id)
            reason = f"{META_FILE} cannot be read: {exc.strerror}"
            quarantine_shard(layout, quarantine, conversation_id, reason)
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
    try:
        if not (folder / META_FILE).exists():
            return True
        return Shard.load(conversation_id, folder, storage).applied_seq < seq
    except (CorruptDocument, OSError):
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
    except (CorruptDocument, OSError, LookupError, ValueError, KeyError, TypeError) as exc:
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
