"""What chat extensions commonly do instead, measured on the same disk with the same messages.

(a) ``tinydb``: one TinyDB file per conversation with TinyDB's default ``JSONStorage``, one
    ``insert`` per message. Every insert reads and parses the whole file, then rewrites it in place
    (``seek(0)``, write, ``flush``, ``os.fsync``, ``truncate``). TinyDB 4.9 does fsync, but the
    rewrite is not atomic: a crash mid-write leaves a torn file.
(b) ``json-file``: one JSON file per conversation, rewritten whole on each message with an atomic
    replace (temp file, write, fsync, ``os.replace``, fsync of the folder). The messages are kept
    in memory between writes and serialised with orjson (the fastest option, to be fair to it).
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
from tinydb import TinyDB

from sidecar.store.model import Doc
from sidecar.store.timeutil import now_iso

from .common import Figures, Sizes, latency_summary, now
from .datagen import conversation_doc, message_doc
from .store_ops import CONTENT_CHARS, content_pool

BASELINES = ("tinydb", "json-file")


def _messages(conversation_id: str, count: int, pool: list[str], start: int = 0) -> list[Doc]:
    at = now_iso()
    docs: list[Doc] = []
    for ordinal in range(start, start + count):
        parent = None if ordinal == 0 else f"{conversation_id}-m{ordinal - 1:06d}"
        role = "user" if ordinal % 2 == 0 else "assistant"
        content = pool[ordinal % len(pool)]
        docs.append(
            message_doc(
                conversation_id, f"{conversation_id}-m{ordinal:06d}", parent, role, content, at
            )
        )
    return docs


class TinyDBConversation:
    """Baseline (a): a TinyDB file holding one conversation's messages."""

    def __init__(self, path: Path, prefill: list[Doc]) -> None:
        self.db = TinyDB(path)  # default JSONStorage
        if prefill:  # one bulk write, not one insert per message
            self.db.storage.write({"_default": {str(i + 1): d for i, d in enumerate(prefill)}})

    def append(self, doc: Doc) -> None:
        self.db.insert(doc)

    def close(self) -> None:
        self.db.close()


class JsonFileConversation:
    """Baseline (b): the whole conversation in one JSON file, replaced atomically per message."""

    def __init__(self, path: Path, conversation_id: str, prefill: list[Doc]) -> None:
        self.path = path
        self.state: dict[str, Any] = {
            "conversation": conversation_doc(conversation_id, "baseline", now_iso(), 1),
            "messages": list(prefill),
        }
        self._write()

    def append(self, doc: Doc) -> None:
        self.state["messages"].append(doc)
        self._write()

    def _write(self) -> None:
        data = orjson.dumps(self.state)
        temp = self.path.with_name(f".{self.path.name}.{secrets.token_hex(4)}")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, self.path)
        folder = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)

    def close(self) -> None:
        pass


Conversation = TinyDBConversation | JsonFileConversation


def _open(kind: str, folder: Path, conversation_id: str, prefill: list[Doc]) -> Conversation:
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "tinydb":
        return TinyDBConversation(folder / f"{conversation_id}.tinydb.json", prefill)
    return JsonFileConversation(folder / f"{conversation_id}.json", conversation_id, prefill)


# ----------------------------------------------------------------------------- per size


def append_latency(sizes: Sizes, workdir: Path) -> Figures:
    """Single appends at each conversation size (pre-filled by one bulk write)."""
    pool = content_pool()
    figures: Figures = {"content_chars": CONTENT_CHARS}
    for kind in BASELINES:
        per_size: Figures = {}
        for size, inserts in sizes.baseline_inserts:
            conversation_id = f"{kind}-{size}"
            docs = _messages(conversation_id, size + inserts + 1, pool)
            conversation = _open(kind, workdir / "baseline", conversation_id, docs[:size])
            try:
                conversation.append(docs[size])  # warm-up: first read of the file
                samples: list[float] = []
                for doc in docs[size + 1 :]:
                    begin = now()
                    conversation.append(doc)
                    samples.append(now() - begin)
            finally:
                conversation.close()
            per_size[str(size)] = latency_summary(samples)
        figures[kind] = per_size
    return figures


# ----------------------------------------------------------------------------- sequential


def sequential(sizes: Sizes, workdir: Path) -> Figures:
    """One writer appending ``baseline_sequential`` messages to a fresh conversation."""
    pool = content_pool()
    figures: Figures = {"appends": sizes.baseline_sequential}
    for kind in BASELINES:
        conversation_id = f"{kind}-seq"
        docs = _messages(conversation_id, sizes.baseline_sequential, pool)
        conversation = _open(kind, workdir / "baseline-seq", conversation_id, [])
        try:
            start = now()
            for doc in docs:
                conversation.append(doc)
            elapsed = now() - start
        finally:
            conversation.close()
        figures[kind] = {"per_s": sizes.baseline_sequential / elapsed}
    return figures


# ----------------------------------------------------------------------------- concurrent


async def _thread_writer(
    threads: ThreadPoolExecutor, conversation: Conversation, docs: list[Doc], latencies: list[float]
) -> None:
    loop = asyncio.get_running_loop()
    append: Callable[[Doc], None] = conversation.append
    for doc in docs:
        begin = now()
        await loop.run_in_executor(threads, append, doc)
        latencies.append(now() - begin)


async def concurrent(sizes: Sizes, workdir: Path) -> Figures:
    """``writers`` threads (a pool as large as the writers), each appending to its own file."""
    pool = content_pool()
    figures: Figures = {"writers": sizes.writers, "per_writer": sizes.baseline_per_writer}
    with ThreadPoolExecutor(max_workers=sizes.writers, thread_name_prefix="baseline") as threads:
        for kind in BASELINES:
            conversations = [
                _open(kind, workdir / f"baseline-conc-{kind}", f"{kind}-w{i}", [])
                for i in range(sizes.writers)
            ]
            docs = [
                _messages(f"{kind}-w{i}", sizes.baseline_per_writer, pool)
                for i in range(sizes.writers)
            ]
            latencies: list[float] = []
            try:
                start = now()
                await asyncio.gather(
                    *(
                        _thread_writer(threads, c, d, latencies)
                        for c, d in zip(conversations, docs, strict=True)
                    )
                )
                elapsed = now() - start
            finally:
                for conversation in conversations:
                    conversation.close()
            figures[kind] = {
                "per_s": sizes.writers * sizes.baseline_per_writer / elapsed,
                "latency": latency_summary(latencies),
            }
    return figures
