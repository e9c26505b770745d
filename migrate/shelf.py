"""Planned conversations kept on disk, so that a plan holds no message content (issue #15).

Planning a huge export used to hold every conversation's messages until the import had sent
them: ~1.9 bytes of memory per byte of the export, on top of what reading it takes. A
:class:`Shelf` is one anonymous temporary file (unlinked as soon as it is made, so nothing is
left behind, even after a crash) that the plan writes each normalised conversation's messages
and branches to, compressed; what stays in memory is a :class:`Shelved`: the conversation's
fields without its messages, how many it has, and their fingerprints, which are all that the
rules across conversations read (:func:`migrate.rules.find_cross_app`). Whoever needs the
messages (a merge with another copy, the comparison with the store, the document sent to the
importer) loads them for that moment: the same objects come back, so every rule sees what it
saw before.

The file goes where :mod:`tempfile` puts files (``TMPDIR``); it takes about a third of the
export's size.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import pickle
import tempfile
import zlib
from typing import TypeAlias

from .model import PRINT_SIZE, Branch, Conversation, Message

COMPRESSION_LEVEL = 1


class Shelf:
    """One temporary file of planned conversations' messages, appended to, read at random."""

    def __init__(self) -> None:
        # Open as long as the plan lives; closed (and gone) when the plan is let go of.
        self._file = tempfile.TemporaryFile(prefix="chat-migrate-plan-")  # noqa: SIM115
        self._end = 0

    def keep(self, conversation: Conversation) -> Shelved:
        """Write ``conversation``'s messages and branches; what stays in memory is returned.

        ``conversation`` itself is left as it was (a caller still holding it holds it all).
        """
        data = zlib.compress(
            pickle.dumps((conversation.messages, conversation.branches), protocol=5),
            COMPRESSION_LEVEL,
        )
        where = (self._end, len(data))
        view = memoryview(data)
        while view:
            written = os.pwrite(self._file.fileno(), view, self._end)
            view, self._end = view[written:], self._end + written
        branches = sum(len(b.messages) for b in conversation.branches)
        return Shelved(_head(conversation), self, where, conversation.prints, branches)

    def read(self, where: tuple[int, int]) -> tuple[list[Message], list[Branch]]:
        offset, size = where
        chunks: list[bytes] = []
        while size:
            chunk = os.pread(self._file.fileno(), size, offset)
            if not chunk:
                raise OSError(f"the plan's temporary file ended early (at byte {offset})")
            chunks.append(chunk)
            offset, size = offset + len(chunk), size - len(chunk)
        messages, branches = pickle.loads(zlib.decompress(b"".join(chunks)))
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
