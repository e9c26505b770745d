"""The browser client's JSON-RPC -> REST route map, generated from the table of operations so the
webview client never keeps a second copy of which route serves which method.

``extension-bridge/media/rest_routes.js`` (``restRoute``, used by the ``/ui`` page's HTTP
transport) interprets ``media/rest_routes_table.js``, written from :data:`~.table.OPERATIONS` by
``python -m sidecar.api.client_routes [EXTENSION_DIR]``. Unlike the id table
(:mod:`.client_table`, rebuilt and git-ignored), this file is committed, like a lock file: a
served-as-is ES module the ``/ui`` page imports with no build, whose changes show in review. A
test fails, naming that command, when it is not what the table says.

Each JSON-RPC method that REST also serves gets its verb, its path template and the params that
fill it, the params that go to the query string, to the JSON body (or ``document``: the params
are the body, as they are) and to headers (param -> header name).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Final

import orjson

from .operations import Operation
from .table import OPERATIONS

JS_PATH: Final = Path("media") / "rest_routes_table.js"
#: The checkout's extension, the default place to write (``sidecar/api/`` -> the repository).
EXTENSION_DIR: Final = Path(__file__).resolve().parents[2] / "extension-bridge"
COMMAND: Final = "python -m sidecar.api.client_routes"
HEADER: Final = (
    "// @ts-check\n"
    "// Generated from the sidecar's table of operations (sidecar/api/table.py) by\n"
    f"// `{COMMAND}`: do not edit. JSON-RPC method (CONTRACT §7) -> its REST\n"
    "// request (§5), interpreted by rest_routes.js.\n"
)
TYPES: Final = """\
/**
 * @typedef {object} RestRouteSpec
 * @property {string} verb            the HTTP method
 * @property {string} path            the path template; `{name}` is the param `name`, an id
 * @property {string[]} path_params   the params in the path, in the template's order
 * @property {string[]} query         the params sent in the query string (when given)
 * @property {string[] | null} body   the params picked into the JSON body; `null`: no body
 * @property {boolean} document       the params are the body as they are (an export document)
 * @property {Record<string, string>} headers  param -> the header it is sent in (when given)
 */
"""
FOOTER: Final = """
/** @template T @param {T} value @returns {T} */
function deepFreeze(value) {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
"""


def route_spec(op: Operation) -> dict[str, Any] | None:
    """How a REST client sends ``op``'s JSON-RPC call; ``None`` when REST does not serve it."""
    route = op.rest or op.rest_elsewhere
    if op.rpc is None or route is None:
        return None
    verb, path = route
    names = {where: [f.name for f in op.fields if f.where == where] for where in ("path", "query")}
    body = [f.name for f in op.fields if f.where == "body"]
    return {
        "verb": verb,
        "path": path,
        "path_params": sorted(names["path"], key=lambda name: path.index(f"{{{name}}}")),
        "query": names["query"],
        "body": body or None,
        "document": op.document,
        "headers": {f.name: f.header for f in op.fields if f.where == "header"},
    }


def route_table(operations: tuple[Operation, ...] = OPERATIONS) -> dict[str, dict[str, Any]]:
    """JSON-RPC method -> its REST request, for every method REST serves, by method name."""
    specs = {op.rpc: route_spec(op) for op in operations if op.rpc is not None}
    return {method: spec for method, spec in sorted(specs.items()) if spec is not None}


def rest_routes_js(operations: tuple[Operation, ...] = OPERATIONS) -> str:
    """The module: one line per method (JSON), so a change to one operation is one line's diff."""
    entries = "".join(
        f"  {orjson.dumps(method).decode()}: {orjson.dumps(spec).decode()},\n"
        for method, spec in route_table(operations).items()
    )
    return (
        f"{HEADER}\n{TYPES}\n"
        "/** @type {Readonly<Record<string, Readonly<RestRouteSpec>>>} */\n"
        f"export const REST_ROUTES = deepFreeze({{\n{entries}}});\n{FOOTER}"
    )


def write(extension_dir: Path) -> bool:
    """Write the file under ``extension_dir``; whether it changed."""
    path = extension_dir / JS_PATH
    text = rest_routes_js()
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.write_text(text, encoding="utf-8")
    return True


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        sys.stderr.write(f"usage: {COMMAND} [EXTENSION_DIR]\n")
        return 2
    extension_dir = Path(argv[0]) if argv else EXTENSION_DIR
    if write(extension_dir):
        sys.stderr.write(f"wrote {extension_dir / JS_PATH}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
