"""The durable conversation store: journal, shards, catalog and the TinyDB document storage.

Only this package touches conversation files. Everything above it goes through :class:`Store`.
"""

from .catalog import ListPage, ListQuery
from .errors import (
    Conflict,
    NotFound,
    StoreError,
    StoreLocked,
    StoreVersionError,
    Unavailable,
    ValidationFailed,
)
from .store import (
    UNSET,
    Change,
    Effect,
    NewMessage,
    Page,
    Request,
    Store,
    StoreConfig,
    TurnStep,
    Unset,
    public_message,
)

__all__ = [
    "UNSET",
    "Change",
    "Conflict",
    "Effect",
    "ListPage",
    "ListQuery",
    "NewMessage",
    "NotFound",
    "Page",
    "Request",
    "Store",
    "StoreConfig",
    "StoreError",
    "StoreLocked",
    "StoreVersionError",
    "TurnStep",
    "Unavailable",
    "Unset",
    "ValidationFailed",
    "public_message",
]
