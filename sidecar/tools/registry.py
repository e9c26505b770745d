"""The tool registry and the built-in demo tools: the current time and safe arithmetic.

Tools are the sidecar's built-ins plus those JSON-RPC clients declare they run
(``tools.register``, CONTRACT §4), each kept under its client's key until that client goes. A
tool in neither is *unknown*: a call to it fails at once, without asking the user.

Every proposed call needs the user's approval unless its tool is listed in the
``tool_auto_approve`` setting; the registry answers that question too, so the rule lives in one
place.
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..providers.base import Doc, ToolSpec
from ..store.errors import ValidationFailed
from ..store.timeutil import format_iso

TOOL_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MAX_DESCRIPTION = 4000
MAX_CLIENT_TOOLS = 128


class ToolError(Exception):
    """A tool ran and failed; the message goes back to the model as the call's error."""


@dataclass(frozen=True, slots=True)
class Tool:
    spec: ToolSpec
    run: Callable[[Doc], Awaitable[Any]]


class ToolRegistry:
    def __init__(self, tools: Iterable[Tool], auto_approve: Iterable[str] = ()) -> None:
        self._tools = {tool.spec.name: tool for tool in tools}
        self._auto = frozenset(auto_approve)
        #: Client key -> the tools that client declared (insertion order kept).
        self._clients: dict[str, dict[str, ToolSpec]] = {}

    def specs(self) -> list[ToolSpec]:
        """Every tool the model may call: built-ins first, then client tools by name."""
        return [tool.spec for tool in self._tools.values()] + [
            spec for _, spec in sorted(self._client_specs().items())
        ]

    def listing(self) -> list[Doc]:
        """The answer of ``GET /api/v1/tools`` and ``tools.list``: each tool with its source."""
        builtin = [_describe(tool.spec, "builtin") for tool in self._tools.values()]
        client = [_describe(spec, "client") for _, spec in sorted(self._client_specs().items())]
        return builtin + client

    def _client_specs(self) -> dict[str, ToolSpec]:
        """Client tools by name; a name several clients declared: the first declaration."""
        found: dict[str, ToolSpec] = {}
        for declared in self._clients.values():
            for name, spec in declared.items():
                found.setdefault(name, spec)
        return found

    def get(self, name: str) -> Tool | None:
        """A built-in tool (the sidecar runs it), or None."""
        return self._tools.get(name)

    def known(self, name: str) -> bool:
        """Someone can run it: a built-in, or a tool a connected client declared."""
        return name in self._tools or any(name in d for d in self._clients.values())

    def register(self, client: str, tools: object) -> None:
        """Replace what ``client`` declared with ``tools`` (``[{name, description,
        parameters}]``), all checked first: a refusal changes nothing."""
        self._clients[client] = self._check(tools)

    def unregister(self, client: str) -> None:
        """The client went away: its tools go with it."""
        self._clients.pop(client, None)

    def _check(self, tools: object) -> dict[str, ToolSpec]:
        if not isinstance(tools, list):
            raise ValidationFailed("tools", "tools must be a list")
        if len(tools) > MAX_CLIENT_TOOLS:
            raise ValidationFailed("tools", f"at most {MAX_CLIENT_TOOLS} tools")
        checked: dict[str, ToolSpec] = {}
        for index, tool in enumerate(tools):
            where = f"tools[{index}]"
            if not isinstance(tool, dict):
                raise ValidationFailed(where, "each tool must be an object")
            unknown = sorted(set(tool) - {"name", "description", "parameters"})
            if unknown:
                raise ValidationFailed(f"{where}.{unknown[0]}", f"unknown field '{unknown[0]}'")
            name = tool.get("name")
            if not isinstance(name, str) or not TOOL_NAME.fullmatch(name):
                raise ValidationFailed(f"{where}.name", "name must match ^[A-Za-z0-9_.-]{1,64}$")
            if name in self._tools:
                raise ValidationFailed(f"{where}.name", f"'{name}' is a built-in tool")
            if name in checked:
                raise ValidationFailed(f"{where}.name", f"'{name}' is declared twice")
            description = tool.get("description", "")
            if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
                raise ValidationFailed(
                    f"{where}.description",
                    f"description must be a string of at most {MAX_DESCRIPTION} characters",
                )
            parameters = tool.get("parameters", {"type": "object", "properties": {}})
            if not isinstance(parameters, dict):
                raise ValidationFailed(f"{where}.parameters", "parameters must be a JSON object")
            checked[name] = ToolSpec(name, description, parameters)
        return checked

    def auto_approved(self, name: str) -> bool:
        """``*`` in the setting approves every tool; otherwise only the tools it names."""
        return "*" in self._auto or name in self._auto


def _describe(spec: ToolSpec, source: str) -> Doc:
    return {
        "name": spec.name,
        "description": spec.description,
        "parameters": spec.parameters,
        "source": source,
    }


async def _clock(arguments: Doc) -> Doc:
    return {"now": format_iso(datetime.now(UTC))}


_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}
MAX_EXPRESSION = 200
MAX_EXPONENT = 100
MAX_MAGNITUDE = 10**100


def evaluate(expression: str) -> int | float:
    """Arithmetic on numbers only (``+ - * / // % **`` and parentheses), bounded in size.

    Parsed with :mod:`ast` and walked by hand, never ``eval``: names, calls and attributes are
    refused, and exponents and magnitudes are capped so ``9**9**9`` cannot hang the server.
    """
    if len(expression) > MAX_EXPRESSION:
        raise ToolError(f"the expression is longer than {MAX_EXPRESSION} characters")
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError:
        raise ToolError("the expression is not valid arithmetic") from None

    def walk(node: ast.AST) -> int | float:
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            value: int | float = node.value  # type: ignore[assignment]
            return value
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            left, right = walk(node.left), walk(node.right)
            if isinstance(node.op, ast.Pow) and abs(right) > MAX_EXPONENT:
                raise ToolError(f"exponents above {MAX_EXPONENT} are refused")
            try:
                result: int | float = _BINARY[type(node.op)](left, right)
            except ZeroDivisionError:
                raise ToolError("division by zero") from None
            except OverflowError:
                raise ToolError("the result is too large") from None
            if isinstance(result, complex) or abs(result) > MAX_MAGNITUDE:
                raise ToolError("the result is out of range")
            return result
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return _UNARY[type(node.op)](walk(node.operand))  # type: ignore[no-any-return]
        raise ToolError("only numbers and + - * / // % ** ( ) are allowed")

    return walk(tree.body)


async def _calculator(arguments: Doc) -> Doc:
    expression = arguments.get("expression")
    if not isinstance(expression, str):
        raise ToolError("the argument 'expression' must be a string")
    return {"expression": expression, "value": evaluate(expression)}


def builtin_tools() -> list[Tool]:
    return [
        Tool(
            ToolSpec(
                "clock", "The current date and time (UTC).", {"type": "object", "properties": {}}
            ),
            _clock,
        ),
        Tool(
            ToolSpec(
                "calculator",
                "Evaluate an arithmetic expression (+ - * / // % ** and parentheses).",
                {
                    "type": "object",
                    "properties": {"expression": {"type": "string"}},
                    "required": ["expression"],
                },
            ),
            _calculator,
        ),
    ]
