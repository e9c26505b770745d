"""cline: Cline's tasks, one folder each (``tasks/<taskId>/``), LEGACY_FORMATS §7.

``api_conversation_history.json`` is the conversation (Anthropic-style blocks); ``ui_messages.json``
gives the times the API history lacks; ``state/taskHistory.json`` holds each task's HistoryItem
(title, tokens, cost, favourite). Roo Code keeps the same task folders (:mod:`.roo`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..problems import BadInput, Problems
from .files import load_json
from .peer import PeerMessage, Thread, answer_calls, first_line, time_of, tool_call

NAME = "cline"
HISTORY = "api_conversation_history.json"
UI = "ui_messages.json"
METADATA = "task_metadata.json"
ENVIRONMENT = re.compile(r"\s*<environment_details>.*</environment_details>\s*", re.DOTALL)
TYPED = re.compile(r"\s*<(task|feedback)>\n?(.*?)\n?</\1>\s*", re.DOTALL)
#: HistoryItem fields with a place of their own; every other one goes to ``metadata.legacy``.
ITEM_FIELDS = ("id", "task", "isFavorited")


def task_dirs(path: Path) -> list[Path]:
    """The task folders a PATH holds: a history file, a task folder, ``tasks/`` or the tool's
    folder (whose ``tasks/`` are listed)."""
    if path.is_file():
        return [path.parent] if path.name == HISTORY else []
    if (path / HISTORY).is_file():
        return [path]
    tasks = path / "tasks" if (path / "tasks").is_dir() else path
    return sorted(p for p in tasks.iterdir() if p.is_dir() and (p / HISTORY).exists())


def _times(ui: Any) -> tuple[list[int | None], list[int | None], int | None]:
    """From ``ui_messages.json``: when each API request was sent, when its reply first showed,
    and when the task was given. The n-th user entry of the API history is the n-th request's;
    the n-th assistant entry is that request's reply."""
    sent: list[int | None] = []
    replied: list[int | None] = []
    task: int | None = None
    waiting = False
    for item in ui if isinstance(ui, list) else []:
        if not isinstance(item, dict):
            continue
        stamp = time_of(item.get("ts"))
        if item.get("say") == "task" and task is None:
            task = stamp
        if item.get("say") == "api_req_started":
            if waiting:
                replied.append(None)
            sent.append(stamp)
            waiting = True
        elif waiting:
            replied.append(stamp)
            waiting = False
    if waiting:
        replied.append(None)
    return sent, replied, task


def _blocks(content: Any) -> list[Any]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return content if isinstance(content, list) else []


def _result_text(content: Any, legacy: dict[str, Any]) -> str:
    """A ``tool_result``'s content: text, or its text blocks joined (other blocks to metadata)."""
    if isinstance(content, str):
        return content
    texts: list[str] = []
    for block in content if isinstance(content, list) else []:
        if isinstance(block, dict) and block.get("type") == "text":
            texts.append(str(block.get("text") or ""))
        else:
            legacy.setdefault("blocks", []).append(block)
    return "\n\n".join(texts)


def _at(items: list[int | None], index: int) -> int | None:
    return items[index] if index < len(items) else None


class TaskReader:
    """Reads one tool's task folders; HistoryItems are looked up once per tool folder."""

    name = NAME

    def __init__(self) -> None:
        self._items: dict[Path, dict[str, dict[str, Any]]] = {}

    def units(self, path: Path) -> list[Path]:
        return task_dirs(path)

    def history_items(self, tool_dir: Path, problems: Problems) -> dict[str, dict[str, Any]]:
        """Cline: ``state/taskHistory.json``, an array of HistoryItems."""
        items = self._items.get(tool_dir)
        if items is None:
            items = {}
            source = tool_dir / "state" / "taskHistory.json"
            if source.exists():
                try:
                    listed = load_json(source, str(source))
                except BadInput as exc:
                    problems.warning(None, f"task titles unknown: {exc}")
                    listed = []
                for item in listed if isinstance(listed, list) else []:
                    if isinstance(item, dict) and item.get("id") is not None:
                        items[str(item["id"])] = item
            self._items[tool_dir] = items
        return items

    def history_item(self, task: Path, problems: Problems) -> dict[str, Any]:
        return self.history_items(task.parent.parent, problems).get(task.name, {})

    def read(self, unit: Path, problems: Problems) -> Iterator[Thread]:
        label = str(unit)
        entries = load_json(unit / HISTORY, str(unit / HISTORY))
        if not isinstance(entries, list):
            raise BadInput(label, f"{HISTORY} is not an array")
        ui: Any = []
        if (unit / UI).exists():
            try:
                ui = load_json(unit / UI, str(unit / UI))
            except BadInput as exc:
                problems.warning(unit.name, f"times from the API history only: {exc}")
        sent, replied, task_ms = _times(ui)
        item = self.history_item(unit, problems)
        thread = Thread(self.name, unit.name, label)
        thread.starred = item.get("isFavorited") is True
        thread.updated_ms = time_of(item.get("ts"))
        thread.legacy = {k: v for k, v in item.items() if k not in ITEM_FIELDS}
        if (unit / METADATA).exists():
            try:
                thread.legacy["task_metadata"] = load_json(unit / METADATA, str(unit / METADATA))
            except BadInput as exc:
                problems.warning(unit.name, str(exc))
        self._messages(entries, thread, sent, replied, task_ms, problems)
        answer_calls(thread.main)
        task_text = item.get("task")
        if not isinstance(task_text, str):
            task_text = next(
                (
                    u.get("text")
                    for u in (ui if isinstance(ui, list) else [])
                    if isinstance(u, dict) and u.get("say") == "task"
                ),
                None,
            )
        if isinstance(task_text, str):
            thread.title = first_line(task_text)
        thread.created_ms = task_ms if task_ms is not None else time_of(unit.name)
        yield thread

    def _messages(
        self,
        entries: list[Any],
        thread: Thread,
        sent: list[int | None],
        replied: list[int | None],
        task_ms: int | None,
        problems: Problems,
    ) -> None:
        users = assistants = skipped = 0
        carried: dict[str, Any] = {}
        for number, entry in enumerate(entries):
            if not isinstance(entry, dict) or entry.get("role") not in ("user", "assistant"):
                skipped += 1
                continue
            legacy: dict[str, Any] = {
                k: v for k, v in entry.items() if k not in ("role", "content", "ts")
            }
            legacy.update(carried)
            carried = {}
            stamp = time_of(entry.get("ts"))
            if entry["role"] == "assistant":
                if stamp is None:
                    stamp = _at(replied, assistants) or _at(sent, assistants)
                assistants += 1
                thread.main.append(self._assistant(entry, str(number), stamp, legacy))
                continue
            if stamp is None:
                stamp = _at(sent, users) or (task_ms if users == 0 else None)
            users += 1
            made = self._user(entry, str(number), stamp, legacy)
            if made:
                thread.main.extend(made)
            elif legacy:
                carried = legacy  # nothing to hold it here: the next message keeps it
        if carried and thread.main:
            thread.main[-1].legacy.update(carried)
        if skipped:
            problems.error(
                thread.legacy_id, f"{skipped} history entr(ies) without a role were skipped"
            )

    def _assistant(
        self, entry: dict[str, Any], key: str, stamp: int | None, legacy: dict[str, Any]
    ) -> PeerMessage:
        texts: list[str] = []
        calls: list[dict[str, Any]] = []
        for block in _blocks(entry.get("content")):
            kind = block.get("type") if isinstance(block, dict) else None
            if kind == "text":
                texts.append(str(block.get("text") or ""))
            elif kind == "tool_use" and isinstance(block.get("id"), str):
                calls.append(
                    tool_call(block["id"], str(block.get("name") or "unknown"), block.get("input"))
                )
            elif kind in ("thinking", "redacted_thinking"):
                legacy.setdefault("thinking", []).append(block)
            else:
                legacy.setdefault("blocks", []).append(block)
        return PeerMessage(key, "assistant", "\n\n".join(texts), stamp, legacy, tool_calls=calls)

    def _user(
        self, entry: dict[str, Any], key: str, stamp: int | None, legacy: dict[str, Any]
    ) -> list[PeerMessage]:
        made: list[PeerMessage] = []
        texts: list[str] = []
        for position, block in enumerate(_blocks(entry.get("content"))):
            kind = block.get("type") if isinstance(block, dict) else None
            if kind == "tool_result":
                answer: dict[str, Any] = {}
                if block.get("is_error") is True:
                    answer["is_error"] = True
                content = _result_text(block.get("content"), answer)
                call_id = block.get("tool_use_id")
                made.append(
                    PeerMessage(
                        f"{key}.{position}",
                        "tool",
                        content,
                        stamp,
                        answer,
                        tool_call_id=call_id if isinstance(call_id, str) else None,
                    )
                )
            elif kind == "text":
                text = str(block.get("text") or "")
                if ENVIRONMENT.fullmatch(text):
                    legacy.setdefault("environment_details", []).append(text)
                    continue
                typed = TYPED.fullmatch(text)
                texts.append(typed.group(2) if typed else text)
            elif kind == "image":
                legacy.setdefault("images", []).append(block)
            else:
                legacy.setdefault("blocks", []).append(block)
        if texts:
            made.append(PeerMessage(key, "user", "\n\n".join(texts), stamp, legacy))
        elif made and legacy:
            made[-1].legacy.update(legacy)
        elif legacy:
            return []
        return made


class Cline(TaskReader):
    """Cline (``saoudrizwan.claude-dev``, or ``~/.cline/data``)."""
