"""Generated histories of other tools (LEGACY_FORMATS §7), laid out on disk as each tool keeps them.

A :class:`Chat` is drawn once (turns, tool calls with or without results, images small and big,
missing times, branches, hidden messages) and written by each format's writer, which also says
what the store must hold: the main branch as [role, content], how many other branches, and the
report's counts. The writers use each tool's own shapes, including older versions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

T0 = 1_735_395_600_000
BIG = 1024 * 1024 + 16
TEXTS = ["yes", "Fix the parser", "多语言 🚀 ok", "line one\nline two", "naïve café", "x = 1"]
ENV = "<environment_details>\n# VSCode Open Tabs\nsrc/app.py\n</environment_details>"


@dataclass
class Call:
    name: str
    arguments: dict[str, Any]
    result: str | None  # None: the history shows no result
    is_error: bool = False


@dataclass
class Turn:
    user: str
    reply: str
    calls: list[Call] = field(default_factory=list)
    image: int = 0  # 0 none, 1 small, 2 over 1 MiB
    timed: bool = True


@dataclass
class Chat:
    turns: list[Turn]
    title: str | None
    starred: bool
    branches: int  # extra leaves, for the formats that keep trees
    hidden: int  # hidden messages, for ChatGPT


@dataclass
class Expect:
    """What the store must hold after importing the written history."""

    legacy_id: str
    main: list[list[str]]
    branches: int = 0
    hidden: int = 0
    large: int = 0
    calls: int = 0


calls = st.builds(
    Call,
    name=st.sampled_from(["read_file", "execute_command", "python"]),
    arguments=st.fixed_dictionaries({"path": st.sampled_from(["a.py", "ü/b.txt"])}),
    result=st.one_of(st.none(), st.sampled_from(TEXTS)),
    is_error=st.booleans(),
)
turns = st.builds(
    Turn,
    user=st.sampled_from(TEXTS),
    reply=st.sampled_from(TEXTS),
    calls=st.lists(calls, max_size=2),
    image=st.sampled_from([0, 0, 1, 2]),
    timed=st.booleans(),
)
chats = st.builds(
    Chat,
    turns=st.lists(turns, min_size=1, max_size=4),
    title=st.one_of(st.none(), st.sampled_from(["A title", "Ünïcode title"])),
    starred=st.booleans(),
    branches=st.integers(min_value=0, max_value=2),
    hidden=st.integers(min_value=0, max_value=2),
)


def _image(kind: int) -> str:
    return "iVBORw0KGgo" + ("A" * (BIG if kind == 2 else 64))


def _write(path: Path, value: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, ensure_ascii=False), encoding="utf-8")
    return path


def _large(chat: Chat) -> int:
    return sum(1 for t in chat.turns if t.image == 2)


# --- vscode-chat -------------------------------------------------------------------------------


def _vscode_request(turn: Turn, number: int, version: int) -> dict[str, Any]:
    response: list[dict[str, Any]] = [{"value": turn.reply[:2]}]
    rounds = []
    for index, call in enumerate(turn.calls):
        call_id = f"call_{number}_{index}"
        response.append(
            {
                "kind": "toolInvocationSerialized",
                "toolCallId": call_id,
                "toolId": call.name,
                "isConfirmed": {"type": 0 if call.is_error else 1}
                if version > 1
                else not call.is_error,
                "isComplete": True,
            }
        )
        rounds.append(
            {
                "toolCalls": [
                    {"id": call_id, "name": call.name, "arguments": json.dumps(call.arguments)}
                ]
            }
        )
    response.append({"value": turn.reply[2:]})
    response.append({"kind": "thinking", "value": "hmm"})
    request: dict[str, Any] = {
        "requestId": f"request_{number}",
        "message": turn.user if version == 1 else {"text": turn.user, "parts": []},
        "response": response,
        "result": {"metadata": {"toolCallRounds": rounds}},
        "modelState": {"value": 1, "completedAt": T0 + number * 1000 + 500},
    }
    if turn.image:
        request["variableData"] = {"variables": [{"kind": "image", "value": _image(turn.image)}]}
    if turn.timed:
        request["timestamp"] = T0 + number * 1000
    return request


def write_vscode(
    root: Path, chat: Chat, session: str, *, log: bool, version: int
) -> tuple[Path, Expect]:
    """A session as ``.json`` (version 1-3) or as a ``.jsonl`` log with a retried request cut
    off (``i``), a title set and deleted, and values set in place."""
    folder = root / "User" / "workspaceStorage" / "abc" / "chatSessions"
    _write(folder.parent / "workspace.json", {"folder": "file:///home/u/proj"})
    requests = [_vscode_request(t, n, version) for n, t in enumerate(chat.turns)]
    state: dict[str, Any] = {"sessionId": session, "creationDate": T0, "requests": []}
    if version > 1:
        state["version"] = version
    if chat.title:
        state["customTitle"] = chat.title
    expect = Expect(session, [], large=_large(chat))
    for turn in chat.turns:
        expect.main += [["user", turn.user], ["assistant", turn.reply]]
        expect.calls += len(turn.calls)
    if not log:
        state["requests"] = requests
        return _write(folder / f"{session}.json", state), expect
    lines: list[dict[str, Any]] = [{"kind": 0, "v": state}]
    for number, request in enumerate(requests):
        if number == 1:  # a retried request: pushed, then cut away by the next push
            lines.append(
                {
                    "kind": 2,
                    "k": ["requests"],
                    "v": [{"requestId": "gone", "message": {"text": "lost"}}],
                }
            )
            lines.append({"kind": 2, "k": ["requests"], "v": [], "i": number})
        response = request.pop("response")
        state_value = request.pop("modelState")
        lines.append({"kind": 2, "k": ["requests"], "v": [request]})
        lines.append({"kind": 2, "k": ["requests", number, "response"], "v": response})
        lines.append({"kind": 1, "k": ["requests", number, "modelState"], "v": state_value})
    lines.append({"kind": 1, "k": ["customTitle"], "v": "temporary"})
    if chat.title:
        lines.append({"kind": 1, "k": ["customTitle"], "v": chat.title})
    else:
        lines.append({"kind": 3, "k": ["customTitle"]})
    path = folder / f"{session}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8"
    )
    return path, expect


# --- cline / roo -------------------------------------------------------------------------------


def write_task(root: Path, chat: Chat, task_id: str, *, roo: bool) -> tuple[Path, Expect]:
    """A task folder: Anthropic blocks in the API history, times in ui_messages.json."""
    folder = root / "tasks" / task_id
    entries: list[dict[str, Any]] = []
    ui: list[dict[str, Any]] = [
        {"ts": T0, "type": "say", "say": "task", "text": chat.turns[0].user}
    ]
    expect = Expect(task_id, [], large=_large(chat))
    pending: list[tuple[str, Call]] = []
    for number, turn in enumerate(chat.turns):
        blocks: list[dict[str, Any]] = []
        for call_id, call in pending:
            if call.result is not None:
                blocks.append(
                    {
                        "type": "tool_result",
                        "tool_use_id": call_id,
                        "content": [{"type": "text", "text": call.result}],
                        "is_error": call.is_error,
                    }
                )
                expect.main.append(["tool", call.result])
        tag = "task" if number == 0 else "feedback"
        blocks.append({"type": "text", "text": f"<{tag}>\n{turn.user}\n</{tag}>"})
        blocks.append({"type": "text", "text": ENV})
        if turn.image:
            blocks.append(
                {
                    "type": "image",
                    "source": {
                        "type": "base64",
                        "media_type": "image/png",
                        "data": _image(turn.image),
                    },
                }
            )
        expect.main.append(["user", turn.user])
        user: dict[str, Any] = {"role": "user", "content": blocks}
        ui.append(
            {"ts": T0 + number * 1000 + 10, "type": "say", "say": "api_req_started", "text": "{}"}
        )
        ui.append({"ts": T0 + number * 1000 + 20, "type": "say", "say": "text", "text": turn.reply})
        reply: list[dict[str, Any]] = [{"type": "text", "text": turn.reply}]
        pending = []
        for index, call in enumerate(turn.calls):
            call_id = f"toolu_{number}_{index}"
            reply.append(
                {"type": "tool_use", "id": call_id, "name": call.name, "input": call.arguments}
            )
            pending.append((call_id, call))
            expect.calls += 1
        assistant: dict[str, Any] = {
            "role": "assistant",
            "content": reply if (number % 2 == 0 or turn.calls) else turn.reply,  # a string too
        }
        if turn.timed:
            assistant["ts"] = T0 + number * 1000 + 30
        expect.main.append(["assistant", turn.reply])
        entries += [user, assistant]
    _write(folder / "api_conversation_history.json", entries)
    _write(folder / "ui_messages.json", ui)
    item = {
        "id": task_id,
        "ts": T0 + 99_000,
        "task": chat.turns[0].user,
        "tokensIn": 10,
        "totalCost": 0.5,
        "isFavorited": chat.starred,
    }
    if roo:
        _write(folder / "history_item.json", item)
    else:
        _write(root / "state" / "taskHistory.json", [item])
    return root, expect


# --- continue ----------------------------------------------------------------------------------


def write_continue(root: Path, chat: Chat, session: str, *, dated: bool) -> tuple[Path, Expect]:
    history: list[dict[str, Any]] = []
    expect = Expect(session, [], large=_large(chat))
    for number, turn in enumerate(chat.turns):
        content: Any = turn.user
        if turn.image:
            content = [
                {"type": "text", "text": turn.user},
                {
                    "type": "imageUrl",
                    "imageUrl": {"url": "data:image/png;base64," + _image(turn.image)},
                },
            ]
        history.append(
            {
                "message": {"role": "user", "content": content},
                "contextItems": [{"name": "a.py", "content": "x"}],
            }
        )
        expect.main.append(["user", turn.user])
        if turn.calls:
            history.append(
                {"message": {"role": "thinking", "content": "thinking..."}, "contextItems": []}
            )
            calls = [
                {
                    "id": f"call_{number}_{i}",
                    "type": "function",
                    "function": {"name": c.name, "arguments": json.dumps(c.arguments)},
                }
                for i, c in enumerate(turn.calls)
            ]
            history.append(
                {
                    "message": {"role": "assistant", "content": "", "toolCalls": calls},
                    "contextItems": [],
                }
            )
            expect.main.append(["assistant", ""])
            expect.calls += len(calls)
            for index, call in enumerate(turn.calls):
                if call.result is not None:
                    history.append(
                        {
                            "message": {
                                "role": "tool",
                                "content": call.result,
                                "toolCallId": f"call_{number}_{index}",
                            },
                            "contextItems": [],
                        }
                    )
                    expect.main.append(["tool", call.result])
        history.append(
            {"message": {"role": "assistant", "content": turn.reply}, "contextItems": []}
        )
        expect.main.append(["assistant", turn.reply])
    folder = root / "sessions"
    _write(
        folder / f"{session}.json",
        {
            "sessionId": session,
            "title": chat.title or "New Session",
            "workspaceDirectory": "file:///p",
            "history": history,
        },
    )
    listed = [{"sessionId": session, "title": chat.title or "New Session"}]
    if dated:
        listed[0]["dateCreated"] = str(T0)
    _write(folder / "sessions.json", listed)
    return root, expect


# --- chatgpt -----------------------------------------------------------------------------------


def chatgpt_conversation(chat: Chat, conversation: str) -> tuple[dict[str, Any], Expect]:
    """A mapping tree: a hidden system root, the turns, tool calls addressed to a recipient with
    their ``tool`` results, and edited questions (each a sibling user node: another leaf)."""
    mapping: dict[str, Any] = {}
    expect = Expect(conversation, [], hidden=0, large=0)
    counter = iter(range(10_000))

    def node(
        parent: str | None,
        role: str | None,
        content: Any,
        *,
        hidden: bool = False,
        recipient: str = "all",
        timed: bool = True,
    ) -> str:
        node_id = f"{conversation}-n{next(counter)}"
        message = None
        if role is not None:
            message = {
                "id": node_id,
                "author": {"role": role, "name": None, "metadata": {}},
                "create_time": (T0 / 1000 + len(mapping)) if timed else None,
                "content": content,
                "metadata": {"is_visually_hidden_from_conversation": True} if hidden else {},
                "recipient": recipient,
            }
        mapping[node_id] = {"id": node_id, "message": message, "parent": parent, "children": []}
        if parent is not None:
            mapping[parent]["children"].append(node_id)
        return node_id

    head = node(None, None, None)
    head = node(head, "system", {"content_type": "text", "parts": [""]})
    expect.hidden += 1
    for _ in range(chat.hidden):
        head = node(head, "system", {"content_type": "text", "parts": ["secret"]}, hidden=True)
        expect.hidden += 1
    for number, turn in enumerate(chat.turns):
        if number > 0 and number <= chat.branches:  # an earlier version of this question
            old = node(head, "user", {"content_type": "text", "parts": ["old " + turn.user]})
            node(old, "assistant", {"content_type": "text", "parts": ["old answer"]})
            expect.branches += 1
        parts: list[Any] = [turn.user]
        if turn.image:
            parts.append(
                {
                    "content_type": "image_asset_pointer",
                    "asset_pointer": "file-service://x",
                    "size_bytes": 10,
                }
            )
        head = node(
            head,
            "user",
            {"content_type": "multimodal_text" if turn.image else "text", "parts": parts},
            timed=turn.timed,
        )
        expect.main.append(["user", turn.user])
        for call in turn.calls:
            code = json.dumps(call.arguments)
            head = node(
                head,
                "assistant",
                {"content_type": "code", "language": "unknown", "text": code},
                recipient=call.name,
            )
            expect.main.append(["assistant", code])
            expect.calls += 1
            if call.result is not None:
                head = node(head, "tool", {"content_type": "execution_output", "text": call.result})
                expect.main.append(["tool", call.result])
        head = node(
            head, "assistant", {"content_type": "text", "parts": [turn.reply]}, timed=turn.timed
        )
        expect.main.append(["assistant", turn.reply])
    body = {
        "title": chat.title or "",
        "create_time": T0 / 1000,
        "update_time": T0 / 1000 + 500,
        "mapping": mapping,
        "current_node": head,
        "conversation_id": conversation,
        "id": conversation,
        "is_archived": chat.starred,
    }
    return body, expect


# --- open-webui --------------------------------------------------------------------------------


def _details(call: Call, call_id: str) -> str:
    def attr(value: Any) -> str:
        return (
            json.dumps(value, ensure_ascii=False)
            .replace("&", "&amp;")
            .replace('"', "&quot;")
            .replace("<", "&lt;")
            .replace(">", "&gt;")
        )

    result = f' result="{attr(call.result)}"' if call.result is not None else ""
    return (
        f'<details type="tool_calls" done="{"true" if call.result is not None else "false"}" id="{call_id}" '
        f'name="{call.name}" arguments="{attr(json.dumps(call.arguments))}"{result}>\n<summary>Tool Executed</summary>\n</details>\n'
    )


def open_webui_chat(chat: Chat, chat_id: str) -> tuple[dict[str, Any], Expect]:
    messages: dict[str, Any] = {}
    expect = Expect(chat_id, [], large=0)
    parent: str | None = None
    for number, turn in enumerate(chat.turns):
        user_id = f"{chat_id}-u{number}"
        messages[user_id] = {
            "id": user_id,
            "parentId": parent,
            "childrenIds": [],
            "role": "user",
            "content": turn.user,
            "timestamp": T0 // 1000 + number * 10,
        }
        if parent is not None:
            messages[parent]["childrenIds"].append(user_id)
        expect.main.append(["user", turn.user])
        if number < chat.branches:  # a regenerated reply: the old one is another leaf
            old = f"{chat_id}-old{number}"
            messages[old] = {
                "id": old,
                "parentId": user_id,
                "childrenIds": [],
                "role": "assistant",
                "content": "old reply",
            }
            messages[user_id]["childrenIds"].append(old)
            expect.branches += 1
        reply_id = f"{chat_id}-a{number}"
        sections = "".join(_details(c, f"call_{number}_{i}") for i, c in enumerate(turn.calls))
        reasoning = '<details type="reasoning" done="true" duration="2">\n<summary>Thought</summary>\n> think\n</details>\n'
        content = reasoning + sections + turn.reply
        messages[reply_id] = {
            "id": reply_id,
            "parentId": user_id,
            "childrenIds": [],
            "role": "assistant",
            "content": content,
            "model": "m",
        }
        if turn.timed:
            messages[reply_id]["timestamp"] = T0 // 1000 + number * 10 + 5
        messages[user_id]["childrenIds"].append(reply_id)
        expect.main.append(["assistant", turn.reply.strip()])
        expect.calls += len(turn.calls)
        parent = reply_id
    body = {
        "id": chat_id,
        "title": chat.title or "New Chat",
        "chat": {"history": {"messages": messages, "currentId": parent}, "models": ["m"]},
        "created_at": T0 // 1000,
        "updated_at": T0 // 1000 + 100,
        "archived": False,
        "pinned": chat.starred,
        "meta": {"tags": ["t1"]},
    }
    return body, expect


def write_array(path: Path, items: list[dict[str, Any]]) -> Path:
    return _write(path, items)
