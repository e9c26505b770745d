"""The ``openai`` provider: any OpenAI-compatible chat-completions endpoint, streaming.

OpenAI, Ollama, LM Studio and vLLM all speak ``POST {base_url}/chat/completions`` with
``stream: true`` (Server-Sent Events of ``chat.completion.chunk`` objects, ending ``[DONE]``), so
aiohttp's client is all it takes; no vendor SDK. The active branch is sent as the history and tool
calls use that API's ``tools`` / ``tool_calls`` format.

Errors are sorted for the turn engine: timeouts, 5xx, 429 and connections cut mid-stream are
``transient`` (worth retrying); any other 4xx (a bad key, an unknown model) is permanent at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, TypeGuard

import aiohttp
import orjson

from ..store.ids import new_id
from .base import (
    Doc,
    ProviderError,
    ProviderOutput,
    ReplyRequest,
    TextDelta,
    ToolProposal,
    Usage,
)

TRANSIENT_STATUSES = frozenset({408, 409, 425, 429})


class OpenAIProvider:
    name = "openai"

    def __init__(
        self, base_url: str, model: str, api_key: str | None, *, timeout_s: float = 60.0
    ) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.api_key = api_key
        self.timeout = aiohttp.ClientTimeout(total=None, connect=10.0, sock_read=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def payload(self, request: ReplyRequest) -> Doc:
        body: Doc = {
            "model": self.model,
            "stream": True,
            # The last chunk then reports the call's token counts (metadata.usage).
            "stream_options": {"include_usage": True},
            "messages": [_wire_message(m) for m in request.messages],
        }
        if request.tools:
            body["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": tool.name,
                        "description": tool.description,
                        "parameters": tool.parameters,
                    },
                }
                for tool in request.tools
            ]
        return body

    async def stream(self, request: ReplyRequest) -> AsyncIterator[ProviderOutput]:
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        calls: dict[int, Doc] = {}
        usage: Usage | None = None
        finished = False
        try:
            async with self._client().post(
                self.url, data=orjson.dumps(self.payload(request)), headers=headers
            ) as response:
                if response.status >= 400:
                    raise _status_error(response.status, await _error_text(response))
                async for line in response.content:
                    text = line.decode("utf-8", "replace").strip()
                    if not text.startswith("data:"):
                        continue
                    data = text[5:].strip()
                    if data == "[DONE]":
                        finished = True
                        break
                    chunk = _parse_chunk(data)
                    usage = _usage(chunk, self.model) or usage
                    for choice in chunk.get("choices") or []:
                        delta = choice.get("delta") or {}
                        if delta.get("content"):
                            yield TextDelta(str(delta["content"]))
                        for piece in delta.get("tool_calls") or []:
                            _merge_tool_call(calls, piece)
                        if choice.get("finish_reason"):
                            finished = True
        except TimeoutError:
            raise ProviderError("the model did not answer in time", transient=True) from None
        except aiohttp.ClientError as exc:
            raise ProviderError(
                f"the connection to the model failed: {type(exc).__name__}", transient=True
            ) from None
        if not finished:
            raise ProviderError("the model's stream ended before it finished", transient=True)
        if calls:
            yield ToolProposal([_finish_tool_call(calls[index]) for index in sorted(calls)])
        if usage is not None:
            yield usage


def _wire_message(message: Doc) -> Doc:
    role = message["role"]
    wire: Doc = {"role": role, "content": message.get("content") or ""}
    if role == "assistant" and message.get("tool_calls"):
        wire["tool_calls"] = [
            {
                "id": call["id"],
                "type": "function",
                "function": {
                    "name": call["name"],
                    "arguments": orjson.dumps(call.get("arguments") or {}).decode(),
                },
            }
            for call in message["tool_calls"]
        ]
    if role == "tool":
        wire["tool_call_id"] = message.get("tool_call_id")
    return wire


def _parse_chunk(data: str) -> Doc:
    try:
        chunk = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise ProviderError("the model sent a malformed stream chunk", transient=True) from None
    if not isinstance(chunk, dict):
        raise ProviderError("the model sent a malformed stream chunk", transient=True)
    if "error" in chunk:
        error = chunk["error"]
        message = error.get("message") if isinstance(error, dict) else str(error)
        raise ProviderError(f"the model reported an error: {message}", transient=True)
    return chunk


def _usage(chunk: Doc, model: str) -> Usage | None:
    """A chunk's ``usage`` (the last one, when asked with ``include_usage``), or None."""
    usage = chunk.get("usage")
    if not isinstance(usage, dict):
        return None
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if not (_count(prompt) and _count(completion)):
        return None
    named = chunk.get("model")
    return Usage(named if isinstance(named, str) and named else model, prompt, completion)


def _count(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _merge_tool_call(calls: dict[int, Doc], piece: Any) -> None:
    """Tool calls arrive in pieces keyed by ``index``: the id and name once, arguments in parts."""
    if not isinstance(piece, dict):
        return
    index = int(piece.get("index", 0))
    call = calls.setdefault(index, {"id": None, "name": "", "arguments": ""})
    if piece.get("id"):
        call["id"] = piece["id"]
    function = piece.get("function") or {}
    if function.get("name"):
        call["name"] += function["name"]
    if function.get("arguments"):
        call["arguments"] += function["arguments"]


def _finish_tool_call(call: Doc) -> Doc:
    raw = call["arguments"] or "{}"
    try:
        arguments = orjson.loads(raw)
    except orjson.JSONDecodeError:
        arguments = {"_unparsed": raw}
    if not isinstance(arguments, dict):
        arguments = {"value": arguments}
    return {"id": call["id"] or f"call_{new_id()}", "name": call["name"], "arguments": arguments}


def _status_error(status: int, detail: str) -> ProviderError:
    transient = status >= 500 or status in TRANSIENT_STATUSES
    return ProviderError(
        f"the model answered HTTP {status}: {detail}", transient=transient, status=status
    )


async def _error_text(response: aiohttp.ClientResponse) -> str:
    try:
        body = await asyncio.wait_for(response.read(), timeout=5)
    except (TimeoutError, aiohttp.ClientError):
        return "(no body)"
    try:
        parsed = orjson.loads(body)
        error = parsed.get("error") if isinstance(parsed, dict) else None
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:300]
    except orjson.JSONDecodeError:
        pass
    return body.decode("utf-8", "replace")[:300] or "(no body)"
