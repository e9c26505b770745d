"""The tool registry and the built-in demo tools: the current time and safe arithmetic.

Every proposed call needs the user's approval unless its tool is listed in the
``tool_auto_approve`` setting; the registry answers that question too, so the rule lives in one
place.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..providers.base import Doc, ToolSpec
from ..store.timeutil import format_iso


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

    def specs(self) -> list[ToolSpec]:
        return [tool.spec for tool in self._tools.values()]

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def auto_approved(self, name: str) -> bool:
        """``*`` in the setting approves every tool; otherwise only the tools it names."""
        return "*" in self._auto or name in self._auto


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
