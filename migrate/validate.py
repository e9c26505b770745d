"""``validate``: do the exports, under the same rules, agree with what the store holds?

Checks every planned conversation is present, every expected message is on its main branch in
order with the same role, content and time, and titles and flags match (a conversation that
existed before the migration, named by a ``backendConversationId``, keeps its own title and
flags, so only its messages are checked). One line per difference.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .apply import aliases_of
from .model import Conversation, Message
from .normalize import format_ms, parse_store_time
from .plan import Plan
from .storecopies import stored_copies
from .stored import branch_path, from_store
from .target import Target


@dataclass(slots=True)
class Checked:
    differences: list[str] = field(default_factory=list)
    conversations: int = 0
    messages: int = 0


def _short(text: str) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= 40 else flat[:39] + "…")


def _compare_messages(
    label: str, expected: list[Message], stored: list[Message], out: list[str]
) -> None:
    by_id = {m.id: i for i, m in enumerate(stored)}
    by_triple: dict[tuple[str, str, int], list[int]] = {}
    by_legacy: dict[str, list[int]] = {}
    for i, m in enumerate(stored):
        by_triple.setdefault((m.role, m.content, m.created_ms), []).append(i)
        if m.legacy_id is not None:
            by_legacy.setdefault(m.legacy_id, []).append(i)
    used: set[int] = set()
    last = -1

    def pick(candidates: list[int]) -> int | None:
        return next((i for i in candidates if i not in used), None)

    for number, message in enumerate(expected, start=1):
        where = f"{label}: message {number}" + (
            f" ({message.legacy_id})" if message.legacy_id else ""
        )
        position = by_id.get(message.id)
        if position is None or position in used:
            position = pick(by_triple.get((message.role, message.content, message.created_ms), []))
        if position is None and message.legacy_id is not None:
            position = pick(by_legacy.get(message.legacy_id, []))
        if position is None:
            out.append(f"{where}: missing from the main (active) branch")
            continue
        used.add(position)
        found = stored[position]
        if found.role != message.role:
            out.append(f"{where}: role is {found.role!r}, expected {message.role!r}")
        if found.content != message.content:
            out.append(
                f"{where}: content changed: {_short(found.content)}, expected {_short(message.content)}"
            )
        if found.created_ms != message.created_ms:
            out.append(
                f"{where}: time is {format_ms(found.created_ms)}, "
                f"expected {format_ms(message.created_ms)}"
            )
        if position < last:
            out.append(f"{where}: out of order on the main (active) branch")
        last = max(last, position)


def _compare_fields(
    label: str, expected: Conversation, stored: Conversation, out: list[str]
) -> None:
    for name in ("title", "starred", "pinned", "archived"):
        want, have = getattr(expected, name), getattr(stored, name)
        if want != have:
            out.append(f"{label}: {name} is {have!r}, expected {want!r}")


def _document_messages(document: dict[str, Any]) -> list[Message]:
    return [
        Message(
            str(m.get("id")),
            None,
            str(m.get("role")),
            str(m.get("content") or ""),
            parse_store_time(m.get("created_at")),
        )
        for m in branch_path(document)
    ]


async def validate(
    plan: Plan, target: Target, *, advance: Callable[[int], None] | None = None
) -> Checked:
    summaries = await target.summaries()
    existing = {str(s["id"]) for s in summaries}
    aliases = aliases_of(summaries)
    result = Checked()
    out = result.differences
    missing = [
        c
        for c in plan.conversations
        if c.store_id not in existing and aliases.get(c.identity) not in existing
    ]
    copies = await stored_copies(target, summaries, missing)
    for conversation in plan.conversations:
        result.conversations += 1
        result.messages += len(conversation.messages)
        label = f"{conversation.identity} ({conversation.store_id})"
        target_id = conversation.store_id
        absorbed = False
        if target_id not in existing and aliases.get(conversation.identity) in existing:
            target_id, absorbed = aliases[conversation.identity], True
        elif id(conversation) in copies:
            target_id, absorbed = copies[id(conversation)], True
        document = await target.export(target_id) if target_id in existing else None
        if advance is not None:
            advance(1)
        if document is None:
            out.append(f"{label}: missing from the store")
            continue
        stored = from_store(document)
        if absorbed:
            pairs = [m.pair for m in stored.messages[: len(conversation.messages)]]
            if pairs != [m.pair for m in conversation.messages]:
                out.append(f"{label}: no longer a prefix of {target_id}, which it was merged into")
            continue
        _compare_messages(label, conversation.messages, stored.messages, out)
        source = document.get("source")
        if isinstance(source, dict) and source.get("kind") == "migration":
            _compare_fields(label, conversation, stored, out)
    for expected_doc in plan.documents:
        result.conversations += 1
        label = f"chat-sidecar ({expected_doc['id']})"
        document = (
            await target.export(expected_doc["id"]) if expected_doc["id"] in existing else None
        )
        if document is None:
            out.append(f"{label}: missing from the store")
            continue
        expected_messages = _document_messages(expected_doc)
        result.messages += len(expected_messages)
        _compare_messages(label, expected_messages, _document_messages(document), out)
        for name in ("title", "starred", "pinned", "archived"):
            if expected_doc.get(name) != document.get(name):
                out.append(
                    f"{label}: {name} is {document.get(name)!r}, expected {expected_doc.get(name)!r}"
                )
    return result
