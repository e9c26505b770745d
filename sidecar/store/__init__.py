"""The durable conversation store: journal, shards, catalog and the TinyDB document storage.

Only this package touches conversation files. Everything above it goes through :class:`Store`.
"""

from .catalog import ListPage, ListQuery
from .effects import (
    ApprovalEffect,
    Change,
    ConversationEffect,
    Effect,
    ExternalEffect,
    MessageEffect,
    TextEffect,
    TurnEffect,
)
from .errors import (
    Conflict,
    NotFound,
    StoreError,
    StoreLocked,
    StoreVersionError,
    Unavailable,
    ValidationFailed,
)
from .idempotency import Request
from .model import public_message
from .store import Store
from .values import UNSET, NewMessage, Page, StoreConfig, TurnStep, Unset

__all__ = [
    "UNSET",
    "ApprovalEffect",
    "Change",
    "Conflict",
    "ConversationEffect",
    "Effect",
    "ExternalEffect",
    "ListPage",
    "ListQuery",
    "MessageEffect",
    "NewMessage",
    "NotFound",
    "Page",
    "Request",
    "Store",
    "StoreConfig",
    "StoreError",
    "StoreLocked",
    "StoreVersionError",
    "TextEffect",
    "TurnEffect",
    "TurnStep",
    "Unavailable",
    "Unset",
    "ValidationFailed",
    "public_message",
]
