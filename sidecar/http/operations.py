"""REST routes derived from the table of operations (:mod:`sidecar.api.table`): one generic
handler per operation turns the request into the operation's ``args`` and its answer into a
response, with the checks REST always made (CONTRACT §3: errors name the field)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..api.errors import ApiError
from ..api.operations import Created, Field, Operation, Text
from ..store.ids import check_id
from .body import read_body
from .jsonio import json_response, parse_body, query_flag, query_int, query_str, read_object

Handler = Any


def operation_routes(operations: tuple[Operation, ...]) -> web.RouteTableDef:
    """The routes of every operation REST serves, in table order."""
    routes = web.RouteTableDef()
    for operation in operations:
        if operation.rest is not None:
            method, path = operation.rest
            routes.route(method, path)(_handler(operation))
    return routes


def _handler(operation: Operation) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        args = await request_args(request, operation)
        return answer_response(operation, await operation.handler(request.app, args))

    handle.__name__ = operation.name.replace(".", "_")
    return handle


async def request_args(request: web.Request, operation: Operation) -> dict[str, Any]:
    """The operation's ``args`` from the path, the query string, the headers and the JSON body,
    read in the table's order (the first bad field is the one an error names)."""
    if operation.document:
        return {"document": parse_body(await read_body(request))}
    args: dict[str, Any] = {}
    body_read = False
    for field in operation.fields:
        if field.where == "path":
            value = request.match_info[field.name]
            args[field.name] = check_id(value, field.name) if field.kind == "checked_id" else value
        elif field.where == "query":
            args[field.name] = _query(request, field)
        elif field.where == "header":
            args[field.name] = _if_match(request, field.header)
        elif not body_read:
            body_read = True
            args.update(await read_object(request, operation.body_names))
    return args


def answer_response(operation: Operation, answer: Any) -> web.StreamResponse:
    if operation.no_content:
        return web.Response(status=204)
    if isinstance(answer, Created):
        return json_response(
            answer.body, status=operation.created_status if answer.created else 200
        )
    if isinstance(answer, Text):
        return web.Response(
            text=answer.text,
            content_type=answer.media_type,
            charset="utf-8",
            headers={"X-Content-Type-Options": "nosniff"},
        )
    return json_response(answer)


def _query(request: web.Request, field: Field) -> Any:
    name = field.name
    kind = field.kind
    if kind == "int":
        return query_int(request, name, field.default, field.low, field.high)
    if kind in ("flag", "bool"):
        return query_flag(request, name, field.default)
    if kind == "raw":
        return request.query.get(name, field.default)
    if kind == "loose_int":
        raw = request.query.get(name)
        if not raw:
            return field.default
        try:
            return int(raw)
        except ValueError:
            raise ApiError(
                "validation_failed",
                f"{name} must be an integer from {field.low} to {field.high}",
                {"field": name},
            ) from None
    value = query_str(request, name)
    if kind == "choice" and value is not None and value not in field.choices:
        raise ApiError(
            "validation_failed", f"{name} must be {' or '.join(field.choices)}", {"field": name}
        )
    return value


def _if_match(request: web.Request, header: str) -> int | None:
    raw = request.headers.get(header)
    if raw is None:
        return None
    try:
        return int(raw.strip().strip('"').removeprefix("W/").strip('"'))
    except ValueError:
        raise ApiError(
            "validation_failed", f"{header} must be a conversation revision", {"field": header}
        ) from None
