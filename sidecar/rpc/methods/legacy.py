"""``legacy.import``: the JSON-RPC twin of ``POST /api/v1/legacy-import``."""

from __future__ import annotations

from typing import Any

from ...service.legacy import ENVELOPE_FIELDS, import_legacy_storage
from ..params import Params
from ..registry import Context, MethodTable


async def legacy_import(ctx: Context, params: dict[str, Any]) -> Any:
    p = Params(params, ENVELOPE_FIELDS)
    return await import_legacy_storage(ctx.store, p.pick(ENVELOPE_FIELDS))


def register(table: MethodTable) -> None:
    table.add("legacy.import", legacy_import, cancellable=False)
