// @ts-check
/** The transport inside a VS Code webview: JSON-RPC 2.0 over `postMessage` to the extension host's bridge. */

import { SidecarError } from './sidecar_error.js';

/** @typedef {import('./transport.js').ConnectionState} ConnectionState */
/** @typedef {import('./transport.js').EventSink} EventSink */
/** @typedef {import('./transport.js').Transport} Transport */

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
