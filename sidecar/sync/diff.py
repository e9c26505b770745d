"""Between the store and the merged registers: local changes out, merged state in.

:func:`local_changes` compares what the store holds with what the registers say it should hold;
every difference is a local write this device made, and becomes a change stamped now.
:func:`merged_state` derives from the registers what the store should hold (a
:class:`~sidecar.store.remote.Merge`, only what differs), after other devices' changes joined in.
Both sides use the same derivation (:func:`branch_heads` included), so a merged state written to
the store compares equal to the registers and is not sent back as a local change.
"""

from __future__ import annotations

from typing import Any

from ..store.model import DEFAULT_BRANCH, MESSAGE_FIELDS
from ..store.remote import Merge
from ..store.rewrite import Image
from .branches import branch_heads
from .hlc import HybridClock
from .model import (
    CONVERSATION_REGISTERS,
    MESSAGE_FIXED,
    MESSAGE_REGISTERS,
    ConversationState,
    Doc,
    Op,
    branch_key,
)

CONVERSATION_DEFAULTS: dict[str, Any] = {
    "title": None,
    "starred": False,
    "pinned": False,
    "archived": False,
    "deleted_at": None,
    "workspace": None,
    "tags": [],
    "metadata": {},
    "active_branch": DEFAULT_BRANCH,
    "state": "idle",
    "source": None,
}


def placed_parents(state: ConversationState) -> dict[str, str | None]:
    """id -> parent of the messages whose ancestors have all arrived (the ones a store shows)."""
    return {doc["id"]: doc.get("parent_id") for doc in state.message_docs()}


def heads_of(state: ConversationState) -> dict[str, str | None]:
    heads = branch_heads(list(state.branch_writes.values()), placed_parents(state))
    heads.setdefault(DEFAULT_BRANCH, None)
    return heads


def local_changes(
    state: ConversationState, image: Image, clock: HybridClock, at: str | None = None
) -> tuple[list[Op], set[tuple[str, str]]]:
    """The changes that take ``state`` to what ``image`` holds; joined into ``state`` too.

    ``at``: the stamp of the store commit that made them (taken when the store announced it, so
    "last writer" means the last to write, not the last to be compared); default now.
    Returns the changes and the (kind, key) registers they touched.
    """
    stamp = at or clock.now()
    cid = state.conversation_id
    ops: list[Op] = []
    conversation = image.conversation
    changed = {
        name: conversation.get(name)
        for name in CONVERSATION_REGISTERS
        if name not in state.fields or state.fields[name][0] != conversation.get(name)
    }
    if changed:
        ops.append(Op(cid, "c", "", {"f": {n: [v, stamp] for n, v in changed.items()}}, stamp))
    for doc in image.messages:
        entry = state.messages.get(doc["id"])
        current = None if entry is None else state.message_doc(doc["id"])
        fields = {
            name: doc.get(name)
            for name in MESSAGE_REGISTERS
            if current is None or current.get(name) != doc.get(name)
        }
        if fields:
            fixed = {name: doc.get(name) for name in MESSAGE_FIXED}
            value = {"doc": fixed, "f": {n: [v, stamp] for n, v in fields.items()}}
            ops.append(Op(cid, "m", doc["id"], value, stamp))
    touched: set[tuple[str, str]] = set()
    for op in ops:
        state.merge(op)
        touched.add((op.kind, op.key))
    heads = branch_heads(list(state.branch_writes.values()), placed_parents(state))
    branch_ops: list[Op] = []
    for name, head in image.branches.items():
        if name in heads and heads[name] == head:
            continue
        prev = heads.get(name)
        value = {"name": name, "head": head, "prev": prev}
        branch_ops.append(Op(cid, "b", branch_key(name, head, prev), value, stamp))
    for turn in image.turns:
        known = state.turns.get(turn["id"])
        if known is None or known[0] != turn:
            branch_ops.append(Op(cid, "t", turn["id"], turn, stamp))
    for op in branch_ops:
        state.merge(op)
        touched.add((op.kind, op.key))
    return ops + branch_ops, touched


def merged_state(state: ConversationState, image: Image | None) -> Merge | None:
    """What the store should hold for this conversation, or ``None`` when it already does."""
    if not state.exists:
        return None
    conversation = {**CONVERSATION_DEFAULTS, **state.conversation_doc()}
    heads = heads_of(state)
    if conversation.get("active_branch") not in heads:
        conversation["active_branch"] = DEFAULT_BRANCH
    stored: dict[str, Doc] = {} if image is None else {m["id"]: m for m in image.messages}
    messages = [
        doc
        for doc in state.message_docs()
        if doc["id"] not in stored
        or any(stored[doc["id"]].get(name) != doc.get(name) for name in MESSAGE_FIELDS)
    ]
    known_turns = {} if image is None else {t["id"]: t for t in image.turns}
    turns = [t for t in state.turn_docs() if known_turns.get(t["id"]) != t]
    if image is not None:
        same = all(image.conversation.get(k) == v for k, v in conversation.items())
        if same and not messages and not turns and image.branches == heads:
            return None
    return Merge(conversation, messages, heads, turns)
