"""The OpenAPI 3.1 description of the REST API (CONTRACT §3-§5), served at ``/api/v1/openapi.json``.

The paths of the table's operations are derived from the table itself (:mod:`sidecar.api.table`:
path, method, parameters, body fields) with what :mod:`.openapi_operations` says of each (ids,
summaries, schemas, answers); the object schemas are data in :mod:`.openapi_schemas`. Only the
routes outside the table (``/health``, the event stream, this document, ``/rpc``) are written here.
``tests/http/test_openapi.py`` keeps it honest: every route on the app is documented (and
nothing else), real responses validate against it, and a schemathesis run fuzzes every operation
except the endless event stream.

Response objects are closed (``additionalProperties: false``) because the server sends exactly the
fields of CONTRACT §4; request bodies are closed because the server refuses unknown fields (422).
"""

from __future__ import annotations

import copy
import functools

from aiohttp import web

from .. import __version__
from ..api.operations import Field, Operation
from ..api.table import OPERATIONS
from .jsonio import json_response
from .openapi_operations import DOCS, PATH_PARAMS, Doc
from .openapi_schemas import (
    BEARER,
    ID,
    OPENAPI_PATH,
    Schema,
    flag_param,
    free_object,
    header_param,
    json_body,
    limit_param,
    operation,
    path_param,
    query_param,
    ref,
    response,
    schemas,
    string,
)


def table_paths(operations: tuple[Operation, ...]) -> Schema:
    """The paths of every REST operation of the table, from its fields and its :data:`DOCS`."""
    paths: Schema = {}
    for op in operations:
        if op.rest is None:
            continue
        method, path = op.rest
        doc = DOCS[op.name]
        item = paths.setdefault(path, {})
        path_fields = [f.name for f in op.fields if f.where == "path"]
        if path_fields:
            item["parameters"] = [path_param(name, PATH_PARAMS[name]) for name in path_fields]
        item[method.lower()] = _operation(op, doc)
    return paths


def _operation(op: Operation, doc: Doc) -> Schema:
    params = tuple(_parameter(f, doc) for f in op.fields if f.where in ("query", "header"))
    unknown = set(doc.params) - {f.name for f in op.fields if f.where in ("query", "header")}
    if unknown or set(doc.body) != op.body_names:
        raise ValueError(f"the OpenAPI doc of {op.name} does not match the table's fields")
    body = doc.request_body
    if body is None and any(f.where == "body" for f in op.fields):
        body = json_body(doc.body, doc.required, optional=doc.optional_body)
    result = operation(
        doc.id, doc.summary, tag=doc.tag, ok=doc.ok, errors=doc.errors, parameters=params, body=body
    )
    for status, description in doc.statuses.items():
        result["responses"][str(status)]["description"] = description
    return result


def _parameter(f: Field, doc: Doc) -> Schema:
    if f.kind in ("int", "loose_int"):
        return limit_param(f.default, f.high)
    described = doc.params[f.name]
    if isinstance(described, dict):
        return described
    if f.kind in ("flag", "bool"):
        return flag_param(f.name, described)
    schema, description = described
    if f.where == "header":
        return header_param(f.header, schema, description)
    return query_param(f.name, schema, description)


def other_paths() -> Schema:
    health = operation(
        "health",
        "Health: only the status without a token, everything with it",
        tag="server",
        ok={
            200: response(
                {"oneOf": [ref("Health"), ref("HealthStatus")]},
                "Health with the token, HealthStatus without",
            )
        },
        errors=(),
    )
    health["responses"].pop("401")  # no token is not an error here
    health["security"] = [{}, *BEARER]
    events = operation(
        "events",
        "Server-Sent Events (CONTRACT §6): an endless stream",
        tag="events",
        parameters=(
            query_param("conversation_id", ID, "only this conversation's events", empty_ok=False),
            query_param(
                "since", string(pattern="^[0-9]{1,20}$"), "resume after this seq", empty_ok=False
            ),
            header_param(
                "Last-Event-ID", string(pattern="^[0-9]{1,20}$"), "resume after this seq (wins)"
            ),
        ),
        ok={
            200: {
                "description": "the event stream",
                "content": {"text/event-stream": {"schema": string()}},
            }
        },
        errors=(422,),
    )
    events["security"] = [*BEARER, {"accessToken": []}]
    return {
        "/health": {"get": health},
        "/api/v1/events": {"get": events},
        OPENAPI_PATH: {
            "get": operation(
                "openapi",
                "This document",
                tag="server",
                ok={200: response(free_object("an OpenAPI 3.1 document"), "the document")},
                errors=(),
            )
        },
    }


def rpc_paths() -> Schema:
    """``GET /rpc``: the JSON-RPC WebSocket (CONTRACT §7); its methods are not REST operations."""
    rpc = operation(
        "rpc",
        "JSON-RPC 2.0 over WebSocket (CONTRACT §7): one message per text frame",
        tag="server",
        ok={101: {"description": "switching to the WebSocket protocol"}},
        errors=(400,),
    )
    rpc["responses"]["400"]["description"] = "bad_request: not a WebSocket upgrade request"
    rpc["security"] = [*BEARER, {"accessToken": []}]
    return {"/rpc": {"get": rpc}}


def build_document() -> Schema:
    """A fresh copy of the whole document (callers may change it)."""
    document: Schema = {
        "openapi": "3.1.0",
        "info": {
            "title": "Chat Sidecar",
            "version": __version__,
            "description": "The sidecar's REST API (CONTRACT §5). Errors: CONTRACT §3.",
        },
        "servers": [{"url": "http://127.0.0.1:{port}", "variables": {"port": {"default": "0"}}}],
        "security": BEARER,
        "tags": [
            {"name": name}
            for name in ("conversations", "messages", "branches", "actions", "events", "server")
        ],
        "paths": {
            **table_paths(OPERATIONS),
            **other_paths(),
            **rpc_paths(),
        },
        "components": {
            "schemas": schemas(),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "the launch token"},
                "accessToken": {
                    "type": "apiKey",
                    "in": "query",
                    "name": "access_token",
                    "description": "the launch token, only on /api/v1/events and /rpc (no header in a browser)",
                },
            },
        },
    }
    return copy.deepcopy(document)


@functools.cache
def document() -> Schema:
    """The document, built on its first request rather than at import: nobody may ask for it,
    and the ready line need not wait for it."""
    return build_document()


routes = web.RouteTableDef()


@routes.get(OPENAPI_PATH)
async def openapi_document(request: web.Request) -> web.Response:
    return json_response(document())
