"""What syncs, as registers that merge the same way on every device (docs/sync.md).

A change (:class:`Op`) is one register write on one conversation, stamped by the writer's hybrid
logical clock:

- ``c``: conversation fields, ``{"f": {field: [value, stamp]}}``: last writer wins, per field;
- ``m``: a message, ``{"doc": {fixed fields}, "f": {field: [value, stamp]}}``: the fixed fields
  (id, parent, role, ...) are the same wherever the message is known; content, status, metadata,
  tool calls, ``source`` and ``updated_at`` are last-writer-wins registers;
- ``b``: a branch write ``{"name", "head", "prev"}`` (``prev``: the head the writer replaced), kept
  in a grow-only set; :func:`branch_heads` derives the branches from the set;
- ``t``: a turn, the whole document, last writer wins;
- ``p``: the conversation was purged: final.

Merging is a join (commutative, associative, idempotent), so every device that has received the
same set of changes, in whatever order, holds the same registers and derives the same state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from ..store.model import CONVERSATION_FIELDS

Doc = dict[str, Any]

#: The conversation's fields as last-writer-wins registers: all the store keeps but ``id`` (the key)
#: and ``revision`` (counted per device, CONTRACT §10 leaves it out of convergence).
CONVERSATION_REGISTERS: Final = tuple(
    name for name in CONVERSATION_FIELDS if name not in ("id", "revision")
)
MESSAGE_FIXED: Final = (
    "id",
    "conversation_id",
    "parent_id",
    "role",
    "created_at",
    "client_message_id",
    "turn_id",
    "tool_call_id",
)
#: ``source`` is a register, not fixed: the same legacy export migrated on two devices makes the
#: same message ids with different ``run_id``s; the copies must end equal (the latest wins).
MESSAGE_REGISTERS: Final = ("content", "status", "metadata", "tool_calls", "updated_at", "source")
MESSAGE_DEFAULTS: Final[Doc] = {
    "content": "",
    "status": "complete",
    "metadata": {},
    "tool_calls": [],
    "source": None,
}


@dataclass(frozen=True, slots=True)
class Op:
    """One change as it travels: local outbox, hub change log, pull."""

    conversation_id: str
    kind: str
    key: str
    value: Any
    stamp: str

    def to_row(self) -> tuple[str, str, str, Any, str]:
        return (self.conversation_id, self.kind, self.key, self.value, self.stamp)


def merge_fields(old: dict[str, list[Any]], new: dict[str, list[Any]]) -> bool:
    """Per-field last writer wins, in place; returns whether anything changed."""
    changed = False
    for name, (value, stamp) in new.items():
        current = old.get(name)
        if current is None or stamp > current[1]:
            old[name] = [value, stamp]
            changed = True
    return changed


def branch_key(name: str, head: str | None, prev: str | None) -> str:
    return f"{name}/{head or ''}/{prev or ''}"


class ConversationState:
    """The merged registers of one conversation."""

    def __init__(self, conversation_id: str) -> None:
        self.conversation_id = conversation_id
        self.fields: dict[str, list[Any]] = {}
        self.messages: dict[str, Doc] = {}
        self.branch_writes: dict[str, Doc] = {}
        self.turns: dict[str, list[Any]] = {}
        self.purged = False

    @property
    def exists(self) -> bool:
        return bool(self.fields) and not self.purged

    def merge(self, op: Op) -> bool:
        """Join one change in; returns whether the state changed."""
        if self.purged:
            return False
        if op.kind == "p":
            self.purged = True
            self.fields, self.messages, self.branch_writes, self.turns = {}, {}, {}, {}
            return True
        if op.kind == "c":
            return merge_fields(self.fields, op.value["f"])
        if op.kind == "m":
            entry = self.messages.get(op.key)
            if entry is None:
                self.messages[op.key] = {"doc": dict(op.value["doc"]), "f": dict(op.value["f"])}
                return True
            return merge_fields(entry["f"], op.value["f"])
        if op.kind == "b":
            if op.key in self.branch_writes:
                return False
            self.branch_writes[op.key] = {**op.value, "stamp": op.stamp}
            return True
        if op.kind == "t":
            current = self.turns.get(op.key)
            if current is None or op.stamp > current[1]:
                self.turns[op.key] = [op.value, op.stamp]
                return True
            return False
        raise ValueError(f"unknown change kind {op.kind!r}")

    # ------------------------------------------------------------------ deriving the state

    def conversation_doc(self) -> Doc:
        doc: Doc = {"id": self.conversation_id}
        for name, (value, _) in self.fields.items():
            doc[name] = value
        return doc

    def message_docs(self) -> list[Doc]:
        """Every message whose ancestors are all known, parents before children."""
        depth: dict[str, int | None] = {}
        for message_id in self.messages:
            chain: list[str] = []
            current: str | None = message_id
            base: int | None
            while True:
                if current is None:
                    base = -1
                    break
                if current in depth:
                    base = depth[current]
                    break
                entry = self.messages.get(current)
                if entry is None or current in chain:
                    base = None  # an ancestor has not arrived yet
                    break
                chain.append(current)
                current = entry["doc"].get("parent_id")
            for seen in reversed(chain):
                base = None if base is None else base + 1
                depth[seen] = base
        ordered = sorted((d, m) for m, d in depth.items() if d is not None)
        return [self.message_doc(message_id) for _, message_id in ordered]

    def message_doc(self, message_id: str) -> Doc:
        entry = self.messages[message_id]
        doc = {**MESSAGE_DEFAULTS, **entry["doc"]}
        for name, (value, _) in entry["f"].items():
            doc[name] = value
        doc.setdefault("updated_at", doc.get("created_at"))
        return doc

    def turn_docs(self) -> list[Doc]:
        return [value for value, _ in self.turns.values()]
