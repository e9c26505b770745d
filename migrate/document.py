"""Planned conversations as the lossless export format (docs/export-format.md), for the importer."""

from __future__ import annotations

import time
from typing import Any

from .model import Conversation, Message
from .normalize import format_ms
from .reading import SIDECAR_FORMAT

EXPORT_VERSION = 1


def _source(app: str, legacy_id: str | None, run_id: str | None) -> dict[str, Any]:
    return {"kind": "migration", "format": app, "legacy_id": legacy_id, "run_id": run_id}


def _message(
    conversation: Conversation, message: Message, parent: str | None, run_id: str | None
) -> dict[str, Any]:
    stamp = format_ms(message.created_ms)
    return {
        "id": message.id,
        "conversation_id": conversation.store_id,
        "parent_id": parent,
        "role": message.role,
        "content": message.content,
        "status": message.status,
        "created_at": stamp,
        "updated_at": stamp,
        "client_message_id": None,
        "turn_id": None,
        "tool_calls": message.tool_calls_view(),
        "tool_call_id": message.tool_call_id,
        "metadata": message.metadata_view(),
        "source": _source(conversation.app, message.legacy_id, run_id),
    }


def conversation_document(
    conversation: Conversation, run_id: str | None, *, source: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One conversation of an export document: main branch first, then each kept tail.

    ``source``: the conversation's own ``source`` when it is already in the store (a merge keeps
    it); otherwise the migration source of this conversation's app and legacy id.
    """
    messages: list[dict[str, Any]] = []
    parent: str | None = None
    for message in conversation.messages:
        messages.append(_message(conversation, message, parent, run_id))
        parent = message.id
    branches = [{"name": conversation.main_branch, "head_message_id": parent}]
    for branch in conversation.branches:
        head = branch.parent_id
        for message in branch.messages:
            messages.append(_message(conversation, message, head, run_id))
            head = message.id
        branches.append({"name": branch.name, "head_message_id": head})
    return {
        "id": conversation.store_id,
        "title": conversation.title,
        "created_at": format_ms(conversation.created_ms),
        "updated_at": format_ms(conversation.updated_ms),
        "starred": conversation.starred,
        "pinned": conversation.pinned,
        "archived": conversation.archived,
        "deleted_at": None,
        "workspace": None,
        "tags": conversation.tags,
        "metadata": conversation.metadata,
        "active_branch": conversation.main_branch,
        "revision": 1,
        "source": source or _source(conversation.app, conversation.legacy_id, run_id),
        "branches": branches,
        "messages": messages,
        "turns": [],
    }


def export_document(conversations: list[dict[str, Any]], run_id: str | None) -> dict[str, Any]:
    document: dict[str, Any] = {
        "format": SIDECAR_FORMAT,
        "version": EXPORT_VERSION,
        "exported_at": format_ms(int(time.time() * 1000)),
        "conversations": conversations,
    }
    if run_id is not None:
        document["run_id"] = run_id
    return document
