"""The chat shape zustand and redux-persist stores share: ``{id, title, ..., messages: [...]}``."""

from __future__ import annotations

from typing import Any

from ..model import RawConversation
from ..problems import Problems
from .base import session_conversation, text_id

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
            session_conversation(
                app,
                chat_id,
                chat,
                messages,
                file=file,
                key=key,
                problems=problems,
                known=CHAT_FIELDS,
            )
        )
    return result
