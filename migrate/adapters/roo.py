"""roo: Roo Code's tasks (``rooveterinaryinc.roo-cline``), LEGACY_FORMATS §7.

The task folders are Cline's (:mod:`.cline`); only where the HistoryItem lives differs: in the
task's own ``history_item.json``, else in ``tasks/_index.json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..problems import BadInput, Problems
from .cline import TaskReader
from .files import load_json

ITEM = "history_item.json"
INDEX = "_index.json"


class Roo(TaskReader):
    name = "roo"

    def history_items(self, tool_dir: Path, problems: Problems) -> dict[str, dict[str, Any]]:
        """``tasks/_index.json``: ``{entries: [HistoryItem, ...]}``."""
        items = self._items.get(tool_dir)
        if items is None:
            items = {}
            index = tool_dir / "tasks" / INDEX
            if index.exists():
                try:
                    data = load_json(index, str(index))
                except BadInput as exc:
                    problems.warning(None, f"task index unreadable: {exc}")
                    data = {}
                entries = data.get("entries") if isinstance(data, dict) else data
                for item in entries if isinstance(entries, list) else []:
                    if isinstance(item, dict) and item.get("id") is not None:
                        items[str(item["id"])] = item
            self._items[tool_dir] = items
        return items

    def history_item(self, task: Path, problems: Problems) -> dict[str, Any]:
        own = task / ITEM
        if own.exists():
            try:
                item = load_json(own, str(own))
            except BadInput as exc:
                problems.warning(task.name, str(exc))
            else:
                if isinstance(item, dict):
                    return item
        return super().history_item(task, problems)
