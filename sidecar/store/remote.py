"""Changes from other devices (sync, docs/sync.md): the one kind of write the sync layer makes.

The sync layer merges what other devices did into the state a conversation should have, and hands
it to :meth:`~sidecar.store.store.Store.apply_remote` as a :class:`Merge`: the conversation
document, the messages that are new or changed (parents before children), the complete branch map
and the turns that changed. The store turns it into ONE journal record of ordinary puts (plus
``unbranch`` for a branch the merge no longer has), so it is durable, replayed and announced
(``message.created`` / ``message.updated`` / ``conversation.*``) exactly like a local write.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .effects import MessageChange, TurnChange
from .errors import ValidationFailed
from .ids import check_id
from .model import DEFAULT_BRANCH, MESSAGE_FIELDS, Doc
from .segments import Operation
from .shard import Shard


@dataclass(frozen=True, slots=True)
class Merge:
    """The state a conversation takes after merging other devices' changes."""

    conversation: Doc
    messages: list[Doc] = field(default_factory=list)
    branches: dict[str, str | None] = field(default_factory=dict)
    turns: list[Doc] = field(default_factory=list)


@dataclass(slots=True)
class MergeOps:
    """The journal ops of a merge and what they announce."""

    ops: list[Operation]
    messages: list[MessageChange]
    turns: list[TurnChange]


def merge_ops(shard: Shard, merge: Merge, turns: dict[str, Doc]) -> MergeOps:
    """Ops that take ``shard`` to ``merge``; raises :class:`ValidationFailed` if the tree breaks.

    Stored messages keep their internal fields (``_request``): only public fields come from the
    merge. ``turns`` are the shard's loaded turns (for the ``previous`` state of an event).
    """
    known = set(shard.index)
    ops: list[Operation] = []
    announced: list[MessageChange] = []
    next_ordinal = len(shard.ids)
    for doc in merge.messages:
        message_id = check_id(doc.get("id"), "message.id")
        public = {name: doc.get(name) for name in MESSAGE_FIELDS}
        if message_id in shard.index:
            ordinal = shard.index[message_id]
            stored = shard.message_at(ordinal)
            if public["parent_id"] != stored.get("parent_id"):
                raise ValidationFailed("message.parent_id", f"message {message_id!r} moved")
            replaced = {**stored, **public}
            ops.append(["msg", ordinal, replaced])
            announced.append(MessageChange(False, replaced))
            continue
        parent = public["parent_id"]
        if parent is not None and parent not in known:
            raise ValidationFailed("message.parent_id", f"{message_id!r} comes before its parent")
        ops.append(["msg", next_ordinal, public])
        announced.append(MessageChange(True, public))
        known.add(message_id)
        next_ordinal += 1
    if DEFAULT_BRANCH not in merge.branches:
        raise ValidationFailed("branch", f"a conversation always has '{DEFAULT_BRANCH}'")
    for name, head in merge.branches.items():
        if head is not None and head not in known:
            raise ValidationFailed("branch", f"branch {name!r} ends at an unknown message")
        if shard.branches.get(name, "\0") != head:
            ops.append(["branch", name, head])
    ops += [["unbranch", name] for name in shard.branches if name not in merge.branches]
    if merge.conversation.get("active_branch") not in merge.branches:
        raise ValidationFailed("active_branch", "the active branch must exist")
    changed_turns: list[TurnChange] = []
    for turn in merge.turns:
        check_id(turn.get("id"), "turn.id")
        previous = turns.get(turn["id"])
        if previous != turn:
            ops.append(["turn", turn])
            changed_turns.append(
                TurnChange(None if previous is None else previous.get("state"), turn)
            )
    return MergeOps(ops, announced, changed_turns)
