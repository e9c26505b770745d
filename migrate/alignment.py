"""One reading of LEGACY_FORMATS §4 for ``import`` and ``validate``: which messages are the same,
and where an imported conversation's messages belong in the store's copy of it.

``import`` asks :func:`settle` what to write, and ``validate`` asks the very same question to
know what to expect, so the two cannot disagree: a store that ``validate`` passes is one that
importing the same exports again leaves unchanged, and the other way round.

The API is small on purpose (importers of other formats reuse it):

- :func:`same_message` — §4 "the same message", including messages the legacy app had synced.
- :func:`shared_prefix` — how many messages two sequences share from the start, under that rule.
- :func:`settle` — given the store's branches and an incoming sequence of messages, a
  :class:`Settlement`: how many it shares with the active branch, which stored branch already
  holds all of them, and whether importing would leave the store as it is (``present``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .model import Message
from .normalize import format_ms


def same_message(ours: Message, theirs: Message) -> bool:
    """Whether two messages at the same position of two copies of a conversation are one.

    A *synced* message (one the store holds but no migration wrote: the legacy app had posted
    it through the sidecar's API, which gave it its own id and time) is the same as the other
    copy's message at its position when role and content are equal; times are not compared.
    Otherwise: with legacy ids on both sides, equal ids; else equal role, content and time (to
    the millisecond).
    """
    if ours.synced or theirs.synced:
        return ours.role == theirs.role and ours.content == theirs.content
    if ours.legacy_id is not None and theirs.legacy_id is not None:
        return ours.legacy_id == theirs.legacy_id
    return (
        ours.role == theirs.role
        and ours.content == theirs.content
        and ours.created_ms == theirs.created_ms
    )


def shared_prefix(ours: Sequence[Message], theirs: Sequence[Message]) -> int:
    """How many messages from the start are the same message in both (position by position)."""
    count = 0
    for a, b in zip(ours, theirs, strict=False):
        if not same_message(a, b):
            break
        count += 1
    return count


@dataclass(frozen=True, slots=True)
class Settlement:
    """Where an incoming copy's messages stand in the store's copy.

    ``prefix``: how many of them are the first messages of the active branch. ``holder``: the
    stored branch whose path starts with all of them (the active branch when it does), or
    ``None``. ``later``: the incoming copy was updated after the store's, so by the merge rule
    its messages belong on the active branch; an earlier copy's diverging tail is kept on a
    branch of its own, which does not have to be active.
    """

    prefix: int
    holder: str | None
    active: str
    later: bool

    @property
    def present(self) -> bool:
        """Every incoming message is stored where the rule puts it: importing adds nothing."""
        return self.holder is not None and (self.holder == self.active or not self.later)


def settle(
    paths: Mapping[str, Sequence[Message]],
    active: str,
    incoming: Sequence[Message],
    *,
    later: bool,
) -> Settlement:
    """Compare ``incoming`` (one copy's main branch) with the stored branches ``paths`` (each
    the whole path from the first message to its head; ``active`` names the active one)."""
    main = paths.get(active, ())
    prefix = shared_prefix(main, incoming)
    if prefix == len(incoming):
        return Settlement(prefix, active, active, later)
    holder = next(
        (
            name
            for name, path in paths.items()
            if name != active
            and len(path) >= len(incoming)
            and shared_prefix(path, incoming) == len(incoming)
        ),
        None,
    )
    return Settlement(prefix, holder, active, later)


def differences(stored: Sequence[Message], expected: Sequence[Message]) -> list[tuple[int, str]]:
    """``(index, what)`` for each expected message whose stored counterpart at the same
    position (already :func:`same_message`) differs in role, content or time: a message matched
    by legacy id must still say the same thing, and only a synced message keeps its own time."""
    found: list[tuple[int, str]] = []
    for index, (have, want) in enumerate(zip(stored, expected, strict=False)):
        if have.role != want.role:
            found.append((index, f"role is {have.role!r}, expected {want.role!r}"))
        if have.content != want.content:
            found.append(
                (index, f"content changed: {_short(have.content)}, expected {_short(want.content)}")
            )
        if not have.synced and have.created_ms != want.created_ms:
            found.append(
                (
                    index,
                    f"time is {format_ms(have.created_ms)}, expected {format_ms(want.created_ms)}",
                )
            )
    return found


def _short(text: str) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= 40 else flat[:39] + "…")
