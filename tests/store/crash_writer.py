"""A store writer for the crash tests: it is ``kill -9``-ed at random moments.

Each writer appends ``"<conversation> <n>"`` to its own conversation, resuming after whatever the
store already holds, and prints ``ack <conversation> <n>`` only after the append returned (so
every printed line is an acknowledged write). A streaming writer grows one reply per run with
deltas ``<0><1><2>...`` and prints ``text <conversation> <message id> <count>``. Small checkpoint
thresholds make kills land during compaction too; a third argument, ``steady``, turns checkpoints
off instead (a kill then always finds the segment the writers were writing).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from sidecar.store import Store, StoreConfig


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def appender(store: Store, cid: str) -> None:
    await store.create_conversation(id=cid)
    items, _ = await store.list_messages(cid, limit=1)
    n = int(items[-1]["content"].split()[1]) + 1 if items else 0
    while True:
        await store.append_message(cid, role="user", content=f"{cid} {n} " + "x" * (n % 300))
        say(f"ack {cid} {n}")
        n += 1


async def streamer(store: Store, cid: str) -> None:
    await store.create_conversation(id=cid)
    while True:
        reply, _ = await store.append_message(cid, role="assistant", content="", status="streaming")
        text = ""
        for count in range(1, 200):
            delta = f"<{count - 1}>"
            await store.append_text(cid, reply["id"], len(text), delta)
            text += delta
            say(f"text {cid} {reply['id']} {count}")
        await store.update_message(cid, reply["id"], status="complete")


async def main(data_dir: Path, writers: int, steady: bool) -> None:
    if steady:  # no checkpoint: the journal's current segment is the one written all along
        config = StoreConfig(checkpoint_bytes=1 << 30, checkpoint_interval=3600)
    else:
        config = StoreConfig(checkpoint_bytes=48 * 1024, checkpoint_interval=0.15, cache_size=3)
    store = await Store.open(data_dir, config)
    say("ready")
    await asyncio.gather(
        *(appender(store, f"w{i}") for i in range(writers)), streamer(store, "stream")
    )


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3:] == ["steady"]))
