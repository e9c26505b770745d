"""continue: Continue's sessions (``~/.continue/sessions/<sessionId>.json``), LEGACY_FORMATS §7.

No message has a time: each takes the session's ``dateCreated`` (from ``sessions.json``, else the
file's modification time) plus one millisecond per message, in order, so the order is the order.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..problems import BadInput, Problems
from .files import load_json
from .peer import (
    PeerMessage,
    Thread,
    answer_calls,
    as_object,
    role_of,
    time_of,
    tool_call,
)

NAME = "continue"
INDEX = "sessions.json"
DEFAULT_TITLE = "New Session"
CALL_STATUS = {"done": "succeeded", "errored": "failed", "canceled": "denied"}


def _content(value: Any, legacy: dict[str, Any]) -> str:
    """A string, or parts: ``text`` parts joined (nothing between), the others to metadata."""
    if isinstance(value, str):
        return value
    texts: list[str] = []
    for part in value if isinstance(value, list) else []:
        if isinstance(part, dict) and part.get("type") == "text":
            texts.append(str(part.get("text") or ""))
        else:
            legacy.setdefault("parts", []).append(part)
    return "".join(texts)


def _calls(message: dict[str, Any], states: Any) -> list[dict[str, Any]]:
    status: dict[str, str] = {}
    for state in states if isinstance(states, list) else []:
        if isinstance(state, dict) and isinstance(state.get("toolCallId"), str):
            status[state["toolCallId"]] = CALL_STATUS.get(str(state.get("status")), "succeeded")
    calls: list[dict[str, Any]] = []
    for call in message.get("toolCalls") or []:
        if not isinstance(call, dict) or not isinstance(call.get("id"), str):
            continue
        function = as_object(call.get("function"))
        calls.append(
            tool_call(
                call["id"],
                str(function.get("name") or "unknown"),
                function.get("arguments"),
                status=status.get(call["id"], "succeeded"),
            )
        )
    return calls


class Continue:
    name = NAME

    def __init__(self) -> None:
        self._index: dict[Path, dict[str, dict[str, Any]]] = {}

    def units(self, path: Path) -> list[Path]:
        if path.is_file():
            return [path]
        folder = path / "sessions" if (path / "sessions").is_dir() else path
        return sorted(p for p in folder.glob("*.json") if p.name != INDEX and p.is_file())

    def _listed(self, folder: Path, problems: Problems) -> dict[str, dict[str, Any]]:
        found = self._index.get(folder)
        if found is None:
            found = {}
            index = folder / INDEX
            if index.exists():
                try:
                    items = load_json(index, str(index))
                except BadInput as exc:
                    problems.warning(None, f"session dates unknown: {exc}")
                    items = []
                for item in items if isinstance(items, list) else []:
                    if isinstance(item, dict) and isinstance(item.get("sessionId"), str):
                        found[item["sessionId"]] = item
            self._index[folder] = found
        return found

    def read(self, unit: Path, problems: Problems) -> Iterator[Thread]:
        label = str(unit)
        data = load_json(unit, label)
        if not isinstance(data, dict) or not isinstance(data.get("history"), list):
            raise BadInput(label, "not a Continue session (no 'history' array)")
        session_id = data.get("sessionId")
        legacy_id = session_id if isinstance(session_id, str) and session_id else unit.stem
        listed = self._listed(unit.parent, problems).get(legacy_id, {})
        created = time_of(listed.get("dateCreated"))
        if created is None:
            created = int(unit.stat().st_mtime * 1000)
            problems.info(legacy_id, "no dateCreated in sessions.json: times from the file's date")
        thread = Thread(NAME, legacy_id, label, created_ms=created)
        title = data.get("title") or listed.get("title")
        if isinstance(title, str) and title.strip() and title.strip() != DEFAULT_TITLE:
            thread.title = title
        thread.legacy = {
            k: v for k, v in data.items() if k not in ("sessionId", "title", "history")
        }
        thinking: list[Any] = []
        skipped = 0
        for number, item in enumerate(data["history"]):
            message = item.get("message") if isinstance(item, dict) else None
            if not isinstance(message, dict):
                skipped += 1
                continue
            if message.get("role") == "thinking":
                thinking.append(message)
                continue
            legacy: dict[str, Any] = {k: v for k, v in item.items() if k != "message" and v}
            legacy.update(
                {
                    k: v
                    for k, v in message.items()
                    if k not in ("role", "content", "toolCalls", "toolCallId")
                }
            )
            role = role_of(message.get("role"))
            if role == "assistant" and thinking:
                legacy["thinking"], thinking = thinking, []
            call_id = message.get("toolCallId")
            thread.main.append(
                PeerMessage(
                    str(number),
                    role,
                    _content(message.get("content"), legacy),
                    created + len(thread.main),
                    legacy,
                    tool_calls=_calls(message, item.get("toolCallStates")),
                    tool_call_id=call_id if isinstance(call_id, str) else None,
                )
            )
        if thinking and thread.main:
            thread.main[-1].legacy.setdefault("thinking", []).extend(thinking)
        if skipped:
            problems.error(legacy_id, f"{skipped} history item(s) without a message were skipped")
        answer_calls(thread.main)
        thread.updated_ms = created + max(len(thread.main) - 1, 0)
        yield thread
