"""The chat shape zustand and redux-persist stores share: ``{id, title, ..., messages: [...]}``."""

from __future__ import annotations

from typing import Any

from ..model import RawConversation
from ..problems import Problems
from .base import raw_messages, text_id

CHAT_FIELDS = ("id", "title", "createdAt", "updatedAt", "starred", "pinned", "archived", "messages")


def raw_chats(
    chats: Any, app: str, file: str, key: str, problems: Problems
) -> list[RawConversation]:
    if isinstance(chats, dict):
        chats = list(chats.values())
    if not isinstance(chats, list):
        problems.error(key, f"chats are a JSON {type(chats).__name__}, not an array")
        return []
    result: list[RawConversation] = []
    for chat in chats:
        chat_id = text_id(chat.get("id")) if isinstance(chat, dict) else None
        if not isinstance(chat, dict) or chat_id is None:
            problems.error(key, f"a chat without an id was skipped: {chat!r:.80}")
            continue
        messages = chat.get("messages", [])
        result.append(
            RawConversation(
                app=app,
                legacy_id=chat_id,
                file=file,
                key=key,
                title=chat.get("title"),
                created_at=chat.get("createdAt"),
                updated_at=chat.get("updatedAt"),
                starred=chat.get("starred"),
                pinned=chat.get("pinned"),
                archived=chat.get("archived"),
                backend_id=chat.get("backendConversationId"),
                messages=raw_messages(messages, key, chat_id, problems, "createdAt"),
                extra={k: v for k, v in chat.items() if k not in CHAT_FIELDS},
            )
        )
    return result
