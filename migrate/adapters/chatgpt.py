"""chatgpt: a ChatGPT data export (the ``.zip`` or its ``conversations.json``), LEGACY_FORMATS §7.

The file is streamed one conversation at a time (a 300 MB export is read in bounded memory). Each
conversation is a tree (``mapping``); the path to ``current_node`` is main, other leaves are
branches. Hidden messages are skipped and counted; an assistant message addressed to a tool
(``recipient`` other than ``all``) is a call, and the ``tool`` message after it its result.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any

from ..problems import BadInput, Problems
from .files import stream_array
from .peer import (
    PeerMessage,
    Thread,
    answer_calls,
    as_object,
    role_of,
    time_of,
    tool_call,
)
from .tree import paths

NAME = "chatgpt"
FILE = "conversations.json"
TEXT_TYPES = ("text", "multimodal_text")
OWN_FIELDS = frozenset(
    {
        "id",
        "conversation_id",
        "title",
        "create_time",
        "update_time",
        "current_node",
        "is_archived",
        "is_starred",
        "mapping",
    }
)


class BadConversation(ValueError):
    """One conversation of the export cannot be read: reported and skipped."""


def zip_member(archive: zipfile.ZipFile) -> str | None:
    names = [n for n in archive.namelist() if n == FILE or n.endswith("/" + FILE)]
    return min(names, key=len) if names else None


def open_export(unit: Path, stack: ExitStack) -> IO[bytes]:
    """The ``conversations.json`` stream of a file or a ``.zip`` (nothing extracted to disk)."""
    label = str(unit)
    try:
        if zipfile.is_zipfile(unit):
            archive = stack.enter_context(zipfile.ZipFile(unit))
            member = zip_member(archive)
            if member is None:
                raise BadInput(label, f"the archive has no {FILE}")
            return stack.enter_context(archive.open(member))
        return stack.enter_context(unit.open("rb"))
    except (OSError, zipfile.BadZipFile) as exc:
        raise BadInput(label, f"cannot be read ({exc})") from None


def _content(content: Any, legacy: dict[str, Any]) -> str:
    if not isinstance(content, dict):
        return ""
    kind = content.get("content_type")
    if kind not in (None, "text"):
        legacy["content_type"] = kind
    extra = {k: v for k, v in content.items() if k not in ("content_type", "parts", "text")}
    if extra:
        legacy["content"] = extra
    parts = content.get("parts")
    if isinstance(parts, list):
        texts = [p for p in parts if isinstance(p, str)]
        others = [p for p in parts if not isinstance(p, str)]
        if others:
            legacy["parts"] = others  # image pointers and other non-text parts
        if kind in (None, *TEXT_TYPES) or texts:
            return "".join(texts)
        return ""
    text = content.get("text")
    return text if isinstance(text, str) else ""


def _hidden(message: dict[str, Any], role: str, content: str) -> bool:
    metadata = message.get("metadata")
    if isinstance(metadata, dict) and metadata.get("is_visually_hidden_from_conversation"):
        return True
    return role == "system" and not content.strip()


class _Nodes:
    """Each node's message, made once however many paths go through it."""

    def __init__(self, mapping: dict[str, Any]) -> None:
        self.mapping = mapping
        self.made: dict[str, PeerMessage | None] = {}
        self.hidden = 0

    def parent(self, node_id: str) -> str | None:
        parent = self.mapping[node_id].get("parent")
        return parent if isinstance(parent, str) else None

    def children(self, node_id: str) -> list[str]:
        kids = self.mapping[node_id].get("children")
        return [k for k in kids if isinstance(k, str)] if isinstance(kids, list) else []

    def message(self, node_id: str, previous: PeerMessage | None) -> PeerMessage | None:
        if node_id in self.made:
            return self.made[node_id]
        raw = self.mapping[node_id].get("message")
        made: PeerMessage | None = None
        if isinstance(raw, dict):
            author = as_object(raw.get("author"))
            role = role_of(author.get("role"))
            legacy: dict[str, Any] = {
                k: v
                for k, v in raw.items()
                if k not in ("id", "author", "create_time", "content") and v not in (None, {}, [])
            }
            author_rest = {k: v for k, v in author.items() if k != "role" and v not in (None, {})}
            if author_rest:
                legacy["author"] = author_rest
            content = _content(raw.get("content"), legacy)
            if _hidden(raw, role, content):
                self.hidden += 1
            else:
                made = PeerMessage(node_id, role, content, time_of(raw.get("create_time")), legacy)
                recipient = raw.get("recipient")
                if role == "assistant" and isinstance(recipient, str) and recipient != "all":
                    made.tool_calls.append(tool_call(f"call-{node_id}", recipient, content))
                elif role == "tool" and previous is not None and previous.tool_calls:
                    made.tool_call_id = previous.tool_calls[-1]["id"]
        self.made[node_id] = made
        return made

    def path(self, ids: list[str]) -> list[PeerMessage]:
        out: list[PeerMessage] = []
        for node_id in ids:
            made = self.message(node_id, out[-1] if out else None)
            if made is not None:
                out.append(made)
        answer_calls(out)
        return out


def conversation(item: Any, label: str, problems: Problems) -> Thread:
    if not isinstance(item, dict):
        raise BadConversation("a conversation that is not an object")
    legacy_id = item.get("conversation_id") or item.get("id")
    if not isinstance(legacy_id, str) or not legacy_id:
        raise BadConversation("a conversation without an id")
    mapping = item.get("mapping")
    if not isinstance(mapping, dict):
        raise BadConversation(f"{legacy_id}: no 'mapping' object")
    mapping = {k: v for k, v in mapping.items() if isinstance(v, dict)}
    nodes = _Nodes(mapping)
    current = item.get("current_node")
    main, others, usable = paths(
        mapping, current if isinstance(current, str) else None, nodes.parent, nodes.children
    )
    if not usable and mapping:
        problems.warning(legacy_id, "no usable current_node: main ends at the last leaf")
    thread = Thread(NAME, legacy_id, label)
    thread.main = nodes.path(main)
    thread.others = [p for p in (nodes.path(o) for o in others) if p]
    thread.hidden = nodes.hidden
    title = item.get("title")
    thread.title = title if isinstance(title, str) else None
    thread.created_ms = time_of(item.get("create_time"))
    thread.updated_ms = time_of(item.get("update_time"))
    thread.archived = item.get("is_archived") is True
    thread.starred = item.get("is_starred") is True
    thread.legacy = {
        k: v for k, v in item.items() if k not in OWN_FIELDS and v not in (None, [], {})
    }
    return thread


class ChatGPT:
    name = NAME

    def units(self, path: Path) -> list[Path]:
        if path.is_file():
            return [path]
        if (path / FILE).is_file():
            return [path / FILE]
        found: list[Path] = []
        for candidate in sorted(path.glob("*.zip")):
            try:
                with zipfile.ZipFile(candidate) as archive:
                    if zip_member(archive) is not None:
                        found.append(candidate)
            except (OSError, zipfile.BadZipFile):
                continue
        return found

    def read(self, unit: Path, problems: Problems) -> Iterator[Thread]:
        label = str(unit)
        with ExitStack() as stack:
            handle = open_export(unit, stack)
            for number, item in enumerate(stream_array(handle, label)):
                try:
                    thread = conversation(item, label, problems)
                except BadConversation as exc:
                    problems.error(f"[{number}]", f"conversation skipped: {exc}")
                    continue
                del item
                yield thread
