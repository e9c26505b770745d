"""REST: conversations (CONTRACT §5). Handlers translate HTTP to store calls and back, nothing more."""

from __future__ import annotations

from aiohttp import web

from ..api.answers import conversation_list_body, conversation_page_body
from ..api.errors import ApiError
from ..api.fields import CREATE_FIELDS, LIST_LIMIT_MAX, UPDATE_FIELDS
from ..api.keys import STORE
from ..store import ListQuery
from .jsonio import json_response, query_flag, query_int, query_str, read_object

routes = web.RouteTableDef()


def _if_match(request: web.Request) -> int | None:
    raw = request.headers.get("If-Match")
    if raw is None:
        return None
    try:
        return int(raw.strip().strip('"').removeprefix("W/").strip('"'))
    except ValueError:
        raise ApiError(
            "validation_failed", "If-Match must be a conversation revision", {"field": "If-Match"}
        ) from None


@routes.get("/api/v1/conversations")
async def list_conversations(request: web.Request) -> web.Response:
    store = request.app[STORE]
    query = ListQuery(
        limit=query_int(request, "limit", 50, 1, LIST_LIMIT_MAX),
        cursor=query_str(request, "cursor"),
        archived=query_flag(request, "archived", False),
        starred=query_flag(request, "starred", None),
        pinned=query_flag(request, "pinned", None),
        deleted=query_flag(request, "deleted", False),
        workspace=query_str(request, "workspace"),
        q=query_str(request, "q"),
        empty=query_flag(request, "empty", None),
    )
    return json_response(conversation_list_body(store.list_conversations(query), store.seq))


@routes.post("/api/v1/conversations")
async def create_conversation(request: web.Request) -> web.Response:
    body = await read_object(request, CREATE_FIELDS)
    conversation, created = await request.app[STORE].create_conversation(
        id=body.get("id"),
        title=body.get("title"),
        workspace=body.get("workspace"),
        tags=body.get("tags"),
        metadata=body.get("metadata"),
    )
    return json_response(conversation, status=201 if created else 200)


@routes.get("/api/v1/conversations/{conversation_id}")
async def get_conversation(request: web.Request) -> web.Response:
    page = await request.app[STORE].read_page(
        request.match_info["conversation_id"],
        limit=query_int(request, "limit", 50, 1, 1000),
        before=query_str(request, "before"),
    )
    return json_response(conversation_page_body(page))


@routes.patch("/api/v1/conversations/{conversation_id}")
async def update_conversation(request: web.Request) -> web.Response:
    body = await read_object(request, UPDATE_FIELDS)
    request_id = body.pop("request_id", None)
    conversation = await request.app[STORE].update_conversation(
        request.match_info["conversation_id"],
        body,
        if_revision=_if_match(request),
        request_id=request_id,
    )
    return json_response(conversation)


@routes.delete("/api/v1/conversations/{conversation_id}")
async def delete_conversation(request: web.Request) -> web.Response:
    store = request.app[STORE]
    conversation_id = request.match_info["conversation_id"]
    if query_flag(request, "purge", False):
        await store.purge_conversation(conversation_id)
    else:
        # DELETE has no body, so its request_id rides in the query.
        await store.delete_conversation(
            conversation_id, request_id=query_str(request, "request_id")
        )
    return web.Response(status=204)


@routes.post("/api/v1/conversations/{conversation_id}/restore")
async def restore_conversation(request: web.Request) -> web.Response:
    body = await read_object(request, frozenset())
    conversation = await request.app[STORE].restore_conversation(
        request.match_info["conversation_id"], request_id=body.get("request_id")
    )
    return json_response(conversation)
