"""The JSON-RPC methods of CONTRACT §7, one module per area, each with ``register(table)``.

Every handler calls the same store / service code as its REST twin (and the same body checks and
answer shapes, shared with the REST handlers), so the two faces cannot drift apart. To add an area:
write ``sidecar/rpc/methods/<area>.py`` with ``def register(table: MethodTable) -> None`` and add
it to :data:`AREAS`.
"""

from __future__ import annotations

from collections.abc import Callable

from ..registry import MethodTable
from . import chat, conversations, events, legacy, messages, search, server, tools, transfer

AREAS: tuple[Callable[[MethodTable], None], ...] = (
    server.register,
    conversations.register,
    messages.register,
    events.register,
    search.register,
    transfer.register,
    chat.register,
    legacy.register,
    tools.register,
)


def default_methods() -> MethodTable:
    """A fresh table with every area's methods (one per app, so tests can add to theirs)."""
    table = MethodTable()
    for register in AREAS:
        register(table)
    return table
