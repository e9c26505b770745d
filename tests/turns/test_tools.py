"""Tools per CONTRACT §4: built-in plus client-declared tools, listed over REST and RPC; a call to
a tool nobody has fails at once (no approval asked, no timeout waited)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.rpc_client import RpcCallError, RpcClient
from tests.turns.conftest import AUTH, Sidecar, SidecarFactory, until

BUILTIN = ["clock", "calculator"]


async def tools(sidecar: Sidecar) -> list[dict[str, Any]]:
    listed = await sidecar.call("GET", "/api/v1/tools", status=200)
    return list(listed["items"])


async def rpc(sidecar: Sidecar) -> RpcClient:
    return RpcClient(await sidecar.client.ws_connect("/rpc", headers=AUTH))


async def test_builtin_tools_are_listed_with_their_schema(make_sidecar: SidecarFactory) -> None:
    sidecar = await make_sidecar()
    items = await tools(sidecar)
    assert [(t["name"], t["source"]) for t in items] == [(n, "builtin") for n in BUILTIN]
    calculator = items[1]
    assert calculator["parameters"]["required"] == ["expression"]
    assert calculator["description"]


async def test_a_call_to_an_unknown_tool_fails_at_once_without_asking(
    make_sidecar: SidecarFactory,
) -> None:
    # No auto-approval and a long tool timeout: before the fix this waited for the user forever.
    sidecar = await make_sidecar(tool_timeout=60)
    cid = await sidecar.conversation()
    stream = await sidecar.stream()
    sent = await sidecar.send(cid, '/tool nosuch.tool {"x": 1}')
    seen = await until(stream, "turn.state", state="completed")
    assert "tool.approval_requested" not in [e["event"] for e in seen]
    states = [e["data"]["state"] for e in seen if e["event"] == "turn.state"]
    assert states == ["streaming", "executing_tools", "streaming", "completed"]
    messages = (await sidecar.get(cid))["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "assistant"]
    call = messages[1]["tool_calls"][0]
    assert (call["status"], call["error"]) == ("failed", "unknown tool 'nosuch.tool'")
    assert messages[2]["content"] == '{"error":"unknown tool \'nosuch.tool\'"}'
    assert messages[2]["metadata"] == {"tool_name": "nosuch.tool", "failed": True}
    assert messages[3]["content"] == "nosuch.tool failed: unknown tool 'nosuch.tool'"
    assert sent["turn"]["id"] == seen[-1]["data"]["turn_id"]


async def test_a_client_declares_tools_runs_them_and_they_go_with_it(
    make_sidecar: SidecarFactory,
) -> None:
    sidecar = await make_sidecar(tool_auto_approve=("*",))
    host = await rpc(sidecar)
    declared = await host.request(
        "tools.register",
        {
            "tools": [
                {
                    "name": "editor.openFile",
                    "description": "Open a file in the editor.",
                    "parameters": {"type": "object", "properties": {"path": {"type": "string"}}},
                }
            ]
        },
    )
    assert [(t["name"], t["source"]) for t in declared["items"]] == [
        *[(n, "builtin") for n in BUILTIN],
        ("editor.openFile", "client"),
    ]
    assert await host.request("tools.list") == declared
    assert await tools(sidecar) == declared["items"]

    cid = await sidecar.conversation()
    sent = await sidecar.send(cid, '/tool editor.openFile {"path": "README.md"}')
    turn_id = sent["turn"]["id"]
    await sidecar.wait_state(cid, turn_id, "executing_tools")
    proposer = (await sidecar.get(cid))["messages"][1]
    await host.request(
        "turns.submitToolResults",
        {
            "turn_id": turn_id,
            "results": [{"tool_call_id": proposer["tool_calls"][0]["id"], "result": {"ok": 1}}],
        },
    )
    await sidecar.wait_state(cid, turn_id, "completed")
    messages = (await sidecar.get(cid))["messages"]
    assert messages[1]["tool_calls"][0]["status"] == "succeeded"
    assert messages[3]["content"] == "editor.openFile ran successfully."

    await host.close()
    async with asyncio.timeout(5):
        while True:
            if len(await tools(sidecar)) == len(BUILTIN):
                break
            await asyncio.sleep(0.02)
    again = await sidecar.send(cid, "/tool editor.openFile {}")
    await sidecar.wait_state(cid, again["turn"]["id"], "completed")
    last = (await sidecar.get(cid))["messages"][-3]
    assert last["tool_calls"][0]["error"] == "unknown tool 'editor.openFile'"


async def test_register_replaces_the_connections_tools_and_is_checked(
    make_sidecar: SidecarFactory,
) -> None:
    sidecar = await make_sidecar()
    first, second = await rpc(sidecar), await rpc(sidecar)
    try:
        await first.request("tools.register", {"tools": [{"name": "a"}, {"name": "b"}]})
        await second.request("tools.register", {"tools": [{"name": "b", "description": "2"}]})
        await first.request("tools.register", {"tools": [{"name": "c"}]})
        names = [t["name"] for t in await tools(sidecar)]
        assert names == [*BUILTIN, "b", "c"]
        bad: list[tuple[Any, str]] = [
            ([{"name": "clock"}], "tools[0].name"),
            ([{"name": "x"}, {"name": "x"}], "tools[1].name"),
            ([{"name": "has space"}], "tools[0].name"),
            ([{"name": "x", "parameters": []}], "tools[0].parameters"),
            ([{"name": "x", "extra": 1}], "tools[0].extra"),
            ("nope", "tools"),
        ]
        for declared, field in bad:
            with pytest.raises(RpcCallError) as refused:
                await first.request("tools.register", {"tools": declared})
            assert refused.value.code == -32602 and refused.value.data["field"] == field
        # A refused declaration changed nothing.
        assert [t["name"] for t in await tools(sidecar)] == [*BUILTIN, "b", "c"]
    finally:
        await first.close()
        await second.close()
