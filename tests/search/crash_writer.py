"""A store + search index writer for the search crash test: it is ``kill -9``-ed mid-work.

It appends ``word<n>`` messages (resuming after what the store holds), renames its conversation
now and then, and prints ``ack <n>`` only after the store acknowledged the append. The index
lags behind on its thread, so a kill usually lands with changes the index never wrote.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from sidecar.search import SearchIndex
from sidecar.store import Store, StoreConfig


async def main(data_dir: Path) -> None:
    store = await Store.open(data_dir, StoreConfig(checkpoint_bytes=64 * 1024))
    await SearchIndex.open(store)
    await store.create_conversation(id="crash")
    count = len((await store.all_messages("crash"))[1])
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    for n in range(count, count + 100_000):
        await store.append_message("crash", role="user", content=f"word{n} " + "pad " * (n % 50))
        if n % 7 == 0:
            await store.update_conversation("crash", {"title": f"title{n}"})
        sys.stdout.write(f"ack {n}\n")
        sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
