"""REST: the tools the model may call (CONTRACT §4 ``GET /api/v1/tools``)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .jsonio import json_response
from .keys import TURNS

routes = web.RouteTableDef()


def tools_body(app: web.Application) -> dict[str, Any]:
    """``{items: [{name, description, parameters, source}]}``, the same over REST and RPC."""
    return {"items": app[TURNS].tools.listing()}


@routes.get("/api/v1/tools")
async def list_tools(request: web.Request) -> web.Response:
    return json_response(tools_body(request.app))
