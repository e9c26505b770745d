"""The table of operations (CONTRACT §4, §5, §7): each request/response operation once.

REST routes (:mod:`sidecar.http.operations`), JSON-RPC methods (:mod:`sidecar.rpc.methods`), the
OpenAPI paths (:mod:`sidecar.http.openapi`), the clients' id table
(``extension-bridge/src/generated/mutationIds.ts``, ``python -m sidecar.api.client_table``) and the
browser client's JSON-RPC -> REST route map (``extension-bridge/media/rest_routes_table.js``,
``python -m sidecar.api.client_routes``) are all derived from :data:`OPERATIONS`. What is not a
plain request and answer stays with its face: the event stream (SSE ``/api/v1/events``,
``events.subscribe``), REST's ``/health`` (its answer depends on the token; the table names it as
``sidecar.health``'s ``rest_elsewhere`` for the route map), ``/ui``, ``/api/v1/openapi.json``,
the ``/rpc`` WebSocket itself, and the methods that keep per-connection state
(``tools.register``, the external provider's ``turns.*``).
"""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from ..service.exporter import document_of, export_conversation, to_markdown
from ..service.import_runs import rollback_run
from ..service.importer import import_document
from ..service.legacy import ENVELOPE_FIELDS, import_legacy_storage
from ..store import UNSET, ListQuery
from ..store.model import check_bool
from ..store.values import MAX_MESSAGE_PAGE
from .answers import (
    conversation_list_body,
    conversation_page_body,
    health_body,
    message_page_body,
    tools_body,
)
from .errors import ApiError
from .keys import SEARCH, STORE, TURNS
from .operations import Created, Field, Operation, Text

Args = dict[str, Any]
UPDATE_FIELDS_ORDER: Final = ("title", "starred", "pinned", "archived", "tags", "metadata")
UPDATE_FIELDS: Final = frozenset(UPDATE_FIELDS_ORDER)
#: The largest page of ``GET /api/v1/conversations`` (and of ``conversations.list``).
LIST_LIMIT_MAX: Final = 500
EXPORT_FORMATS: Final = ("json", "markdown")
CONVERSATIONS: Final = "/api/v1/conversations"
CONVERSATION: Final = "/api/v1/conversations/{conversation_id}"
ACTIONS: Final = f"{CONVERSATION}/actions"
CONVERSATION_ID: Final = Field("conversation_id", "id", "path")
REQUEST_ID: Final = Field("request_id")
TURN_ID: Final = Field("turn_id")


def body(*names: str) -> tuple[Field, ...]:
    """Body fields passed through to the service, which checks them."""
    return tuple(Field(name) for name in names)


def page(high: int) -> tuple[Field, ...]:
    return (Field("limit", "int", "query", 50, 1, high), Field("before", "text", "query"))


# ---------------------------------------------------------------------------- conversations


async def list_conversations(app: web.Application, a: Args) -> Any:
    store = app[STORE]
    query = ListQuery(
        limit=a["limit"],
        cursor=a["cursor"],
        archived=a["archived"],
        starred=a["starred"],
        pinned=a["pinned"],
        deleted=a["deleted"],
        workspace=a["workspace"],
        q=a["q"],
        empty=a["empty"],
    )
    return conversation_list_body(store.list_conversations(query), store.seq)


async def create_conversation(app: web.Application, a: Args) -> Any:
    conversation, created = await app[STORE].create_conversation(
        id=a.get("id"),
        title=a.get("title"),
        workspace=a.get("workspace"),
        tags=a.get("tags"),
        metadata=a.get("metadata"),
    )
    return Created(conversation, created)


async def get_conversation(app: web.Application, a: Args) -> Any:
    page = await app[STORE].read_page(a["conversation_id"], limit=a["limit"], before=a["before"])
    return conversation_page_body(page)


async def update_conversation(app: web.Application, a: Args) -> Any:
    return await app[STORE].update_conversation(
        a["conversation_id"],
        {name: value for name, value in a.items() if name in UPDATE_FIELDS},
        if_revision=a["if_revision"],
        request_id=a.get("request_id"),
    )


async def delete_conversation(app: web.Application, a: Args) -> None:
    """Trash it, or with ``purge`` delete it for good (REST 204, JSON-RPC ``null``)."""
    if a["purge"]:
        await app[STORE].purge_conversation(a["conversation_id"])
    else:
        await app[STORE].delete_conversation(a["conversation_id"], request_id=a.get("request_id"))


async def restore_conversation(app: web.Application, a: Args) -> Any:
    return await app[STORE].restore_conversation(
        a["conversation_id"], request_id=a.get("request_id")
    )


# ---------------------------------------------------------------------------- messages, branches


async def list_messages(app: web.Application, a: Args) -> Any:
    page = await app[STORE].read_page(
        a["conversation_id"],
        limit=a["limit"],
        before=a["before"],
        after=a["after"],
        branch=a["branch"],
    )
    return message_page_body(page)


async def append_message(app: web.Application, a: Args) -> Any:
    message, created = await app[STORE].append_message(
        a["conversation_id"],
        role=a.get("role"),  # type: ignore[arg-type]  # validated by the store
        content=a.get("content"),  # type: ignore[arg-type]
        parent_id=a.get("parent_id", UNSET),
        client_message_id=a.get("client_message_id"),
        metadata=a.get("metadata"),
    )
    return Created(message, created)


async def update_message(app: web.Application, a: Args) -> Any:
    return await app[STORE].update_message(
        a["conversation_id"],
        a["message_id"],
        content=a.get("content", UNSET),
        metadata=a.get("metadata", UNSET),
        request_id=a.get("request_id"),
    )


async def list_branches(app: web.Application, a: Args) -> Any:
    return await app[STORE].list_branches(a["conversation_id"])


async def create_branch(app: web.Application, a: Args) -> Any:
    branch, created = await app[STORE].create_branch(
        a["conversation_id"],
        a.get("from_message_id"),  # type: ignore[arg-type]  # validated by the store
        a.get("name"),
        request_id=a.get("request_id"),
    )
    return Created(branch, created)


async def switch_branch(app: web.Application, a: Args) -> Any:
    return await app[STORE].switch_branch(
        a["conversation_id"], a["name"], request_id=a.get("request_id")
    )


# ---------------------------------------------------------------------------- actions (turns)


async def send_message(app: web.Application, a: Args) -> Any:
    result, created = await app[TURNS].send_message(
        a["conversation_id"],
        content=a.get("content"),
        client_message_id=a.get("client_message_id"),
        parent_id=a.get("parent_id", UNSET),
        branch=a.get("branch"),
    )
    return Created(result, created)


async def approve_tools(app: web.Application, a: Args) -> Any:
    return await app[TURNS].approve_tools(
        a["conversation_id"], a.get("turn_id"), a.get("decisions"), request_id=a.get("request_id")
    )


async def cancel_turn(app: web.Application, a: Args) -> Any:
    return await app[TURNS].cancel(
        a["conversation_id"], a.get("turn_id"), request_id=a.get("request_id")
    )


async def retry_turn(app: web.Application, a: Args) -> Any:
    return await app[TURNS].retry(
        a["conversation_id"], a.get("turn_id"), request_id=a.get("request_id")
    )


# ---------------------------------------------------------------------------- transfer, search


async def export(app: web.Application, a: Args) -> Any:
    """``json`` (default): the export document holding this one conversation; ``markdown``: its
    active branch as text."""
    entry = await export_conversation(app[STORE], a["conversation_id"])
    if (a["format"] or "json") == "json":
        return document_of([entry])
    return Text(to_markdown(entry), "text/markdown")


async def import_conversations(app: web.Application, a: Args) -> Any:
    """The request is an export document (optionally with ``run_id``); the importer validates it
    whole (422 naming the JSON path, nothing written) before writing anything."""
    result = await import_document(app[STORE], a["document"])
    return result.to_json()


async def rollback(app: web.Application, a: Args) -> Any:
    """What was undone; 409 listing (``details.refused``) the conversations changed since the
    run, which were left alone while every other one was still rolled back."""
    run_id = a["run_id"]
    force = check_bool(a.get("force", False), "force")
    result = await rollback_run(app[STORE], run_id, force=force)
    if result.refused:
        raise ApiError(
            "conflict",
            f"{len(result.refused)} conversation(s) changed since run '{run_id}' and were left"
            " alone (the others were rolled back); repeat with force to undo them too",
            result.to_json(),
        )
    return result.to_json()


async def legacy_import(app: web.Application, a: Args) -> Any:
    envelope = {name: value for name, value in a.items() if name in ENVELOPE_FIELDS}
    return await import_legacy_storage(app[STORE], envelope)


async def search(app: web.Application, a: Args) -> Any:
    """``q`` is required (422 naming it when absent or blank); see ``SearchIndex.query``."""
    return await app[SEARCH].query(
        a["q"],
        limit=a["limit"],
        conversation_id=a["conversation_id"],
        role=a["role"],
        archived=a["archived"],
        deleted=a["deleted"],
        created_from=a["from"],
        created_to=a["to"],
    )


async def list_tools(app: web.Application, a: Args) -> Any:
    return tools_body(app)


async def health(app: web.Application, a: Args) -> Any:
    """JSON-RPC's health: always the full one (the connection is authenticated)."""
    return health_body(app)


def _flags(*spec: tuple[str, bool | None]) -> tuple[Field, ...]:
    return tuple(Field(name, "flag", "query", default) for name, default in spec)


OPERATIONS: Final[tuple[Operation, ...]] = (
    Operation("sidecar.health", health, rpc="sidecar.health", rest_elsewhere=("GET", "/health")),
    Operation(
        "conversations.list",
        list_conversations,
        (
            Field("limit", "int", "query", 50, 1, LIST_LIMIT_MAX),
            Field("cursor", "text", "query"),
            *_flags(("archived", False), ("starred", None), ("pinned", None), ("deleted", False)),
            Field("workspace", "text", "query"),
            Field("q", "text", "query"),
            *_flags(("empty", None)),
        ),
        rest=("GET", CONVERSATIONS),
        rpc="conversations.list",
    ),
    Operation(
        "conversations.create",
        create_conversation,
        body("id", "title", "workspace", "tags", "metadata"),
        rest=("POST", CONVERSATIONS),
        rpc="conversations.create",
        idempotency="id",
        cancellable=False,
        created_status=201,
    ),
    Operation(
        "conversations.get",
        get_conversation,
        (CONVERSATION_ID, *page(MAX_MESSAGE_PAGE)),
        rest=("GET", CONVERSATION),
        rpc="conversations.get",
    ),
    Operation(
        "conversations.update",
        update_conversation,
        (
            CONVERSATION_ID,
            *body(*UPDATE_FIELDS_ORDER, "request_id"),
            Field("if_revision", "revision", "header", None, 0, 2**63 - 1, header="If-Match"),
        ),
        rest=("PATCH", CONVERSATION),
        rpc="conversations.update",
        idempotency="request_id",
        cancellable=False,
    ),
    Operation(
        "conversations.delete",
        delete_conversation,
        (
            CONVERSATION_ID,
            Field("purge", "bool", "query", False),
            # DELETE has no body, so its request_id rides in the query.
            Field("request_id", "any", "query"),
        ),
        rest=("DELETE", CONVERSATION),
        rpc="conversations.delete",
        idempotency="request_id",
        cancellable=False,
        no_content=True,
    ),
    Operation(
        "conversations.restore",
        restore_conversation,
        (CONVERSATION_ID, REQUEST_ID),
        rest=("POST", f"{CONVERSATION}/restore"),
        rpc="conversations.restore",
        idempotency="request_id",
        cancellable=False,
    ),
    Operation(
        "messages.list",
        list_messages,
        (
            CONVERSATION_ID,
            *page(MAX_MESSAGE_PAGE),
            Field("after", "text", "query"),
            Field("branch", "text", "query"),
        ),
        rest=("GET", f"{CONVERSATION}/messages"),
        rpc="messages.list",
    ),
    Operation(
        "messages.append",
        append_message,
        (CONVERSATION_ID, *body("role", "content", "client_message_id", "parent_id", "metadata")),
        rest=("POST", f"{CONVERSATION}/messages"),
        rpc="messages.append",
        idempotency="client_message_id",
        cancellable=False,
        created_status=201,
    ),
    Operation(
        "messages.update",
        update_message,
        (
            CONVERSATION_ID,
            Field("message_id", "id", "path"),
            *body("content", "metadata", "request_id"),
        ),
        rest=("PATCH", f"{CONVERSATION}/messages/{{message_id}}"),
        rpc="messages.update",
        idempotency="request_id",
        cancellable=False,
    ),
    Operation(
        "branches.list",
        list_branches,
        (CONVERSATION_ID,),
        rest=("GET", f"{CONVERSATION}/branches"),
        rpc="branches.list",
    ),
    Operation(
        "branches.create",
        create_branch,
        (CONVERSATION_ID, *body("from_message_id", "name", "request_id")),
        rest=("POST", f"{CONVERSATION}/branches"),
        rpc="branches.create",
        idempotency="request_id",
        cancellable=False,
        created_status=201,
    ),
    Operation(
        "branches.switch",
        switch_branch,
        (CONVERSATION_ID, Field("name", "name", "path"), REQUEST_ID),
        rest=("PUT", f"{CONVERSATION}/branches/{{name}}"),
        rpc="branches.switch",
        idempotency="request_id",
        cancellable=False,
    ),
    Operation(
        "chat.sendMessage",
        send_message,
        (CONVERSATION_ID, *body("content", "client_message_id", "parent_id", "branch")),
        rest=("POST", f"{ACTIONS}/send_message"),
        rpc="chat.sendMessage",
        idempotency="client_message_id",
        cancellable=False,
        created_status=202,
    ),
    Operation(
        "chat.approveTools",
        approve_tools,
        (CONVERSATION_ID, TURN_ID, Field("decisions"), REQUEST_ID),
        rest=("POST", f"{ACTIONS}/approve_tools"),
        rpc="chat.approveTools",
        idempotency="request_id",
        cancellable=False,
    ),
    Operation(
        "chat.cancel",
        cancel_turn,
        (CONVERSATION_ID, TURN_ID, REQUEST_ID),
        rest=("POST", f"{ACTIONS}/cancel"),
        rpc="chat.cancel",
        idempotency="request_id",
        cancellable=False,
    ),
    Operation(
        "chat.retry",
        retry_turn,
        (CONVERSATION_ID, TURN_ID, REQUEST_ID),
        rest=("POST", f"{ACTIONS}/retry"),
        rpc="chat.retry",
        idempotency="request_id",
        cancellable=False,
    ),
    Operation(
        "conversations.export",
        export,
        (Field("format", "choice", "query", None, choices=EXPORT_FORMATS), CONVERSATION_ID),
        rest=("GET", f"{CONVERSATION}/export"),
        rpc="conversations.export",
    ),
    Operation(
        "import.conversations",
        import_conversations,
        rest=("POST", "/api/v1/import"),
        rpc="import.conversations",
        idempotency="run_id",
        cancellable=False,
        document=True,
    ),
    Operation(
        "migrations.rollback",
        rollback,
        (Field("run_id", "checked_id", "path"), Field("force")),
        rest=("POST", "/api/v1/migrations/{run_id}/rollback"),
        cancellable=False,
    ),
    Operation(
        "legacy.import",
        legacy_import,
        body(*sorted(ENVELOPE_FIELDS)),
        rest=("POST", "/api/v1/legacy-import"),
        rpc="legacy.import",
        cancellable=False,
    ),
    Operation(
        "search.query",
        search,
        (
            Field("q", "raw", "query", ""),
            Field("limit", "loose_int", "query", 20, 1, 100),
            Field("conversation_id", "text", "query"),
            Field("role", "text", "query"),
            *_flags(("archived", None), ("deleted", False)),
            Field("from", "text", "query"),
            Field("to", "text", "query"),
        ),
        rest=("GET", "/api/v1/search"),
        rpc="search.query",
    ),
    Operation("tools.list", list_tools, rest=("GET", "/api/v1/tools"), rpc="tools.list"),
)
