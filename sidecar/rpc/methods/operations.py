"""JSON-RPC methods derived from the table of operations (:mod:`sidecar.api.table`): one generic
method per operation checks its named params (unknown field -> -32602 naming it) and calls the
same handler as its REST route."""

from __future__ import annotations

from typing import Any

from ...api.operations import Created, Field, Operation, Text
from ...store import ValidationFailed
from ..params import Params
from ..registry import Context, Handler, MethodTable


def register_operations(table: MethodTable, operations: tuple[Operation, ...]) -> None:
    for operation in operations:
        if operation.rpc is not None:
            table.add(operation.rpc, _method(operation), cancellable=operation.cancellable)


def _method(operation: Operation) -> Handler:
    passed = frozenset(field.name for field in operation.fields if field.kind == "any")

    async def handle(ctx: Context, params: dict[str, Any]) -> Any:
        if operation.document:
            # The params are the export document itself, as the REST body is.
            args: dict[str, Any] = {"document": params}
        else:
            p = Params(params, operation.rpc_names)
            args = {f.name: _param(p, f) for f in operation.fields if f.kind != "any"}
            args.update((name, value) for name, value in p.raw.items() if name in passed)
        answer = await operation.handler(ctx.app, args)
        if isinstance(answer, Created):
            return answer.body
        if isinstance(answer, Text):
            return answer.text
        return answer

    return handle


def _param(p: Params, field: Field) -> Any:
    name = field.name
    kind = field.kind
    if kind in ("id", "checked_id"):
        return p.id(name)
    if kind == "name":
        return p.required(name)
    if kind == "int":
        return p.integer(name, field.default, field.low, field.high)
    if kind == "flag":
        return p.flag(name, field.default)
    if kind == "bool":
        return p.boolean(name, field.default)
    if kind in ("raw", "loose_int"):
        return p.get(name, field.default)
    if kind == "revision":
        return p.optional_integer(name, field.low, field.high)
    value = p.text(name)
    if kind == "choice" and value is not None and value not in field.choices:
        raise ValidationFailed(name, f"{name} must be {' or '.join(field.choices)}")
    return value
