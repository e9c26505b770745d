"""The clients' table of idempotency fields (``MUTATION_ID_FIELD``), generated from the table of
operations so it is never copied by hand.

A client fills the named field with a fresh id when the caller did not, so a mutation can be
replayed safely after a dropped connection (CONTRACT §4). The build writes it for the extension
(``extension-bridge/src/generated/mutationIds.ts``) and the webview client
(``extension-bridge/media/mutation_ids.js``, bundled into ``media/chat.js``); both are git-ignored.
``/ui/mutation_ids.js`` serves the same text from the running sidecar.

``python -m sidecar.api.client_table EXTENSION_DIR`` writes both files (only when they changed).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Final

import orjson

from .operations import idempotency_table
from .table import OPERATIONS

JS_PATH: Final = Path("media") / "mutation_ids.js"
TS_PATH: Final = Path("src") / "generated" / "mutationIds.ts"
HEADER: Final = (
    "// Generated from the sidecar's table of operations (sidecar/api/table.py) by\n"
    "// `python -m sidecar.api.client_table`: do not edit. Mutating JSON-RPC methods and the field\n"
    "// that makes each idempotent (CONTRACT §4).\n"
)


def _entries() -> str:
    table = idempotency_table(OPERATIONS)
    return "".join(
        f"  {orjson.dumps(method).decode()}: {orjson.dumps(field).decode()},\n"
        for method, field in table.items()
    )


def mutation_ids_js() -> str:
    return (
        f"{HEADER}/** @type {{Readonly<Record<string, string>>}} */\n"
        f"export const MUTATION_ID_FIELD = Object.freeze({{\n{_entries()}}});\n"
    )


def mutation_ids_ts() -> str:
    return (
        f"{HEADER}export const MUTATION_ID_FIELD: Readonly<Record<string, string>> = Object.freeze({{\n"
        f"{_entries()}}});\n"
    )


def write(extension_dir: Path) -> list[Path]:
    """Write both files under ``extension_dir``; the ones that changed."""
    written = []
    for relative, text in ((JS_PATH, mutation_ids_js()), (TS_PATH, mutation_ids_ts())):
        path = extension_dir / relative
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.stderr.write("usage: python -m sidecar.api.client_table EXTENSION_DIR\n")
        return 2
    for path in write(Path(argv[0])):
        sys.stderr.write(f"wrote {path}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
