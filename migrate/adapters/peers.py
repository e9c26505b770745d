"""The other tools whose histories ``chat-migrate import --from FORMAT`` reads (LEGACY_FORMATS §7).

Each is one module; :data:`PEER_FORMATS` names them. An adapter is made fresh for every reading
(it caches a tool folder's index files, which must not outlive the files).
"""

from __future__ import annotations

from collections.abc import Callable

from .chatgpt import ChatGPT
from .cline import Cline
from .continue_dev import Continue
from .open_webui import OpenWebUI
from .peer import PeerAdapter
from .roo import Roo
from .vscode_chat import VscodeChat

PEER_FORMATS: dict[str, Callable[[], PeerAdapter]] = {
    "vscode-chat": VscodeChat,
    "cline": Cline,
    "roo": Roo,
    "continue": Continue,
    "chatgpt": ChatGPT,
    "open-webui": OpenWebUI,
}


def peer_adapter(name: str) -> PeerAdapter:
    return PEER_FORMATS[name]()
