"""CONTRACT §2 as one middleware: every refusal in the §3 error shape, before any handler runs.

Order: activity (the idle watch's count) → Host → Origin/CORS → token → body → handler, each
check a plain function that answers a refusal or ``None``; the middleware stops at the first
refusal. A request that fails a check never reaches the store, so a refused request changes
nothing. What a check or handler raises is mapped to the §3 shape by the same middleware.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import ipaddress
import logging

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.typedefs import Handler, Middleware

from ..api.activity import Activity
from ..api.errors import ApiError
from ..api.keys import AUTHENTICATED
from ..api.table import OPERATIONS
from ..settings import ServerConfig
from ..store import StoreError
from .body import check_encoding
from .errors import STATUS, error_response, from_exception
from .ui import is_ui_path

log = logging.getLogger(__name__)

#: Where a browser cannot set a header, the token may come as ``?access_token=`` (CONTRACT §2).
QUERY_TOKEN_PATHS = frozenset({"/api/v1/events", "/rpc"})
#: What a browser may send: the token and JSON, every header a field of the API table rides in
#: (``If-Match``), and the event stream's resume point.
CORS_HEADERS = ", ".join(
    [
        "Authorization",
        "Content-Type",
        *sorted({field.header for op in OPERATIONS for field in op.fields if field.header}),
        "Last-Event-ID",
    ]
)
CORS_METHODS = "GET, POST, PATCH, PUT, DELETE, OPTIONS"
_CODE_FOR_STATUS = {status: code for code, status in STATUS.items()}
#: An access log line: client address, method, path (never the query), status, milliseconds.
ACCESS_LINE = "%s %s %s %d %.1fms"
#: The methods whose body the body check looks at.
BODY_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})


@functools.lru_cache(maxsize=64)
def _is_loopback(host: str) -> bool:
    """Cached: every request's Host names one of very few values, and parsing an address costs
    ~15 µs, a few per cent of a durable append (bounded, so odd Host values cannot grow it)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _bound_port(request: web.Request) -> int | None:
    transport = request.transport
    sockname = transport.get_extra_info("sockname") if transport is not None else None
    return int(sockname[1]) if sockname else None


def host_allowed(request: web.Request, config: ServerConfig) -> bool:
    """DNS-rebinding defence: the Host header must name us (loopback or localhost, our port)."""
    host_header = request.headers.get("Host", "")
    name, separator, port_text = host_header.rpartition(":")
    if not separator or not name:
        return False
    if ":" in name and not (name.startswith("[") and name.endswith("]")):
        return False
    port = _bound_port(request)
    if port is None or port_text != str(port):
        return False
    if _is_loopback(name):
        return True
    return config.allow_remote and name.strip("[]") == config.host


def origin_allowed(origin: str, request: web.Request, config: ServerConfig) -> bool:
    if origin.startswith("vscode-webview://") or origin in config.allow_origin:
        return True
    port = _bound_port(request)
    own = {f"http://127.0.0.1:{port}", f"http://localhost:{port}", f"http://[::1]:{port}"}
    return origin in own


def token_matches(given: str | None, expected: str) -> bool:
    if not given:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def request_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if request.path in QUERY_TOKEN_PATHS:
        return request.query.get("access_token")
    return None


def host_refusal(request: web.Request, config: ServerConfig) -> web.Response | None:
    """403 unless the Host header names this server (the first check: nothing else runs)."""
    if host_allowed(request, config):
        return None
    return error_response("forbidden", "Host header does not name this server")


def origin_refusal(origin: str, request: web.Request, config: ServerConfig) -> web.Response | None:
    """403 for an ``Origin`` that is not ours, a webview's or an allowed one; else ``None``."""
    if origin_allowed(origin, request, config):
        return None
    return error_response("forbidden", f"origin {origin!r} is not allowed")


def preflight() -> web.Response:
    """A CORS preflight from an allowed origin: answered here, without the token."""
    response = web.Response(status=204)
    response.headers["Access-Control-Allow-Methods"] = CORS_METHODS
    response.headers["Access-Control-Allow-Headers"] = CORS_HEADERS
    response.headers["Access-Control-Max-Age"] = "600"
    return response


def auth_refusal(request: web.Request, token: str) -> web.Response | None:
    """401 unless the token matches, or the request is one that needs none: ``GET /health``
    (which then answers only the status) and GET/HEAD of the UI's static files, which hold no
    data (the page sends the token on every API call). Marks the request authenticated or not."""
    if token_matches(request_token(request), token):
        request[AUTHENTICATED] = True
        return None
    method = request.method
    if (request.path == "/health" and method == "GET") or (
        method in ("GET", "HEAD") and is_ui_path(request.path)
    ):
        request[AUTHENTICATED] = False
        return None
    return error_response("unauthorized", "missing or wrong token")


def body_refusal(request: web.Request, config: ServerConfig) -> web.Response | None:
    """413 for a declared length past the limit, 415 for a body that is not JSON; raises 415
    (``ApiError``) for a ``Content-Encoding`` we do not take, before anything reads the body."""
    if request.method not in BODY_METHODS:
        return None
    length = request.content_length
    if length is not None and length > config.max_body_bytes:
        return error_response("payload_too_large", f"body exceeds {config.max_body_bytes} bytes")
    if request.body_exists and (length is None or length > 0):
        if request.content_type != "application/json":
            return error_response(
                "unsupported_media_type", "request bodies must be application/json"
            )
        check_encoding(request)
    return None


def with_cors(response: web.StreamResponse, origin: str) -> web.StreamResponse:
    """An allowed origin's answer names it (a response already sent, a stream, is left as is)."""
    if not response.prepared:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"
    return response


def exception_response(request: web.Request, exc: Exception) -> web.Response:
    """The §3 error for what a check or a handler raised (aiohttp's 404/405 included)."""
    if isinstance(exc, (ApiError, StoreError)):
        return from_exception(exc)
    if isinstance(exc, web.HTTPException):
        if exc.status == 405:
            return error_response("bad_request", f"method {request.method} not allowed here")
        return error_response(_CODE_FOR_STATUS.get(exc.status, "bad_request"), exc.reason)
    route = request.match_info.route.resource
    where = route.canonical if route is not None else "?"
    log.exception("internal error in %s %s", request.method, where)
    return error_response("internal", "internal error; see the sidecar's log")


def build_middlewares(config: ServerConfig, token: str, activity: Activity) -> list[Middleware]:
    """The one middleware: every check of CONTRACT §2 in order, each an early return.

    One coroutine frame per request instead of a chain of six (issue #18's profile). Order:
    count the request (idle watch) → Host → Origin (403, or the preflight) → token → body →
    the handler. What a check or a handler raises becomes the §3 error shape. Every answer to
    an allowed origin, errors included, gets the CORS headers: without them a browser hides a
    409 or a 404 from the page, which then sees a network failure instead of the §3 error.
    """

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        activity.requests += 1
        activity.touch()
        allowed: str | None = None  # the request's Origin, once it passed the check
        try:
            answer: web.StreamResponse | None = host_refusal(request, config)
            if answer is not None:
                return answer
            origin = request.headers.get("Origin")
            if origin is not None:
                answer = origin_refusal(origin, request, config)
                if answer is not None:
                    return answer
                allowed = origin
                if request.method == "OPTIONS":
                    return with_cors(preflight(), origin)
            answer = auth_refusal(request, token)
            if answer is None:
                answer = body_refusal(request, config)
            if answer is None:
                answer = await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise  # a redirect (``/ui`` → ``/ui/``) goes out as aiohttp makes it
            answer = exception_response(request, exc)
        except (asyncio.CancelledError, ConnectionResetError):
            raise
        except Exception as exc:
            answer = exception_response(request, exc)
        finally:
            activity.requests -= 1
            activity.touch()
        return answer if allowed is None else with_cors(answer, allowed)

    return [guard]


class RedactingAccessLogger(AbstractAccessLogger):
    """Access log lines with no token and no query string (queries can carry ids and tokens).

    As jupyter_server does, a success is a DEBUG line, a redirect INFO, a refusal (4xx) WARNING
    and a failure (5xx) ERROR: at the default level the log shows what went wrong, not every
    append a busy chat makes. The line is on the hot path, so the record is built only when the
    logger would keep it (aiohttp asks :attr:`enabled` once per connection; the level may have
    changed since), and directly, without ``Logger.log``'s walk up the stack for the caller's
    file and line, which no access line shows (issue #18's profile: ~4-6 % of a request's CPU).
    """

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        logger = self.logger
        level = access_level(response.status)
        if not logger.isEnabledFor(level):
            return
        args = (request.remote, request.method, request.path, response.status, time * 1000)
        logger.handle(logger.makeRecord(logger.name, level, __file__, 0, ACCESS_LINE, args, None))

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.ERROR)


def access_level(status: int) -> int:
    """The level of a request's access line, by its answer's status."""
    if status < 300 or status == 304:
        return logging.DEBUG
    if status < 400:
        return logging.INFO
    return logging.WARNING if status < 500 else logging.ERROR
