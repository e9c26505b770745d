"""REST: messages and branches of one conversation (CONTRACT §5)."""

from __future__ import annotations

from aiohttp import web

from ..api.answers import message_page_body
from ..api.fields import APPEND_FIELDS, BRANCH_FIELDS, PATCH_FIELDS
from ..api.keys import STORE
from ..store import UNSET
from .jsonio import json_response, query_int, query_str, read_object

routes = web.RouteTableDef()


@routes.get("/api/v1/conversations/{conversation_id}/messages")
async def list_messages(request: web.Request) -> web.Response:
    page = await request.app[STORE].read_page(
        request.match_info["conversation_id"],
        limit=query_int(request, "limit", 50, 1, 1000),
        before=query_str(request, "before"),
        after=query_str(request, "after"),
        branch=query_str(request, "branch"),
    )
    return json_response(message_page_body(page))


@routes.post("/api/v1/conversations/{conversation_id}/messages")
async def append_message(request: web.Request) -> web.Response:
    body = await read_object(request, APPEND_FIELDS)
    message, created = await request.app[STORE].append_message(
        request.match_info["conversation_id"],
        role=body.get("role"),  # type: ignore[arg-type]  # validated by the store
        content=body.get("content"),  # type: ignore[arg-type]
        parent_id=body.get("parent_id", UNSET),
        client_message_id=body.get("client_message_id"),
        metadata=body.get("metadata"),
    )
    return json_response(message, status=201 if created else 200)


@routes.patch("/api/v1/conversations/{conversation_id}/messages/{message_id}")
async def update_message(request: web.Request) -> web.Response:
    body = await read_object(request, PATCH_FIELDS)
    message = await request.app[STORE].update_message(
        request.match_info["conversation_id"],
        request.match_info["message_id"],
        content=body.get("content", UNSET),
        metadata=body.get("metadata", UNSET),
        request_id=body.get("request_id"),
    )
    return json_response(message)


@routes.get("/api/v1/conversations/{conversation_id}/branches")
async def list_branches(request: web.Request) -> web.Response:
    branches = await request.app[STORE].list_branches(request.match_info["conversation_id"])
    return json_response(branches)


@routes.post("/api/v1/conversations/{conversation_id}/branches")
async def create_branch(request: web.Request) -> web.Response:
    body = await read_object(request, BRANCH_FIELDS)
    branch, created = await request.app[STORE].create_branch(
        request.match_info["conversation_id"],
        body.get("from_message_id"),  # type: ignore[arg-type]  # validated by the store
        body.get("name"),
        request_id=body.get("request_id"),
    )
    return json_response(branch, status=201 if created else 200)


@routes.put("/api/v1/conversations/{conversation_id}/branches/{name}")
async def switch_branch(request: web.Request) -> web.Response:
    body = await read_object(request, frozenset())
    conversation = await request.app[STORE].switch_branch(
        request.match_info["conversation_id"],
        request.match_info["name"],
        request_id=body.get("request_id"),
    )
    return json_response(conversation)
