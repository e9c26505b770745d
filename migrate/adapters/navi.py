"""navi: ``navi.chatSessions`` plus one ``navi.chatSession.messages.<sessionId>`` per session."""

from __future__ import annotations

import contextlib
from typing import Any

from ..model import RawConversation
from ..problems import Problems
from ..reading import parse_value, unspilled
from .base import Extraction, parsed, session_conversation, text_id

SESSIONS = "navi.chatSessions"
MESSAGES = "navi.chatSession.messages."
ACTIVE = "navi.activeSessionId"
SESSION_FIELDS = (
    "id",
    "title",
    "createdAt",
    "updatedAt",
    "starred",
    "pinned",
    "archived",
    "backendConversationId",
)


class Navi:
    name = "navi"

    def claims_key(self, key: str) -> bool:
        return key in (SESSIONS, ACTIVE) or key.startswith(MESSAGES)

    def claims_value(self, key: str, value: Any) -> bool:
        return False

    def extract(
        self, entries: dict[str, Any], file: str, problems: Problems, out: Extraction
    ) -> None:
        sessions: dict[str, dict[str, Any]] = {}
        if SESSIONS in entries:
            listed = parsed(SESSIONS, entries.pop(SESSIONS), problems)
            if isinstance(listed, list):
                for item in listed:
                    session_id = text_id(item.get("id")) if isinstance(item, dict) else None
                    if isinstance(item, dict) and session_id is not None:
                        sessions[session_id] = item
                    else:
                        problems.error(
                            SESSIONS, f"a session without an id was skipped: {item!r:.80}"
                        )
            elif listed is not None:
                problems.error(SESSIONS, f"a JSON {type(listed).__name__}, not an array")
        if ACTIVE in entries:
            active = unspilled(entries.pop(ACTIVE))
            with contextlib.suppress(ValueError):
                active = parse_value(active)  # localStorage keeps a bare string as it is
            problems.info(ACTIVE, f"active session {active!r} (report only)")
        found: set[str] = set()
        for key in sorted(k for k in entries if k.startswith(MESSAGES)):
            session_id = key[len(MESSAGES) :]
            value = parsed(key, entries.pop(key), problems)
            if value is None or not session_id:
                if not session_id:
                    problems.error(key, "message list names no session")
                continue
            found.add(session_id)
            session = sessions.get(session_id)
            if session is None:
                problems.warning(
                    key, f"{session_id}: messages of a session missing from {SESSIONS}"
                )
                session = {}
            out.add(self._conversation(session_id, session, file, key, value, problems))
        for session_id, session in sessions.items():
            if session_id not in found:
                problems.warning(SESSIONS, f"{session_id}: session has no message list")
                out.add(self._conversation(session_id, session, file, SESSIONS, [], problems))

    def _conversation(
        self,
        session_id: str,
        session: dict[str, Any],
        file: str,
        key: str,
        messages: Any,
        problems: Problems,
    ) -> RawConversation:
        return session_conversation(
            self.name,
            session_id,
            session,
            messages,
            file=file,
            key=key,
            problems=problems,
            known=SESSION_FIELDS,
        )
