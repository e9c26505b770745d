"""An integer outside 64 bits is refused with 422, not stored rounded (orjson reads such a
literal as a float: ``123456789012345678901234567890`` came back as ``1.2345678901234568e+29``).
The edges of 64 bits, and long digit runs inside strings, are kept exactly."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from .conftest import AUTH, call

Client = TestClient[web.Request, web.Application]
BASE = "/api/v1/conversations"
WIDE = "123456789012345678901234567890"


async def _raw(client: Client, method: str, path: str, body: str) -> tuple[int, Any]:
    headers = {**AUTH, "Content-Type": "application/json"}
    response = await client.request(method, path, data=body.encode(), headers=headers)
    return response.status, await response.json()


async def test_a_wide_integer_is_refused_and_changes_nothing(client: Client) -> None:
    await call(client, "POST", BASE, {"id": "c"}, status=201)
    for wide in (WIDE, f"-{WIDE}", "18446744073709551616", "-9223372036854775809"):
        body = f'{{"role": "user", "content": "x", "metadata": {{"n": [1, {wide}]}}}}'
        status, answer = await _raw(client, "POST", f"{BASE}/c/messages", body)
        assert status == 422, answer
        assert answer["error"]["code"] == "validation_failed"
        assert answer["error"]["details"]["field"] == "body"
        assert wide.lstrip("-")[:20] in answer["error"]["message"]
    status, answer = await _raw(client, "PATCH", f"{BASE}/c", f'{{"metadata": {{"n": {WIDE}}}}}')
    assert status == 422, answer
    assert (await call(client, "GET", f"{BASE}/c/messages", status=200))["items"] == []
    assert (await call(client, "GET", f"{BASE}/c", status=200))["metadata"] == {}


async def test_the_edges_of_64_bits_and_digits_in_strings_are_kept_exactly(
    client: Client,
) -> None:
    await call(client, "POST", BASE, {"id": "c"}, status=201)
    body = (
        f'{{"role": "user", "content": "order {WIDE} shipped",'
        ' "metadata": {"low": -9223372036854775808, "high": 18446744073709551615,'
        ' "float": 1e30}}'
    )
    status, created = await _raw(client, "POST", f"{BASE}/c/messages", body)
    assert status == 201, created
    listed = await call(client, "GET", f"{BASE}/c/messages", status=200)
    [message] = listed["items"]
    assert message["content"] == f"order {WIDE} shipped"
    assert message["metadata"] == {"low": -(2**63), "high": 2**64 - 1, "float": 1e30}
