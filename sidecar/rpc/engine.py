"""The JSON-RPC engine: pygls's protocol machinery on one aiohttp WebSocket per client.

Imported lazily (pygls and lsprotocol take ~0.4 s to import; CONTRACT §1 wants the ready line
first): the endpoint imports this module in a thread after start-up, or at the first connection.

What pygls does: dispatch by method name (its feature table), run handlers as tasks, answer with
their result or error, cancel on ``$/cancelRequest``, build and serialise messages. What this
module adds around it:

- one :class:`RpcServer` / :class:`RpcProtocol` pair per connection (pygls's own ``start_ws``
  serves a single client and would mix two clients' replies), writing through
  :class:`WebSocketWriter` without LSP's ``Content-Length`` headers: one message per text frame;
- a converter that keeps params and results as plain JSON values (pygls's default turns params
  into namedtuples and fails on requests without params);
- the checks pygls leaves out: invalid JSON -> -32700, a malformed envelope -> -32600, params that
  are not an object -> -32602;
- errors: every handler exception becomes a JSON-RPC error with ``data.code`` (CONTRACT §3), and
  every error pygls itself sends gets one too; no traceback ever reaches a client
  (:meth:`RpcProtocol._send_response` is the one place errors leave); messages are serialised
  with orjson (:meth:`RpcProtocol._send_data`), and an unserialisable result is answered too;
- logs: pygls logs message bodies (chat text) at INFO and DEBUG and params with its exception
  traces, so its loggers are turned off and scrubbed (:func:`silence_pygls_logs`); this module logs
  failures by method name and exception type only.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Awaitable, Callable
from typing import Any, Final

import attrs
import cattrs
import orjson
from aiohttp import WSMsgType
from lsprotocol import converters
from lsprotocol.types import CANCEL_REQUEST, CancelNotification, ResponseError
from pygls.exceptions import JsonRpcException, PyglsError
from pygls.protocol import (
    JsonRPCNotification,
    JsonRPCProtocol,
    JsonRPCRequestMessage,
    JsonRPCResponseMessage,
)
from pygls.server import JsonRPCServer

from ..api.checks import wide_integer_message
from ..store.numbers import rounded_integers, wide_integer
from .connection import Connection
from .errors import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    REST_CODE,
    describe,
    error_data,
)
from .registry import Context, Method, MethodTable

log = logging.getLogger(__name__)

MsgId = int | str | None

# ---------------------------------------------------------------------------- logging


class _Scrub(logging.Filter):
    """Keep only pygls's own message text: no arguments (message bodies, params) and no
    traceback (exception messages can quote the data)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.args = None
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
        return True


_SCRUB: Final = _Scrub()


def silence_pygls_logs() -> None:
    """Turn pygls's loggers off, and scrub them for anyone who turns one back on.

    Errors that matter are logged by this module, without chat content. Idempotent.
    """
    logging.getLogger("pygls").setLevel(logging.CRITICAL + 1)
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if (name == "pygls" or name.startswith("pygls.")) and isinstance(logger, logging.Logger):
            logger.addFilter(_SCRUB)  # a no-op when it is there already


silence_pygls_logs()

# ---------------------------------------------------------------------------- converter


def _request(data: dict[str, Any], _: type) -> JsonRPCRequestMessage:
    return JsonRPCRequestMessage(
        id=data["id"], method=data["method"], jsonrpc=data["jsonrpc"], params=data.get("params")
    )


def _notification(data: dict[str, Any], _: type) -> JsonRPCNotification:
    return JsonRPCNotification(
        method=data["method"], jsonrpc=data["jsonrpc"], params=data.get("params")
    )


def _response(data: dict[str, Any], _: type) -> JsonRPCResponseMessage:
    return JsonRPCResponseMessage(id=data["id"], jsonrpc=data["jsonrpc"], result=data.get("result"))


def make_converter() -> cattrs.Converter:
    """lsprotocol's converter (it knows ``$/cancelRequest`` and error messages), with params and
    results left as the plain dicts and lists they arrived as."""
    converter = converters.get_converter()
    converter.register_structure_hook(JsonRPCRequestMessage, _request)
    converter.register_structure_hook(JsonRPCNotification, _notification)
    converter.register_structure_hook(JsonRPCResponseMessage, _response)
    return converter


#: Shared by every connection: building one costs more than a connection should.
CONVERTER: Final = make_converter()


@attrs.define
class ErrorResponse:
    """An error response that keeps ``"id": null`` (lsprotocol's type drops a null id, which
    JSON-RPC requires after a parse error or an unreadable id)."""

    id: MsgId
    jsonrpc: str
    error: ResponseError


# ---------------------------------------------------------------------------- protocol


class WebSocketWriter:
    """pygls's ``Writer`` on a connection: each write is one whole message (no headers)."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def write(self, data: bytes) -> None:
        self._connection.send_text(data.decode())

    def close(self) -> None:
        """The endpoint closes the socket; pygls never needs to."""


class RpcProtocol(JsonRPCProtocol):
    """pygls's JSON-RPC protocol with CONTRACT §3's error shape on everything it sends."""

    def get_message_type(self, method: str) -> type[Any] | None:
        # ``$/cancelRequest`` is structured as LSP's type so pygls can read ``params.id``.
        return CancelNotification if method == CANCEL_REQUEST else None

    def _send_response(
        self, msg_id: Any, result: Any | None = None, error: ResponseError | None = None
    ) -> None:
        if error is None:
            super()._send_response(msg_id, result=result)
            return
        self.send_error(msg_id, error.code, error.message, error.data)

    def _send_data(self, data: Any) -> None:
        """Serialise with orjson: pygls's ``json.dumps`` is slower and logs the whole body at INFO,
        and a result that cannot be serialised must still be answered (as ``internal``)."""
        if self.writer is None:
            return
        try:
            body = orjson.dumps(self._converter.unstructure(data))
        except Exception as exc:
            log.error(
                "rpc: a %s could not be serialised (%s)", type(data).__name__, type(exc).__name__
            )
            if isinstance(data, JsonRPCResponseMessage):
                self.send_error(data.id, INTERNAL_ERROR, "")
            return
        self.writer.write(body)

    def send_error(self, msg_id: MsgId, code: int, message: str, data: Any = None) -> None:
        """Send an error response; ``data`` always gets the REST ``code`` and never a traceback."""
        if not isinstance(data, dict) or not isinstance(data.get("code"), str):
            data = error_data(REST_CODE.get(code, "internal"))
        else:
            data = {key: value for key, value in data.items() if key != "traceback"}
        if code == INTERNAL_ERROR:
            message = "internal error; see the sidecar's log"
        error = ResponseError(code=code, message=message, data=data)
        self._send_data(ErrorResponse(id=msg_id, jsonrpc=self.VERSION, error=error))


class RpcServer(JsonRPCServer):
    """One per connection: pygls keeps its in-flight requests and features per protocol."""

    protocol: RpcProtocol

    def __init__(self) -> None:
        super().__init__(RpcProtocol, lambda: CONVERTER)

    def report_server_error(
        self, error: Exception, source: type[PyglsError] | type[JsonRpcException]
    ) -> None:
        """pygls's default logs the error's text; the handler wrapper already logged what
        matters (without the request's data)."""


# ---------------------------------------------------------------------------- handlers


def _to_jsonrpc(exc: Exception, method: str) -> JsonRpcException:
    described = describe(exc)
    if described is None:
        log.error(
            "internal error in rpc method %s: %s\n%s",
            method,
            type(exc).__name__,
            "".join(traceback.format_tb(exc.__traceback__)).rstrip(),
        )
        return JsonRpcException(code=INTERNAL_ERROR, data=error_data("internal"))
    code, message, data = described
    return JsonRpcException(message=message, code=code, data=data)


async def _finish_anyway(work: Awaitable[Any]) -> Any:
    """Await ``work`` to its end even if this request is cancelled meanwhile (a started write
    completes and answers normally); the task running it is never cancelled."""
    task = asyncio.ensure_future(work)
    while True:
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.cancelled():
                raise
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()


def _bind(connection: Connection, method: Method) -> Callable[[Any], Awaitable[Any]]:
    """The pygls feature for ``method`` on ``connection``."""

    async def handle(params: Any) -> Any:
        task = asyncio.current_task()
        if task is not None:
            connection.track(task)
        ctx = Context(connection, method.name, task)
        try:
            if params is None:
                params = {}
            elif not isinstance(params, dict):
                raise JsonRpcException(
                    message="params must be an object of named parameters",
                    code=INVALID_PARAMS,
                    data=error_data("validation_failed", {"field": "params"}),
                )
            if method.cancellable:
                return await method.handler(ctx, params)
            return await _finish_anyway(method.handler(ctx, params))
        except JsonRpcException:
            raise
        except Exception as exc:
            raise _to_jsonrpc(exc, method.name) from None

    return handle


# ---------------------------------------------------------------------------- the read loop


def envelope_problem(data: Any) -> tuple[str | None, MsgId]:
    """What makes ``data`` not a JSON-RPC 2.0 message (``None`` if nothing), and the id to answer
    with (``None`` when it cannot be read)."""
    if not isinstance(data, dict):
        if isinstance(data, list):
            return "batches are not supported: send one JSON-RPC message per frame", None
        return "a JSON-RPC message must be an object", None
    msg_id = data.get("id")
    id_ok = msg_id is None or isinstance(msg_id, str) or type(msg_id) is int
    answer_id = msg_id if id_ok else None
    if data.get("jsonrpc") != "2.0":
        return 'jsonrpc must be "2.0"', answer_id
    if not id_ok:
        return "id must be a string, an integer or null", None
    if "method" in data:
        if not isinstance(data["method"], str) or not data["method"]:
            return "method must be a non-empty string", answer_id
        if data.get("params") is not None and not isinstance(data["params"], dict | list):
            return "params must be an object or an array", answer_id
        return None, answer_id
    if "id" in data and ("result" in data) != ("error" in data):
        return None, answer_id  # a response to a request of ours
    return "neither a request, a notification nor a response", answer_id


def receive(protocol: RpcProtocol, text: str) -> None:
    """Handle one text frame: exactly one JSON-RPC message."""
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        protocol.send_error(None, PARSE_ERROR, "the frame is not valid JSON")
        return
    problem, msg_id = envelope_problem(data)
    if problem is not None:
        protocol.send_error(msg_id, INVALID_REQUEST, problem)
        return
    is_request = "method" in data and "id" in data
    suspect = "method" in data and rounded_integers(data.get("params"))
    literal = wide_integer(text) if suspect else None
    if literal is not None:  # read rounded: refused, as REST refuses it (a notification: dropped)
        if is_request:
            details = error_data("validation_failed", {"field": "params"})
            protocol.send_error(msg_id, INVALID_PARAMS, wide_integer_message(literal), details)
        else:
            log.warning(
                "rpc: dropped a %s notification holding an integer wider than 64 bits",
                str(data["method"])[:64],
            )
        return
    if is_request and data["method"] == CANCEL_REQUEST:
        protocol.send_error(msg_id, METHOD_NOT_FOUND, f"{CANCEL_REQUEST} is a notification")
        return
    try:
        protocol.handle_message(protocol.structure_message(data))
    except Exception as exc:
        # The envelope was checked above, so this is a malformed ``$/cancelRequest`` or response
        # (not answered: neither is a request) or, defensively, a request pygls could not read.
        log.warning("rpc: could not handle a message (%s)", type(exc).__name__)
        if is_request:
            protocol.send_error(msg_id, INVALID_REQUEST, "the request could not be read")


async def serve(connection: Connection, methods: MethodTable) -> None:
    """Serve ``connection`` until the client leaves or the connection is closed."""
    server = RpcServer()
    protocol = server.protocol
    protocol.set_writer(WebSocketWriter(connection), include_headers=False)
    for method in methods:
        protocol.fm.feature(method.name)(_bind(connection, method))
    connection.attach(protocol.notify)
    async for message in connection.ws:
        if message.type is WSMsgType.TEXT:
            receive(protocol, message.data)
        elif message.type is WSMsgType.BINARY:
            protocol.send_error(
                None, INVALID_REQUEST, "binary frames are not accepted: send JSON-RPC as text"
            )
        else:
            break
