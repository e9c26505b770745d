"""What the OpenAPI document says about each operation of the table (:mod:`sidecar.api.table`)
beyond what the table itself declares: its OpenAPI id, summary, tag, answers, the JSON Schema of
each field and the descriptions. The paths, methods, parameters (which, where, in which order) and
which body fields exist come from the table (:func:`sidecar.http.openapi.table_paths`), which
refuses a field documented here that the table does not have, or the other way round.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from ..search.query import DATE_OR_TIMESTAMP_PATTERN, MAX_QUERY_CHARS
from ..store.model import ROLES
from .openapi_schemas import (
    ID,
    METADATA,
    SEQ,
    TAGS,
    TIMESTAMP,
    TITLE,
    Schema,
    array,
    boolean,
    conversation_properties,
    enum,
    free_object,
    integer,
    json_content,
    nullable,
    obj,
    ref,
    response,
    string,
)


@dataclass(frozen=True)
class Doc:
    id: str
    summary: str
    tag: str
    ok: dict[int, Schema]
    errors: tuple[int, ...]
    #: query and header fields: a description (flags), ``(schema, description)``, or a whole
    #: parameter object.
    params: dict[str, Any] = field(default_factory=dict)
    #: body fields (``request_id`` is always allowed) -> schema; ``required`` among them.
    body: dict[str, Schema] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    optional_body: bool = False
    #: the whole request body (an operation whose request is one document)
    request_body: Schema | None = None
    #: error descriptions that say more than the generic one
    statuses: dict[int, str] = field(default_factory=dict)


PATH_PARAMS: Final = {
    "conversation_id": "the conversation's id",
    "message_id": "the message's id",
    "name": "the branch's name",
    "run_id": "the migration run's id",
}

CONVERSATION: Final = response(ref("Conversation"), "the conversation")
TURN: Final = response(ref("Turn"), "the turn, as persisted after this action")
WRITE_ERRORS: Final = (404, 409, 503)


def _export_answer() -> Schema:
    branch = obj({"name": ID, "head_message_id": nullable(ID)})
    omitted = ("message_count", "last_message_preview", "state", "usage")
    entry = obj(
        {
            **{k: v for k, v in conversation_properties().items() if k not in omitted},
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
    return {
        "description": "the export document holding this conversation, or its Markdown",
        "content": {**json_content(document), "text/markdown": {"schema": string()}},
    }


def _import_body() -> Schema:
    body = obj(
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
    return {"required": True, "content": json_content(body)}


def _search_answer() -> Schema:
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
    answer = obj(
        {
            "items": array(hit),
            "event_seq": SEQ,
            "indexing": {
                **boolean(),
                "description": "true while the index catches up with the store (may miss hits)",
            },
        }
    )
    return response(answer, "the hits")


def _legacy_answer() -> Schema:
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
    return response(result, "what was imported (imported: false when no chat keys)")


SEARCH_Q: Final = {
    "name": "q",
    "in": "query",
    "required": True,
    "description": 'words (all must match), "exact phrases" and prefix* (3+ letters);'
    " the last bare word is also a prefix (the word being typed)",
    "schema": string(minLength=1, maxLength=MAX_QUERY_CHARS, pattern=r"\S"),
}
BOUND: Final = string(pattern=DATE_OR_TIMESTAMP_PATTERN)
MESSAGE_BODY: Final = {"content": string(), "metadata": nullable(METADATA)}
TURN_BODY: Final = {"turn_id": ID}
DECISIONS: Final = array(
    obj(
        {
            "tool_call_id": string(minLength=1, maxLength=256),
            "approved": boolean(),
            "reason": nullable(string(maxLength=1000)),
        },
        ("tool_call_id", "approved"),
    ),
    minItems=1,
)

DOCS: Final[dict[str, Doc]] = {
    "conversations.list": Doc(
        "listConversations",
        "List conversations: pinned first, then updated_at newest first",
        "conversations",
        {200: response(ref("ConversationList"), "a page of conversations")},
        (422,),
        params={
            "cursor": (string(), "next_cursor of the previous page"),
            "archived": "archived ones (default false)",
            "starred": "starred ones (default any)",
            "pinned": "pinned ones (default any)",
            "deleted": "ones in the trash (default false)",
            "workspace": (string(), "only this workspace"),
            "q": (string(), "case-insensitive text in the title"),
            "empty": "ones with no message on their active branch (default any)",
        },
    ),
    "conversations.create": Doc(
        "createConversation",
        "Create a conversation (idempotent by client id)",
        "conversations",
        {
            201: response(ref("Conversation"), "created"),
            200: response(ref("Conversation"), "the same create repeated: the existing one"),
        },
        (409, 503),
        body={
            "id": nullable(ID),
            "title": nullable(TITLE),
            "workspace": nullable(string(maxLength=1000)),
            "tags": nullable(TAGS),
            "metadata": nullable(METADATA),
        },
        optional_body=True,
    ),
    "conversations.get": Doc(
        "getConversation",
        "A conversation with the last messages of its active branch",
        "conversations",
        {200: response(ref("ConversationPage"), "the conversation and a page of messages")},
        (404, 422),
        params={"before": (ID, "page back from this message")},
    ),
    "conversations.update": Doc(
        "updateConversation",
        "Change title, flags, tags or metadata",
        "conversations",
        {200: CONVERSATION},
        WRITE_ERRORS,
        params={
            "if_revision": (
                string(pattern='^(W/)?"?[0-9]{1,18}"?$'),
                "the revision the change is based on; 409 when the conversation is at another one",
            )
        },
        body={
            "title": nullable(TITLE),
            "starred": boolean(),
            "pinned": boolean(),
            "archived": boolean(),
            "tags": nullable(TAGS),
            "metadata": nullable(METADATA),
        },
        optional_body=True,
    ),
    "conversations.delete": Doc(
        "deleteConversation",
        "Move to the trash, or delete for good with purge=true",
        "conversations",
        {204: {"description": "deleted"}},
        (404, 422, 503),
        params={
            "purge": "delete for good (the id stays reserved)",
            "request_id": (ID, "idempotency key of this deletion (CONTRACT §4)"),
        },
    ),
    "conversations.restore": Doc(
        "restoreConversation",
        "Bring a conversation back from the trash",
        "conversations",
        {200: CONVERSATION},
        (404, 503),
        optional_body=True,
    ),
    "messages.list": Doc(
        "listMessages",
        "A page of a branch (default: the active one) in conversation order",
        "messages",
        {200: response(ref("MessageList"), "a page of messages")},
        (404, 422),
        params={
            "before": (ID, "the page before this message"),
            "after": (ID, "the page after this message (not with before)"),
            "branch": (ID, "the branch to read"),
        },
    ),
    "messages.append": Doc(
        "appendMessage",
        "Low-level append (compatibility; prefer actions/send_message)",
        "messages",
        {
            201: response(ref("Message"), "appended"),
            200: response(ref("Message"), "the same append repeated: the existing one"),
        },
        WRITE_ERRORS,
        body={
            "role": enum(ROLES),
            "content": string(),
            "client_message_id": nullable(ID),
            "parent_id": nullable(ID),
            "metadata": nullable(METADATA),
        },
        required=("role", "content"),
    ),
    "messages.update": Doc(
        "updateMessage",
        "Change a message's content or metadata (compatibility)",
        "messages",
        {200: response(ref("Message"), "the message")},
        (404, 503),
        body=MESSAGE_BODY,
        optional_body=True,
    ),
    "branches.list": Doc(
        "listBranches",
        "The conversation's branches",
        "branches",
        {200: response(array(ref("Branch")), "every branch")},
        (404, 422),
    ),
    "branches.create": Doc(
        "createBranch",
        "A new named head at an existing message (not made active)",
        "branches",
        {
            201: response(ref("Branch"), "created"),
            200: response(ref("Branch"), "that branch already ends there"),
        },
        WRITE_ERRORS,
        body={"from_message_id": ID, "name": nullable(ID)},
        required=("from_message_id",),
    ),
    "branches.switch": Doc(
        "switchBranch",
        "Make a branch the active one",
        "branches",
        {200: CONVERSATION},
        (404, 503),
        optional_body=True,
    ),
    "chat.sendMessage": Doc(
        "sendMessage",
        "Send a user message and start the assistant's turn",
        "actions",
        {
            202: response(ref("SendResult"), "sent; the turn runs"),
            200: response(ref("SendResult"), "the same client_message_id again: the first result"),
        },
        WRITE_ERRORS,
        body={
            "content": string(),
            "client_message_id": nullable(ID),
            "parent_id": nullable(ID),
            "branch": nullable(ID),
        },
        required=("content",),
    ),
    "chat.approveTools": Doc(
        "approveTools",
        "Approve or deny proposed tool calls; approved ones run once all are decided",
        "actions",
        {200: TURN},
        WRITE_ERRORS,
        body={"turn_id": ID, "decisions": DECISIONS},
        required=("turn_id", "decisions"),
    ),
    "chat.cancel": Doc(
        "cancelTurn",
        "Stop the turn; partial content is kept as cancelled",
        "actions",
        {200: TURN},
        WRITE_ERRORS,
        body=TURN_BODY,
        required=("turn_id",),
    ),
    "chat.retry": Doc(
        "retryTurn",
        "Write the reply anew; the failed one is kept on a new branch",
        "actions",
        {200: TURN},
        WRITE_ERRORS,
        body=TURN_BODY,
        required=("turn_id",),
    ),
    "conversations.export": Doc(
        "exportConversation",
        "Export one conversation: lossless JSON or readable Markdown",
        "conversations",
        {200: _export_answer()},
        (404, 422),
        params={
            "format": (
                enum(("json", "markdown")),
                "json (default): the export document; markdown",
            )
        },
    ),
    "import.conversations": Doc(
        "importConversations",
        "Import an export document (idempotent; validated whole before any write)",
        "conversations",
        {
            200: response(
                obj(
                    {
                        "created": array(ID),
                        "merged": array(ID),
                        "unchanged": array(ID),
                        "skipped": array(
                            obj({"id": ID, "reason": enum(("purged", "quarantined"))})
                        ),
                    }
                ),
                "what the import did, by conversation id",
            )
        },
        (409, 503),
        request_body=_import_body(),
    ),
    "migrations.rollback": Doc(
        "rollbackMigration",
        "Undo what a migration run imported; 409 lists conversations changed since",
        "conversations",
        {
            200: response(
                obj(
                    {
                        "run_id": ID,
                        "removed": array(ID),
                        "reverted": array(ID),
                        "refused": array(ID),
                    }
                ),
                "what was removed and reverted",
            )
        },
        WRITE_ERRORS,
        body={"force": boolean()},
        optional_body=True,
        statuses={
            409: "conflict: details lists refused (changed since the run, left alone) and what"
            " was rolled back anyway (removed, reverted)"
        },
    ),
    "legacy.import": Doc(
        "legacyImport",
        "Import a webview's old localStorage once, with chat-migrate's rules",
        "conversations",
        {200: _legacy_answer()},
        (503,),
        body={
            "kind": enum(("localstorage-export",)),
            "version": integer(minimum=1, maximum=1),
            "origin": nullable(string()),
            "exported_at": nullable(string()),
            "items": free_object("the webview's localStorage: key -> value (JSON text or parsed)"),
        },
        required=("kind", "version", "items"),
    ),
    "search.query": Doc(
        "search",
        "Full-text search over message content and conversation titles, best first",
        "conversations",
        {200: _search_answer()},
        (422, 503),
        params={
            "q": SEARCH_Q,
            "conversation_id": (ID, "only this conversation"),
            "role": (enum((*ROLES, "")), "only messages of this role (no title hits)"),
            "archived": "archived conversations (default any)",
            "deleted": "conversations in the trash (default false)",
            "from": (BOUND, "created at or after (a date: from its start)"),
            "to": (BOUND, "created at or before (a date: to its end)"),
        },
        statuses={503: "unavailable: the index is being rebuilt"},
    ),
    "tools.list": Doc(
        "listTools",
        "The tools the model may call: built-in ones and those connected RPC clients declared",
        "server",
        {200: response(obj({"items": array(ref("Tool"))}), "the tools")},
        (),
    ),
}
