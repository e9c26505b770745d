"""The ``chat-sidecar`` command's entry point: ``serve`` first, without Typer, else the full CLI.

Kept apart from :mod:`sidecar.cli` so that starting the server never imports Typer (or the
pydantic it pulls in): see :mod:`sidecar.serving`.
"""

from __future__ import annotations

import sys

from .serving import fast_serve


def main() -> None:
    code = fast_serve(sys.argv[1:])
    if code is not None:
        sys.exit(code)
    from .cli import main as cli_main

    cli_main()
