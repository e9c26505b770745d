"""REST: the action API of a conversation (CONTRACT §5 ``actions/*``), over the turn engine.

The webview dispatches actions and renders; the engine runs the turn and persists each
transition before these handlers answer.
"""

from __future__ import annotations

from aiohttp import web

from ..api.fields import APPROVE_FIELDS, SEND_FIELDS, TURN_FIELDS
from ..api.keys import TURNS
from ..store import UNSET
from .jsonio import json_response, read_object

routes = web.RouteTableDef()

PREFIX = "/api/v1/conversations/{conversation_id}/actions"


@routes.post(f"{PREFIX}/send_message")
async def send_message(request: web.Request) -> web.Response:
    body = await read_object(request, SEND_FIELDS)
    result, created = await request.app[TURNS].send_message(
        request.match_info["conversation_id"],
        content=body.get("content"),
        client_message_id=body.get("client_message_id"),
        parent_id=body.get("parent_id", UNSET),
        branch=body.get("branch"),
    )
    return json_response(result, status=202 if created else 200)


@routes.post(f"{PREFIX}/approve_tools")
async def approve_tools(request: web.Request) -> web.Response:
    body = await read_object(request, APPROVE_FIELDS)
    turn = await request.app[TURNS].approve_tools(
        request.match_info["conversation_id"],
        body.get("turn_id"),
        body.get("decisions"),
        request_id=body.get("request_id"),
    )
    return json_response(turn)


@routes.post(f"{PREFIX}/cancel")
async def cancel(request: web.Request) -> web.Response:
    body = await read_object(request, TURN_FIELDS)
    turn = await request.app[TURNS].cancel(
        request.match_info["conversation_id"],
        body.get("turn_id"),
        request_id=body.get("request_id"),
    )
    return json_response(turn)


@routes.post(f"{PREFIX}/retry")
async def retry(request: web.Request) -> web.Response:
    body = await read_object(request, TURN_FIELDS)
    turn = await request.app[TURNS].retry(
        request.match_info["conversation_id"],
        body.get("turn_id"),
        request_id=body.get("request_id"),
    )
    return json_response(turn)
