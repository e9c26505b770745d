"""Request body bytes: compressed bodies inflated by us, bounded, and only once accepted.

aiohttp inflates ``Content-Encoding: gzip`` bodies as they arrive unless told not to, and after a
refusal (401, 413) it drains the rest of the body for up to ten seconds: a 4 MB gzip bomb then
costs 4 GiB of inflating on the event loop, and every other client waits (issue #15). So the
app turns aiohttp's inflating off (:data:`HANDLER_ARGS`), the security middleware refuses an
encoding we do not take before any handler runs (:func:`check_encoding`), and a handler that
reads a body gets it through :func:`read_body`: the compressed bytes bounded by
``client_max_size``, then inflated off the event loop with the same limit applied to the
inflated size (413 past it), never a byte further.
"""

from __future__ import annotations

import asyncio
import zlib
from typing import Any, Final

from aiohttp import hdrs, web

from ..api.errors import ApiError
from ..api.keys import CONFIG

#: Passed to the request handler of every connection (``web.Application(handler_args=...)``).
HANDLER_ARGS: Final[dict[str, Any]] = {"auto_decompress": False}

#: ``Content-Encoding`` values we inflate, with the zlib ``wbits`` that reads them.
_WBITS: Final = {"gzip": 31, "x-gzip": 31, "deflate": 15}
ACCEPTED_ENCODINGS: Final = ("identity", *_WBITS)


def content_encoding(request: web.BaseRequest) -> str:
    """The body's ``Content-Encoding``, lowercased; ``identity`` when there is none."""
    return request.headers.get(hdrs.CONTENT_ENCODING, "").strip().lower() or "identity"


def check_encoding(request: web.BaseRequest) -> None:
    """Refuse (415) an encoding we cannot read, before anything reads the body."""
    encoding = content_encoding(request)
    if encoding not in ACCEPTED_ENCODINGS:
        raise ApiError(
            "unsupported_media_type",
            f"Content-Encoding {encoding!r} is not accepted (use gzip, deflate or none)",
        )


async def read_body(request: web.Request) -> bytes:
    """The body, inflated if it came compressed; 413 when either size passes the limit."""
    raw = await request.read()  # aiohttp stops at client_max_size (413)
    encoding = content_encoding(request)
    if encoding == "identity" or not raw:
        return raw
    check_encoding(request)
    return await asyncio.to_thread(inflate, raw, encoding, request.app[CONFIG].max_body_bytes)


def inflate(raw: bytes, encoding: str, limit: int) -> bytes:
    """Inflate ``raw`` to at most ``limit`` bytes; whatever would come after is never made."""
    wbits = _WBITS[encoding]
    if encoding == "deflate" and raw[0] & 0x0F != 8:
        wbits = -15  # raw deflate without the zlib header, as some clients send it
    decompressor = zlib.decompressobj(wbits)
    try:
        body = decompressor.decompress(raw, limit + 1)
    except zlib.error:
        raise ApiError("bad_request", f"request body is not valid {encoding} data") from None
    if len(body) > limit:
        raise ApiError("payload_too_large", f"body exceeds {limit} bytes once inflated")
    if not decompressor.eof:
        raise ApiError("bad_request", f"request body is truncated {encoding} data")
    if decompressor.unused_data:
        raise ApiError("bad_request", f"request body has bytes after its {encoding} data")
    return body
