"""``GET /health`` (CONTRACT §5): the status for anyone, the details only with the token."""

from __future__ import annotations

from aiohttp import web

from ..api.answers import health_body
from ..api.keys import AUTHENTICATED
from .jsonio import json_response

routes = web.RouteTableDef()


@routes.get("/health")
async def health(request: web.Request) -> web.Response:
    return json_response(health_body(request.app, full=bool(request.get(AUTHENTICATED))))
