"""A scripted OpenAI-compatible chat-completions server on loopback: real HTTP, real streaming.

Each request takes the next step of the script: stream a text reply, propose a tool call, answer
an HTTP error, hang (for timeouts), or cut the connection mid-stream. Every request body is kept,
so tests can check the history the provider sent.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web


@dataclass(frozen=True)
class Step:
    kind: str  # text | tool | status | hang | cut
    text: str = ""
    status: int = 200
    tool: dict[str, Any] | None = None
    chunk: int = 4
    delay_s: float = 0.0
    #: ``{model, prompt_tokens, completion_tokens}``: sent as the last chunk when asked for
    #: (``stream_options.include_usage``), as OpenAI does.
    usage: dict[str, Any] | None = None


@dataclass
class FakeOpenAI:
    script: list[Step] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    base_url: str = ""  # set once the server listens

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.completions)
        return app

    async def completions(self, request: web.Request) -> web.StreamResponse:
        body = orjson.loads(await request.read())
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        step = self.script.pop(0) if self.script else Step("text", "default reply")
        if step.kind == "status":
            return web.json_response(
                {"error": {"message": f"scripted {step.status}"}}, status=step.status
            )
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        if step.kind == "hang":
            await asyncio.sleep(30)
            return response
        pieces = [step.text[i : i + step.chunk] for i in range(0, len(step.text), step.chunk)]
        for piece in pieces:
            await response.write(_event({"choices": [{"index": 0, "delta": {"content": piece}}]}))
            if step.delay_s:
                await asyncio.sleep(step.delay_s)
        if step.kind == "cut":
            assert request.transport is not None
            request.transport.close()
            return response
        if step.kind == "tool":
            assert step.tool is not None
            arguments = orjson.dumps(step.tool["arguments"]).decode()
            half = len(arguments) // 2
            first = {
                "index": 0,
                "id": step.tool["id"],
                "type": "function",
                "function": {"name": step.tool["name"], "arguments": arguments[:half]},
            }
            second = {"index": 0, "function": {"arguments": arguments[half:]}}
            for piece in (first, second):
                delta = {"choices": [{"index": 0, "delta": {"tool_calls": [piece]}}]}
                await response.write(_event(delta))
            await response.write(
                _event({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
            )
        else:
            await response.write(
                _event({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
            )
        asked = (body.get("stream_options") or {}).get("include_usage") is True
        if step.usage is not None and asked:
            model = step.usage.get("model", body["model"])
            counts = {k: v for k, v in step.usage.items() if k != "model"}
            await response.write(_event({"model": model, "choices": [], "usage": counts}))
        await response.write(b"data: [DONE]\n\n")
        return response


def _event(body: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(body) + b"\n\n"
