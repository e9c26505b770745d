"""``/ui``: the reference chat UI, for a plain browser (CONTRACT §9).

The same files the VS Code webview loads (``extension-bridge/media/``), served as-is. ``chat.js``
is the esbuild bundle of ``extension-bridge/webview/`` and ``highlight.js`` that of highlight.js,
which chat.js loads after its first render (``npm run build``; ``scripts/serve`` and
``scripts/test`` build both when a source is newer), so a fresh checkout has them after either. They are
public (no token): they hold no chat data, and the page reads the token from its URL fragment
(``/ui/#token=...``), which a browser never sends to a server. Everything the page then asks for
goes through the API with that token. The Host check still applies (a rebinding page could
otherwise frame the UI), and every file goes out with a strict Content-Security-Policy: no inline
script or style, connections only to this origin.

Only a fixed set of names is served, so no request path ever reaches the file system.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Final

from aiohttp import web

from ..api.client_table import mutation_ids_js
from ..api.errors import ApiError

MUTATION_IDS_JS: Final = mutation_ids_js().encode()
UI_PREFIX: Final = "/ui"
#: The checkout's copy of the webview files (an editable install or a source tree).
MEDIA_DIR: Final = Path(__file__).resolve().parents[2] / "extension-bridge" / "media"

#: name -> content type. Anything else under /ui is 404.
FILES: Final = {
    "index.html": "text/html; charset=utf-8",
    "chat.js": "text/javascript; charset=utf-8",
    "highlight.js": "text/javascript; charset=utf-8",
    "client.js": "text/javascript; charset=utf-8",
    # client.js's modules (it re-exports them), imported by a page that loads the library as-is;
    # mutation_ids.js is generated from the table of operations (served from it, below).
    **{
        f"{module}.js": "text/javascript; charset=utf-8"
        for module in (
            "deltas",
            "event_stream",
            "http_transport",
            "mutation_ids",
            "post_message_transport",
            "rest_routes",
            "rest_routes_table",
            "sidecar_client",
            "sidecar_error",
        )
    },
    "chat.css": "text/css; charset=utf-8",
}

#: The files ``npm run build`` makes (the others are in the repository).
BUILT: Final = frozenset({"chat.js", "highlight.js"})

CSP: Final = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "img-src 'self' data:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
HEADERS: Final = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # The files change with the sidecar's version; revalidating is cheap on loopback.
    "Cache-Control": "no-cache",
}


def is_ui_path(path: str) -> bool:
    """Whether ``path`` is one of the public UI routes (the token middleware lets GETs through)."""
    return path == UI_PREFIX or path.startswith(UI_PREFIX + "/")


routes = web.RouteTableDef()


@routes.get(UI_PREFIX)
async def ui_root(request: web.Request) -> web.Response:
    # A relative Location keeps the fragment (the token): browsers carry it across redirects.
    raise web.HTTPFound("ui/")


@routes.get(UI_PREFIX + "/")
async def ui_index(request: web.Request) -> web.Response:
    return await _serve("index.html")


@routes.get(UI_PREFIX + "/{name}")
async def ui_file(request: web.Request) -> web.Response:
    return await _serve(request.match_info["name"])


async def _serve(name: str) -> web.Response:
    content_type = FILES.get(name)
    if content_type is None:
        raise ApiError("not_found", f"no UI file {name!r}")
    if name == "mutation_ids.js":
        # client.js imports it: served from the table of operations itself, never a stale copy.
        response = web.Response(body=MUTATION_IDS_JS, headers=HEADERS)
        response.headers["Content-Type"] = content_type
        return response
    try:
        body = await asyncio.to_thread((MEDIA_DIR / name).read_bytes)
    except FileNotFoundError:
        hint = " (build it: scripts/serve does, or npm run build in extension-bridge/)"
        raise ApiError(
            "not_found",
            f"the chat UI is not installed with this sidecar ({name} is missing)"
            + (hint if name in BUILT else ""),
        ) from None
    response = web.Response(body=body, headers=HEADERS)
    response.headers["Content-Type"] = content_type
    return response
