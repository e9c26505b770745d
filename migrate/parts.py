"""One conversation too big for one request, sent to a running sidecar in several.

The sidecar refuses bodies over its limit (4 MiB by default). The importer takes a part of a
conversation whose parent messages are already stored in it, so a big conversation goes as
consecutive parts in conversation order: each part's messages, with every branch head pulled
back to the last message already sent on its path, so each part is a valid merge that moves the
branches forward. Turns, which name messages, go with the last part. A crash between parts
leaves the first parts imported; running the import again finishes the job (by id, as always).
"""

from __future__ import annotations

from typing import Any

import orjson

Doc = dict[str, Any]
#: Room for a part's document envelope around its conversation.
ENVELOPE_BYTES = 512


def _reached(head: str | None, sent: set[str], parents: dict[str, str | None]) -> str | None:
    """The last message on the path to ``head`` that has been sent (``None``: none yet)."""
    while head is not None and head not in sent:
        head = parents.get(head)
    return head


def conversation_parts(conversation: Doc, budget: int) -> list[Doc]:
    """``conversation`` as parts whose serialised size stays under ``budget`` bytes where its
    messages allow (a single message bigger than that makes a part of its own, which the sidecar
    may still refuse). One part when it fits already."""
    messages: list[Doc] = list(conversation.get("messages") or [])
    shell = {k: v for k, v in conversation.items() if k not in ("messages", "turns")}
    overhead = len(orjson.dumps(shell)) + ENVELOPE_BYTES
    groups: list[list[Doc]] = [[]]
    size = overhead
    for message in messages:
        length = len(orjson.dumps(message)) + 1
        if groups[-1] and size + length > budget:
            groups.append([])
            size = overhead
        groups[-1].append(message)
        size += length
    parents = {str(m["id"]): m.get("parent_id") for m in messages}
    sent: set[str] = set()
    parts: list[Doc] = []
    for number, group in enumerate(groups):
        sent.update(str(m["id"]) for m in group)
        part: Doc = {**shell, "messages": group, "turns": []}
        if number == len(groups) - 1:
            part["turns"] = conversation.get("turns") or []
        elif isinstance(conversation.get("branches"), list):
            part["branches"] = [
                {**b, "head_message_id": _reached(b.get("head_message_id"), sent, parents)}
                for b in conversation["branches"]
            ]
        parts.append(part)
    return parts


def combined(conversation_id: str, answers: list[Doc]) -> Doc:
    """The importer's answers for the parts of one conversation, as one answer: created when a
    part created it, merged when a part added to it, else unchanged (or skipped)."""
    for kind in ("skipped", "created", "merged"):
        found = [item for answer in answers for item in answer.get(kind) or []]
        if found:
            return {kind: found[:1] if kind == "skipped" else [conversation_id]}
    return {"unchanged": [conversation_id]}
