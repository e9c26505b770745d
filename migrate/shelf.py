"""Planned conversations kept on disk, so that a plan holds no message content (issue #15).

Planning a huge export used to hold every conversation's messages until the import had sent
them: ~1.9 bytes of memory per byte of the export, on top of what reading it takes. A
:class:`Shelf` is one temporary file (:mod:`migrate.spill`) that the plan writes each
normalised conversation's messages and branches to; what stays in memory is a
:class:`Shelved`: the conversation's fields without its messages, how many it has, and their
fingerprints, which are all that the rules across conversations read (:func:`migrate.rules.find_cross_app`). Whoever needs the
messages (a merge with another copy, the comparison with the store, the document sent to the
importer) loads them for that moment: the same objects come back, so every rule sees what it
saw before.
"""

from __future__ import annotations

import copy
import dataclasses
import pickle
from typing import TypeAlias

from .model import PRINT_SIZE, Branch, Conversation, Message
from .spill import Spill


class Shelf:
    """Planned conversations' messages on a :class:`Spill` of their own."""

    def __init__(self) -> None:
        self._spill = Spill()

    def keep(self, conversation: Conversation) -> Shelved:
        """Write ``conversation``'s messages and branches; what stays in memory is returned.

        ``conversation`` itself is left as it was (a caller still holding it holds it all).
        """
        data = pickle.dumps((conversation.messages, conversation.branches), protocol=5)
        where = self._spill.put(data)
        branches = sum(len(b.messages) for b in conversation.branches)
        return Shelved(_head(conversation), self, where, conversation.prints, branches)

    def read(self, where: tuple[int, int]) -> tuple[list[Message], list[Branch]]:
        messages, branches = pickle.loads(self._spill.get(where))
        return messages, branches


def _head(conversation: Conversation) -> Conversation:
    """``conversation``'s fields without its messages (its own copies of the mutable ones)."""
    return dataclasses.replace(
        conversation,
        messages=[],
        branches=[],
        metadata=copy.deepcopy(conversation.metadata),
        files=list(conversation.files),
        aliases=list(conversation.aliases),
        tags=list(conversation.tags),
    )


class Shelved:
    """A planned conversation whose messages are on a :class:`Shelf`.

    ``head``: its fields, with ``messages`` and ``branches`` empty (rules that change only
    fields, such as the cross-app merge, change them here). ``prints``: the fingerprints of its
    main branch's messages; ``branch_size``: how many messages its other branches hold.
    """

    __slots__ = ("_where", "branch_size", "head", "prints", "shelf")

    def __init__(
        self,
        head: Conversation,
        shelf: Shelf,
        where: tuple[int, int],
        prints: bytes,
        branch_size: int,
    ) -> None:
        self.head = head
        self.shelf = shelf
        self._where = where
        self.prints = prints
        self.branch_size = branch_size

    @property
    def size(self) -> int:
        """How many messages the main branch has."""
        return len(self.prints) // PRINT_SIZE

    @property
    def app(self) -> str:
        return self.head.app

    @property
    def identity(self) -> str:
        return self.head.identity

    @property
    def store_id(self) -> str:
        return self.head.store_id

    def load(self) -> Conversation:
        """The whole conversation: ``head``'s fields as they are now, with its messages read
        back (a new object each time; changing it changes nothing here)."""
        conversation = _head(self.head)
        conversation.messages, conversation.branches = self.shelf.read(self._where)
        return conversation

    def rehead(self, conversation: Conversation) -> Shelved:
        """The same messages under ``conversation``'s fields (a load whose messages were not
        changed, only its fields, such as the store id it is imported under)."""
        return Shelved(_head(conversation), self.shelf, self._where, self.prints, self.branch_size)


#: What a plan holds of a conversation: its messages shelved (a legacy export's plan) or in
#: memory (a chunk of another tool's history, already bounded by :mod:`migrate.peerplan`).
Planned: TypeAlias = Conversation | Shelved


def loaded(planned: Planned) -> Conversation:
    """The whole conversation (for one in memory, itself)."""
    return planned.load() if isinstance(planned, Shelved) else planned


def message_count(planned: Planned) -> int:
    """How many messages the main branch has."""
    return planned.size if isinstance(planned, Shelved) else len(planned.messages)


def weight(planned: Planned) -> int:
    """How many messages the conversation has, on every branch."""
    if isinstance(planned, Shelved):
        return planned.size + planned.branch_size
    return len(planned.messages) + sum(len(b.messages) for b in planned.branches)
