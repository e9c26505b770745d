"""Tools the model may call: the built-ins the sidecar runs itself, plus the tools JSON-RPC
clients declare (``tools.register``), whose results come back through
``turns.submitToolResults`` (CONTRACT §4, §7). A call to any other tool fails at once.
"""

from .registry import Tool, ToolError, ToolRegistry, builtin_tools

__all__ = ["Tool", "ToolError", "ToolRegistry", "builtin_tools"]
