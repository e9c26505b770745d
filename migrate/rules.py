"""LEGACY_FORMATS §4 across conversations: merging copies and finding cross-app duplicates.

``merge`` combines two copies of one conversation (two exports, or an export and the store's
copy); ``find_cross_app`` finds conversations that are the same chat under another legacy id.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from .alignment import settle, shared_prefix
from .model import PRINT_SIZE, Branch, Conversation, Message

MIN_CROSS_APP = 3
BRANCH_PREFIX = "import-"


def _free_branch(taken: set[str]) -> str:
    number = 1
    while f"{BRANCH_PREFIX}{number}" in taken:
        number += 1
    return f"{BRANCH_PREFIX}{number}"


def _detached(tail: list[Message]) -> list[Message]:
    """Copies of another conversation's messages (a later merge may change their content)."""
    return [copy.copy(m) for m in tail]


@dataclass(slots=True)
class MergeOutcome:
    """What a merge did: how many of ``other``'s messages were new, the branch it made, and the
    stored branch it makes active (``other`` is the later copy and one already holds it)."""

    added: int = 0
    branch: str | None = None
    activated: str | None = None


def merge(
    base: Conversation,
    other: Conversation,
    *,
    taken: Sequence[str] = (),
    paths: Mapping[str, Sequence[Message]] | None = None,
) -> MergeOutcome:
    """Merge ``other`` into ``base`` in place (§4 "the same conversation in several exports").

    ``base``'s message ids win for messages both have (the store's copy is always the base);
    content and flags come from the copy with the later ``updated_at``. Where the copies diverge,
    the main branch is the common prefix plus the later copy's tail, and the earlier copy's tail
    goes on a branch ``import-<n>`` (``taken``: branch names already used in the store).

    ``paths``: ``base`` is the store's copy and these are its branches, each a whole path
    (:func:`migrate.stored.stored_paths`). What is stored is never moved: where :func:`settle`
    finds ``other`` already held, nothing is added (a later copy held on another branch makes
    that branch active); when the later copy diverges its tail is offered as the main branch,
    which the importer keeps on a new ``import-<n>`` branch made active, the stored tail staying
    where it is. Whatever ``other`` adds (its main branch or a kept tail) hangs after the longest
    start any stored path shares with it (:func:`_longest_stored`): a message stored once, on
    some branch, is never copied (issue #12).
    """
    outcome = MergeOutcome()
    later_is_other = other.updated_ms > base.updated_ms
    ours, theirs = base.messages, other.messages
    prefix = shared_prefix(ours, theirs)
    if later_is_other and paths is None:
        for kept, newer in zip(ours[:prefix], theirs, strict=False):
            kept.content = newer.content  # a re-saved streaming reply grows
    along: Sequence[Message] = ours
    start = prefix  # the stored path ``theirs`` hangs off, and after how many
    if paths is not None:
        start, along = max((start, along), _longest_stored(paths, theirs), key=lambda p: p[0])
    renamed = {theirs[i].id: along[i].id for i in range(start)}
    held = settle(paths, base.main_branch, theirs, later=later_is_other) if paths else None
    if paths is not None and held is not None and held.holder is not None:
        if not held.present:
            base.messages = list(paths[held.holder])
            base.main_branch = outcome.activated = held.holder
    elif prefix == len(theirs):
        pass
    elif prefix == len(ours) and [m.id for m in along[:prefix]] == [m.id for m in ours]:
        base.messages = [*along[:start], *_detached(theirs[start:])]  # the longer copy wins
        outcome.added = len(theirs) - start
    else:
        names = {*taken, *(b.name for b in base.branches), *(b.name for b in other.branches)}
        name = _free_branch(names)
        parent = along[start - 1].id if start else None
        outcome.added = len(theirs) - start
        outcome.branch = name
        if later_is_other:
            if paths is None:
                base.branches.append(Branch(name, parent, ours[prefix:]))
            base.messages = [*along[:start], *_detached(theirs[start:])]
        else:
            base.branches.append(Branch(name, parent, _detached(theirs[start:])))
    _take_branches(base, other, renamed, taken, paths)
    if later_is_other:
        base.title = other.title or base.title
        base.starred, base.pinned, base.archived = other.starred, other.pinned, other.archived
        legacy = other.metadata.get("legacy")
        if legacy is not None:
            base.metadata["legacy"] = legacy
    base.updated_ms = max(base.updated_ms, other.updated_ms)
    base.created_ms = min(base.created_ms, other.created_ms)
    base.files.extend(f for f in other.files if f not in base.files)
    base.aliases.extend(a for a in other.aliases if a not in base.aliases)
    base.dropped += other.dropped
    base.shared += other.shared + prefix
    return outcome


def _take_branches(
    base: Conversation,
    other: Conversation,
    renamed: Mapping[str, str],
    taken: Sequence[str],
    paths: Mapping[str, Sequence[Message]] | None,
) -> None:
    """``other``'s kept tails, now ``base``'s: parents that are shared messages take ``base``'s
    ids; a tail the store already holds is not offered again; a clashing name gets a free one."""
    names = {*taken, base.main_branch, *(b.name for b in base.branches)}
    position = {m.id: i for i, m in enumerate(other.messages)}
    renamed = dict(renamed)
    for branch in other.branches:
        parent = renamed.get(branch.parent_id or "", branch.parent_id)
        messages = branch.messages
        if paths is not None:
            cut = position[branch.parent_id] + 1 if branch.parent_id in position else 0
            wanted = [*other.messages[:cut], *branch.messages]
            start, path = _longest_stored(paths, wanted)
            if start == len(wanted):
                continue
            if start > cut and (branch.parent_id is None or branch.parent_id in position):
                # §4: its first messages are stored ones: it hangs after them, as a main
                # branch does, instead of copying them (an earlier branch may hang after it)
                renamed.update((wanted[i].id, path[i].id) for i in range(cut, start))
                parent, messages = path[start - 1].id, branch.messages[start - cut :]
        elif branch.name in names:
            continue  # the same tail, met again in another export
        name = branch.name if branch.name not in names else _free_branch(names)
        names.add(name)
        base.branches.append(Branch(name, parent, messages))


def _longest_stored(
    paths: Mapping[str, Sequence[Message]], wanted: Sequence[Message]
) -> tuple[int, Sequence[Message]]:
    """The stored path sharing the most of ``wanted``'s first messages (§4's "same message",
    synced ones included), and how many: what is planned after them hangs off that path."""
    best: tuple[int, Sequence[Message]] = (0, ())
    for path in paths.values():
        count = shared_prefix(path, wanted)
        if count > best[0]:
            best = (count, path)
    return best


def _rolling(prints: bytes) -> list[int]:
    """Hashes of every prefix of the fingerprint sequence: ``result[k]`` covers ``k+1``."""
    out: list[int] = []
    value = 0
    for start in range(0, len(prints), PRINT_SIZE):
        value = hash((value, prints[start : start + PRINT_SIZE]))
        out.append(value)
    return out


class Comparable(Protocol):
    """What the cross-app rule reads of a conversation: a planned one (:mod:`migrate.shelf`)
    keeps only these, a :class:`Conversation` computes its ``prints`` from its messages."""

    @property
    def app(self) -> str: ...

    @property
    def identity(self) -> str: ...

    @property
    def prints(self) -> bytes: ...


C = TypeVar("C", bound=Comparable)


@dataclass(slots=True)
class CrossApp:
    """Decisions: ``merges`` (index merged into index) and possible duplicates left separate."""

    merges: list[tuple[int, int]] = field(default_factory=list)
    possible: list[tuple[int, list[int]]] = field(default_factory=list)


def different_apps(a: Comparable, b: Comparable) -> bool:
    """The import rule's pairs: the same chat copied between two apps."""
    return a.app != b.app


def find_cross_app(
    conversations: Sequence[C],
    eligible: Callable[[C, C], bool] = different_apps,
) -> CrossApp:
    """§4: a conversation whose (role, content) sequence has >= 3 messages and equals or is a
    prefix of exactly one other's is merged into it; shorter or ambiguous matches are only listed.

    Only ``eligible`` pairs are compared: by default two different apps (two sessions of one app
    that start alike are two chats, not a copy). Linear in the number of messages: every
    conversation's full-sequence hash is indexed, then each conversation's prefix hashes are
    looked up in that index; candidates are verified on their fingerprints
    (:func:`migrate.model.fingerprints`), so no message content is needed here.
    """
    prints = [c.prints for c in conversations]
    hashes = [_rolling(p) for p in prints]
    full: dict[tuple[int, int], list[int]] = {}
    for index, rolled in enumerate(hashes):
        if rolled:
            full.setdefault((len(rolled), rolled[-1]), []).append(index)
    matches: dict[int, list[int]] = {}
    for other, rolled in enumerate(hashes):
        for length, value in enumerate(rolled, start=1):
            for index in full.get((length, value), ()):
                if index != other and eligible(conversations[index], conversations[other]):
                    matches.setdefault(index, []).append(other)
    del hashes, full
    result = CrossApp()
    target_of: dict[int, int] = {}
    for index in sorted(matches):
        found = sorted({o for o in matches[index] if prints[o].startswith(prints[index])})
        if not found:
            continue
        size = len(prints[index]) // PRINT_SIZE
        if size >= MIN_CROSS_APP and len(found) == 1:
            into = found[0]
            if len(prints[into]) == len(prints[index]) and into > index:
                continue  # equal twins: the later one is merged into the earlier one
            target_of[index] = into
        else:
            result.possible.append((index, found))
    for index, into in target_of.items():
        seen = {index}
        while into in target_of and into not in seen:
            seen.add(into)
            into = target_of[into]
        result.merges.append((index, into))
    return result


def absorb(target: Conversation, source: Conversation, size: int) -> None:
    """Record ``source`` (a cross-app copy of ``size`` messages) in ``target`` and take its
    newer title and flags. Only their fields are read and written, not their messages."""
    names = [source.identity, *source.aliases]
    target.aliases.extend(a for a in names if a not in target.aliases and a != target.identity)
    if source.updated_ms > target.updated_ms:
        target.title = source.title or target.title
        target.starred, target.pinned, target.archived = (
            source.starred,
            source.pinned,
            source.archived,
        )
        target.updated_ms = source.updated_ms
    target.created_ms = min(target.created_ms, source.created_ms)
    target.files.extend(f for f in source.files if f not in target.files)
    target.dropped += source.dropped
    target.shared += source.shared + size
