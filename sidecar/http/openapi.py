"""The OpenAPI 3.1 description of the REST API (CONTRACT §3-§5), served at ``/api/v1/openapi.json``.

The document is built from small helpers so each route reads as one short declaration.
``tests/http/test_openapi.py`` keeps it honest: every route on the app is documented (and
nothing else), real responses validate against it, and a schemathesis run fuzzes every operation
except the endless event stream.

Response objects are closed (``additionalProperties: false``) because the server sends exactly the
fields of CONTRACT §4; request bodies are closed because the server refuses unknown fields (422).
"""

from __future__ import annotations

import copy
from typing import Any, Final

from aiohttp import web

from .. import __version__
from ..store.model import (
    CONVERSATION_STATES,
    MESSAGE_STATUSES,
    ROLES,
    TAGS_MAX,
    TITLE_MAX,
    TURN_STATES,
)
from ..store.nesting import MAX_NESTING
from .errors import STATUS
from .jsonio import json_response

Schema = dict[str, Any]

OPENAPI_PATH: Final = "/api/v1/openapi.json"
ID_PATTERN: Final = "^[A-Za-z0-9_-]{1,128}$"
TIMESTAMP_PATTERN: Final = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$"
TOOL_CALL_STATUSES: Final = ("pending", "approved", "denied", "running", "succeeded", "failed")
BEARER: Final[list[dict[str, list[str]]]] = [{"bearer": []}]

ERROR_DESCRIPTIONS: Final = {
    400: "bad_request: the body is not valid JSON",
    401: "unauthorized: missing or wrong token",
    403: "forbidden: the Host or Origin header is not allowed",
    404: "not_found: no such conversation, message or branch",
    409: "conflict: the request contradicts the stored state",
    413: "payload_too_large: the body exceeds the size limit",
    415: "unsupported_media_type: the body is not application/json",
    422: "validation_failed: a field (named in details.field) is malformed",
    503: "unavailable: the store cannot write right now",
}

# ---------------------------------------------------------------------------- schema helpers


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    """``schema`` or ``null`` (OpenAPI 3.1 is JSON Schema 2020-12: no ``nullable`` keyword)."""
    kind = schema.get("type")
    if isinstance(kind, str) and "$ref" not in schema:
        return {**schema, "type": [kind, "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


def string(**constraints: Any) -> Schema:
    return {"type": "string", **constraints}


def integer(minimum: int | None = None, maximum: int | None = None) -> Schema:
    schema: Schema = {"type": "integer"}
    if minimum is not None:
        schema["minimum"] = minimum
    if maximum is not None:
        schema["maximum"] = maximum
    return schema


def boolean() -> Schema:
    return {"type": "boolean"}


def enum(values: tuple[str, ...] | list[str]) -> Schema:
    return {"type": "string", "enum": list(values)}


def array(items: Schema, **constraints: Any) -> Schema:
    return {"type": "array", "items": items, **constraints}


def obj(
    properties: Schema, required: tuple[str, ...] | None = None, *, closed: bool = True
) -> Schema:
    """An object; ``required=None`` means every property is required (the wire objects)."""
    schema: Schema = {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else list(required),
    }
    if closed:
        schema["additionalProperties"] = False
    return schema


def free_object(description: str) -> Schema:
    return {"type": "object", "description": description}


ID: Final = string(pattern=ID_PATTERN)
TIMESTAMP: Final = string(format="date-time", pattern=TIMESTAMP_PATTERN)
SEQ: Final = integer(minimum=0)
TITLE: Final = string(maxLength=TITLE_MAX)
TAGS: Final = array(string(minLength=1, maxLength=100), maxItems=TAGS_MAX)
EMPTY: Final = string(maxLength=0)
METADATA: Final = free_object(f"any JSON object, kept as given (at most {MAX_NESTING} levels deep)")

# ---------------------------------------------------------------------------- components


def conversation_properties() -> Schema:
    return {
        "id": ID,
        "title": nullable(string()),
        "created_at": TIMESTAMP,
        "updated_at": TIMESTAMP,
        "starred": boolean(),
        "pinned": boolean(),
        "archived": boolean(),
        "deleted_at": nullable(TIMESTAMP),
        "workspace": nullable(string()),
        "tags": array(string()),
        "metadata": METADATA,
        "active_branch": ID,
        "message_count": integer(minimum=0),
        "last_message_preview": nullable(string()),
        "state": enum(CONVERSATION_STATES),
        "revision": integer(minimum=1),
        "source": nullable(ref("Source")),
        "usage": {
            **obj({"input_tokens": integer(minimum=0), "output_tokens": integer(minimum=0)}),
            "description": "token totals over every message the conversation holds",
        },
    }


def schemas() -> Schema:
    message = obj(
        {
            "id": ID,
            "conversation_id": ID,
            "parent_id": nullable(ID),
            "role": enum(ROLES),
            "content": string(),
            "status": enum(MESSAGE_STATUSES),
            "created_at": TIMESTAMP,
            "updated_at": TIMESTAMP,
            "client_message_id": nullable(ID),
            "turn_id": nullable(ID),
            "tool_calls": array(ref("ToolCall")),
            "tool_call_id": nullable(string()),
            "metadata": METADATA,
            "source": nullable(ref("Source")),
        }
    )
    tool_call = obj(
        {
            "id": string(),
            "name": string(),
            "arguments": {"description": "the arguments the model proposed (any JSON)"},
            "status": enum(TOOL_CALL_STATUSES),
            "result": {"description": "the tool's result (any JSON), once it ran"},
            "error": nullable(string()),
        },
        ("id", "name"),
        closed=False,
    )
    source = obj(
        {
            "kind": string(),
            "format": string(),
            "legacy_id": string(),
            "run_id": string(),
        },
        ("kind",),
        closed=False,
    )
    error = obj(
        {
            "error": obj(
                {
                    "code": enum(list(STATUS)),
                    "message": string(),
                    "details": free_object("e.g. field (422) or existing (409)"),
                }
            )
        }
    )
    quarantined = obj(
        {
            "kind": string(),
            "conversation_id": nullable(string()),
            "reason": string(),
            "at": string(),
            "path": string(),
        }
    )
    status = enum(("ok", "degraded"))
    health = obj(
        {
            "status": status,
            "version": string(),
            "pid": integer(minimum=1),
            "uptime_s": {"type": "number", "minimum": 0},
            "data_dir": string(),
            "provider": {"type": "string", "enum": ["echo", "openai", "external"]},
            "store": obj(
                {
                    "conversations": integer(minimum=0),
                    "messages": integer(minimum=0),
                    "writable": boolean(),
                    "quarantined": array(quarantined),
                }
            ),
            "clients": obj({"event_streams": integer(minimum=0), "rpc": integer(minimum=0)}),
            "sync": obj(
                {
                    "state": enum(("off", "connecting", "online", "offline", "error")),
                    "device_id": string(),
                    "device_name": string(),
                    "hub": string(),
                    "pending": integer(minimum=0),
                    "last_push_at": nullable(TIMESTAMP),
                    "last_pull_at": nullable(TIMESTAMP),
                    "error": string(),
                },
                ("state",),
            ),
        }
    )
    return {
        "Conversation": obj(conversation_properties()),
        "ConversationPage": obj(
            {
                **conversation_properties(),
                "messages": array(ref("Message")),
                "has_more": boolean(),
                "event_seq": SEQ,
            }
        ),
        "ConversationList": obj(
            {
                "items": array(ref("Conversation")),
                "next_cursor": nullable(string()),
                "event_seq": SEQ,
            }
        ),
        "Message": message,
        "MessageList": obj(
            {"items": array(ref("Message")), "has_more": boolean(), "event_seq": SEQ}
        ),
        "ToolCall": tool_call,
        "Source": source,
        "Branch": obj({"name": ID, "head_message_id": nullable(ID), "active": boolean()}),
        "Error": error,
        "Health": health,
        "HealthStatus": obj({"status": status}),
        "Turn": obj(
            {
                "id": ID,
                "conversation_id": ID,
                "user_message_id": ID,
                "assistant_message_id": ID,
                "state": enum(TURN_STATES),
                "attempts": array(
                    obj(
                        {
                            "number": integer(minimum=1),
                            "started_at": TIMESTAMP,
                            "ended_at": nullable(TIMESTAMP),
                            "outcome": nullable(string()),
                            "error": free_object("why the attempt failed"),
                        },
                        ("number", "started_at", "ended_at", "outcome"),
                    )
                ),
                "error": nullable(free_object("{code, message, ...}: why the turn failed")),
                "created_at": TIMESTAMP,
                "updated_at": TIMESTAMP,
            }
        ),
        "SendResult": obj({"message": ref("Message"), "turn": ref("Turn")}),
        "Tool": obj(
            {
                "name": string(pattern=r"^[A-Za-z0-9_.-]{1,64}$"),
                "description": string(),
                "parameters": free_object("a JSON schema of the tool's arguments"),
                "source": enum(("builtin", "client")),
            }
        ),
    }


# ---------------------------------------------------------------------------- operation helpers


def path_param(name: str, description: str) -> Schema:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": ID}


def query_param(name: str, schema: Schema, description: str, *, empty_ok: bool = True) -> Schema:
    """A query parameter. The REST routes read an empty value as absent (``jsonio``), so it is
    allowed too unless ``empty_ok`` is false (the event stream refuses it)."""
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": f"{description} (empty: as if absent)" if empty_ok else description,
        "schema": or_empty(schema) if empty_ok else schema,
    }


def or_empty(schema: Schema) -> Schema:
    """``schema`` or the empty string (query values are strings on the wire)."""
    if schema.get("type") != "string":
        return {"anyOf": [schema, EMPTY]}
    pattern = schema.get("pattern")
    if pattern is None or not pattern.startswith("^") or not pattern.endswith("$"):
        return schema if pattern is None else {"anyOf": [schema, EMPTY]}
    return {**schema, "pattern": f"^({pattern[1:-1]})?$"}


def header_param(name: str, schema: Schema, description: str) -> Schema:
    return {
        "name": name,
        "in": "header",
        "required": False,
        "description": description,
        "schema": schema,
    }


def any_case(word: str) -> str:
    """A regex for ``word`` in any letter case (JSON Schema regexes have no ``(?i)`` flag)."""
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in word)


def flag_param(name: str, description: str) -> Schema:
    words = "|".join(any_case(word) for word in ("true", "false", "any", "1", "0"))
    schema = string(pattern=f"^({words})$")
    return query_param(name, schema, f"{description}: true, false or any, in any case; 1 or 0")


def limit_param(default: int, maximum: int) -> Schema:
    schema = {**integer(minimum=1, maximum=maximum), "default": default}
    return query_param("limit", schema, "page size")


CONVERSATION_ID: Final = path_param("conversation_id", "the conversation's id")


def json_content(schema: Schema) -> Schema:
    return {"application/json": {"schema": schema}}


def json_body(
    properties: Schema, required: tuple[str, ...] = (), *, optional: bool = False
) -> Schema:
    """A closed JSON object body; ``request_id`` (idempotency, CONTRACT §4) is always allowed.

    ``optional``: an empty body counts as ``{}``.
    """
    schema = obj({**properties, "request_id": ID}, required)
    return {"required": not optional, "content": json_content(schema)}


def response(schema: Schema, description: str) -> Schema:
    return {"description": description, "content": json_content(schema)}


def operation(
    operation_id: str,
    summary: str,
    *,
    tag: str,
    ok: dict[int, Schema],
    errors: tuple[int, ...],
    parameters: tuple[Schema, ...] = (),
    body: Schema | None = None,
) -> Schema:
    """One operation: ``ok`` are its success responses; every authenticated route also answers
    401 and 403, every route with a body 400, 413, 415 and 422."""
    statuses = {401, 403, *errors}
    if body is not None:
        statuses |= {400, 413, 415, 422}
    responses: Schema = {str(status): value for status, value in sorted(ok.items())}
    for status in sorted(statuses):
        responses[str(status)] = response(ref("Error"), ERROR_DESCRIPTIONS[status])
    result: Schema = {
        "operationId": operation_id,
        "summary": summary,
        "tags": [tag],
        "responses": responses,
    }
    if parameters:
        result["parameters"] = list(parameters)
    if body is not None:
        result["requestBody"] = body
    return result


# ---------------------------------------------------------------------------- paths


def conversation_paths() -> Schema:
    conversation = response(ref("Conversation"), "the conversation")
    create_body = json_body(
        {
            "id": nullable(ID),
            "title": nullable(TITLE),
            "workspace": nullable(string(maxLength=1000)),
            "tags": nullable(TAGS),
            "metadata": nullable(METADATA),
        },
        optional=True,
    )
    update_body = json_body(
        {
            "title": nullable(TITLE),
            "starred": boolean(),
            "pinned": boolean(),
            "archived": boolean(),
            "tags": nullable(TAGS),
            "metadata": nullable(METADATA),
        },
        optional=True,
    )
    if_match = header_param(
        "If-Match",
        string(pattern='^(W/)?"?[0-9]{1,18}"?$'),
        "the revision the change is based on; 409 when the conversation is at another one",
    )
    return {
        "/api/v1/conversations": {
            "get": operation(
                "listConversations",
                "List conversations: pinned first, then updated_at newest first",
                tag="conversations",
                parameters=(
                    limit_param(50, 500),
                    query_param("cursor", string(), "next_cursor of the previous page"),
                    flag_param("archived", "archived ones (default false)"),
                    flag_param("starred", "starred ones (default any)"),
                    flag_param("pinned", "pinned ones (default any)"),
                    flag_param("deleted", "ones in the trash (default false)"),
                    query_param("workspace", string(), "only this workspace"),
                    query_param("q", string(), "case-insensitive text in the title"),
                    flag_param(
                        "empty", "ones with no message on their active branch (default any)"
                    ),
                ),
                ok={200: response(ref("ConversationList"), "a page of conversations")},
                errors=(422,),
            ),
            "post": operation(
                "createConversation",
                "Create a conversation (idempotent by client id)",
                tag="conversations",
                body=create_body,
                ok={
                    201: response(ref("Conversation"), "created"),
                    200: response(
                        ref("Conversation"), "the same create repeated: the existing one"
                    ),
                },
                errors=(409, 503),
            ),
        },
        "/api/v1/conversations/{conversation_id}": {
            "parameters": [CONVERSATION_ID],
            "get": operation(
                "getConversation",
                "A conversation with the last messages of its active branch",
                tag="conversations",
                parameters=(
                    limit_param(50, 1000),
                    query_param("before", ID, "page back from this message"),
                ),
                ok={
                    200: response(
                        ref("ConversationPage"), "the conversation and a page of messages"
                    )
                },
                errors=(404, 422),
            ),
            "patch": operation(
                "updateConversation",
                "Change title, flags, tags or metadata",
                tag="conversations",
                parameters=(if_match,),
                body=update_body,
                ok={200: conversation},
                errors=(404, 409, 503),
            ),
            "delete": operation(
                "deleteConversation",
                "Move to the trash, or delete for good with purge=true",
                tag="conversations",
                parameters=(
                    flag_param("purge", "delete for good (the id stays reserved)"),
                    query_param("request_id", ID, "idempotency key of this deletion (CONTRACT §4)"),
                ),
                ok={204: {"description": "deleted"}},
                errors=(404, 422, 503),
            ),
        },
        "/api/v1/conversations/{conversation_id}/restore": {
            "parameters": [CONVERSATION_ID],
            "post": operation(
                "restoreConversation",
                "Bring a conversation back from the trash",
                tag="conversations",
                body=json_body({}, optional=True),
                ok={200: conversation},
                errors=(404, 503),
            ),
        },
    }


def message_paths() -> Schema:
    message = response(ref("Message"), "the message")
    branch = response(ref("Branch"), "the branch")
    return {
        "/api/v1/conversations/{conversation_id}/messages": {
            "parameters": [CONVERSATION_ID],
            "get": operation(
                "listMessages",
                "A page of a branch (default: the active one) in conversation order",
                tag="messages",
                parameters=(
                    limit_param(50, 1000),
                    query_param("before", ID, "the page before this message"),
                    query_param("after", ID, "the page after this message (not with before)"),
                    query_param("branch", ID, "the branch to read"),
                ),
                ok={200: response(ref("MessageList"), "a page of messages")},
                errors=(404, 422),
            ),
            "post": operation(
                "appendMessage",
                "Low-level append (compatibility; prefer actions/send_message)",
                tag="messages",
                body=json_body(
                    {
                        "role": enum(ROLES),
                        "content": string(),
                        "client_message_id": nullable(ID),
                        "parent_id": nullable(ID),
                        "metadata": nullable(METADATA),
                    },
                    ("role", "content"),
                ),
                ok={
                    201: response(ref("Message"), "appended"),
                    200: response(ref("Message"), "the same append repeated: the existing one"),
                },
                errors=(404, 409, 503),
            ),
        },
        "/api/v1/conversations/{conversation_id}/messages/{message_id}": {
            "parameters": [CONVERSATION_ID, path_param("message_id", "the message's id")],
            "patch": operation(
                "updateMessage",
                "Change a message's content or metadata (compatibility)",
                tag="messages",
                body=json_body(
                    {"content": string(), "metadata": nullable(METADATA)}, optional=True
                ),
                ok={200: message},
                errors=(404, 503),
            ),
        },
        "/api/v1/conversations/{conversation_id}/branches": {
            "parameters": [CONVERSATION_ID],
            "get": operation(
                "listBranches",
                "The conversation's branches",
                tag="branches",
                ok={200: response(array(ref("Branch")), "every branch")},
                errors=(404, 422),
            ),
            "post": operation(
                "createBranch",
                "A new named head at an existing message (not made active)",
                tag="branches",
                body=json_body({"from_message_id": ID, "name": nullable(ID)}, ("from_message_id",)),
                ok={
                    201: response(ref("Branch"), "created"),
                    200: branch | {"description": "that branch already ends there"},
                },
                errors=(404, 409, 503),
            ),
        },
        "/api/v1/conversations/{conversation_id}/branches/{name}": {
            "parameters": [CONVERSATION_ID, path_param("name", "the branch's name")],
            "put": operation(
                "switchBranch",
                "Make a branch the active one",
                tag="branches",
                body=json_body({}, optional=True),
                ok={200: response(ref("Conversation"), "the conversation")},
                errors=(404, 503),
            ),
        },
    }


def action_paths() -> Schema:
    """CONTRACT §5 ``actions/*``: the webview dispatches, the turn engine runs the turn."""
    turn = response(ref("Turn"), "the turn, as persisted after this action")
    turn_body = json_body({"turn_id": ID}, ("turn_id",))
    prefix = "/api/v1/conversations/{conversation_id}/actions"
    return {
        f"{prefix}/send_message": {
            "parameters": [CONVERSATION_ID],
            "post": operation(
                "sendMessage",
                "Send a user message and start the assistant's turn",
                tag="actions",
                body=json_body(
                    {
                        "content": string(),
                        "client_message_id": nullable(ID),
                        "parent_id": nullable(ID),
                        "branch": nullable(ID),
                    },
                    ("content",),
                ),
                ok={
                    202: response(ref("SendResult"), "sent; the turn runs"),
                    200: response(
                        ref("SendResult"), "the same client_message_id again: the first result"
                    ),
                },
                errors=(404, 409, 503),
            ),
        },
        f"{prefix}/approve_tools": {
            "parameters": [CONVERSATION_ID],
            "post": operation(
                "approveTools",
                "Approve or deny proposed tool calls; approved ones run once all are decided",
                tag="actions",
                body=json_body(
                    {
                        "turn_id": ID,
                        "decisions": array(
                            obj(
                                {
                                    "tool_call_id": string(minLength=1, maxLength=256),
                                    "approved": boolean(),
                                    "reason": nullable(string(maxLength=1000)),
                                },
                                ("tool_call_id", "approved"),
                            ),
                            minItems=1,
                        ),
                    },
                    ("turn_id", "decisions"),
                ),
                ok={200: turn},
                errors=(404, 409, 503),
            ),
        },
        f"{prefix}/cancel": {
            "parameters": [CONVERSATION_ID],
            "post": operation(
                "cancelTurn",
                "Stop the turn; partial content is kept as cancelled",
                tag="actions",
                body=turn_body,
                ok={200: turn},
                errors=(404, 409, 503),
            ),
        },
        f"{prefix}/retry": {
            "parameters": [CONVERSATION_ID],
            "post": operation(
                "retryTurn",
                "Write the reply anew; the failed one is kept on a new branch",
                tag="actions",
                body=turn_body,
                ok={200: turn},
                errors=(404, 409, 503),
            ),
        },
    }


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
    tools = operation(
        "listTools",
        "The tools the model may call: built-in ones and those connected RPC clients declared",
        tag="server",
        ok={200: response(obj({"items": array(ref("Tool"))}), "the tools")},
        errors=(),
    )
    return {
        "/health": {"get": health},
        "/api/v1/events": {"get": events},
        "/api/v1/tools": {"get": tools},
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


def legacy_paths() -> Schema:
    """A webview's one-time legacy export (``sidecar/service/legacy.py``)."""
    envelope = json_body(
        {
            "kind": enum(("localstorage-export",)),
            "version": integer(minimum=1, maximum=1),
            "origin": nullable(string()),
            "exported_at": nullable(string()),
            "items": free_object("the webview's localStorage: key -> value (JSON text or parsed)"),
        },
        ("kind", "version", "items"),
    )
    result = obj(
        {
            "imported": boolean(),
            "reason": string(),
            "run_id": ID,
            "created": array(ID),
            "merged": array(ID),
            "unchanged": array(ID),
            "messages": integer(minimum=0),
            "problems": integer(minimum=0),
            "saved": string(),
        },
        ("imported",),
    )
    return {
        "/api/v1/legacy-import": {
            "post": operation(
                "legacyImport",
                "Import a webview's old localStorage once, with chat-migrate's rules",
                tag="conversations",
                body=envelope,
                ok={200: response(result, "what was imported (imported: false when no chat keys)")},
                errors=(503,),
            ),
        },
    }


def transfer_paths() -> Schema:
    """Export, import and migration rollback (``sidecar/http/transfer.py``; the format is
    docs/export-format.md). Conversation entries in an import body are described loosely here:
    the importer validates them whole and names the JSON path of the first problem (422)."""
    branch = obj({"name": ID, "head_message_id": nullable(ID)})
    entry = obj(
        {
            **{
                name: schema
                for name, schema in conversation_properties().items()
                if name not in ("message_count", "last_message_preview", "state", "usage")
            },
            "branches": array(branch),
            "messages": array(ref("Message")),
            "turns": array(free_object("a Turn (CONTRACT §4) as stored")),
        }
    )
    document = obj(
        {
            "format": enum(("chat-sidecar.export",)),
            "version": integer(minimum=1),
            "exported_at": TIMESTAMP,
            "conversations": array(entry),
        }
    )
    import_body = obj(
        {
            "format": enum(("chat-sidecar.export",)),
            "version": integer(minimum=1),
            "exported_at": nullable(TIMESTAMP),
            "run_id": nullable(ID),
            "conversations": array(
                free_object("a conversation entry of the export format (docs/export-format.md)")
            ),
        },
        ("format", "version", "conversations"),
    )
    imported = obj(
        {
            "created": array(ID),
            "merged": array(ID),
            "unchanged": array(ID),
            "skipped": array(obj({"id": ID, "reason": enum(("purged", "quarantined"))})),
        }
    )
    rolled_back = obj(
        {"run_id": ID, "removed": array(ID), "reverted": array(ID), "refused": array(ID)}
    )
    formats = query_param(
        "format", enum(("json", "markdown")), "json (default): the export document; markdown"
    )
    exported = {
        "description": "the export document holding this conversation, or its Markdown",
        "content": {
            **json_content(document),
            "text/markdown": {"schema": string()},
        },
    }
    rollback = operation(
        "rollbackMigration",
        "Undo what a migration run imported; 409 lists conversations changed since",
        tag="conversations",
        parameters=(path_param("run_id", "the migration run's id"),),
        body=json_body({"force": boolean()}, optional=True),
        ok={200: response(rolled_back, "what was removed and reverted")},
        errors=(404, 409, 503),
    )
    rollback["responses"]["409"]["description"] = (
        "conflict: details lists refused (changed since the run, left alone) and what was"
        " rolled back anyway (removed, reverted)"
    )
    return {
        "/api/v1/conversations/{conversation_id}/export": {
            "parameters": [CONVERSATION_ID],
            "get": operation(
                "exportConversation",
                "Export one conversation: lossless JSON or readable Markdown",
                tag="conversations",
                parameters=(formats,),
                ok={200: exported},
                errors=(404, 422),
            ),
        },
        "/api/v1/import": {
            "post": operation(
                "importConversations",
                "Import an export document (idempotent; validated whole before any write)",
                tag="conversations",
                body={"required": True, "content": json_content(import_body)},
                ok={200: response(imported, "what the import did, by conversation id")},
                errors=(409, 503),
            ),
        },
        "/api/v1/migrations/{run_id}/rollback": {"post": rollback},
    }


def search_paths() -> Schema:
    """``GET /api/v1/search`` (``sidecar/http/search.py``; the query syntax is in
    docs/decisions.md, "Search")."""
    from ..search.query import DATE_OR_TIMESTAMP_PATTERN, MAX_LIMIT, MAX_QUERY_CHARS

    hit = obj(
        {
            "conversation_id": ID,
            "message_id": {
                **nullable(ID),
                "description": "the matching message; null when the conversation's title matched",
            },
            "snippet": string(description="plain text around the match (never markup)"),
            "highlights": array(
                array(integer(minimum=0), minItems=2, maxItems=2),
                description="[start, end) ranges in snippet, in Unicode code points",
            ),
            "created_at": TIMESTAMP,
            "role": {
                "anyOf": [enum(ROLES), {"type": "null"}],
                "description": "the matching message's role; null for a title hit",
            },
            "conversation_title": {
                **nullable(string()),
                "description": "the conversation's title (archived and trashed ones too)",
            },
        }
    )
    result = obj(
        {
            "items": array(hit),
            "event_seq": SEQ,
            "indexing": {
                **boolean(),
                "description": "true while the index catches up with the store (may miss hits)",
            },
        }
    )
    q = {
        "name": "q",
        "in": "query",
        "required": True,
        "description": 'words (all must match), "exact phrases" and prefix* (3+ letters);'
        " the last bare word is also a prefix (the word being typed)",
        "schema": string(minLength=1, maxLength=MAX_QUERY_CHARS, pattern=r"\S"),
    }
    bound = string(pattern=DATE_OR_TIMESTAMP_PATTERN)
    search = operation(
        "search",
        "Full-text search over message content and conversation titles, best first",
        tag="conversations",
        parameters=(
            q,
            limit_param(20, MAX_LIMIT),
            query_param("conversation_id", ID, "only this conversation"),
            query_param("role", enum((*ROLES, "")), "only messages of this role (no title hits)"),
            flag_param("archived", "archived conversations (default any)"),
            flag_param("deleted", "conversations in the trash (default false)"),
            query_param("from", bound, "created at or after (a date: from its start)"),
            query_param("to", bound, "created at or before (a date: to its end)"),
        ),
        ok={200: response(result, "the hits")},
        errors=(422, 503),
    )
    search["responses"]["503"]["description"] = "unavailable: the index is being rebuilt"
    return {"/api/v1/search": {"get": search}}


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
            **conversation_paths(),
            **message_paths(),
            **action_paths(),
            **other_paths(),
            **rpc_paths(),
            **transfer_paths(),
            **legacy_paths(),
            **search_paths(),
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


DOCUMENT: Final = build_document()

routes = web.RouteTableDef()


@routes.get(OPENAPI_PATH)
async def openapi_document(request: web.Request) -> web.Response:
    return json_response(DOCUMENT)
