"""CONTRACT §2: no chat content in any log at any level, over JSON-RPC too.

pygls logs whole message bodies at INFO/DEBUG and params in its exception logs; the engine turns
its loggers off and scrubs them. Both are checked: with everything at DEBUG, and with pygls's own
loggers switched back on at DEBUG (then they log, but only their fixed text).
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from sidecar.rpc import METHODS, Context
from tests.rpc_client import RpcCallError, RpcClient

from .conftest import AUTH, Client

MARKER = "zq-marker-5f1c2a9e"


def leaks(records: list[logging.LogRecord]) -> list[str]:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    texts = [formatter.format(record) for record in records]
    return [text for text in texts if MARKER in text]


async def chatter(client: Client) -> None:
    """Every path a message body can take: success, failures, events, garbage, a crash."""
    rpc = RpcClient(await client.ws_connect("/rpc", headers=AUTH))
    try:
        await rpc.request("events.subscribe")
        await rpc.request("conversations.create", {"id": "c", "title": f"title {MARKER}"})
        message = await rpc.request(
            "messages.append", {"conversation_id": "c", "role": "user", "content": MARKER}
        )
        await rpc.request(
            "messages.update",
            {"conversation_id": "c", "message_id": message["id"], "content": f"{MARKER}!"},
        )
        await rpc.request("conversations.get", {"conversation_id": "c"})
        for _ in range(4):
            await rpc.notification("event")
        failing: list[tuple[str, dict[str, Any]]] = [
            ("messages.append", {"conversation_id": "c", "role": MARKER, "content": MARKER}),
            ("messages.append", {"conversation_id": "nope", "role": "user", "content": MARKER}),
            ("conversations.create", {"id": "c", "title": MARKER}),
            ("conversations.list", {MARKER: MARKER}),
            (f"no.such.{MARKER}", {"content": MARKER}),
            ("test.crash", {"content": MARKER}),
        ]
        for method, params in failing:
            with pytest.raises(RpcCallError):
                await rpc.request(method, params)
        await rpc.send_raw(f'{{"content": "{MARKER}"')
        await rpc.send_raw(f'{{"jsonrpc": "2.0", "method": 5, "params": "{MARKER}"}}')
        await rpc.send_raw(
            f'{{"jsonrpc": "2.0", "method": "$/cancelRequest", "params": "{MARKER}"}}'
        )
        await rpc.notify(f"no.such.{MARKER}", {"content": MARKER})
        await rpc.request("conversations.list")
    finally:
        await rpc.close()


async def crash(ctx: Context, params: dict[str, Any]) -> Any:
    raise ValueError(f"bad content {params.get('content')}")


async def test_no_chat_text_in_logs_at_debug(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    client.app[METHODS].add("test.crash", crash)
    caplog.set_level(logging.DEBUG)
    await chatter(client)
    assert leaks(caplog.records) == []
    # The crash itself is logged (by method and exception type) so it can be found.
    assert any(
        "test.crash" in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records
    )


async def test_no_chat_text_even_with_pygls_loggers_on(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    client.app[METHODS].add("test.crash", crash)
    caplog.set_level(logging.DEBUG)
    # Import the engine (pygls) and switch every pygls logger back on, as a user might.
    await RpcClient(await client.ws_connect("/rpc", headers=AUTH)).close()
    names = [n for n in logging.root.manager.loggerDict if n == "pygls" or n.startswith("pygls.")]
    assert "pygls.protocol.json_rpc" in names
    for name in names:
        caplog.set_level(logging.DEBUG, logger=name)
    await chatter(client)
    pygls_records = [r for r in caplog.records if r.name.startswith("pygls")]
    assert pygls_records, "pygls logged nothing: this test would not see a leak"
    assert any("Sending notification" in r.getMessage() for r in pygls_records)
    assert leaks(caplog.records) == []
