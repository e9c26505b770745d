"""``conversations.export`` and ``import.conversations``: the JSON-RPC twins of
``GET /api/v1/conversations/{id}/export`` and ``POST /api/v1/import`` (CONTRACT §5, §7), on the
same exporter and importer."""

from __future__ import annotations

from typing import Any

from ...api.fields import EXPORT_FORMATS
from ...service.exporter import document_of, export_conversation, to_markdown
from ...service.importer import import_document
from ...store import ValidationFailed
from ..params import Params
from ..registry import Context, MethodTable


async def export(ctx: Context, params: dict[str, Any]) -> Any:
    """``format: "json"`` (default): the export document holding this one conversation;
    ``"markdown"``: its active branch as one string."""
    p = Params(params, frozenset({"conversation_id", "format"}))
    chosen = p.text("format") or "json"
    if chosen not in EXPORT_FORMATS:
        raise ValidationFailed("format", "format must be json or markdown")
    entry = await export_conversation(ctx.store, p.id("conversation_id"))
    return document_of([entry]) if chosen == "json" else to_markdown(entry)


async def import_conversations(ctx: Context, params: dict[str, Any]) -> Any:
    """The params are the export document itself (optionally with ``run_id``), as the REST body
    is; the importer validates it whole before writing anything."""
    result = await import_document(ctx.store, params)
    return result.to_json()


def register(table: MethodTable) -> None:
    table.add("conversations.export", export)
    table.add("import.conversations", import_conversations, cancellable=False)
