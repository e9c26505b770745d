"""What an operation is: one entry in the table (:mod:`sidecar.api.table`) that both faces derive
their routes and methods from, and the OpenAPI paths and the clients' id table come from.

An :class:`Operation` names its REST method and path, its JSON-RPC method, its request fields (with
where REST finds each and what kind of value it is), the field a client fills to make a retry
idempotent, whether ``$/cancelRequest`` may cancel it once started, the status REST answers when it
created something, and one handler ``async (app, args) -> answer``. Each face turns its own request
into ``args`` (REST: path, query string, header and JSON body; JSON-RPC: the named params) with the
checks that face always made, so the answers stay what they were.

A new operation is one entry in the table plus its service function.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from aiohttp import web

#: How a field's value is read (REST parses query strings; JSON-RPC gets JSON values):
#: ``any``: passed through for the service to check (a query value: a non-empty string or absent);
#: ``id``: a path id (REST passes the path part as matched, JSON-RPC requires and checks an id);
#: ``checked_id``: an id both faces check; ``name``: a required path part the service checks;
#: ``text``: an optional string, empty as absent; ``int``: an integer in ``[low, high]``;
#: ``flag``: true / false / any (-> ``None``); ``bool``: true / false (REST reads it as a flag);
#: ``raw``: as given, ``default`` when absent; ``loose_int``: REST parses an integer (422 naming
#: ``[low, high]`` when it cannot), JSON-RPC passes it on; ``choice``: one of ``choices``;
#: ``revision``: a conversation revision (REST: the header the field names, ``If-Match``).
Kind = Literal[
    "any", "id", "checked_id", "name", "text", "int", "flag", "bool", "raw", "loose_int", "choice",
    "revision",
]  # fmt: skip
Where = Literal["path", "query", "body", "header"]
Handler = Callable[[web.Application, dict[str, Any]], Awaitable[Any]]


class _Absent:
    def __repr__(self) -> str:
        return "ABSENT"


#: A field's default when there is none: absent from ``args`` unless the client gave it.
ABSENT: Final = _Absent()


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    kind: Kind = "any"
    where: Where = "body"
    default: Any = ABSENT
    low: int = 0
    high: int = 0
    choices: tuple[str, ...] = ()
    #: The HTTP header REST reads a ``where="header"`` field from (clients send it there).
    header: str = ""


@dataclass(frozen=True, slots=True)
class Created:
    """An answer that may have created its object: REST answers ``created_status`` then, else
    200; JSON-RPC answers the object either way."""

    body: Any
    created: bool


@dataclass(frozen=True, slots=True)
class Text:
    """A text answer: REST sends it as ``media_type``, JSON-RPC as one string."""

    text: str
    media_type: str


@dataclass(frozen=True, slots=True)
class Operation:
    name: str
    handler: Handler
    fields: tuple[Field, ...] = ()
    #: ``(method, path)``; ``None``: JSON-RPC only.
    rest: tuple[str, str] | None = None
    #: The REST route a face serves with its own handler, outside the table, for this JSON-RPC
    #: method (``GET /health``: its REST answer depends on the token): where a REST client calls
    #: it. The faces never route it from here; the clients' route map does.
    rest_elsewhere: tuple[str, str] | None = None
    #: The JSON-RPC method; ``None``: REST only.
    rpc: str | None = None
    #: The field a client fills with a fresh id so that repeating the request is harmless.
    idempotency: str | None = None
    #: ``False`` for writes: ``$/cancelRequest`` lets a started write finish and answer.
    cancellable: bool = True
    #: REST's status for a :class:`Created` answer that created something (201, 202).
    created_status: int = 200
    #: REST answers 204 with no body (JSON-RPC: ``null``).
    no_content: bool = False
    #: The whole request is one JSON document (``args["document"]``), not named fields.
    document: bool = False
    body_names: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        names = frozenset(f.name for f in self.fields if f.where == "body") - {"request_id"}
        object.__setattr__(self, "body_names", names)

    @property
    def rpc_names(self) -> frozenset[str]:
        """Every named param JSON-RPC takes: the body, query, header and path fields."""
        return frozenset(f.name for f in self.fields)


def idempotency_table(operations: tuple[Operation, ...]) -> dict[str, str]:
    """JSON-RPC method -> the field a client fills with a fresh id (clients' MUTATION_ID_FIELD)."""
    return {op.rpc: op.idempotency for op in operations if op.rpc and op.idempotency}
