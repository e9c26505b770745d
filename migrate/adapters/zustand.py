"""zustand ``persist``: any key whose value is ``{"state": {"chats": [...]}, "version": N}``."""

from __future__ import annotations

from typing import Any

from ..problems import Problems
from .base import Extraction
from .chats import raw_chats


def is_zustand(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("state"), dict)
        and isinstance(value["state"].get("chats"), list)
        and "version" in value
    )


class Zustand:
    name = "zustand"

    def claims_key(self, key: str) -> bool:
        return False

    def claims_value(self, key: str, value: Any) -> bool:
        return is_zustand(value)

    def extract(
        self, entries: dict[str, Any], file: str, problems: Problems, out: Extraction
    ) -> None:
        for key in list(entries):
            state = entries.pop(key)["state"]
            others = sorted(k for k in state if k != "chats")
            if others:
                problems.info(key, f"state fields not imported: {', '.join(others)}")
            out.add_all(raw_chats(state["chats"], self.name, file, key, problems))
