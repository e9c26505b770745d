"""open-webui: an Open WebUI export (``chat-export-<ms>.json``), LEGACY_FORMATS §7.

Streamed one chat at a time. ``chat.history.messages`` is a tree by ``parentId``; ``currentId``
ends the main path, other leaves are branches. ``<details type="tool_calls">`` sections of a reply
are its tool calls (attributes are HTML-escaped JSON), ``<details type="reasoning">`` sections go
to metadata, and the rest, trimmed, is the content.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from sidecar.store.model import TAGS_MAX
from sidecar.store.numbers import loads_exact

from ..problems import BadInput, Problems
from .files import stream_array
from .peer import (
    PeerMessage,
    Thread,
    answer_calls,
    as_array,
    as_object,
    role_of,
    time_of,
    tool_call,
)
from .tree import paths

NAME = "open-webui"
PATTERN = "chat-export-*.json"
DETAILS = re.compile(r"<details\s+([^>]*)>(.*?)</details>", re.DOTALL)
ATTRIBUTE = re.compile(r"([\w-]+)=\"([^\"]*)\"")
SUMMARY = re.compile(r"\s*<summary>.*?</summary>\s*", re.DOTALL)
MESSAGE_FIELDS = ("id", "parentId", "childrenIds", "role", "content", "timestamp")
CHAT_FIELDS = frozenset({"id", "title", "chat", "created_at", "updated_at", "archived", "pinned"})
TAG_CHARS = 100


def _json_attribute(value: str | None) -> Any:
    if value is None:
        return None
    text = html.unescape(value)
    try:
        return loads_exact(text)
    except orjson.JSONDecodeError:
        return text


def split_content(
    content: str, legacy: dict[str, Any], call_key: str
) -> tuple[str, list[dict[str, Any]]]:
    """(the content without its tool-call and reasoning sections, the tool calls)."""
    calls: list[dict[str, Any]] = []

    def replace(match: re.Match[str]) -> str:
        attributes = {k: v for k, v in ATTRIBUTE.findall(match.group(1))}
        kind = attributes.get("type")
        if kind == "tool_calls":
            call_id = html.unescape(attributes.get("id") or f"{call_key}-{len(calls)}")
            done = attributes.get("done") == "true"
            calls.append(
                tool_call(
                    call_id,
                    html.unescape(attributes.get("name") or "unknown"),
                    _json_attribute(attributes.get("arguments")),
                    status="succeeded" if done else "failed",
                    result=_json_attribute(attributes.get("result")),
                    error=None if done else "the call had not finished in Open WebUI",
                )
            )
            extra = {
                k: html.unescape(v)
                for k, v in attributes.items()
                if k not in ("type", "id", "name", "arguments", "result", "done") and v
            }
            if extra:
                legacy.setdefault("tool_call_attributes", []).append({"id": call_id, **extra})
            return ""
        if kind == "reasoning":
            legacy.setdefault("reasoning", []).append(
                {"attributes": attributes, "text": SUMMARY.sub("", match.group(2), count=1).strip()}
            )
            return ""
        return match.group(0)

    rest = DETAILS.sub(replace, content)
    return rest.strip(), calls


class _Messages:
    def __init__(self, messages: dict[str, Any]) -> None:
        self.messages = messages
        self.made: dict[str, PeerMessage] = {}

    def parent(self, node_id: str) -> str | None:
        parent = self.messages[node_id].get("parentId")
        return parent if isinstance(parent, str) else None

    def children(self, node_id: str) -> list[str]:
        kids = self.messages[node_id].get("childrenIds")
        return [k for k in kids if isinstance(k, str)] if isinstance(kids, list) else []

    def message(self, node_id: str) -> PeerMessage:
        made = self.made.get(node_id)
        if made is None:
            raw = self.messages[node_id]
            legacy = {k: v for k, v in raw.items() if k not in MESSAGE_FIELDS and v is not None}
            role = role_of(raw.get("role"))
            content = raw.get("content")
            text = content if isinstance(content, str) else ""
            if not isinstance(content, str) and content is not None:
                legacy["content"] = content
            calls: list[dict[str, Any]] = []
            if role == "assistant":
                text, calls = split_content(text, legacy, f"call-{node_id}")
            made = PeerMessage(
                node_id, role, text, time_of(raw.get("timestamp")), legacy, tool_calls=calls
            )
            self.made[node_id] = made
        return made

    def path(self, ids: list[str]) -> list[PeerMessage]:
        out = [self.message(i) for i in ids]
        answer_calls(out)
        return out


def chat_thread(item: Any, label: str) -> Thread:
    if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"]:
        raise ValueError("a chat without an id")
    chat = as_object(item.get("chat"))
    history = as_object(chat.get("history"))
    raw = history.get("messages")
    if not isinstance(raw, dict):
        raise ValueError(f"{item['id']}: no chat.history.messages object")
    messages = {k: v for k, v in raw.items() if isinstance(v, dict)}
    tree = _Messages(messages)
    current = history.get("currentId")
    main, others, _ = paths(
        messages, current if isinstance(current, str) else None, tree.parent, tree.children
    )
    thread = Thread(NAME, item["id"], label)
    thread.main = tree.path(main)
    thread.others = [tree.path(o) for o in others]
    title = item.get("title") or chat.get("title")
    thread.title = title if isinstance(title, str) and title != "New Chat" else None
    thread.created_ms = time_of(item.get("created_at"))
    thread.updated_ms = time_of(item.get("updated_at"))
    thread.archived = item.get("archived") is True
    thread.pinned = item.get("pinned") is True
    meta = as_object(item.get("meta"))
    tags = as_array(meta.get("tags"))
    thread.tags = [t for t in tags if isinstance(t, str) and 0 < len(t) <= TAG_CHARS][:TAGS_MAX]
    thread.legacy = {
        k: v for k, v in item.items() if k not in CHAT_FIELDS and v not in (None, {}, [])
    }
    rest = {
        k: v
        for k, v in chat.items()
        if k not in ("history", "messages", "title") and v not in (None, {}, [])
    }
    if rest:
        thread.legacy["chat"] = rest
    return thread


class OpenWebUI:
    name = NAME

    def units(self, path: Path) -> list[Path]:
        if path.is_file():
            return [path]
        return sorted(p for p in path.glob(PATTERN) if p.is_file())

    def read(self, unit: Path, problems: Problems) -> Iterator[Thread]:
        label = str(unit)
        try:
            handle = unit.open("rb")
        except OSError as exc:
            raise BadInput(label, f"cannot be read ({exc.strerror})") from None
        with handle:
            for number, item in enumerate(stream_array(handle, label)):
                try:
                    thread = chat_thread(item, label)
                except ValueError as exc:
                    problems.error(f"[{number}]", f"chat skipped: {exc}")
                    continue
                yield thread
