"""JSON-RPC 2.0 itself over the real ``/rpc`` endpoint: error codes (CONTRACT §3), no tracebacks,
``$/cancelRequest``, frames that are not requests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from aiohttp import web

from sidecar.app import create_app
from sidecar.rpc import METHODS, Context, RpcError
from sidecar.settings import ServerConfig
from tests.rpc_client import RpcCallError, RpcClient

from .conftest import AUTH, TOKEN, Client, ClientFactory, Connect


async def failure(rpc: RpcClient, method: str, params: Any = None) -> RpcCallError:
    with pytest.raises(RpcCallError) as caught:
        await rpc.request(method, params)
    return caught.value


async def answer_to(rpc: RpcClient, text: str) -> dict[str, Any]:
    """Send a raw frame; the response no request of the client waits for."""
    await rpc.send_raw(text)
    async with asyncio.timeout(5):
        return await rpc.unmatched.get()


def assert_error(answer: dict[str, Any], code: int, rest_code: str, msg_id: Any = None) -> None:
    assert answer["jsonrpc"] == "2.0" and "result" not in answer
    assert answer["id"] == msg_id, answer
    assert answer["error"]["code"] == code, answer
    assert answer["error"]["data"]["code"] == rest_code, answer


async def test_garbage_is_a_parse_error_with_a_null_id(rpc: RpcClient) -> None:
    for text in ("{nope", "", "[1,", '{"jsonrpc": "2.0", "id": 1, "method": "x"'):
        assert_error(await answer_to(rpc, text), -32700, "bad_request")
    # The connection survives garbage.
    assert (await rpc.request("conversations.list"))["items"] == []


@pytest.mark.parametrize(
    ("message", "msg_id"),
    [
        ("[]", None),
        ('[{"jsonrpc": "2.0", "id": 1, "method": "sidecar.health"}]', None),
        ("42", None),
        ('"text"', None),
        ('{"id": 7, "method": "sidecar.health"}', 7),
        ('{"jsonrpc": "1.0", "id": 7, "method": "sidecar.health"}', 7),
        ('{"jsonrpc": "2.0", "id": 7, "method": 5}', 7),
        ('{"jsonrpc": "2.0", "id": 7, "method": ""}', 7),
        ('{"jsonrpc": "2.0", "id": 7, "method": "sidecar.health", "params": 3}', 7),
        ('{"jsonrpc": "2.0", "id": {"a": 1}, "method": "sidecar.health"}', None),
        ('{"jsonrpc": "2.0", "id": 1.5, "method": "sidecar.health"}', None),
        ('{"jsonrpc": "2.0", "id": true, "method": "sidecar.health"}', None),
        ('{"jsonrpc": "2.0", "id": 7}', 7),
        ('{"jsonrpc": "2.0"}', None),
        ('{"jsonrpc": "2.0", "id": 7, "method": "$/cancelRequest", "params": {"id": 1}}', 7),
    ],
)
async def test_invalid_requests(rpc: RpcClient, message: str, msg_id: Any) -> None:
    answer = await answer_to(rpc, message)
    code = -32601 if "$/cancelRequest" in message else -32600
    assert_error(answer, code, "not_found" if code == -32601 else "bad_request", msg_id)


async def test_binary_frames_are_refused(rpc: RpcClient) -> None:
    await rpc.ws.send_bytes(b'{"jsonrpc": "2.0", "id": 1, "method": "sidecar.health"}')
    assert_error(await rpc.unmatched.get(), -32600, "bad_request")


async def test_unknown_method(rpc: RpcClient) -> None:
    error = await failure(rpc, "conversations.frobnicate", {})
    assert error.code == -32601 and error.rest_code == "not_found"
    # An unknown notification is ignored (nobody to answer); the connection keeps working.
    await rpc.notify("conversations.frobnicate", {})
    assert (await rpc.request("conversations.list"))["items"] == []


@pytest.mark.parametrize(
    ("method", "params", "field"),
    [
        ("conversations.list", {"limit": 0}, "limit"),
        ("conversations.list", {"limit": "5"}, "limit"),
        ("conversations.list", {"limit": True}, "limit"),
        ("conversations.list", {"archived": "yes"}, "archived"),
        ("conversations.list", {"colour": "red"}, "colour"),
        ("conversations.list", {"cursor": 5}, "cursor"),
        ("conversations.list", {"cursor": "not-one-of-ours"}, "cursor"),
        ("conversations.create", {"title": 5}, "title"),
        ("conversations.create", {"id": "bad id"}, "id"),
        ("conversations.get", {}, "conversation_id"),
        ("conversations.get", {"conversation_id": "a/b"}, "conversation_id"),
        ("conversations.update", {"conversation_id": "c", "if_revision": "2"}, "if_revision"),
        ("conversations.update", {"conversation_id": "c", "pinned": "yes"}, "pinned"),
        ("conversations.delete", {"conversation_id": "c", "purge": "yes"}, "purge"),
        ("messages.append", {"conversation_id": "c", "role": "robot", "content": "x"}, "role"),
        ("messages.list", {"conversation_id": "c", "limit": 1001}, "limit"),
        ("branches.create", {"conversation_id": "c"}, "from_message_id"),
        ("branches.switch", {"conversation_id": "c"}, "name"),
        ("events.subscribe", {"since": -1}, "since"),
        ("events.subscribe", {"since": "5"}, "since"),
        ("events.subscribe", {"conversation_id": ""}, "conversation_id"),
        ("events.unsubscribe", {}, "subscription_id"),
        ("conversations.list", [50], "params"),
    ],
)
async def test_invalid_params_name_the_field(
    rpc: RpcClient, method: str, params: Any, field: str
) -> None:
    await rpc.request("conversations.create", {"id": "c"})
    error = await failure(rpc, method, params)
    assert error.code == -32602, error
    assert error.rest_code == "validation_failed"
    assert error.data["field"] == field
    assert error.data["details"]["field"] == field


async def test_deep_values_are_refused_as_over_rest(rpc: RpcClient) -> None:
    deep: Any = {}
    for _ in range(100):
        deep = {"k": deep}
    error = await failure(rpc, "conversations.create", {"metadata": deep})
    assert error.code == -32602 and error.data["field"] == "metadata"


async def test_integers_wider_than_64_bits_are_refused_not_rounded(rpc: RpcClient) -> None:
    await rpc.request("conversations.create", {"id": "c"})
    wide = "123456789012345678901234567890"
    params = (
        f'{{"conversation_id": "c", "role": "user", "content": "x", "metadata": {{"n": {wide}}}}}'
    )
    frame = f'{{"jsonrpc": "2.0", "id": 7, "method": "messages.append", "params": {params}}}'
    answer = await answer_to(rpc, frame)
    assert_error(answer, -32602, "validation_failed", 7)
    assert answer["error"]["data"]["field"] == "params" and wide in answer["error"]["message"]
    assert (await rpc.request("messages.list", {"conversation_id": "c"}))["items"] == []
    # The edges of 64 bits, and a long digit run in a string, go through exactly.
    params = (
        f'{{"conversation_id": "c", "role": "user", "content": "order {wide}",'
        ' "metadata": {"low": -9223372036854775808, "high": 18446744073709551615}}'
    )
    frame = f'{{"jsonrpc": "2.0", "id": 8, "method": "messages.append", "params": {params}}}'
    answer = await answer_to(rpc, frame)
    assert answer["id"] == 8 and "error" not in answer, answer
    [message] = (await rpc.request("messages.list", {"conversation_id": "c"}))["items"]
    assert message["content"] == f"order {wide}"
    assert message["metadata"] == {"low": -(2**63), "high": 2**64 - 1}


async def test_application_errors_carry_the_rest_code(rpc: RpcClient) -> None:
    missing = await failure(rpc, "conversations.get", {"conversation_id": "nope"})
    assert missing.code == -32004 and missing.rest_code == "not_found"
    assert "nope" in missing.message

    created = await rpc.request("conversations.create", {"id": "c", "title": "t"})
    clash = await failure(rpc, "conversations.create", {"id": "c", "title": "other"})
    assert clash.code == -32009 and clash.rest_code == "conflict"
    assert clash.data["details"]["existing"] == created

    stale = await failure(
        rpc, "conversations.update", {"conversation_id": "c", "title": "x", "if_revision": 99}
    )
    assert stale.rest_code == "conflict" and stale.data["details"] == {"revision": 1}
    # A failed request changed nothing.
    assert (await rpc.request("conversations.get", {"conversation_id": "c"}))["title"] == "t"

    branch = await failure(rpc, "branches.switch", {"conversation_id": "c", "name": "zzz"})
    assert branch.rest_code == "not_found"


# ---------------------------------------------------------------------------- custom methods

STATE = web.AppKey("test_state", dict)
STARTED_EVENT = web.AppKey("test_started", asyncio.Event)


@pytest.fixture
async def custom(aiohttp_client: ClientFactory, server_config: ServerConfig) -> Client:
    """The real app plus test-only methods: a crash, a slow read, a slow write, a refusal."""
    app = create_app(server_config, token=TOKEN)
    table = app[METHODS]
    state: dict[str, Any] = {"write_done": False, "read_cancelled": False}
    started = asyncio.Event()
    app[STATE] = state
    app[STARTED_EVENT] = started

    async def crash(ctx: Context, params: dict[str, Any]) -> Any:
        raise RuntimeError(f"secret detail {params.get('marker')}")

    async def slow_read(ctx: Context, params: dict[str, Any]) -> Any:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            state["read_cancelled"] = True
            raise
        return "never"

    async def slow_write(ctx: Context, params: dict[str, Any]) -> Any:
        started.set()
        await asyncio.sleep(0.3)
        conversation, _ = await ctx.store.create_conversation(id="written")
        state["write_done"] = True
        return conversation["id"]

    async def refuse(ctx: Context, params: dict[str, Any]) -> Any:
        raise RpcError("unavailable", "not now", {"retry_after": 1})

    async def not_json(ctx: Context, params: dict[str, Any]) -> Any:
        return {"numbers": {1, 2}}

    table.add("test.crash", crash)
    table.add("test.notJson", not_json)
    table.add("test.slowRead", slow_read)
    table.add("test.slowWrite", slow_write, cancellable=False)
    table.add("test.refuse", refuse)
    return await aiohttp_client(app)


@pytest.fixture
async def custom_rpc(custom: Client) -> AsyncIterator[RpcClient]:
    rpc = RpcClient(await custom.ws_connect("/rpc", headers=AUTH))
    yield rpc
    await rpc.close()


async def test_a_crash_is_internal_with_no_traceback(custom_rpc: RpcClient) -> None:
    _, future = await custom_rpc.start("test.crash", {"marker": "m-123"})
    with pytest.raises(RpcCallError) as caught:
        await future
    error = caught.value
    assert error.code == -32603 and error.rest_code == "internal"
    text = orjson.dumps({"message": error.message, "data": error.data}).decode()
    for leak in ("Traceback", "RuntimeError", "secret detail", "m-123", ".py", "traceback"):
        assert leak not in text
    assert (await custom_rpc.request("conversations.list"))["items"] == []


async def test_a_result_that_is_not_json_is_still_answered(custom_rpc: RpcClient) -> None:
    error = await failure(custom_rpc, "test.notJson")
    assert error.code == -32603 and error.rest_code == "internal"


async def test_rpc_error_codes_from_handlers(custom_rpc: RpcClient) -> None:
    error = await failure(custom_rpc, "test.refuse")
    assert error.code == -32053 and error.rest_code == "unavailable"
    assert error.message == "not now" and error.data["details"] == {"retry_after": 1}


async def test_cancel_request_cancels_a_running_read(custom: Client, custom_rpc: RpcClient) -> None:
    msg_id, future = await custom_rpc.start("test.slowRead")
    await asyncio.wait_for(custom.app[STARTED_EVENT].wait(), 5)
    await custom_rpc.cancel(msg_id)
    with pytest.raises(RpcCallError) as caught:
        await asyncio.wait_for(future, 5)
    assert caught.value.code == -32800 and caught.value.rest_code == "cancelled"
    assert custom.app[STATE]["read_cancelled"] is True
    # Cancelling what is no longer running is harmless.
    await custom_rpc.cancel(msg_id)
    await custom_rpc.cancel("never-sent")
    await custom_rpc.notify("$/cancelRequest", {"nope": 1})
    assert (await custom_rpc.request("conversations.list"))["items"] == []


async def test_cancel_request_lets_a_started_write_finish(
    custom: Client, custom_rpc: RpcClient
) -> None:
    msg_id, future = await custom_rpc.start("test.slowWrite")
    await asyncio.wait_for(custom.app[STARTED_EVENT].wait(), 5)
    await custom_rpc.cancel(msg_id)
    assert await asyncio.wait_for(future, 5) == "written"
    assert custom.app[STATE]["write_done"] is True
    got = await custom_rpc.request("conversations.get", {"conversation_id": "written"})
    assert got["id"] == "written"


async def test_requests_run_concurrently_and_answer_by_id(
    custom: Client, custom_rpc: RpcClient
) -> None:
    slow_id, slow = await custom_rpc.start("test.slowRead")
    await asyncio.wait_for(custom.app[STARTED_EVENT].wait(), 5)
    # A fast request is answered while the slow one still runs.
    assert (await custom_rpc.request("conversations.list"))["items"] == []
    assert not slow.done()
    await custom_rpc.cancel(slow_id)
    with pytest.raises(RpcCallError):
        await asyncio.wait_for(slow, 5)


async def test_two_clients_never_get_each_others_answers(connect: Connect) -> None:
    one, two = await connect(), await connect()
    # Both use the same request ids (1, 2, ...): each must get only its own answers.
    results = await asyncio.gather(
        *(one.request("conversations.create", {"id": f"a{i}"}) for i in range(10)),
        *(two.request("conversations.create", {"id": f"b{i}"}) for i in range(10)),
    )
    assert [r["id"] for r in results] == [f"a{i}" for i in range(10)] + [f"b{i}" for i in range(10)]
    assert one.unmatched.empty() and two.unmatched.empty()
