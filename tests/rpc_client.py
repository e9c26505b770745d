"""A small JSON-RPC 2.0 client over an aiohttp WebSocket: for tests, tools and benchmarks.

Requests get increasing integer ids; responses resolve them; notifications (and responses with
an id nobody waits for, such as the ``"id": null`` answer to unparseable JSON) wait in queues.
No pygls: the client side is deliberately independent of the server's machinery.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from typing import Any

import aiohttp
import orjson


class RpcCallError(Exception):
    """The server answered a request with an error."""

    def __init__(self, code: int, message: str, data: Any) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.data = data

    @property
    def rest_code(self) -> str | None:
        """``error.data.code``: the REST code of CONTRACT §3."""
        return self.data.get("code") if isinstance(self.data, dict) else None


class RpcClient:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self._ids = itertools.count(1)
        self._pending: dict[int | str, asyncio.Future[Any]] = {}
        #: Notifications from the server, as ``{"method", "params"}`` dicts, in arrival order.
        self.notifications: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        #: Responses no request of ours waits for (e.g. to garbage frames).
        self.unmatched: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def connect(
        cls,
        session: aiohttp.ClientSession,
        url: str,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> RpcClient:
        """Open ``url`` (``ws://host:port/rpc``); the token goes in the Authorization header."""
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        ws = await session.ws_connect(url, headers=sent, autoping=True)
        return cls(ws)

    async def _read(self) -> None:
        try:
            async for frame in self.ws:
                if frame.type is not aiohttp.WSMsgType.TEXT:
                    continue
                message = orjson.loads(frame.data)
                if "method" in message:
                    await self.notifications.put(message)
                    continue
                future = self._pending.pop(message.get("id"), None)
                if future is None or future.done():
                    await self.unmatched.put(message)
                elif "error" in message:
                    error = message["error"]
                    future.set_exception(
                        RpcCallError(error["code"], error["message"], error.get("data"))
                    )
                else:
                    future.set_result(message.get("result"))
        finally:
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(ConnectionError("the RPC connection closed"))
            self._pending.clear()

    @property
    def close_code(self) -> int | None:
        return self.ws.close_code

    async def send_raw(self, text: str) -> None:
        await self.ws.send_str(text)

    async def start(self, method: str, params: Any = None) -> tuple[int, asyncio.Future[Any]]:
        """Send a request without waiting: its id and the future of its result."""
        msg_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[msg_id] = future
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id, "method": method}
        if params is not None:
            message["params"] = params
        await self.ws.send_str(orjson.dumps(message).decode())
        return msg_id, future

    async def request(self, method: str, params: Any = None, *, wait_s: float = 10.0) -> Any:
        """Call ``method``; its result, or :class:`RpcCallError`."""
        _, future = await self.start(method, params)
        async with asyncio.timeout(wait_s):
            return await future

    async def notify(self, method: str, params: Any = None) -> None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        await self.ws.send_str(orjson.dumps(message).decode())

    async def cancel(self, msg_id: int | str) -> None:
        await self.notify("$/cancelRequest", {"id": msg_id})

    async def notification(self, method: str | None = None, wait_s: float = 5.0) -> dict[str, Any]:
        """The next notification (of ``method``, skipping others); its params."""
        async with asyncio.timeout(wait_s):
            while True:
                message = await self.notifications.get()
                if method is None or message["method"] == method:
                    params: dict[str, Any] = message.get("params") or {}
                    return params

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader

    async def __aenter__(self) -> RpcClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()
