"""chat-sidecar: the sidecar's own export document; re-importing it is a lossless round trip.

Its conversations go to the importer untouched (ids, branches, turns, ``source``), so none of the
legacy rules apply to them.
"""

from __future__ import annotations

from typing import Any

from ..problems import Problems
from ..reading import SIDECAR_FORMAT
from .base import Extraction


def is_sidecar_export(value: Any) -> bool:
    return isinstance(value, dict) and value.get("format") == SIDECAR_FORMAT


class ChatSidecar:
    name = "chat-sidecar"

    def claims_key(self, key: str) -> bool:
        return False

    def claims_value(self, key: str, value: Any) -> bool:
        return is_sidecar_export(value)

    def extract(
        self, entries: dict[str, Any], file: str, problems: Problems, out: Extraction
    ) -> None:
        for key, document in entries.items():
            version = document.get("version")
            if version != 1:
                problems.error(key or None, f"export version {version!r} is not supported (only 1)")
                continue
            conversations = document.get("conversations")
            if not isinstance(conversations, list):
                problems.error(key or None, "export has no conversations array")
                continue
            for conversation in conversations:
                if isinstance(conversation, dict) and isinstance(conversation.get("id"), str):
                    out.documents.append(conversation)
                else:
                    problems.error(key or None, "a conversation without an id was skipped")
        entries.clear()
