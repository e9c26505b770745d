"""Hand-made export documents for merge, validation and rollback tests."""

from __future__ import annotations

from typing import Any


def stamp(second: int) -> str:
    return f"2026-01-01T00:00:{second:02d}.000Z"


def message(
    message_id: str,
    parent_id: str | None,
    *,
    conversation_id: str = "c",
    role: str = "user",
    at: int = 1,
    **fields: Any,
) -> dict[str, Any]:
    return {
        "id": message_id,
        "conversation_id": conversation_id,
        "parent_id": parent_id,
        "role": role,
        "content": f"text of {message_id}",
        "created_at": stamp(at),
        **fields,
    }


def chain(*ids: str, conversation_id: str = "c", parent: str | None = None) -> list[dict[str, Any]]:
    """Messages each following the one before (the first after ``parent``)."""
    messages = []
    for number, message_id in enumerate(ids):
        role = "user" if number % 2 == 0 else "assistant"
        messages.append(
            message(message_id, parent, conversation_id=conversation_id, role=role, at=number + 1)
        )
        parent = message_id
    return messages


def conversation(
    conversation_id: str = "c",
    messages: list[dict[str, Any]] | None = None,
    *,
    branches: dict[str, str | None] | None = None,
    updated: int = 10,
    **fields: Any,
) -> dict[str, Any]:
    messages = [{**m, "conversation_id": conversation_id} for m in messages or []]
    if branches is None:
        branches = {"main": messages[-1]["id"] if messages else None}
    return {
        "id": conversation_id,
        "created_at": stamp(0),
        "updated_at": stamp(updated),
        "messages": messages,
        "branches": [{"name": n, "head_message_id": h} for n, h in branches.items()],
        **fields,
    }


def document(*conversations: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {
        "format": "chat-sidecar.export",
        "version": 1,
        "conversations": list(conversations),
        **top,
    }
