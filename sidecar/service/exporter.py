"""The exporter: conversations in the lossless export format (docs/export-format.md) and Markdown.

JSON export is the inverse of :mod:`.importer`: exporting, importing into an empty store and
exporting again gives the same document apart from ``exported_at``. That is why an entry carries
the stored fields as they are (ids, timestamps, flags, revision, source) and every branch, every
message of every branch and every turn, but not what the store derives (``message_count``,
``last_message_preview``, ``state``) or keeps for itself (fields starting with ``_``).

Markdown is for people: the active branch only, one section per message with its role and time.
It is plain text; nothing in it is executed or interpreted by the sidecar.
"""

from __future__ import annotations

from typing import Any, Final

import orjson
from aiohttp import ClientError, ClientSession, ClientTimeout

from ..store import ListQuery, NotFound, Store, Unavailable, public_message
from ..store.catalog import MAX_PAGE
from ..store.ids import check_id
from ..store.model import CONVERSATION_FIELDS, Doc
from ..store.rewrite import Image
from ..store.timeutil import now_iso

FORMAT: Final = "chat-sidecar.export"
VERSION: Final = 1
#: Conversation fields the store derives; an import computes them again.
DERIVED_FIELDS: Final = frozenset({"message_count", "last_message_preview", "state"})
EXPORTED_FIELDS: Final = tuple(name for name in CONVERSATION_FIELDS if name not in DERIVED_FIELDS)


def entry_of(image: Image) -> dict[str, Any]:
    """One conversation entry of the format, from everything the store holds for it."""
    entry: dict[str, Any] = {name: image.conversation.get(name) for name in EXPORTED_FIELDS}
    entry["branches"] = [
        {"name": name, "head_message_id": head} for name, head in image.branches.items()
    ]
    entry["messages"] = [public_message(doc) for doc in image.messages]
    entry["turns"] = [
        {key: value for key, value in turn.items() if not key.startswith("_")}
        for turn in image.turns
    ]
    return entry


async def export_conversation(store: Store, conversation_id: str) -> dict[str, Any]:
    """One conversation entry (:class:`~sidecar.store.NotFound` if it does not exist)."""
    return entry_of(await store.read_image(conversation_id))


def document_of(entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": now_iso(),
        "conversations": entries,
    }


def all_conversation_ids(store: Store, *, include_deleted: bool = False) -> list[str]:
    """Every conversation (archived ones too; the trash only with ``include_deleted``), oldest
    first, so an export of a whole store reads in the order it was written."""
    found: list[Doc] = []
    cursor: str | None = None
    while True:
        query = ListQuery(
            limit=MAX_PAGE,
            cursor=cursor,
            archived=None,
            deleted=None if include_deleted else False,
        )
        page = store.list_conversations(query)
        found.extend(page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    found.sort(key=lambda doc: (str(doc.get("created_at") or ""), str(doc["id"])))
    return [str(doc["id"]) for doc in found]


async def export_document(
    store: Store, conversation_ids: list[str] | None = None, *, include_deleted: bool = False
) -> dict[str, Any]:
    """The whole export document: the named conversations (in that order, trashed ones too,
    as they were asked for by id), or with ``None`` every conversation of the store."""
    ids = (
        all_conversation_ids(store, include_deleted=include_deleted)
        if conversation_ids is None
        else conversation_ids
    )
    return document_of([await export_conversation(store, cid) for cid in ids])


# ---------------------------------------------------------------------------- Markdown

ROLE_TITLES: Final = {"user": "User", "assistant": "Assistant", "system": "System", "tool": "Tool"}


def active_path(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """The messages of the entry's active branch, root first."""
    by_id = {message["id"]: message for message in entry.get("messages", [])}
    heads = {branch["name"]: branch["head_message_id"] for branch in entry.get("branches", [])}
    path: list[dict[str, Any]] = []
    current = heads.get(entry.get("active_branch"))
    seen: set[str] = set()
    while current is not None and current in by_id and current not in seen:
        seen.add(current)
        path.append(by_id[current])
        current = by_id[current].get("parent_id")
    path.reverse()
    return path


def _readable_time(timestamp: object) -> str:
    text = str(timestamp or "")
    return text.replace("T", " ").removesuffix("Z") + " UTC" if text else "unknown time"


def _fence(text: str) -> str:
    """A code fence longer than any run of backticks in ``text``, so it cannot be closed early."""
    longest = run = 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    return "`" * max(3, longest + 1)


def _fenced(text: str, language: str = "") -> str:
    fence = _fence(text)
    return f"{fence}{language}\n{text}\n{fence}"


def _tool_call_lines(call: dict[str, Any]) -> list[str]:
    status = call.get("status")
    lines = [f"Tool call `{call.get('name')}`" + (f" ({status})" if status else "") + ":", ""]
    arguments = orjson.dumps(call.get("arguments"), option=orjson.OPT_INDENT_2).decode()
    lines += [_fenced(arguments, "json"), ""]
    if call.get("result") is not None:
        result = orjson.dumps(call.get("result"), option=orjson.OPT_INDENT_2).decode()
        lines += ["Result:", "", _fenced(result, "json"), ""]
    if call.get("error"):
        lines += [f"Error: {call.get('error')}", ""]
    return lines


def to_markdown(entry: dict[str, Any]) -> str:
    """A readable transcript of the entry's active branch: title, facts, then each message
    under a heading naming its role and time (and its status when it did not complete)."""
    path = active_path(entry)
    title = str(entry.get("title") or "Untitled conversation")
    lines = [f"# {' '.join(title.split())}", ""]
    lines.append(f"- Conversation: `{entry.get('id')}`")
    lines.append(f"- Created: {_readable_time(entry.get('created_at'))}")
    lines.append(f"- Updated: {_readable_time(entry.get('updated_at'))}")
    count = f"{len(path)} message" + ("" if len(path) == 1 else "s")
    lines.append(f"- Branch: {entry.get('active_branch')} ({count})")
    if entry.get("tags"):
        lines.append("- Tags: " + ", ".join(str(tag) for tag in entry["tags"]))
    lines.append("")
    for message in path:
        role = ROLE_TITLES.get(str(message.get("role")), str(message.get("role")))
        heading = f"## {role} · {_readable_time(message.get('created_at'))}"
        if message.get("status") not in (None, "complete"):
            heading += f" ({message['status']})"
        lines += ["---", "", heading, ""]
        if message.get("tool_call_id"):
            lines += [f"Result of tool call `{message['tool_call_id']}`:", ""]
        content = str(message.get("content") or "")
        if content:
            lines += [content, ""]
        for call in message.get("tool_calls") or []:
            lines += _tool_call_lines(call)
    return "\n".join(lines).rstrip("\n") + "\n"


# ---------------------------------------------------------------------------- over REST


async def export_over_http(
    url: str,
    token: str,
    conversation_ids: list[str] | None = None,
    *,
    include_deleted: bool = False,
) -> dict[str, Any]:
    """:func:`export_document`, read through a running sidecar's REST API (what the CLI does
    while a sidecar owns the data dir: the store is its alone). Raises ``NotFound`` for a
    conversation that does not exist and ``Unavailable`` when the sidecar cannot be read."""
    headers = {"Authorization": f"Bearer {token}"}
    async with ClientSession(base_url=url, headers=headers, timeout=ClientTimeout(total=300)) as s:

        async def get(path: str, params: dict[str, str] | None = None) -> Any:
            try:
                async with s.get(path, params=params) as response:
                    body = await response.json(content_type=None)
                    if response.status == 200:
                        return body
            except (ClientError, TimeoutError, ValueError) as exc:
                raise Unavailable(f"cannot read from the sidecar at {url}: {exc}") from None
            message = str((body.get("error") or {}).get("message") or response.status)
            if response.status == 404:
                raise NotFound(message)
            raise Unavailable(f"the sidecar at {url} answered {response.status}: {message}")

        ids = conversation_ids
        if ids is None:
            found: list[Doc] = []
            params = {
                "limit": str(MAX_PAGE),
                "archived": "any",
                "deleted": "any" if include_deleted else "false",
            }
            while True:
                page = await get("/api/v1/conversations", params)
                found += page["items"]
                if not page.get("next_cursor"):
                    break
                params["cursor"] = page["next_cursor"]
            found.sort(key=lambda doc: (str(doc.get("created_at") or ""), str(doc["id"])))
            ids = [str(doc["id"]) for doc in found]
        entries = []
        for conversation_id in ids:
            check_id(conversation_id, "conversation_id")
            document = await get(f"/api/v1/conversations/{conversation_id}/export")
            entries += document["conversations"]
    return document_of(entries)
