"""CONTRACT §2 as middleware: every refusal in the §3 error shape, before any handler runs.

Order (outermost first): errors → activity → host → origin/CORS → token → body. A request that
fails a check never reaches the store, so a refused request changes nothing.
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
from ..settings import ServerConfig
from ..store import StoreError
from .body import check_encoding
from .errors import STATUS, error_response, from_exception
from .ui import is_ui_path

log = logging.getLogger(__name__)

#: Where a browser cannot set a header, the token may come as ``?access_token=`` (CONTRACT §2).
QUERY_TOKEN_PATHS = frozenset({"/api/v1/events", "/rpc"})
CORS_HEADERS = "Authorization, Content-Type, If-Match, Last-Event-ID"
CORS_METHODS = "GET, POST, PATCH, PUT, DELETE, OPTIONS"
_CODE_FOR_STATUS = {status: code for code, status in STATUS.items()}


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


def build_middlewares(config: ServerConfig, token: str, activity: Activity) -> list[Middleware]:
    @web.middleware
    async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except (ApiError, StoreError) as exc:
            return from_exception(exc)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            code = _CODE_FOR_STATUS.get(exc.status, "bad_request")
            if exc.status == 405:
                return error_response("bad_request", f"method {request.method} not allowed here")
            return error_response(code, exc.reason)
        except (asyncio.CancelledError, ConnectionResetError):
            raise
        except Exception:
            route = request.match_info.route.resource
            where = route.canonical if route is not None else "?"
            log.exception("internal error in %s %s", request.method, where)
            return error_response("internal", "internal error; see the sidecar's log")

    @web.middleware
    async def track(request: web.Request, handler: Handler) -> web.StreamResponse:
        activity.requests += 1
        activity.touch()
        try:
            return await handler(request)
        finally:
            activity.requests -= 1
            activity.touch()

    @web.middleware
    async def host(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not host_allowed(request, config):
            return error_response("forbidden", "Host header does not name this server")
        return await handler(request)

    @web.middleware
    async def origin(request: web.Request, handler: Handler) -> web.StreamResponse:
        value = request.headers.get("Origin")
        if value is None:
            return await handler(request)
        if not origin_allowed(value, request, config):
            return error_response("forbidden", f"origin {value!r} is not allowed")
        if request.method == "OPTIONS":
            response: web.StreamResponse = web.Response(status=204)
            response.headers["Access-Control-Allow-Methods"] = CORS_METHODS
            response.headers["Access-Control-Allow-Headers"] = CORS_HEADERS
            response.headers["Access-Control-Max-Age"] = "600"
        else:
            response = await handler(request)
        if not response.prepared:
            response.headers["Access-Control-Allow-Origin"] = value
            response.headers["Vary"] = "Origin"
        return response

    @web.middleware
    async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        if token_matches(request_token(request), token):
            request[AUTHENTICATED] = True
            return await handler(request)
        if request.path == "/health" and request.method == "GET":
            request[AUTHENTICATED] = False
            return await handler(request)
        if request.method in ("GET", "HEAD") and is_ui_path(request.path):
            # The UI's static files hold no data; the page sends the token on every API call.
            request[AUTHENTICATED] = False
            return await handler(request)
        return error_response("unauthorized", "missing or wrong token")

    @web.middleware
    async def body(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method in ("POST", "PATCH", "PUT", "DELETE"):
            length = request.content_length
            if length is not None and length > config.max_body_bytes:
                return error_response(
                    "payload_too_large", f"body exceeds {config.max_body_bytes} bytes"
                )
            has_body = request.body_exists and (length is None or length > 0)
            if has_body and request.content_type != "application/json":
                return error_response(
                    "unsupported_media_type", "request bodies must be application/json"
                )
            if has_body:
                check_encoding(request)  # before any handler could start reading it
        return await handler(request)

    return [errors, track, host, origin, auth, body]


class RedactingAccessLogger(AbstractAccessLogger):
    """Access log lines with no token and no query string (queries can carry ids and tokens)."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            "%s %s %s %d %.1fms",
            request.remote,
            request.method,
            request.path,
            response.status,
            time * 1000,
        )

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)
