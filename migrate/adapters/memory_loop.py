"""memory-loop: one conversation per vault (``memory-loop:session:<v>`` + ``...:messages:<v>``)."""

from __future__ import annotations

from typing import Any

from ..model import RawConversation
from ..problems import Problems
from .base import Extraction, parsed, raw_messages, text_id

SESSION = "memory-loop:session:"
MESSAGES = "memory-loop:messages:"


class MemoryLoop:
    name = "memory-loop"

    def claims_key(self, key: str) -> bool:
        return key.startswith((SESSION, MESSAGES))

    def claims_value(self, key: str, value: Any) -> bool:
        return False

    def extract(
        self, entries: dict[str, Any], file: str, problems: Problems, out: Extraction
    ) -> None:
        vaults: dict[str, dict[str, Any]] = {}
        for key in list(entries):
            kind, vault = (
                ("session", key[len(SESSION) :])
                if key.startswith(SESSION)
                else ("messages", key[len(MESSAGES) :])
            )
            vaults.setdefault(vault, {})[kind] = (key, entries.pop(key))
        for vault, parts in sorted(vaults.items()):
            session: dict[str, Any] = {}
            key = ""
            if "session" in parts:
                key, raw = parts["session"]
                value = parsed(key, raw, problems)
                if isinstance(value, dict):
                    session = value
                elif value is not None:
                    problems.error(key, f"a JSON {type(value).__name__}, not a session object")
            messages: Any = []
            if "messages" in parts:
                key, raw = parts["messages"]
                messages = parsed(key, raw, problems)
                if messages is None:
                    continue
            else:
                problems.warning(key, f"vault {vault}: session without messages")
            legacy_id = text_id(session.get("sessionId")) or vault
            extra = {k: v for k, v in session.items() if k not in ("sessionId", "createdAt")}
            extra.setdefault("vaultId", vault)
            out.add(
                RawConversation(
                    app=self.name,
                    legacy_id=legacy_id,
                    file=file,
                    key=key,
                    created_at=session.get("createdAt"),
                    messages=raw_messages(messages, key, legacy_id, problems, "timestamp"),
                    extra=extra,
                )
            )
