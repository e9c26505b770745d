"""REST: the tools the model may call (CONTRACT §4 ``GET /api/v1/tools``)."""

from __future__ import annotations

from aiohttp import web

from ..api.answers import tools_body
from .jsonio import json_response

routes = web.RouteTableDef()


@routes.get("/api/v1/tools")
async def list_tools(request: web.Request) -> web.Response:
    return json_response(tools_body(request.app))
