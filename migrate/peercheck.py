"""What ``validate --from`` checks beyond the legacy rules: the other tools' structure.

:func:`migrate.validate.validate` checks each conversation's main branch (presence, order, role,
content, time, title, flags). Other tools also have branches and tool calls, so here every branch
the tool kept must be a whole path of the stored conversation, and every stored message must have
the tool calls (name, arguments, status, result) and the ``tool_call_id`` the history gives it.
"""

from __future__ import annotations

from typing import Any

from .model import Conversation, Message
from .stored import branch_path
from .target import Target

CALL_FIELDS = ("name", "arguments", "status", "result", "error")


def _expected_paths(conversation: Conversation) -> dict[str, list[str]]:
    """Each planned branch as the ids of its whole path from the first message."""
    parent: dict[str, str | None] = {}
    previous: str | None = None
    for message in conversation.messages:
        parent[message.id], previous = previous, message.id
    paths: dict[str, list[str]] = {}
    for branch in conversation.branches:
        head = branch.parent_id
        for message in branch.messages:
            parent[message.id], head = head, message.id
        ids: list[str] = []
        current = head
        while current is not None and current not in ids:
            ids.append(current)
            current = parent.get(current)
        paths[branch.name] = ids[::-1]
    return paths


def _calls(value: Any) -> list[tuple[Any, ...]]:
    calls = value if isinstance(value, list) else []
    return [tuple(c.get(k) for k in ("id", *CALL_FIELDS)) for c in calls if isinstance(c, dict)]


def _message_differences(label: str, message: Message, stored: dict[str, Any]) -> list[str]:
    out: list[str] = []
    where = f"{label}: message {message.legacy_id or message.id}"
    if _calls(stored.get("tool_calls")) != _calls(message.tool_calls_view()):
        out.append(f"{where}: tool calls differ from the history's")
    if stored.get("tool_call_id") != message.tool_call_id:
        out.append(
            f"{where}: answers tool call {stored.get('tool_call_id')!r}, "
            f"expected {message.tool_call_id!r}"
        )
    return out


async def structure_differences(conversations: list[Conversation], target: Target) -> list[str]:
    """One line per branch missing from the store and per message whose tool calls differ."""
    out: list[str] = []
    for conversation in conversations:
        has_calls = any(
            m.tool_calls_view() or m.tool_call_id
            for m in [
                *conversation.messages,
                *(x for b in conversation.branches for x in b.messages),
            ]
        )
        if not conversation.branches and not has_calls:
            continue
        document = await target.export(conversation.store_id)
        if document is None:
            continue  # validate reports it missing
        label = f"{conversation.identity} ({conversation.store_id})"
        stored_ids = [
            [m["id"] for m in branch_path(document, str(b.get("name")))]
            for b in document.get("branches") or []
        ]
        for name, ids in _expected_paths(conversation).items():
            if not any(path[: len(ids)] == ids for path in stored_ids):
                leaf = next(
                    (
                        m.legacy_id
                        for b in conversation.branches
                        if b.name == name
                        for m in b.messages[-1:]
                    ),
                    name,
                )
                out.append(f"{label}: the branch ending at {leaf} is missing from the store")
        by_id = {m["id"]: m for m in document.get("messages") or [] if isinstance(m, dict)}
        for message in [
            *conversation.messages,
            *(x for b in conversation.branches for x in b.messages),
        ]:
            stored = by_id.get(message.id)
            if stored is not None:
                out.extend(_message_differences(label, message, stored))
    return out
