"""Cross-app copies across runs: a conversation about to be created that is a copy of one an
earlier run already imported from another app.

Within one run the plan merges such copies (:func:`migrate.rules.find_cross_app`). Across runs,
importing the copy would double the chat, so the candidates (>= 3 messages, about to be created)
are compared, by the same rule, with the store's migrated conversations of other apps; only those
are read, and only when there is a candidate. A candidate that equals or is a prefix of exactly
one of them is not created. The reverse (the stored one is the shorter copy) is left to `dedupe`,
which is the command that may move stored conversations to the trash.
"""

from __future__ import annotations

from typing import Any

from .rules import MIN_CROSS_APP, find_cross_app
from .shelf import Planned, message_count
from .stored import from_store
from .target import Target


def _migrated_app(summary: dict[str, Any]) -> str | None:
    source = summary.get("source")
    if isinstance(source, dict) and source.get("kind") == "migration":
        return str(source.get("format"))
    return None


async def stored_copies(
    target: Target, summaries: list[dict[str, Any]], candidates: list[Planned]
) -> dict[int, str]:
    """``id(candidate)`` → the id of the stored conversation it is a copy of."""
    eligible = [c for c in candidates if message_count(c) >= MIN_CROSS_APP]
    if not eligible:
        return {}
    apps = {c.app for c in eligible}
    stored: list[Planned] = []
    for summary in summaries:
        app = _migrated_app(summary)
        if (
            app is None
            or summary.get("deleted_at") is not None
            or int(summary.get("message_count") or 0) < MIN_CROSS_APP
            or apps == {app}
        ):
            continue
        document = await target.export(str(summary["id"]))
        if document is not None:
            stored.append(from_store(document))
    if not stored:
        return {}
    # Stored ones first: between equal twins the later (the candidate) goes into the earlier.
    everything = [*stored, *eligible]
    first = len(stored)
    found: dict[int, str] = {}
    for index, into in find_cross_app(everything).merges:
        if index >= first and into < first:
            found[id(everything[index])] = everything[into].store_id
    return found
