"""REST: export, import and migration rollback (CONTRACT §5). The work is in ``sidecar/service``."""

from __future__ import annotations

from typing import Final

import orjson
from aiohttp import web

from ..api.errors import ApiError
from ..api.fields import EXPORT_FORMATS
from ..api.keys import STORE
from ..service.exporter import document_of, export_conversation, to_markdown
from ..service.importer import import_document, rollback_run
from ..store.ids import check_id
from ..store.model import check_bool
from .body import read_body
from .errors import error_response
from .jsonio import json_response, query_str, read_object

routes = web.RouteTableDef()

ROLLBACK_FIELDS: Final = frozenset({"force"})


@routes.get("/api/v1/conversations/{conversation_id}/export")
async def export(request: web.Request) -> web.Response:
    """``format=json`` (default): the whole export document holding this one conversation;
    ``format=markdown``: its active branch as text."""
    chosen = query_str(request, "format") or "json"
    if chosen not in EXPORT_FORMATS:
        raise ApiError("validation_failed", "format must be json or markdown", {"field": "format"})
    entry = await export_conversation(request.app[STORE], request.match_info["conversation_id"])
    if chosen == "json":
        return json_response(document_of([entry]))
    return web.Response(
        text=to_markdown(entry),
        content_type="text/markdown",
        charset="utf-8",
        headers={"X-Content-Type-Options": "nosniff"},
    )


@routes.post("/api/v1/import")
async def import_conversations(request: web.Request) -> web.Response:
    """The body is an export document (optionally with ``run_id``); the importer validates it
    whole (422 naming the JSON path, nothing written) before writing anything."""
    raw = await read_body(request)
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ApiError("bad_request", "request body is not valid JSON") from None
    result = await import_document(request.app[STORE], document)
    return json_response(result.to_json())


@routes.post("/api/v1/migrations/{run_id}/rollback")
async def rollback(request: web.Request) -> web.Response:
    """200 with what was undone; 409 listing (``details.refused``) the conversations changed
    since the run, which were left alone while every other one was still rolled back."""
    run_id = check_id(request.match_info["run_id"], "run_id")
    body = await read_object(request, ROLLBACK_FIELDS)
    force = check_bool(body.get("force", False), "force")
    result = await rollback_run(request.app[STORE], run_id, force=force)
    if result.refused:
        return error_response(
            "conflict",
            f"{len(result.refused)} conversation(s) changed since run '{run_id}' and were left"
            " alone (the others were rolled back); repeat with force to undo them too",
            result.to_json(),
        )
    return json_response(result.to_json())
