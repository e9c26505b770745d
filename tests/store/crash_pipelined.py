"""A store writer for the pipelined-append crash test: many writers on ONE conversation.

``WRITERS`` tasks append to conversation ``one`` at once, so their records are queued behind
each other's fsyncs; each prints ``ack <writer> <n>`` only after its append returned (so every
printed line is an acknowledged write). Small checkpoint thresholds make kills land during
compaction too.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from sidecar.store import Store, StoreConfig

CONVERSATION = "one"


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def appender(store: Store, writer: int, start: int) -> None:
    n = start
    while True:
        await store.append_message(CONVERSATION, role="user", content=f"{writer} {n}")
        say(f"ack {writer} {n}")
        n += 1


async def main(data_dir: Path, writers: int) -> None:
    config = StoreConfig(checkpoint_bytes=32 * 1024, checkpoint_interval=0.2, cache_size=2)
    store = await Store.open(data_dir, config)
    await store.create_conversation(id=CONVERSATION)
    _, messages = await store.all_messages(CONVERSATION)
    start = len(messages)  # unique contents across runs: each writer resumes past them
    say("ready")
    await asyncio.gather(*(appender(store, w, start) for w in range(writers)))


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2])))
