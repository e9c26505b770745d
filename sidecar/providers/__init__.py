"""Who writes the assistant's reply: ``echo`` (no model), ``openai`` (any compatible endpoint),
``external`` (the extension host, over JSON-RPC). One small interface, :class:`Provider`."""

from .base import (
    Provider,
    ProviderError,
    ProviderOutput,
    ReplyRequest,
    TextDelta,
    ToolProposal,
    ToolSpec,
    Usage,
)
from .echo import EchoProvider
from .external import ExternalBroker, ExternalProvider
from .openai import OpenAIProvider

__all__ = [
    "EchoProvider",
    "ExternalBroker",
    "ExternalProvider",
    "OpenAIProvider",
    "Provider",
    "ProviderError",
    "ProviderOutput",
    "ReplyRequest",
    "TextDelta",
    "ToolProposal",
    "ToolSpec",
    "Usage",
]
