"""``conversations.*``: the JSON-RPC twins of ``/api/v1/conversations`` (CONTRACT §5, §7)."""

from __future__ import annotations

from typing import Any

from ...api.answers import conversation_list_body, conversation_page_body
from ...api.fields import CREATE_FIELDS, LIST_LIMIT_MAX, UPDATE_FIELDS
from ...store import ListQuery
from ...store.store import MAX_MESSAGE_PAGE
from ..params import Params
from ..registry import Context, MethodTable

LIST_FIELDS = frozenset(
    {"limit", "cursor", "archived", "starred", "pinned", "deleted", "workspace", "q", "empty"}
)
ID = frozenset({"conversation_id"})


async def list_conversations(ctx: Context, params: dict[str, Any]) -> Any:
    p = Params(params, LIST_FIELDS)
    query = ListQuery(
        limit=p.integer("limit", 50, 1, LIST_LIMIT_MAX),
        cursor=p.text("cursor"),
        archived=p.flag("archived", False),
        starred=p.flag("starred", None),
        pinned=p.flag("pinned", None),
        deleted=p.flag("deleted", False),
        workspace=p.text("workspace"),
        q=p.text("q"),
        empty=p.flag("empty", None),
    )
    return conversation_list_body(ctx.store.list_conversations(query), ctx.store.seq)


async def create_conversation(ctx: Context, params: dict[str, Any]) -> Any:
    p = Params(params, CREATE_FIELDS)
    conversation, _created = await ctx.store.create_conversation(
        id=p.get("id"),
        title=p.get("title"),
        workspace=p.get("workspace"),
        tags=p.get("tags"),
        metadata=p.get("metadata"),
    )
    return conversation


async def get_conversation(ctx: Context, params: dict[str, Any]) -> Any:
    p = Params(params, ID | {"limit", "before"})
    page = await ctx.store.read_page(
        p.id("conversation_id"),
        limit=p.integer("limit", 50, 1, MAX_MESSAGE_PAGE),
        before=p.text("before"),
    )
    return conversation_page_body(page)


async def update_conversation(ctx: Context, params: dict[str, Any]) -> Any:
    p = Params(params, ID | UPDATE_FIELDS | {"if_revision"})
    return await ctx.store.update_conversation(
        p.id("conversation_id"),
        p.pick(UPDATE_FIELDS),
        if_revision=p.optional_integer("if_revision", 0, 2**63 - 1),
        request_id=p.get("request_id"),
    )


async def delete_conversation(ctx: Context, params: dict[str, Any]) -> None:
    """Trash it (REST ``DELETE``), or with ``purge: true`` delete it for good; answers ``null``
    as REST answers 204."""
    p = Params(params, ID | {"purge"})
    conversation_id = p.id("conversation_id")
    if p.boolean("purge", False):
        await ctx.store.purge_conversation(conversation_id)
    else:
        await ctx.store.delete_conversation(conversation_id, request_id=p.get("request_id"))


async def restore_conversation(ctx: Context, params: dict[str, Any]) -> Any:
    p = Params(params, ID)
    return await ctx.store.restore_conversation(
        p.id("conversation_id"), request_id=p.get("request_id")
    )


def register(table: MethodTable) -> None:
    table.add("conversations.list", list_conversations)
    table.add("conversations.create", create_conversation, cancellable=False)
    table.add("conversations.get", get_conversation)
    table.add("conversations.update", update_conversation, cancellable=False)
    table.add("conversations.delete", delete_conversation, cancellable=False)
    table.add("conversations.restore", restore_conversation, cancellable=False)
