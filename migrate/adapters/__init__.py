"""The legacy apps ``chat-migrate`` reads, one module each, registered in :data:`ADAPTERS`.

Detection is by keys (and, for apps without a fixed key name, by the shape of the value), never
by file name. Order matters only for value-shape detection: the first adapter that claims wins.
"""

from __future__ import annotations

from .base import Adapter, Extraction
from .chat_sidecar import ChatSidecar
from .memory_loop import MemoryLoop
from .navi import Navi
from .redux_persist import ReduxPersist
from .zustand import Zustand

ADAPTERS: tuple[Adapter, ...] = (Navi(), MemoryLoop(), Zustand(), ReduxPersist(), ChatSidecar())

__all__ = ["ADAPTERS", "Adapter", "Extraction"]
