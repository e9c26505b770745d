"""External changes: shard folders that another program changed (a restore, a sync tool).

Our own snapshots are recognised by the meta-file stamp recorded when we wrote them, so they never
echo. A conversation with changes not yet in its files keeps ours (the journal holds acknowledged
writes newer than anything outside could know).
"""

from __future__ import annotations

import asyncio
import logging

from .cache import ShardCache
from .commit import Writer
from .documents import CorruptDocument
from .effects import Change, ExternalEffect
from .errors import ValidationFailed
from .ids import id_from_path_name
from .segments import Operation
from .shard import META_FILE, FileStamp, Shard, file_stamp

log = logging.getLogger(__name__)


class ExternalChanges:
    """Re-reads what changed outside and announces it."""

    def __init__(self, cache: ShardCache, writer: Writer) -> None:
        self._cache = cache
        self._writer = writer

    async def apply(self, folder_names: set[str]) -> list[str]:
        """See :meth:`Store.apply_external_changes`."""
        cache = self._cache
        changed: list[str] = []
        for name in sorted(folder_names):
            try:
                conversation_id = id_from_path_name(name)
            except ValidationFailed:
                continue
            if conversation_id in cache.reserved or cache.locks.busy(conversation_id):
                continue
            if conversation_id in cache.writing:
                continue  # our own checkpoint, half written: not a change from outside
            live = cache.shards.get(conversation_id)
            if live is not None and live.dirty:
                log.warning("ignoring an outside change to %s: it has newer writes", name)
                continue
            if await self._reload_from_disk(conversation_id):
                changed.append(conversation_id)
        if changed and cache.journal is not None:
            ops: list[Operation] = [["external", changed]]
            await cache.journal.append("", ops, lambda seq: self._announce(seq, changed))
        return changed

    async def _reload_from_disk(self, conversation_id: str) -> bool:
        cache = self._cache
        folder = cache.folder(conversation_id)
        try:
            stamp: FileStamp | None = await asyncio.to_thread(file_stamp, folder / META_FILE)
        except FileNotFoundError:
            stamp = None
        except OSError as exc:
            log.warning("outside change to %s is not readable: %s", folder.name, exc.strerror)
            return False
        if stamp is not None and stamp == cache.catalog.stamps.get(conversation_id):
            return False
        if stamp is None:
            if conversation_id not in cache.catalog.entries:
                return False
            cache.shards.pop(conversation_id, None)
            cache.catalog.remove(conversation_id)
            return True
        try:
            shard = await asyncio.to_thread(Shard.load, conversation_id, folder, cache.storage)
        except CorruptDocument as exc:
            log.warning("outside change to %s is not readable (yet): %s", folder.name, exc)
            return False
        cache.shards.pop(conversation_id, None)
        cache.catalog.put(shard.summary(), len(shard.ids))
        cache.catalog.set_stamp(conversation_id, stamp)
        if cache.journal is not None:
            cache.journal.advance_past(shard.applied_seq)
        return True

    def _announce(self, seq: int, conversation_ids: list[str]) -> None:
        self._writer.publish(Change("", (ExternalEffect(seq, tuple(conversation_ids)),)))
