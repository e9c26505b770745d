"""Branches from the grow-only set of branch writes: CONTRACT §10's rule, derived the same everywhere.

Every time a device moves a branch it records ``{name, head, prev, stamp}``: ``prev`` is the head it
replaced (``None`` for a new branch). For each name:

- a write is *superseded* when another write on the same name replaced its head (``prev`` equals
  it: the writer saw it and moved on, as an append or a retry does), or moved to a strict descendant
  of it (CONTRACT §10: the descendant wins);
- of the writes left (the *live* ones) the latest stamp keeps the name (hybrid logical clock, ties
  by device id: the stamp ends with it); normally there is exactly one;
- every other live head is kept on a branch ``conflict-<n>``, numbered in stamp order, skipping
  names in use, unless some write already continues from it (a device extended it under a name of
  its own) or another branch already ends there.

The result depends only on the set of writes and the message tree, never on the order they
arrived in, so devices holding the same changes show the same branches.
"""

from __future__ import annotations

from collections.abc import Mapping

from .model import Doc


def is_strict_descendant(
    parents: Mapping[str, str | None], message_id: str, ancestor: str | None
) -> bool:
    if ancestor is None:
        return message_id in parents
    current = parents.get(message_id)
    while current is not None:
        if current == ancestor:
            return True
        current = parents.get(current)
    return False


def branch_heads(writes: list[Doc], parents: Mapping[str, str | None]) -> dict[str, str | None]:
    """The branches (name -> head) that ``writes`` make, given ``parents`` (id -> parent id).

    Writes whose head is not a known message yet are left out until it arrives.
    """
    by_name: dict[str, dict[str | None, Doc]] = {}
    for write in writes:
        head = write["head"]
        if head is not None and head not in parents:
            continue
        heads = by_name.setdefault(write["name"], {})
        known = heads.get(head)
        if known is None or write["stamp"] > known["stamp"]:
            heads[head] = write
    continued = {write["prev"] for write in writes if write["prev"] is not None}
    result: dict[str, str | None] = {}
    losers: list[Doc] = []
    for name in sorted(by_name):
        heads = by_name[name]
        replaced = {w["prev"] for w in heads.values()} | {
            w["prev"] for w in writes if w["name"] == name and w["prev"] is not None
        }
        candidates = [w for head, w in heads.items() if head not in replaced or head is None]
        candidates = [w for w in candidates if not (w["head"] is None and len(heads) > 1)]
        live = [
            w
            for w in candidates
            if not any(
                other is not w and is_strict_descendant(parents, other["head"], w["head"])
                for other in candidates
                if other["head"] is not None
            )
        ]
        if not live:
            live = [max(heads.values(), key=lambda w: w["stamp"])]
        live.sort(key=lambda w: w["stamp"])
        result[name] = live[-1]["head"]
        losers += live[:-1]
    taken = set(result.values())
    number = 0
    for loser in sorted(losers, key=lambda w: (w["stamp"], w["name"])):
        if loser["head"] in continued or loser["head"] in taken:
            continue
        number += 1
        while f"conflict-{number}" in result:
            number += 1
        result[f"conflict-{number}"] = loser["head"]
        taken.add(loser["head"])
    return result
