"""vscode-chat: VS Code's own chat (Copilot Chat) sessions, LEGACY_FORMATS §7.

``User/workspaceStorage/<hash>/chatSessions/<sessionId>.json`` (the whole session) or ``.jsonl``
(a log replayed in order; it wins over a ``.json`` of the same session), and
``User/globalStorage/emptyWindowChatSessions/``. Each request is one user message and one
assistant message made of its response parts.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from sidecar.store.numbers import loads_exact

from ..problems import BadInput, Problems
from .files import load_json
from .peer import PeerMessage, Thread, first_line, time_of, tool_call

NAME = "vscode-chat"
SESSION_DIRS = ("chatSessions", "emptyWindowChatSessions")
SUFFIXES = (".json", ".jsonl")
#: Where sessions sit below a folder the user may name: a product (``Code``), its ``User``, its
#: ``workspaceStorage`` or ``globalStorage``, one workspace's folder, or the sessions folder.
PATTERNS = (
    "User/workspaceStorage/*/chatSessions/*",
    "User/globalStorage/emptyWindowChatSessions/*",
    "workspaceStorage/*/chatSessions/*",
    "globalStorage/emptyWindowChatSessions/*",
    "emptyWindowChatSessions/*",
    "*/chatSessions/*",
    "chatSessions/*",
)
REFERENCE_KINDS = frozenset(
    {
        "inlineReference",
        "codeblockUri",
        "textEditGroup",
        "undoStop",
        "progressMessage",
        "progressTask",
        "progressTaskSerialized",
        "reference",
        "prepareToolInvocation",
        "confirmation",
        "warning",
        "markdownVuln",
        "command",
        "extensions",
        "notebookEditGroup",
    }
)
STATUS_BY_STATE = {1: "complete", 2: "cancelled", 3: "failed"}
USER_FIELDS = ("variableData", "attachedContext")
HANDLED = frozenset({"requestId", "message", "timestamp", "response", *USER_FIELDS})


class ReplayError(ValueError):
    """A log entry that cannot be applied to the state."""


def _container(state: Any, path: list[Any]) -> Any:
    node = state
    for step in path:
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            raise ReplayError(f"no value at {path!r}") from None
    return node


def apply_entry(state: Any, entry: Any) -> Any:
    """One ``.jsonl`` entry applied to ``state``; the new state (kind 0 replaces it)."""
    if not isinstance(entry, dict):
        raise ReplayError("an entry is not an object")
    kind = entry.get("kind")
    if kind == 0:
        return entry.get("v")
    path = entry.get("k")
    if not isinstance(path, list) or not path:
        raise ReplayError(f"kind {kind} without a path")
    parent = _container(state, path[:-1])
    last = path[-1]
    if kind == 1:
        in_list = isinstance(parent, list) and isinstance(last, int)
        if in_list and last == len(parent):
            parent.append(entry.get("v"))
        elif (in_list and 0 <= last < len(parent)) or (
            isinstance(parent, dict) and isinstance(last, str)
        ):
            parent[last] = entry.get("v")
        else:
            raise ReplayError(f"cannot set {path!r}")
    elif kind == 2:
        target = parent.get(last) if isinstance(parent, dict) else _container(parent, [last])
        if target is None and isinstance(parent, dict):
            target = parent[last] = []
        if not isinstance(target, list):
            raise ReplayError(f"push onto {path!r}, which is not an array")
        cut = entry.get("i")
        if isinstance(cut, int) and 0 <= cut < len(target):
            del target[cut:]
        items = entry.get("v")
        if isinstance(items, list):
            target.extend(items)
        elif items is not None:
            raise ReplayError(f"push of a non-array onto {path!r}")
    elif kind == 3:
        if isinstance(parent, dict):
            parent.pop(last, None)
        elif isinstance(parent, list) and isinstance(last, int) and 0 <= last < len(parent):
            del parent[last]
    else:
        raise ReplayError(f"unknown kind {kind!r}")
    return state


def replay(path: Path, label: str, problems: Problems) -> Any:
    """The state a ``.jsonl`` log ends in. A line that cannot be read or applied is reported
    and skipped (a last line cut off by a crash is the usual case)."""
    state: Any = None
    bad: list[str] = []
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise BadInput(label, f"cannot be read ({exc.strerror})") from None
    with handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                state = apply_entry(state, loads_exact(line))
            except (orjson.JSONDecodeError, ReplayError) as exc:
                bad.append(f"line {number}: {exc}")
    if state is None:
        raise BadInput(label, "no session state in the log (no kind-0 entry)")
    if bad:
        problems.error(
            None, f"{len(bad)} log line(s) could not be applied and were skipped ({bad[0]})"
        )
    return state


def _user_text(message: Any) -> str:
    if isinstance(message, str):
        return message
    if isinstance(message, dict):
        text = message.get("text")
        if isinstance(text, str):
            return text
        parts = message.get("parts")
        if isinstance(parts, list):
            return "".join(
                p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)
            )
    return ""


def _markdown(part: dict[str, Any]) -> str | None:
    value = part.get("value")
    if isinstance(value, str):
        return value
    content = part.get("content")
    if isinstance(content, dict) and isinstance(content.get("value"), str):
        return str(content["value"])
    if isinstance(value, dict) and isinstance(value.get("value"), str):
        return str(value["value"])
    return None


def _round_arguments(request: dict[str, Any]) -> dict[str, Any]:
    result = request.get("result")
    metadata = result.get("metadata") if isinstance(result, dict) else None
    rounds = metadata.get("toolCallRounds") if isinstance(metadata, dict) else None
    found: dict[str, Any] = {}
    for item in rounds if isinstance(rounds, list) else []:
        calls = item.get("toolCalls") if isinstance(item, dict) else None
        for call in calls if isinstance(calls, list) else []:
            if isinstance(call, dict) and isinstance(call.get("id"), str):
                found[call["id"]] = call.get("arguments")
    return found


def _call_status(part: dict[str, Any]) -> str:
    confirmed = part.get("isConfirmed")
    if confirmed is False or (isinstance(confirmed, dict) and confirmed.get("type") == 0):
        return "denied"
    if part.get("resultError"):
        return "failed"
    return "succeeded"


def _reply(request: dict[str, Any], key: str) -> PeerMessage | None:
    response = request.get("response")
    state = request.get("modelState")
    if not response and not isinstance(state, dict):
        return None
    texts: list[str] = []
    thinking: list[Any] = []
    references: list[Any] = []
    invocations: list[Any] = []
    calls: list[dict[str, Any]] = []
    arguments = _round_arguments(request)
    for part in response if isinstance(response, list) else []:
        if not isinstance(part, dict):
            continue
        kind = part.get("kind")
        if kind in (None, "markdownContent"):
            text = _markdown(part)
            if text is not None:
                texts.append(text)
            continue
        if kind == "thinking":
            thinking.append(part.get("value"))
        elif kind == "toolInvocationSerialized" and isinstance(part.get("toolCallId"), str):
            call_id = part["toolCallId"]
            status = _call_status(part)
            error = part.get("resultError") if status == "failed" else None
            calls.append(
                tool_call(
                    call_id,
                    str(part.get("toolId") or "unknown"),
                    arguments.get(call_id),
                    status=status,
                    result=part.get("resultDetails"),
                    error=error,
                )
            )
            invocations.append(
                {
                    k: v
                    for k, v in part.items()
                    if k not in ("toolCallId", "toolId", "resultDetails")
                }
            )
        else:
            references.append(part)
    legacy: dict[str, Any] = {k: v for k, v in request.items() if k not in HANDLED}
    for name, items in (
        ("thinking", thinking),
        ("references", references),
        ("tool_invocations", invocations),
    ):
        if items:
            legacy[name] = items
    value = state.get("value") if isinstance(state, dict) else None
    completed = state.get("completedAt") if isinstance(state, dict) else None
    return PeerMessage(
        key,
        "assistant",
        "".join(texts),
        time_of(completed) if completed is not None else time_of(request.get("timestamp")),
        legacy,
        tool_calls=calls,
        status=STATUS_BY_STATE.get(value, "interrupted")
        if isinstance(value, int)
        else "interrupted",
    )


def session_thread(state: Any, unit: Path, label: str, problems: Problems) -> Thread:
    if not isinstance(state, dict):
        raise BadInput(label, "the session is not a JSON object")
    requests = state.get("requests")
    if not isinstance(requests, list):
        raise BadInput(label, "the session has no 'requests' array")
    session_id = state.get("sessionId")
    legacy_id = session_id if isinstance(session_id, str) and session_id else unit.stem
    thread = Thread(NAME, legacy_id, label)
    thread.created_ms = time_of(state.get("creationDate"))
    thread.updated_ms = time_of(state.get("lastMessageDate"))
    thread.legacy = {k: v for k, v in state.items() if k not in ("requests", "sessionId")}
    thread.legacy.setdefault("version", 1)
    workspace = _workspace(unit)
    if workspace is not None:
        thread.legacy["workspace"] = workspace
    skipped = 0
    for number, request in enumerate(requests):
        if not isinstance(request, dict):
            skipped += 1
            continue
        request_id = request.get("requestId")
        key = request_id if isinstance(request_id, str) and request_id else f"request-{number}"
        user_legacy = {k: request[k] for k in USER_FIELDS if request.get(k)}
        message = request.get("message")
        if isinstance(message, dict) and isinstance(message.get("parts"), list):
            others = [
                p for p in message["parts"] if not (isinstance(p, dict) and p.get("kind") == "text")
            ]
            if others:
                user_legacy["parts"] = others
        thread.main.append(
            PeerMessage(
                f"{key}:request",
                "user",
                _user_text(message),
                time_of(request.get("timestamp")),
                user_legacy,
            )
        )
        reply = _reply(request, f"{key}:response")
        if reply is not None:
            thread.main.append(reply)
    if skipped:
        problems.error(legacy_id, f"{skipped} request(s) are not objects and were skipped")
    title = state.get("customTitle")
    if isinstance(title, str) and title.strip():
        thread.title = title
    elif thread.main:
        thread.title = first_line(thread.main[0].content)
    return thread


def _workspace(unit: Path) -> Any:
    """What ``<hash>/workspace.json`` names (the folder or workspace file), if it is there."""
    if unit.parent.name != "chatSessions":
        return None
    try:
        data = loads_exact((unit.parent.parent / "workspace.json").read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    if isinstance(data, dict):
        return data.get("folder") or data.get("workspace") or data
    return None


class VscodeChat:
    name = NAME

    def units(self, path: Path) -> list[Path]:
        if path.is_file():
            return [path]
        found: dict[tuple[Path, str], Path] = {}
        for pattern in PATTERNS:
            for item in sorted(path.glob(pattern)):
                if item.suffix in SUFFIXES and item.is_file() and item.parent.name in SESSION_DIRS:
                    slot = (item.parent, item.stem)
                    if slot not in found or item.suffix == ".jsonl":
                        found[slot] = item  # the .jsonl log wins over a .json of the session
        return sorted(found.values())

    def read(self, unit: Path, problems: Problems) -> Iterator[Thread]:
        label = str(unit)
        jsonl = unit.suffix == ".jsonl"
        state = replay(unit, label, problems) if jsonl else load_json(unit, label)
        yield session_thread(state, unit, label, problems)
