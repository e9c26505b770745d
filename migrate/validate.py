"""``validate``: do the exports, under the same rules, agree with what the store holds?

Checks every planned conversation is present and asks the import's own question
(:func:`migrate.alignment.settle`): are the expected messages where the merge rule puts them
(on the active branch, in order; an earlier copy's diverging tail on a branch of its own)? Then
that each still has the export's role, content and time (a synced message keeps its own time),
and, when the export is the later copy, its title and flags. One line per difference.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .alignment import differences, same_message, settle, shared_prefix
from .apply import aliases_of
from .model import Conversation, Message
from .normalize import parse_store_time
from .plan import Plan
from .shelf import loaded
from .storecopies import stored_copies
from .stored import active_branch, branch_path, from_store, stored_paths
from .target import Target


@dataclass(slots=True)
class Checked:
    differences: list[str] = field(default_factory=list)
    conversations: int = 0
    messages: int = 0


def _where(label: str, number: int, message: Message) -> str:
    return f"{label}: message {number}" + (f" ({message.legacy_id})" if message.legacy_id else "")


def _diverging(
    label: str, path: list[Message], expected: list[Message], prefix: int, out: list[str]
) -> None:
    """Describe what is wrong after the first expected message the active branch lacks: each
    later one is missing, or found out of order (found by the same rule, anywhere on it)."""
    candidates: dict[tuple[str, str], list[int]] = {}
    by_legacy: dict[str, list[int]] = {}
    for at in range(prefix, len(path)):
        candidates.setdefault(path[at].pair, []).append(at)
        if path[at].legacy_id is not None:
            by_legacy.setdefault(str(path[at].legacy_id), []).append(at)
    used: set[int] = set()
    last = prefix - 1
    for index in range(prefix, len(expected)):
        message = expected[index]
        where = _where(label, index + 1, message)
        pool = [*by_legacy.get(message.legacy_id or "", []), *candidates.get(message.pair, [])]
        position = next((p for p in pool if p not in used and same_message(path[p], message)), None)
        if position is None:
            out.append(f"{where}: missing from the main (active) branch")
            continue
        used.add(position)
        if position < last:
            out.append(f"{where}: out of order on the main (active) branch")
        last = max(last, position)
        out.extend(f"{where}: {what}" for _, what in differences([path[position]], [message]))


def _compare_messages(
    label: str,
    expected: Conversation,
    paths: dict[str, list[Message]],
    active: str,
    later: bool,
    out: list[str],
) -> None:
    """The import's own question (:func:`settle`): are the expected messages where the merge
    rule puts them? Then: do the stored ones still say what the export says?"""
    settled = settle(paths, active, expected.messages, later=later)
    checked: list[Message] = []  # the stored messages compared here
    if settled.present and settled.holder is not None:
        path = paths[settled.holder]
        checked = path[: len(expected.messages)]
        for index, what in differences(path, expected.messages):
            out.append(f"{_where(label, index + 1, expected.messages[index])}: {what}")
    elif settled.holder is not None:
        out.append(
            f"{label}: its messages are on branch {settled.holder}, not on the active branch "
            f"{active} (the export is the later copy)"
        )
    else:
        path = paths.get(active, [])
        checked = path[: settled.prefix]
        for index, what in differences(checked, expected.messages):
            out.append(f"{_where(label, index + 1, expected.messages[index])}: {what}")
        _diverging(label, path, expected.messages, settled.prefix, out)
    seen = {m.id for m in checked}
    by_id = {m.id: i for i, m in enumerate(expected.messages)}
    for branch in expected.branches:
        cut = by_id[branch.parent_id] + 1 if branch.parent_id in by_id else 0
        wanted = [*expected.messages[:cut], *branch.messages]
        _compare_kept_tail(label, branch.name, paths, wanted, seen, out)


def _compare_kept_tail(
    label: str,
    name: str,
    paths: dict[str, list[Message]],
    wanted: list[Message],
    seen: set[str],
    out: list[str],
) -> None:
    """A kept tail's whole path (``wanted``) is held by a stored branch, and says what the
    export says there: a message matched by legacy id but edited since is a difference, as it
    is on the active branch. The import may hang the tail after stored messages of any branch
    (synced ones too), so every message of that path is compared except those ``seen``, which
    the main branch's check compared already."""
    holders = [(n, p) for n, p in paths.items() if shared_prefix(p, wanted) == len(wanted)]
    if not holders:
        out.append(f"{label}: the diverging tail kept on branch {name} is missing")
        return
    found = [
        (n, [(i, what) for i, what in differences(p, wanted) if p[i].id not in seen])
        for n, p in holders
    ]
    holder, changed = min(found, key=lambda pair: len(pair[1]))
    for index, what in changed:
        out.append(f"{_where(label, index + 1, wanted[index])} on branch {holder}: {what}")


def _compare_fields(
    label: str, expected: Conversation, stored: Conversation, out: list[str]
) -> None:
    for name in ("title", "starred", "pinned", "archived"):
        want, have = getattr(expected, name), getattr(stored, name)
        if want != have:
            out.append(f"{label}: {name} is {have!r}, expected {want!r}")


def _document_messages(document: dict[str, Any]) -> list[Message]:
    """A chat-sidecar conversation's active branch; its message ids are its identity, so they
    stand in the legacy id's place."""
    return [
        Message(
            str(m.get("id")),
            str(m.get("id")),
            str(m.get("role")),
            str(m.get("content") or ""),
            parse_store_time(m.get("created_at")),
        )
        for m in branch_path(document)
    ]


def _compare_by_id(
    label: str, path: list[Message], expected: list[Message], out: list[str]
) -> None:
    prefix = shared_prefix(path, expected)
    for index, what in differences(path[:prefix], expected):
        out.append(f"{_where(label, index + 1, expected[index])}: {what}")
    _diverging(label, path, expected, prefix, out)


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
    for planned in plan.conversations:
        conversation = loaded(planned)
        result.conversations += 1
        result.messages += len(conversation.messages)
        label = f"{conversation.identity} ({conversation.store_id})"
        target_id = conversation.store_id
        absorbed = False
        if target_id not in existing and aliases.get(conversation.identity) in existing:
            target_id, absorbed = aliases[conversation.identity], True
        elif id(planned) in copies:
            target_id, absorbed = copies[id(planned)], True
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
        later = conversation.updated_ms > stored.updated_ms
        paths = stored_paths(document)
        _compare_messages(label, conversation, paths, active_branch(document), later, out)
        if later:  # the export is the later copy: the import takes its title and flags
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
        _compare_by_id(label, _document_messages(document), expected_messages, out)
        for name in ("title", "starred", "pinned", "archived"):
            if expected_doc.get(name) != document.get(name):
                out.append(
                    f"{label}: {name} is {document.get(name)!r}, expected {expected_doc.get(name)!r}"
                )
    return result
