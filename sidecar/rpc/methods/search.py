"""``search.query``: the JSON-RPC twin of ``GET /api/v1/search`` (CONTRACT §5, §7), on the same
:class:`~sidecar.search.SearchIndex` (which checks every argument itself)."""

from __future__ import annotations

from typing import Any

from ...api.keys import SEARCH
from ..params import Params
from ..registry import Context, MethodTable

#: The REST query's parameters (``from`` / ``to`` bound the messages' ``created_at``).
FIELDS = frozenset({"q", "limit", "conversation_id", "role", "archived", "deleted", "from", "to"})


async def query(ctx: Context, params: dict[str, Any]) -> Any:
    p = Params(params, FIELDS)
    return await ctx.app[SEARCH].query(
        p.get("q", ""),
        limit=p.get("limit", 20),
        conversation_id=p.text("conversation_id"),
        role=p.text("role"),
        archived=p.flag("archived", None),
        deleted=p.flag("deleted", False),
        created_from=p.text("from"),
        created_to=p.text("to"),
    )


def register(table: MethodTable) -> None:
    table.add("search.query", query)
