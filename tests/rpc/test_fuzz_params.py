"""Property-based fuzzing of the JSON-RPC params of every method in the table of operations.

For each JSON-RPC method of :data:`sidecar.api.table.OPERATIONS` (taken from the table, one test
per method, each with one real app and one ``/rpc`` connection shared by all its examples),
hypothesis builds params: the method's own field names with wrong-typed or odd values (strings,
integers huge and negative, floats, booleans, null, nested and over-deep lists and objects, very
long and unusual unicode strings), plausible values (seeded ids, branch names, ...), fields left
out, unknown fields added, params as a list instead of an object, or none at all.

CONTRACT §3: bad input always gets a clear error (-32602 or an application error in
-32000..-32099, with ``error.data.code``), never an internal one (-32603 / ``internal``), the
connection stays usable, and a failed request changes nothing (the store's counts, the event
sequence and every conversation's summary are the same after it as before).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sidecar.api.operations import Operation
from sidecar.api.table import OPERATIONS
from sidecar.settings import ServerConfig
from tests.migrate.conftest import FIXTURES
from tests.rpc_client import RpcClient

RPC_OPERATIONS: Final = tuple(op for op in OPERATIONS if op.rpc is not None)
#: Turn states that still change by themselves (the echo provider is writing).
BUSY: Final = frozenset({"streaming", "executing_tools", "transient_failure"})
EVERYTHING: Final = {"limit": 500, "archived": "any", "deleted": "any"}
_ids = itertools.count(1)


@pytest.fixture
def server_config(tmp_path: Path) -> ServerConfig:
    # Replies finish at once, so the state between two examples is still.
    return ServerConfig(
        data_dir=tmp_path / "data",
        heartbeat_interval=0.2,
        checkpoint_interval=3600,
        echo_delay_ms=0,
        echo_chunk=4096,
    )


# ---------------------------------------------------------------------------- values

EDGE_STRINGS: Final = (
    "",
    " ",
    "\t\n",
    "\x00",
    "c1\x00",
    "\u202e",
    "\ufeff",
    "\uffff",
    "e\u0301",
    "\U0001f600",
    "\U0001d54f" * 10,
    "a/b",
    "..",
    "../etc/passwd",
    "%00",
    "CON",
    "x" * 128,
    "x" * 129,
    "any",
    "true",
    "false",
    "null",
    "NaN",
    "Infinity",
    "1",
    "-1",
    "1e999",
    "main",
    "json",
    "markdown",
    "user",
    "2026-11-21T13:45:00.123Z",
    "not a date",
)
EDGE_INTS: Final = (
    0,
    -1,
    1,
    2**31,
    2**53 + 1,
    2**63 - 1,
    2**63,
    -(2**63),
    -(2**63) - 1,
    2**64 - 1,
    2**64,
    10**30,
    -(10**30),
)
EDGE_FLOATS: Final = (0.5, -0.0, 1.0, 50.0, 1e308, -1e308, 5e-324, 1e-7)

texts = st.one_of(
    st.text(st.characters(codec="utf-8"), max_size=40),
    st.sampled_from(EDGE_STRINGS),
    st.builds(
        lambda piece, times: piece * times,
        st.sampled_from(("a", "\u00e9", "\U0001f600", "\x00", " ")),
        st.integers(1_000, 100_000),
    ),
)
integers = st.one_of(st.integers(), st.sampled_from(EDGE_INTS))
# JSON has no NaN or infinity (and the server's parser refuses them: a parse error, not params).
floats = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(EDGE_FLOATS))
scalars = st.one_of(st.none(), st.booleans(), integers, floats, texts)


def deep(levels: int, as_list: bool) -> Any:
    value: Any = "leaf"
    for _ in range(levels):
        value = [value] if as_list else {"k": value}
    return value


junk = st.one_of(
    scalars,
    st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=12,
    ),
    st.builds(deep, st.integers(1, 120), st.booleans()),
)


@dataclass
class Seed:
    """What the app holds before the first example: real ids for plausible values."""

    conversations: list[str]
    messages: list[str]
    turns: list[str]
    tool_calls: list[str]
    document: dict[str, Any]
    legacy_items: dict[str, Any]


def plausible(name: str, seed: Seed) -> st.SearchStrategy[Any]:
    """Values a correct client might send for the field ``name`` (by its name)."""
    ids = st.sampled_from(seed.messages)
    flags = st.sampled_from((True, False, "any"))
    words = st.sampled_from(("hello", "x", "c1", "main"))
    fresh = st.uuids().map(str)
    by_name: dict[str, st.SearchStrategy[Any]] = {
        "conversation_id": st.sampled_from(seed.conversations),
        "message_id": ids,
        "from_message_id": ids,
        "parent_id": st.one_of(ids, st.none()),
        "before": ids,
        "after": ids,
        "turn_id": st.sampled_from(seed.turns),
        "name": st.sampled_from(("main", "alt", "fresh-branch")),
        "branch": st.sampled_from(("main", "alt", "fresh-branch")),
        "id": st.one_of(st.sampled_from(("c1", "fuzz-new")), fresh),
        "request_id": st.one_of(st.sampled_from(("req-1", "req-2")), fresh),
        "client_message_id": st.one_of(st.sampled_from(("cm-1", "cm-2")), fresh),
        "role": st.sampled_from(("user", "assistant", "system", "tool")),
        "content": words,
        "title": words,
        "workspace": words,
        "q": words,
        "cursor": st.none(),
        "tags": st.just(["a"]),
        "metadata": st.just({"k": 1}),
        "limit": st.sampled_from((1, 20, 50)),
        "if_revision": st.sampled_from((1, 2)),
        "format": st.sampled_from(("json", "markdown")),
        "from": st.just("2020-01-01T00:00:00.000Z"),
        "to": st.just("2030-01-01T00:00:00.000Z"),
        "decisions": st.builds(
            lambda call, approved: [{"tool_call_id": call, "approved": approved}],
            st.sampled_from(seed.tool_calls),
            st.booleans(),
        ),
    }
    by_name.update(
        kind=st.just("localstorage-export"),
        version=st.just(1),
        origin=st.just("vscode-webview://panel"),
        exported_at=st.just("2026-12-01T08:00:00.000Z"),
        items=st.sampled_from(({}, {"theme": "dark"}, seed.legacy_items)),
    )
    for flag in ("starred", "pinned", "archived", "deleted", "empty", "purge", "force"):
        by_name[flag] = flags
    return by_name.get(name, st.nothing())


def mutated(value: Any, leaf: st.DataObject, *, top: bool = False) -> Any:
    """``value`` with one place (chosen by hypothesis) replaced, dropped, or added to; at the
    ``top`` the params stay an object (other params are not even a request: -32600)."""
    if isinstance(value, dict) and value and leaf.draw(st.booleans(), label="descend"):
        key = leaf.draw(st.sampled_from(sorted(value)), label="key")
        return {**value, key: mutated(value[key], leaf)}
    if isinstance(value, list) and value and leaf.draw(st.booleans(), label="descend"):
        index = leaf.draw(st.integers(0, len(value) - 1), label="index")
        return [*value[:index], mutated(value[index], leaf), *value[index + 1 :]]
    kept = ("drop", "add") if top else ("replace", "drop", "add")
    action = leaf.draw(st.sampled_from(kept), label="action")
    if action == "replace" or not isinstance(value, dict | list):
        return leaf.draw(junk, label="value")
    if action == "drop" and value:
        if isinstance(value, dict):
            gone = leaf.draw(st.sampled_from(sorted(value)), label="drop")
            return {k: v for k, v in value.items() if k != gone}
        return value[1:]
    if isinstance(value, dict):
        return {**value, leaf.draw(st.text(max_size=12), label="new key"): leaf.draw(junk)}
    return [*value, leaf.draw(junk, label="new item")]


#: How params are built (repeats: weights): none, a list, any mix of plausible and wrong values,
#: plausible with one field wrong, plausible plus unknown fields, plausible with one place deep
#: inside replaced, dropped (a required field missing) or added to.
SHAPES: Final = (
    *("none", "list", "any fields", "unknown"),
    *("one bad", "one bad", "one bad", "mutated", "mutated", "mutated"),
)


def params_for(operation: Operation, seed: Seed, data: st.DataObject) -> Any:
    """Params for ``operation``: mostly plausible, with one or more fields wrong."""
    if operation.document:
        names = sorted(seed.document)
    else:
        names = sorted(operation.rpc_names | {"request_id"})
    shape = data.draw(
        st.sampled_from(SHAPES),
        label="shape",
    )
    if shape == "none":
        return None
    if shape == "list":
        return data.draw(st.lists(st.one_of(junk, *(plausible(n, seed) for n in names))))
    # The fields REST takes from the path are required: plausible ones get past that check.
    required = {f.name for f in operation.fields if f.where == "path"}
    good: dict[str, Any] = (
        dict(seed.document)
        if operation.document
        else data.draw(
            st.fixed_dictionaries(
                {name: plausible(name, seed) for name in names if name in required},
                optional={name: plausible(name, seed) for name in names if name not in required},
            ),
            label="plausible fields",
        )
    )
    if shape == "any fields":
        anything = {name: st.one_of(plausible(name, seed), junk) for name in names}
        params: dict[str, Any] = data.draw(
            st.fixed_dictionaries({}, optional=anything), label="fields"
        )
        return params
    if shape == "one bad":
        # Every field plausible but one, so the wrong one reaches the check deepest inside.
        full = st.fixed_dictionaries({name: plausible(name, seed) for name in names})
        name = data.draw(st.sampled_from(names), label="bad field")
        base = good if operation.document else data.draw(full, label="plausible fields")
        return {**base, name: data.draw(junk, label="bad value")}
    if shape == "unknown":
        extra = st.dictionaries(
            st.text(max_size=12).filter(lambda key: key not in names), junk, min_size=1, max_size=3
        )
        return {**good, **data.draw(extra, label="unknown fields")}
    return mutated(good, data, top=True)


# ---------------------------------------------------------------------------- the app's state


async def settle(rpc: RpcClient) -> None:
    """Wait until no turn is still being written by the echo provider."""
    for _ in range(500):
        listing = await rpc.request("conversations.list", EVERYTHING)
        if not any(item["state"] in BUSY for item in listing["items"]):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("a turn never finished")


async def snapshot(rpc: RpcClient) -> dict[str, Any]:
    """What a failed request must leave alone: counts, event sequence, every summary."""
    health = await rpc.request("sidecar.health")
    listing = await rpc.request("conversations.list", EVERYTHING)
    return {
        "conversations": health["store"]["conversations"],
        "messages": health["store"]["messages"],
        "event_seq": listing["event_seq"],
        "items": listing["items"],
    }


@pytest.fixture
async def seed(rpc: RpcClient) -> Seed:
    for number in (1, 2, 3):
        await rpc.request("conversations.create", {"id": f"c{number}", "title": f"seed {number}"})
    messages = [
        (
            await rpc.request(
                "messages.append",
                {"conversation_id": "c1", "role": role, "content": f"{role} {i}"},
            )
        )["id"]
        for i, role in enumerate(("user", "assistant", "user"))
    ]
    await rpc.request(
        "branches.create", {"conversation_id": "c1", "from_message_id": messages[0], "name": "alt"}
    )
    await rpc.request("branches.switch", {"conversation_id": "c1", "name": "main"})
    sent = await rpc.request("chat.sendMessage", {"conversation_id": "c2", "content": "hi"})
    tools = (await rpc.request("tools.list"))["items"]
    proposal = f"/tool {tools[0]['name']} {{}}" if tools else "no tools"
    asked = await rpc.request("chat.sendMessage", {"conversation_id": "c3", "content": proposal})
    await settle(rpc)
    page = await rpc.request("conversations.get", {"conversation_id": "c3"})
    calls = [call["id"] for m in page["messages"] for call in m.get("tool_calls") or ()]
    document = await rpc.request("conversations.export", {"conversation_id": "c1"})
    return Seed(
        conversations=["c1", "c2", "c3"],
        messages=messages,
        turns=[sent["turn"]["id"], asked["turn"]["id"]],
        tool_calls=calls or ["no-such-call"],
        document=document,
        legacy_items=orjson.loads((FIXTURES / "navi-export.json").read_bytes()),
    )


# ---------------------------------------------------------------------------- the property


async def call(rpc: RpcClient, method: str, params: Any) -> dict[str, Any]:
    """Send one request (stdlib JSON: integers beyond 64 bits too); its whole response."""
    msg_id = f"fuzz-{next(_ids)}"
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id, "method": method}
    if params is not None:
        message["params"] = params
    await rpc.send_raw(json.dumps(message, allow_nan=False))
    async with asyncio.timeout(20):
        answer = await rpc.unmatched.get()
    assert answer.get("id") == msg_id, answer
    return answer


def server_errors(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(
        record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR
    )


@pytest.mark.parametrize("operation", RPC_OPERATIONS, ids=[op.rpc or "" for op in RPC_OPERATIONS])
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)
@given(data=st.data())
async def test_bad_params_get_a_clear_error_and_change_nothing(
    operation: Operation,
    rpc: RpcClient,
    seed: Seed,
    caplog: pytest.LogCaptureFixture,
    data: st.DataObject,
) -> None:
    assert operation.rpc is not None
    params = params_for(operation, seed, data)
    caplog.clear()
    before = await snapshot(rpc)
    answer = await call(rpc, operation.rpc, params)
    assert rpc.close_code is None, "the connection was closed"
    if "error" not in answer:
        await settle(rpc)
        return
    error = answer["error"]
    rest_code = (error.get("data") or {}).get("code")
    assert error["code"] != -32603 and rest_code != "internal", (
        f"{operation.rpc}: internal error {error}\nserver log:\n{server_errors(caplog)}"
    )
    assert error["code"] == -32602 or -32099 <= error["code"] <= -32000, error
    assert isinstance(rest_code, str), error
    # The connection still answers, and the failed request changed nothing.
    assert await snapshot(rpc) == before, f"{operation.rpc} failed ({error}) but changed the store"
