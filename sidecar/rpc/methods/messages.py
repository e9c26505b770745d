"""``messages.*`` and ``branches.*``: the JSON-RPC twins of a conversation's messages and branches
(CONTRACT §5, §7). ``parent_id`` keeps its three meanings: absent (the active branch grows),
a message id, or ``null`` (a new root)."""

from __future__ import annotations

from typing import Any

from ...api.answers import message_page_body
from ...api.fields import APPEND_FIELDS, BRANCH_FIELDS, PATCH_FIELDS
from ...store import UNSET
from ...store.store import MAX_MESSAGE_PAGE
from ..params import Params
from ..registry import Context, MethodTable

ID = frozenset({"conversation_id"})


async def list_messages(ctx: Context, params: dict[str, Any]) -> Any:
    p = Params(params, ID | {"limit", "before", "after", "branch"})
    page = await ctx.store.read_page(
        p.id("conversation_id"),
        limit=p.integer("limit", 50, 1, MAX_MESSAGE_PAGE),
        before=p.text("before"),
        after=p.text("after"),
        branch=p.text("branch"),
    )
    return message_page_body(page)


async def append_message(ctx: Context, params: dict[str, Any]) -> Any:
    p = Params(params, ID | APPEND_FIELDS)
    message, _created = await ctx.store.append_message(
        p.id("conversation_id"),
        role=p.get("role"),
        content=p.get("content"),
        parent_id=p.get("parent_id", UNSET),
        client_message_id=p.get("client_message_id"),
        metadata=p.get("metadata"),
    )
    return message


async def update_message(ctx: Context, params: dict[str, Any]) -> Any:
    p = Params(params, ID | {"message_id"} | PATCH_FIELDS)
    return await ctx.store.update_message(
        p.id("conversation_id"),
        p.id("message_id"),
        content=p.get("content", UNSET),
        metadata=p.get("metadata", UNSET),
        request_id=p.get("request_id"),
    )


async def list_branches(ctx: Context, params: dict[str, Any]) -> Any:
    p = Params(params, ID)
    return await ctx.store.list_branches(p.id("conversation_id"))


async def create_branch(ctx: Context, params: dict[str, Any]) -> Any:
    p = Params(params, ID | BRANCH_FIELDS)
    branch, _created = await ctx.store.create_branch(
        p.id("conversation_id"),
        p.get("from_message_id"),
        p.get("name"),
        request_id=p.get("request_id"),
    )
    return branch


async def switch_branch(ctx: Context, params: dict[str, Any]) -> Any:
    p = Params(params, ID | {"name"})
    return await ctx.store.switch_branch(
        p.id("conversation_id"), p.required("name"), request_id=p.get("request_id")
    )


def register(table: MethodTable) -> None:
    table.add("messages.list", list_messages)
    table.add("messages.append", append_message, cancellable=False)
    table.add("messages.update", update_message, cancellable=False)
    table.add("branches.list", list_branches)
    table.add("branches.create", create_branch, cancellable=False)
    table.add("branches.switch", switch_branch, cancellable=False)
