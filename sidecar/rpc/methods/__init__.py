"""The JSON-RPC methods of CONTRACT §7.

Every request/response operation comes from the table (:mod:`sidecar.api.table`, registered by
:mod:`.operations`), the same entry its REST route comes from, so the two faces cannot drift
apart. The modules here hold only what keeps per-connection state: event subscriptions
(:mod:`.events`), the external provider's ``turns.*`` (:mod:`.chat`) and ``tools.register``
(:mod:`.tools`). To add such an area: write ``sidecar/rpc/methods/<area>.py`` with
``def register(table: MethodTable) -> None`` and add it to :data:`AREAS`.
"""

from __future__ import annotations

from collections.abc import Callable

from ...api.table import OPERATIONS
from ..registry import MethodTable
from . import chat, events, tools
from .operations import register_operations

AREAS: tuple[Callable[[MethodTable], None], ...] = (
    lambda table: register_operations(table, OPERATIONS),
    events.register,
    chat.register,
    tools.register,
)


def default_methods() -> MethodTable:
    """A fresh table with every area's methods (one per app, so tests can add to theirs)."""
    table = MethodTable()
    for register in AREAS:
        register(table)
    return table
