"""The OpenAPI document's building blocks as data: the JSON Schema helpers, the object schemas
of CONTRACT §4 (:func:`schemas`) and the operation helpers :mod:`sidecar.http.openapi` assembles
the paths with."""

from __future__ import annotations

from typing import Any, Final

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
