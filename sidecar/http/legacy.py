"""REST: ``POST /api/v1/legacy-import``, a webview's one-time legacy export (see the service)."""

from __future__ import annotations

from aiohttp import web

from ..api.keys import STORE
from ..service.legacy import ENVELOPE_FIELDS, import_legacy_storage
from .jsonio import json_response, read_object

routes = web.RouteTableDef()


@routes.post("/api/v1/legacy-import")
async def legacy_import(request: web.Request) -> web.Response:
    body = await read_object(request, ENVELOPE_FIELDS)
    return json_response(await import_legacy_storage(request.app[STORE], body))
