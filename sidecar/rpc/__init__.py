"""JSON-RPC 2.0 over WebSocket at ``GET /rpc`` (CONTRACT §7), on pygls's JSON-RPC machinery.

Layout (only :mod:`.engine` imports pygls, and only after start-up or at the first connection):

- :mod:`.endpoint`: the route, the lazy import, closing clients with 1001 at shutdown; ``setup(app)``.
- :mod:`.engine`: pygls per connection (protocol, writer, converter), the frame loop, errors, logs.
- :mod:`.connection`: one client (outgoing queue, event subscriptions, in-flight requests) and
  :class:`~.connection.Connections`, the app's open clients.
- :mod:`.registry`: :class:`~.registry.MethodTable` and the handler :class:`~.registry.Context`.
- :mod:`.methods`: one module per area; :mod:`.params` and :mod:`.errors` are what they share.

Adding a request/response method: one entry in the table of operations (:mod:`sidecar.api.table`),
which gives it its REST route too. Methods that keep per-connection state: in
``sidecar/rpc/methods/<area>.py`` write handlers
``async def handler(ctx: Context, params: dict[str, Any]) -> Any`` and
``def register(table: MethodTable) -> None: table.add("area.verb", handler, cancellable=...)``,
then list ``register`` in ``sidecar.rpc.methods.AREAS``. Writes pass ``cancellable=False``
(``$/cancelRequest`` then lets a started write finish and answer). Params arrive as a plain dict;
check them with :class:`~.params.Params` (unknown field -> -32602 naming it). Fail by raising a
store error or :class:`~.errors.RpcError` (``code`` = a REST code of CONTRACT §3); anything else
is answered ``internal`` and logged without the request's data.

Server -> client notifications:

- one client: ``ctx.connection.notify(method, params)`` (``False`` if it is gone); per-client
  state in ``ctx.connection.state`` and cleanup via ``ctx.connection.add_close_callback(cb)``;
  ``ctx.after_response(cb)`` runs ``cb(ok)`` once the response is queued, so what ``cb`` sends
  comes after it;
- every client with an event subscription (e.g. ``turn.requested`` for the external provider):
  ``app[CONNECTIONS].broadcast(method, params, conversation_id=None)`` returns how many clients
  got it (only those whose live subscription covers ``conversation_id``, or any when ``None``;
  ``subscribed_only=False`` reaches every client).
"""

from .connection import CONNECTIONS, Connection, Connections
from .errors import RpcError
from .registry import METHODS, Context, MethodTable

__all__ = [
    "CONNECTIONS",
    "METHODS",
    "Connection",
    "Connections",
    "Context",
    "MethodTable",
    "RpcError",
]
