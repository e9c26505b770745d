// @ts-check
/**
 * The webview client library: one API (`SidecarClient`) over two transports.
 *
 * - `PostMessageTransport`: inside VS Code. JSON-RPC 2.0 messages go to the extension host, whose
 *   bridge relays them to the sidecar's `/rpc` (CONTRACT §7). The bridge holds the offline queue,
 *   because a webview's memory dies with a reload.
 * - `HttpTransport`: in a plain browser (the sidecar serves this UI at `/ui`). JSON-RPC method names
 *   are mapped onto the REST API (§5) and events come from Server-Sent Events (§6). This transport
 *   holds the offline queue itself.
 *
 * Both give the same guarantees to the UI: requests made while the sidecar is unreachable wait and are
 * sent when it is back; every mutation carries a client id (`id`, `client_message_id` or
 * `request_id`, §4), so a request that is re-sent after a dropped connection is applied once.
 *
 * Plain ES modules with JSDoc types, one concern each; this one re-exports them: no build step,
 * served as-is by the sidecar at /ui (every module sits next to this one in media/, so the
 * imports resolve there) and bundled into the chat UI's media/chat.js for the webview.
 *
 * The webview <-> extension-host protocol (what the bridge implements), all JSON-RPC 2.0 objects:
 * - webview -> host: `{jsonrpc, id, method, params}` with the §7 method names (the bridge relays
 *   them to `/rpc`, rewriting `id`, and answers `{jsonrpc, id, result | error}` with the webview's
 *   own `id`; `error.data.code` carries the §3 string code). `events.subscribe {since?}` answers
 *   `{subscription_id, last_seq}`; the bridge keeps that subscription alive across sidecar
 *   restarts, re-subscribing from the last seq it forwarded.
 * - webview -> host, once at start: the notification `bridge.hello {}` (send me the state).
 * - host -> webview notifications: `event {subscription_id, seq, type, data}` (§7), and
 *   `bridge.connection {state: connected|reconnecting|offline, detail?, resumed?}`; `resumed:
 *   false` on a `connected` means the bridge could not resume the events, so the UI pulls again.
 * - Requests made while the sidecar is away wait in the bridge's queue (not in the webview, whose
 *   memory dies with a reload), carrying the client ids this library filled in.
 */

export { applyDelta } from './deltas.js';
export { readEventStream } from './event_stream.js';
export { HttpTransport } from './http_transport.js';
export { MUTATION_ID_FIELD } from './mutation_ids.js';
export { PostMessageTransport } from './post_message_transport.js';
export { restRoute } from './rest_routes.js';
export { SidecarClient, newId } from './sidecar_client.js';
export { SidecarError } from './sidecar_error.js';

/** @typedef {import('./transport.js').ConnectionState} ConnectionState */
/** @typedef {import('./transport.js').SidecarEvent} SidecarEvent */
/** @typedef {import('./transport.js').Transport} Transport */
/** @typedef {import('./transport.js').EventSink} EventSink */
