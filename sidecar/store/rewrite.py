"""Whole-conversation reads and rewrites: what export, import and rollback need from the store.

An :class:`Image` is everything one conversation holds, as plain documents. A :class:`Rewrite` is
one change to a conversation that :meth:`~sidecar.store.store.Store.rewrite` journals as ONE
record, so a crash leaves the conversation fully changed or untouched:

- ``create``: a conversation that does not exist yet, exactly as given (ids, timestamps, flags,
  revision, branches, messages, turns).
- ``extend``: the conversation document replaced, ``messages`` appended after the stored ones,
  ``branches`` and ``turns`` put. Existing messages keep their positions (ordinals never change).
- ``replace``: the whole state replaced, so messages can disappear (the ``reset`` journal op).
- ``drop``: the conversation removed. Unlike a purge its id is *not* reserved: a rolled back
  migration run must be able to run again.

:func:`check_rewrite` refuses a rewrite that would break the message tree *before* it is
journalled: a record that failed to apply after its fsync would fail again on every replay.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from .errors import ValidationFailed
from .ids import check_id
from .model import DEFAULT_BRANCH, Doc

REWRITE_KINDS: Final = ("create", "extend", "replace", "drop")


@dataclass(frozen=True, slots=True)
class Image:
    """A conversation as stored, read in one step of the event loop.

    ``conversation`` and ``messages`` are the stored documents, internal fields (``_request``,
    ``_imports``) included; callers that show them filter (``public_message``). ``messages`` are
    in insertion order, so every parent comes before its children.
    """

    conversation: Doc
    branches: dict[str, str | None]
    messages: list[Doc]
    turns: list[Doc]


@dataclass(frozen=True, slots=True)
class Rewrite:
    """One atomic change of a whole conversation (see the module docstring for ``kind``)."""

    kind: str
    conversation: Doc | None = None
    branches: dict[str, str | None] = field(default_factory=dict)
    messages: list[Doc] = field(default_factory=list)
    turns: list[Doc] = field(default_factory=list)


def check_rewrite(conversation_id: str, image: Image | None, rewrite: Rewrite) -> None:
    """Raise :class:`ValidationFailed` unless ``rewrite`` keeps the conversation consistent."""
    if rewrite.kind not in REWRITE_KINDS:
        raise ValidationFailed("kind", f"unknown rewrite {rewrite.kind!r}")
    if (image is None) != (rewrite.kind == "create"):
        raise ValidationFailed(
            "id", "create needs a new conversation; other rewrites an existing one"
        )
    if rewrite.kind == "drop":
        return
    conversation = rewrite.conversation
    if conversation is None or conversation.get("id") != conversation_id:
        raise ValidationFailed("id", "the rewritten conversation must keep its id")
    known: set[str] = set()
    if rewrite.kind == "extend" and image is not None:
        known = {m["id"] for m in image.messages}
    for doc in rewrite.messages:
        message_id = check_id(doc.get("id"), "message.id")
        if message_id in known:
            raise ValidationFailed("message.id", f"message '{message_id}' appears twice")
        parent = doc.get("parent_id")
        if parent is not None and parent not in known:
            raise ValidationFailed(
                "message.parent_id", f"message '{message_id}' comes before its parent"
            )
        if doc.get("conversation_id") != conversation_id:
            raise ValidationFailed(
                "message.conversation_id", "messages must name their conversation"
            )
        known.add(message_id)
    branches = dict(rewrite.branches)
    if rewrite.kind == "extend" and image is not None:
        branches = {**image.branches, **branches}
    for name, head in branches.items():
        check_id(name, "branch")
        if head is not None and head not in known:
            raise ValidationFailed("branch", f"branch '{name}' ends at an unknown message")
    if DEFAULT_BRANCH not in branches:
        raise ValidationFailed("branch", f"a conversation always has the '{DEFAULT_BRANCH}' branch")
    if conversation.get("active_branch") not in branches:
        raise ValidationFailed("active_branch", "the active branch must exist")
    for turn in rewrite.turns:
        check_id(turn.get("id"), "turn.id")
