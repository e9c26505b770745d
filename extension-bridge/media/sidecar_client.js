// @ts-check
/** `SidecarClient`, what the UI talks to over either transport, and the client ids it makes. */

import { MUTATION_ID_FIELD } from './mutation_ids.js';

/** @typedef {import('./transport.js').ConnectionState} ConnectionState */
/** @typedef {import('./transport.js').Transport} Transport */

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
