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
 * Plain ES module with JSDoc types: no build step, served as-is by the sidecar and by the webview.
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

import { MUTATION_ID_FIELD } from './mutation-ids.js';

/** @typedef {'connected' | 'reconnecting' | 'offline'} ConnectionState */
/** @typedef {{seq: number, type: string, data: any}} SidecarEvent */
/**
 * @typedef {object} Transport
 * @property {(method: string, params: Record<string, any>) => Promise<any>} request
 * @property {(since: number | null, sink: EventSink) => () => void} subscribe
 * @property {(listener: (state: ConnectionState, detail?: string) => void) => void} onState
 */
/**
 * @typedef {object} EventSink
 * @property {(event: SidecarEvent) => void} event
 * @property {() => void} reconnected   the stream is open again after a break that may have lost
 *   events (the bridge could not resume): the client must pull again. The HTTP transport never
 *   needs it: it resumes from the last seq, and the sidecar replays or sends `resync`.
 */

/** An application error from the sidecar, with the contract's string code (§3). */
export class SidecarError extends Error {
  /**
   * @param {string} code      the §3 string code (`not_found`, `conflict`, ...)
   * @param {string} message
   * @param {Record<string, any>} [details]
   * @param {number} [rpcCode] the JSON-RPC error code, when the error came over JSON-RPC
   */
  constructor(code, message, details, rpcCode) {
    super(message);
    this.name = 'SidecarError';
    this.code = code;
    this.details = details || {};
    this.rpcCode = rpcCode;
  }

  /** Whether the sidecar lacks this method (-32601) or, for a route without path parameters, the route (404): an older sidecar. */
  get methodMissing() {
    return this.rpcCode === -32601 || this.code === 'method_not_found' || this.code === 'not_found';
  }
}

let idCounter = 0;

/**
 * A time-sortable, URL-safe id matching `^[A-Za-z0-9_-]{1,128}$` (§2), for client-made ids.
 * @param {string} prefix
 */
export function newId(prefix) {
  const time = Date.now().toString(36).padStart(9, '0');
  const bytes = new Uint8Array(8);
  crypto.getRandomValues(bytes);
  const random = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  idCounter = (idCounter + 1) % 1296;
  return `${prefix}_${time}${idCounter.toString(36).padStart(2, '0')}${random}`;
}

/**
 * Mutating methods and the client id that makes each one idempotent (§4). The client fills it in
 * when the caller did not, so every mutation can be replayed safely after a dropped connection.
 * Generated from the sidecar's table of operations (mutation-ids.js, built; /ui serves it).
 */
export { MUTATION_ID_FIELD };

/** @param {Record<string, any>} params @param {string[]} names */
function pick(params, names) {
  /** @type {Record<string, any>} */
  const out = {};
  for (const name of names) {
    if (params[name] !== undefined) out[name] = params[name];
  }
  return out;
}

/** @param {Record<string, any>} params */
function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

/** @param {unknown} id */
function seg(id) {
  if (typeof id !== 'string' || id === '') throw new SidecarError('validation_failed', 'missing id');
  return encodeURIComponent(id);
}

/**
 * JSON-RPC method (§7) -> REST request (§5). `params.conversation_id` names the conversation.
 * @param {string} method
 * @param {Record<string, any>} p
 * @returns {{verb: string, path: string, body?: any, headers?: Record<string, string>}}
 */
export function restRoute(method, p) {
  const conv = () => `/api/v1/conversations/${seg(p.conversation_id)}`;
  switch (method) {
    case 'sidecar.health':
      return { verb: 'GET', path: '/health' };
    case 'conversations.list':
      return {
        verb: 'GET',
        path: '/api/v1/conversations' + query(pick(p, ['limit', 'cursor', 'archived', 'starred', 'pinned', 'deleted', 'workspace', 'q'])),
      };
    case 'conversations.create':
      return { verb: 'POST', path: '/api/v1/conversations', body: pick(p, ['id', 'title', 'workspace', 'tags', 'metadata']) };
    case 'conversations.get':
      return { verb: 'GET', path: conv() + query(pick(p, ['limit', 'before'])) };
    case 'conversations.update':
      return {
        verb: 'PATCH',
        path: conv(),
        body: pick(p, ['title', 'starred', 'pinned', 'archived', 'tags', 'metadata', 'request_id']),
        headers: p.if_revision !== undefined ? { 'If-Match': String(p.if_revision) } : undefined,
      };
    case 'conversations.delete':
      // DELETE has no body: its request_id rides in the query (as the REST handler reads it).
      return { verb: 'DELETE', path: conv() + query({ purge: p.purge ? 'true' : undefined, request_id: p.request_id }) };
    case 'conversations.restore':
      return { verb: 'POST', path: conv() + '/restore', body: pick(p, ['request_id']) };
    case 'conversations.export':
      return { verb: 'GET', path: conv() + '/export' + query(pick(p, ['format'])) };
    case 'messages.list':
      return { verb: 'GET', path: conv() + '/messages' + query(pick(p, ['limit', 'before', 'after', 'branch'])) };
    case 'messages.append':
      return { verb: 'POST', path: conv() + '/messages', body: pick(p, ['role', 'content', 'client_message_id', 'parent_id', 'metadata']) };
    case 'messages.update':
      return { verb: 'PATCH', path: `${conv()}/messages/${seg(p.message_id)}`, body: pick(p, ['content', 'metadata', 'request_id']) };
    case 'chat.sendMessage':
      return { verb: 'POST', path: conv() + '/actions/send_message', body: pick(p, ['content', 'client_message_id', 'parent_id', 'branch']) };
    case 'chat.approveTools':
      return { verb: 'POST', path: conv() + '/actions/approve_tools', body: pick(p, ['turn_id', 'decisions', 'request_id']) };
    case 'chat.cancel':
      return { verb: 'POST', path: conv() + '/actions/cancel', body: pick(p, ['turn_id', 'request_id']) };
    case 'chat.retry':
      return { verb: 'POST', path: conv() + '/actions/retry', body: pick(p, ['turn_id', 'request_id']) };
    case 'branches.list':
      return { verb: 'GET', path: conv() + '/branches' };
    case 'branches.create':
      return { verb: 'POST', path: conv() + '/branches', body: pick(p, ['from_message_id', 'name', 'request_id']) };
    case 'branches.switch':
      return { verb: 'PUT', path: `${conv()}/branches/${seg(p.name)}`, body: pick(p, ['request_id']) };
    case 'search.query':
      return { verb: 'GET', path: '/api/v1/search' + query(pick(p, ['q', 'limit', 'conversation_id'])) };
    case 'import.conversations':
      return { verb: 'POST', path: '/api/v1/import', body: pick(p, ['format', 'version', 'exported_at', 'conversations', 'run_id']) };
    case 'legacy.import':
      return { verb: 'POST', path: '/api/v1/legacy-import', body: pick(p, ['kind', 'version', 'origin', 'exported_at', 'items']) };
    default:
      throw new SidecarError('method_not_found', `unknown method ${method}`, {}, -32601);
  }
}

/** Thrown inside the transports for "could not reach the sidecar" (retry later, not an answer). */
class Unreachable extends Error {}

/**
 * Parse a `text/event-stream` body incrementally (the WHATWG rules we need: id, event, data, comments).
 * @param {ReadableStream<Uint8Array>} body
 * @param {(frame: {id: string | null, event: string, data: string}) => void} onFrame
 */
export async function readEventStream(body, onFrame) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  /** @type {string | null} */
  let id = null;
  let event = '';
  /** @type {string[]} */
  let data = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let newline;
    while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + (buffer.startsWith('\r\n', newline) ? 2 : 1));
      if (line === '') {
        if (data.length) onFrame({ id, event: event || 'message', data: data.join('\n') });
        id = null;
        event = '';
        data = [];
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let text = colon < 0 ? '' : line.slice(colon + 1);
      if (text.startsWith(' ')) text = text.slice(1);
      if (field === 'id') id = text;
      else if (field === 'event') event = text;
      else if (field === 'data') data.push(text);
    }
  }
}

/** @param {number} ms */
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Direct transport for a browser page: REST (§5) + Server-Sent Events (§6).
 *
 * The token goes in the `Authorization` header, also for the event stream: it is read with
 * `fetch` rather than `EventSource`, so no `?access_token=` is needed and the reconnect (from the
 * last seq seen) is under our control.
 *
 * Offline queue: a request that cannot reach the sidecar waits in `this.queue` and is sent again,
 * in order, when a health probe sees the sidecar back. Mutations go out one at a time in the order
 * they were made (so queued sends replay in the order typed); reads run concurrently. A re-sent
 * mutation carries the same client id, so if the first attempt did reach the sidecar the repeat
 * answers with the existing result instead of applying twice. The queue lives in memory: a reload
 * of the page drops it (the UI shows queued messages, so the user sees what was not sent).
 * @implements {Transport}
 */
export class HttpTransport {
  /**
   * @param {{baseUrl: string, token: string, offlineAfterMs?: number}} options
   *   `offlineAfterMs`: how long the state stays `reconnecting` before it says `offline`
   */
  constructor({ baseUrl, token, offlineAfterMs = 2000 }) {
    this.baseUrl = baseUrl.replace(/\/$/, '');
    this.token = token;
    this.offlineAfterMs = offlineAfterMs;
    /** @type {ConnectionState} `reconnecting` until the event stream first opens */
    this.state = 'reconnecting';
    /** @type {((state: ConnectionState, detail?: string) => void)[]} */
    this.listeners = [];
    /** @type {Promise<void> | null} resolves when the sidecar answers again */
    this.back = null;
    /** @type {Promise<unknown>} the last mutation: the next one starts after it settles */
    this.mutations = Promise.resolve();
    /** @type {Set<{method: string, params: Record<string, any>}>} requests waiting for the sidecar */
    this.queue = new Set();
  }

  /** @param {(state: ConnectionState, detail?: string) => void} listener */
  onState(listener) {
    this.listeners.push(listener);
    listener(this.state);
  }

  /** @param {ConnectionState} state @param {string} [detail] */
  setState(state, detail) {
    if (state === this.state && !detail) return;
    this.state = state;
    for (const listener of this.listeners) listener(state, detail);
  }

  /** Called on any failure to reach the sidecar: probe /health until it answers. */
  lost() {
    if (this.back) return this.back;
    const since = Date.now();
    if (this.state === 'connected') this.setState('reconnecting');
    this.back = (async () => {
      let delay = 150;
      for (;;) {
        await sleep(delay);
        try {
          const response = await fetch(this.baseUrl + '/health', { headers: this.headers(), cache: 'no-store' });
          if (response.status === 401) {
            this.setState('offline', "the sidecar no longer accepts this page's token: open the URL it printed");
          } else if (response.ok) {
            break;
          }
        } catch {
          // still down
        }
        if (Date.now() - since >= this.offlineAfterMs && this.state !== 'offline') this.setState('offline');
        delay = Math.min(delay * 2, 1000);
      }
      this.back = null;
      this.setState('connected');
    })();
    return this.back;
  }

  headers() {
    return { Authorization: `Bearer ${this.token}` };
  }

  /**
   * One call, by its JSON-RPC name (mapped to REST by `restRoute`). Mutations are chained so they
   * reach the sidecar in the order they were made, also when they wait in the offline queue.
   * @param {string} method
   * @param {Record<string, any>} params
   */
  request(method, params) {
    const route = restRoute(method, params);
    if (route.verb === 'GET') return this.send(method, params, route);
    const result = this.mutations.then(() => this.send(method, params, route));
    this.mutations = result.catch(() => undefined);
    return result;
  }

  /**
   * @param {string} method
   * @param {Record<string, any>} params
   * @param {{verb: string, path: string, body?: any, headers?: Record<string, string>}} route
   */
  async send(method, params, route) {
    const entry = { method, params };
    try {
      for (;;) {
        if (this.back) {
          this.queue.add(entry);
          await this.back;
        }
        /** @type {Response} */
        let response;
        /** @type {string} */
        let text;
        try {
          response = await fetch(this.baseUrl + route.path, {
            method: route.verb,
            headers: {
              ...this.headers(),
              ...(route.body !== undefined ? { 'Content-Type': 'application/json' } : {}),
              ...(route.headers || {}),
            },
            body: route.body !== undefined ? JSON.stringify(route.body) : undefined,
            cache: 'no-store',
          });
          text = await response.text();
        } catch {
          // Not an answer: the sidecar is down (or died mid-answer). Wait for it, then send the
          // same request again; its client id makes the repeat harmless.
          this.queue.add(entry);
          await this.lost();
          continue;
        }
        return parseAnswer(response, text);
      }
    } finally {
      this.queue.delete(entry);
    }
  }

  /**
   * Server-Sent Events after `since`, reconnecting with the last seq seen after any break (the
   * sidecar then replays what was missed, or sends `resync` when it no longer has it).
   * @param {number | null} since
   * @param {EventSink} sink
   */
  subscribe(since, sink) {
    let closed = false;
    /** @type {AbortController | null} */
    let controller = null;
    let last = since;
    const run = async () => {
      while (!closed) {
        controller = new AbortController();
        try {
          const response = await fetch(this.baseUrl + '/api/v1/events' + query({ since: last }), {
            headers: { ...this.headers(), Accept: 'text/event-stream' },
            signal: controller.signal,
            cache: 'no-store',
          });
          if (!response.ok || !response.body) throw new Unreachable(`events: HTTP ${response.status}`);
          this.setState('connected');
          await readEventStream(response.body, (frame) => {
            /** @type {any} */
            let data = null;
            try {
              data = JSON.parse(frame.data);
            } catch {
              return;
            }
            const seq = frame.id !== null ? Number(frame.id) : NaN;
            if (Number.isFinite(seq)) last = seq;
            sink.event({ seq, type: frame.event, data });
          });
        } catch {
          // a break: handled below, like the end of the stream
        }
        if (closed) return;
        await this.lost();
      }
    };
    run();
    return () => {
      closed = true;
      if (controller) controller.abort();
    };
  }
}

/**
 * A REST answer as the caller sees it: the JSON body, `null` for 204, the text for a non-JSON
 * success (a markdown export); an error answer becomes a `SidecarError` with the §3 code.
 * @param {Response} response
 * @param {string} text
 */
function parseAnswer(response, text) {
  if (response.status === 204) return null;
  /** @type {any} */
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    if (response.ok) return text;
  }
  if (response.ok) return body;
  const error = body && body.error ? body.error : { code: 'internal', message: `HTTP ${response.status}` };
  throw new SidecarError(error.code, error.message, error.details);
}

/**
 * Transport inside a VS Code webview: JSON-RPC over `postMessage` to the extension host's bridge.
 * Request ids are this webview's own; the bridge rewrites them so panels never collide.
 * @implements {Transport}
 */
export class PostMessageTransport {
  /**
   * @param {{postMessage: (message: any) => void}} vscodeApi  what `acquireVsCodeApi()` returned
   * @param {Window} [target]
   */
  constructor(vscodeApi, target = window) {
    this.api = vscodeApi;
    this.nextId = 1;
    /** @type {Map<number, {resolve: (value: any) => void, reject: (error: any) => void}>} */
    this.pending = new Map();
    /** @type {Map<string, EventSink>} */
    this.sinks = new Map();
    /** @type {((state: ConnectionState, detail?: string) => void)[]} */
    this.listeners = [];
    /** @type {ConnectionState} */
    this.state = 'reconnecting';
    target.addEventListener('message', (event) => this.receive(event.data));
    this.api.postMessage({ jsonrpc: '2.0', method: 'bridge.hello', params: {} });
  }

  /** @param {(state: ConnectionState, detail?: string) => void} listener */
  onState(listener) {
    this.listeners.push(listener);
    listener(this.state);
  }

  /** @param {any} message */
  receive(message) {
    if (!message || message.jsonrpc !== '2.0') return;
    if (message.id !== undefined && message.id !== null && !message.method) {
      const waiter = this.pending.get(message.id);
      if (!waiter) return;
      this.pending.delete(message.id);
      if (message.error) {
        const data = message.error.data || {};
        waiter.reject(new SidecarError(data.code || 'internal', message.error.message, data.details, message.error.code));
      } else {
        waiter.resolve(message.result);
      }
      return;
    }
    if (message.method === 'event') {
      const p = message.params;
      const sink = this.sinks.get(p.subscription_id);
      if (sink) sink.event({ seq: p.seq, type: p.type, data: p.data });
    } else if (message.method === 'bridge.connection') {
      const { state, detail, resumed } = message.params;
      const was = this.state;
      this.state = state;
      for (const listener of this.listeners) listener(state, detail);
      if (state === 'connected' && was !== 'connected' && resumed === false) {
        for (const sink of this.sinks.values()) sink.reconnected();
      }
    }
  }

  /** @param {string} method @param {Record<string, any>} params */
  request(method, params) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.api.postMessage({ jsonrpc: '2.0', id, method, params });
    });
  }

  /**
   * The bridge keeps the subscription alive across sidecar restarts (it re-subscribes from the last
   * seq it forwarded), so this subscription id stays valid for the life of the webview.
   * @param {number | null} since
   * @param {EventSink} sink
   */
  subscribe(since, sink) {
    /** @type {string | null} */
    let subscriptionId = null;
    let closed = false;
    this.request('events.subscribe', since === null ? {} : { since }).then((result) => {
      subscriptionId = result.subscription_id;
      if (closed) {
        this.request('events.unsubscribe', { subscription_id: subscriptionId }).catch(() => {});
        return;
      }
      this.sinks.set(result.subscription_id, sink);
    }, (error) => console.warn('events.subscribe failed', error));
    return () => {
      closed = true;
      if (subscriptionId !== null) {
        this.sinks.delete(subscriptionId);
        this.request('events.unsubscribe', { subscription_id: subscriptionId }).catch(() => {});
      }
    };
  }
}

/**
 * What the UI talks to: `call(method, params)`, `on(type, handler)`, `subscribe(since)`.
 * Fills in client ids on mutations and remembers the last event seq it delivered.
 */
export class SidecarClient {
  /** @param {Transport} transport */
  constructor(transport) {
    this.transport = transport;
    /** @type {Map<string, Set<(payload: any) => void>>} */
    this.handlers = new Map();
    this.lastSeq = -1;
    /** @type {(() => void) | null} */
    this.unsubscribe = null;
    /** @type {ConnectionState} */
    this.state = 'reconnecting';
    transport.onState((state, detail) => {
      this.state = state;
      this.emit('connection', { state, detail });
    });
  }

  /**
   * Call a method (§7 names). Mutations get their client id filled in if missing, and the id is
   * returned to the caller through `params` (so optimistic UI can match the echo).
   * @param {string} method
   * @param {Record<string, any>} [params]
   */
  call(method, params = {}) {
    const field = MUTATION_ID_FIELD[method];
    if (field && params[field] === undefined) params[field] = newId(field === 'id' ? 'c' : 'r');
    return this.transport.request(method, params);
  }

  /**
   * Listen to an event type (`message.delta`, ...), `*` for every event, `connection`
   * for connection state, or `reconnected` for "the stream broke and is back: pull again".
   * @param {string} type
   * @param {(payload: any) => void} handler
   * @returns {() => void} stops listening
   */
  on(type, handler) {
    let set = this.handlers.get(type);
    if (!set) this.handlers.set(type, (set = new Set()));
    set.add(handler);
    return () => set.delete(handler);
  }

  /** @param {string} type @param {any} payload */
  emit(type, payload) {
    for (const handler of this.handlers.get(type) || []) handler(payload);
  }

  /**
   * Subscribe to the store's events after `since` (the `event_seq` of a pull): the events a pull
   * already reflects are not sent again, and nothing after it is missed (§6).
   * @param {number} since
   */
  subscribe(since) {
    if (this.unsubscribe) this.unsubscribe();
    this.lastSeq = since;
    this.unsubscribe = this.transport.subscribe(since, {
      event: (event) => {
        // resync / server.shutdown carry the current seq (not a new one): never drop them.
        const notice = event.type === 'resync' || event.type === 'server.shutdown';
        if (Number.isFinite(event.seq) && !notice) {
          if (event.seq <= this.lastSeq) return;
          this.lastSeq = event.seq;
        }
        // After resync the sequence may start lower (a reset data dir): count from its seq.
        if (event.type === 'resync' && Number.isFinite(event.seq)) this.lastSeq = event.seq;
        this.emit(event.type, event);
        this.emit('*', event);
      },
      reconnected: () => this.emit('reconnected', null),
    });
  }

  close() {
    if (this.unsubscribe) this.unsubscribe();
    this.unsubscribe = null;
  }
}

/**
 * Apply one `message.delta` (§6) to the text a client holds for that message.
 * - `applied`: `offset` equals the text's length, so `text` continues it;
 * - `duplicate`: the text already covers `offset + text.length` (a repeat, e.g. after a pull);
 * - `gap`: `offset` lies beyond the text: something was missed, pull the message again.
 * @param {string} content  what the client holds
 * @param {{offset: number, text: string}} delta
 * @returns {{result: 'applied' | 'duplicate' | 'gap', content: string}}
 */
export function applyDelta(content, delta) {
  if (delta.offset === content.length) return { result: 'applied', content: content + delta.text };
  if (delta.offset < content.length) {
    // A delta that reaches past what we hold (a partial overlap) still brings new text.
    const end = delta.offset + delta.text.length;
    if (end <= content.length) return { result: 'duplicate', content };
    return { result: 'applied', content: content + delta.text.slice(content.length - delta.offset) };
  }
  return { result: 'gap', content };
}
