"""The ``echo`` provider: no model needed, so every flow can be shown and tested anywhere.

It streams back a reply derived only from the user's message (CONTRACT §1): the message itself, in
chunks of ``chunk`` characters every ``delay_ms`` milliseconds. A message ``/tool NAME {json}``
makes it propose that tool call instead; once the results are in the history, it replies with one
short sentence per call (it ran, failed and why, or was denied), as a model would, without
repeating the raw result the tool call's card already shows.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import orjson

from ..store.ids import new_id
from .base import Doc, ProviderOutput, ReplyRequest, TextDelta, ToolProposal, Usage

TOOL_COMMAND = re.compile(r"^/tool\s+([A-Za-z0-9_.-]{1,64})\s*(.*)$", re.DOTALL)


class EchoProvider:
    name = "echo"

    def __init__(self, chunk: int = 8, delay_ms: float = 20.0) -> None:
        self.chunk = max(1, chunk)
        self.delay_s = max(0.0, delay_ms) / 1000

    async def stream(self, request: ReplyRequest) -> AsyncIterator[ProviderOutput]:
        reply = self.reply_to(request.messages)
        if isinstance(reply, ToolProposal):
            yield reply
            yield self.usage(request.messages, _proposal_text(reply))
            return
        for start in range(0, len(reply), self.chunk):
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            else:
                await asyncio.sleep(0)  # stay cancellable and fair to other turns
            yield TextDelta(reply[start : start + self.chunk])
        yield self.usage(request.messages, reply)

    @staticmethod
    def usage(history: list[Doc], reply: str) -> Usage:
        """Echo's own token counts: whitespace-separated words, of every message it was sent
        (input) and of its reply (output). Simple and exact, so tests and the UI can check it."""
        words = sum(len(str(message.get("content") or "").split()) for message in history)
        return Usage("echo", words, len(reply.split()))

    @staticmethod
    def reply_to(messages: list[Doc]) -> str | ToolProposal:
        """The whole reply for a history: the echo, a tool proposal, or an account of results."""
        last_user = max((i for i, m in enumerate(messages) if m["role"] == "user"), default=-1)
        if last_user < 0:
            return ""
        content = str(messages[last_user]["content"])
        results = [m for m in messages[last_user + 1 :] if m["role"] == "tool"]
        command = TOOL_COMMAND.match(content.strip())
        if command is None:
            return content
        if results:
            return "\n".join(_describe(result) for result in results)
        name, raw_arguments = command.group(1), command.group(2).strip() or "{}"
        try:
            arguments: Any = orjson.loads(raw_arguments)
        except orjson.JSONDecodeError as exc:
            return f"/tool {name}: the arguments are not valid JSON ({exc})"
        if not isinstance(arguments, dict):
            return f"/tool {name}: the arguments must be a JSON object"
        return ToolProposal([{"id": f"call_{new_id()}", "name": name, "arguments": arguments}])


def _proposal_text(proposal: ToolProposal) -> str:
    """What a proposal "wrote", for counting: each call's name and its arguments as JSON."""
    return " ".join(
        f"{call['name']} {orjson.dumps(call['arguments']).decode()}" for call in proposal.calls
    )


def _describe(result: Doc) -> str:
    """One short sentence per result. The result itself is shown in the tool call's card (and
    sent to the model as the ``tool`` message), so the reply does not repeat its raw JSON."""
    metadata = result.get("metadata") or {}
    name = metadata.get("tool_name", "the tool")
    if metadata.get("denied"):
        reason = metadata.get("reason")
        return f"{name} was denied" + (f": {reason}" if reason else ".")
    if metadata.get("failed"):
        return f"{name} failed: {_error_of(str(result['content']))}"
    return f"{name} ran successfully."


def _error_of(content: str) -> str:
    """The error text of a failed call's ``{"error": "..."}`` content (the content otherwise)."""
    try:
        parsed = orjson.loads(content)
    except orjson.JSONDecodeError:
        return content
    error = parsed.get("error") if isinstance(parsed, dict) else None
    return error if isinstance(error, str) else content
