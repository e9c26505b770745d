"""Watching the data dir for changes made by other programs (CONTRACT §6 ``store.changed``).

watchfiles reports paths; we reduce them to the shard folders touched and let the store decide,
by meta-file stamps, which changes are ours (ignored) and which come from outside (reloaded and
announced). An atomic replace shows up as an addition rather than a modification, so every change
kind is treated alike.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from watchfiles import awatch

from .store import Store

log = logging.getLogger(__name__)

#: How often (ms) the watcher's thread wakes to check for changes and for the stop: each wake
#: takes the GIL. At 10 ms an idle sidecar woke ~100 times a second (0.65 % of a core); at 100 it
#: wakes ~10 times. Outside changes are announced once quiet for a step or ``debounce`` (200 ms)
#: after the first, so within ~0.3 s, and stopping the watcher takes up to one step.
WATCH_STEP_MS = 100


def shard_folders(paths: set[str], root: Path) -> set[str]:
    """The names of the shard folders under ``root`` that these paths fall in."""
    names: set[str] = set()
    for raw in paths:
        try:
            relative = Path(raw).relative_to(root)
        except ValueError:
            continue
        if relative.parts and not relative.parts[0].startswith("."):
            names.add(relative.parts[0])
    return names


async def watch_external_changes(store: Store, stop: asyncio.Event) -> None:
    root = store.layout.conversations
    try:
        async for changes in awatch(root, stop_event=stop, step=WATCH_STEP_MS, debounce=200):
            names = shard_folders({path for _, path in changes}, root)
            if names:
                await store.apply_external_changes(names)
    except (OSError, RuntimeError) as exc:  # e.g. the inotify watch limit
        log.warning("not watching %s for outside changes: %s", root, exc)
