"""Tools the model may call: a small registry of built-ins the sidecar runs itself.

Tools the registry does not know are run by the extension host, whose results come back through
``turns.submitToolResults`` (CONTRACT §7).
"""

from .registry import Tool, ToolError, ToolRegistry, builtin_tools

__all__ = ["Tool", "ToolError", "ToolRegistry", "builtin_tools"]
