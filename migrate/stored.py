"""The store's copy of a conversation, read back as the rules' :class:`Conversation`.

Messages imported by a migration carry ``source.legacy_id``, which gives the legacy id back, so
"the same message" is decided exactly as between two exports; other messages are *synced* ones
(the legacy app posted them through the sidecar's API before it was retired, or they were written
in the sidecar), matched by position, role and content (:mod:`migrate.alignment`).
"""

from __future__ import annotations

from typing import Any

from .model import Conversation, Message
from .normalize import parse_store_time

Doc = dict[str, Any]


def branch_path(document: Doc, name: str | None = None) -> list[Doc]:
    """The messages of one branch (default: the active one), root first."""
    if name is None:
        name = active_branch(document)
    heads = {b.get("name"): b.get("head_message_id") for b in document.get("branches") or []}
    by_id = {m["id"]: m for m in document.get("messages") or [] if isinstance(m, dict)}
    path: list[Doc] = []
    current = heads.get(name)
    seen: set[str] = set()
    while isinstance(current, str) and current in by_id and current not in seen:
        seen.add(current)
        path.append(by_id[current])
        current = by_id[current].get("parent_id")
    path.reverse()
    return path


def active_branch(document: Doc) -> str:
    return str(document.get("active_branch") or "main")


def _object(value: Any) -> Doc:
    return value if isinstance(value, dict) else {}


def _migration(source: Any) -> Doc:
    return source if isinstance(source, dict) and source.get("kind") == "migration" else {}


def stored_message(document: Doc) -> Message:
    """One stored message; ``synced`` when no migration wrote it."""
    source = _migration(document.get("source"))
    return Message(
        id=document["id"],
        legacy_id=source.get("legacy_id"),
        role=str(document.get("role")),
        content=str(document.get("content") or ""),
        created_ms=parse_store_time(document.get("created_at")),
        metadata=document.get("metadata") or {},
        synced=not source,
        tool_calls=list(document.get("tool_calls") or []),
        tool_call_id=document.get("tool_call_id"),
        status=str(document.get("status") or "complete"),
    )


def stored_paths(document: Doc) -> dict[str, list[Message]]:
    """Every branch of a stored conversation, each as its whole path (root first)."""
    return {
        str(b.get("name")): [stored_message(m) for m in branch_path(document, str(b.get("name")))]
        for b in document.get("branches") or []
    }


def from_store(document: Doc) -> Conversation:
    """The stored conversation with its active branch as ``messages``."""
    source = _migration(document.get("source"))
    metadata = _object(document.get("metadata"))
    migration = _object(metadata.get("migration"))
    return Conversation(
        app=str(source.get("format") or "store"),
        legacy_id=str(source.get("legacy_id") or document["id"]),
        store_id=document["id"],
        title=document.get("title"),
        created_ms=parse_store_time(document.get("created_at")),
        updated_ms=parse_store_time(document.get("updated_at")),
        starred=bool(document.get("starred")),
        pinned=bool(document.get("pinned")),
        archived=bool(document.get("archived")),
        messages=[stored_message(m) for m in branch_path(document)],
        metadata=dict(metadata),
        aliases=list(migration.get("aliases") or []),
        main_branch=active_branch(document),
        tags=[str(t) for t in document.get("tags") or []],
    )


def branch_names(document: Doc) -> list[str]:
    return [str(b.get("name")) for b in document.get("branches") or []]
