"""redux-persist: ``persist:<name>`` whose value's slices are JSON text; chats in ``chats``/``sessions``."""

from __future__ import annotations

from typing import Any

from ..problems import Problems
from .base import Extraction, parsed
from .chats import raw_chats

PREFIX = "persist:"
SLICES = ("chats", "sessions")
HOLDERS = ("chats", "sessions", "items", "list")


def _chats_of(slice_value: Any) -> Any:
    """A slice is the chat array itself, or an object holding it (``{chats: [...]}``)."""
    if isinstance(slice_value, dict):
        for name in HOLDERS:
            if isinstance(slice_value.get(name), list | dict):
                return slice_value[name]
    return slice_value


class ReduxPersist:
    name = "redux-persist"

    def claims_key(self, key: str) -> bool:
        return key.startswith(PREFIX)

    def claims_value(self, key: str, value: Any) -> bool:
        return False

    def extract(
        self, entries: dict[str, Any], file: str, problems: Problems, out: Extraction
    ) -> None:
        for key in list(entries):
            root = parsed(key, entries.pop(key), problems)
            if root is None:
                continue
            if not isinstance(root, dict):
                problems.error(key, f"a JSON {type(root).__name__}, not a persisted state object")
                continue
            found = False
            for name in SLICES:
                if name not in root:
                    continue
                found = True
                value = parsed(f"{key}.{name}", root[name], problems)
                if value is not None:
                    chats = _chats_of(value)
                    out.add_all(raw_chats(chats, self.name, file, f"{key}.{name}", problems))
            others = sorted(k for k in root if k not in SLICES and k != "_persist")
            if not found:
                problems.warning(key, "no chats or sessions slice")
            if others:
                problems.info(key, f"slices not imported: {', '.join(others)}")
