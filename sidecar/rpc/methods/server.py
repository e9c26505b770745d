"""``sidecar.health``: what ``GET /health`` answers with the token (CONTRACT §5)."""

from __future__ import annotations

from typing import Any

from ...api.answers import health_body
from ..params import Params
from ..registry import Context, MethodTable


async def health(ctx: Context, params: dict[str, Any]) -> Any:
    Params(params, frozenset())
    return health_body(ctx.app)


def register(table: MethodTable) -> None:
    table.add("sidecar.health", health)
