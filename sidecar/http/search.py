"""REST: full-text search (CONTRACT §5 ``GET /api/v1/search``), a thin face on ``SearchIndex``."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from ..api.errors import ApiError
from ..api.keys import SEARCH, STORE
from ..search import SearchIndex
from .jsonio import json_response, query_flag, query_str

SEARCH_PATH = "/api/v1/search"

routes = web.RouteTableDef()


async def open_index(app: web.Application) -> AsyncIterator[None]:
    """``cleanup_ctx`` entry, after the store's: the index opens beside it (fast; catching up
    runs in the background) and closes before it, once every queued change is written."""
    index = await SearchIndex.open(app[STORE])
    app[SEARCH] = index
    try:
        yield
    finally:
        await index.close()


def _limit(request: web.Request) -> int:
    raw = request.query.get("limit")
    if not raw:
        return 20
    try:
        return int(raw)
    except ValueError:
        raise ApiError(
            "validation_failed", "limit must be an integer from 1 to 100", {"field": "limit"}
        ) from None


@routes.get(SEARCH_PATH)
async def search(request: web.Request) -> web.Response:
    """``q`` is required (422 naming it when absent or blank); see ``SearchIndex.query``."""
    result = await request.app[SEARCH].query(
        request.query.get("q", ""),
        limit=_limit(request),
        conversation_id=query_str(request, "conversation_id"),
        role=query_str(request, "role"),
        archived=query_flag(request, "archived", None),
        deleted=query_flag(request, "deleted", False),
        created_from=query_str(request, "from"),
        created_to=query_str(request, "to"),
    )
    return json_response(result)
