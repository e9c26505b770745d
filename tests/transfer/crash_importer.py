"""An importer for the crash test: it is ``kill -9``-ed at random moments.

Round after round it imports a document of new conversations under its own run id, merges a group
of messages into the shared ``base`` conversation under the same run, and rolls every other run
back (removing what it created and reverting ``base``). It prints ``imported|merged|rolled <run>``
only after the call returned, so every printed line is acknowledged. Small checkpoint thresholds
make kills land during compaction too (and a revert checkpoints on purpose).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from sidecar.service.exporter import export_conversation
from sidecar.service.import_runs import rollback_run
from sidecar.service.importer import import_document
from sidecar.store import Store, StoreConfig
from tests.transfer.documents import chain, conversation, document

CONVERSATIONS = 3
MESSAGES = 12
GROUP = 8


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def main(data_dir: Path, tag: str) -> None:
    config = StoreConfig(checkpoint_bytes=32 * 1024, checkpoint_interval=0.1, cache_size=3)
    store = await Store.open(data_dir, config)
    await store.create_conversation(id="base")
    say("ready")
    for round_number in range(10_000):
        run = f"{tag}r{round_number}"
        created = [
            conversation(
                f"{run}c{j}",
                chain(*(f"{run}c{j}m{n}" for n in range(MESSAGES)), conversation_id=f"{run}c{j}"),
            )
            for j in range(CONVERSATIONS)
        ]
        await import_document(store, document(*created), run_id=run)
        say(f"imported {run}")
        base = await export_conversation(store, "base")
        heads = {b["name"]: b["head_message_id"] for b in base["branches"]}
        group = chain(
            *(f"{run}b{n}" for n in range(GROUP)), conversation_id="base", parent=heads["main"]
        )
        base["messages"] += group
        base["branches"] = [{"name": "main", "head_message_id": group[-1]["id"]}]
        await import_document(store, document(base), run_id=run)
        say(f"merged {run}")
        if round_number % 2 == 0:
            await rollback_run(store, run)
            say(f"rolled {run}")


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2]))
