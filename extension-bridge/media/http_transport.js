// @ts-check
/** The transport of a plain browser page at `/ui`: REST (§5) + Server-Sent Events (§6). */

import { readEventStream } from './event_stream.js';
import { restRoute, query } from './rest_routes.js';
import { SidecarError } from './sidecar_error.js';

/** @typedef {import('./transport.js').ConnectionState} ConnectionState */
/** @typedef {import('./transport.js').EventSink} EventSink */
/** @typedef {import('./transport.js').Transport} Transport */

/** Thrown inside the transports for "could not reach the sidecar" (retry later, not an answer). */
class Unreachable extends Error {}

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
