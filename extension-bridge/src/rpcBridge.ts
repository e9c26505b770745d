/**
 * The bridge between chat webviews and the sidecar's JSON-RPC endpoint (CONTRACT §7).
 *
 * Each webview posts JSON-RPC 2.0 messages to the extension host; the bridge relays them over one
 * WebSocket to `/rpc` and posts the answers back. What the bridge adds:
 *
 * - Ids: every panel numbers its requests from 1, so the bridge gives each request its own
 *   upstream id and maps the answer back to the panel and id it came from.
 * - Subscriptions (src/bridgeSubscriptions.ts): a panel's `events.subscribe` becomes an upstream
 *   subscription that the bridge keeps alive across reconnections, so the panel misses nothing
 *   and sees nothing twice.
 * - The offline queue (src/bridgeRequests.ts): a webview's memory dies with a reload, so the
 *   extension host holds it. Requests made while the sidecar is unreachable, and those whose
 *   answer a broken connection lost, are sent again once it is back, in the order they were made.
 *   That is safe because every mutation carries a client id (`id`, `client_message_id` or
 *   `request_id`, §4; the table is generated into src/generated/mutationIds.ts): the bridge fills one in when the webview
 *   did not, so a repeated request is applied once.
 *
 * This module holds the connection (open, resume, reconnect) and routes what panels ask. Panels
 * are told the connection state with `bridge.connection {state, detail, resumed}`.
 * Free of the `vscode` module: a panel is anything that can `postMessage`.
 */

import { randomBytes } from 'node:crypto';

import WebSocket from 'ws';

import { connectionNotice, type ConnectionState, Panel, type PanelOwner, type PanelPort } from './bridgePanel';
import { type Answer, type JsonRpcId, RequestQueue, type RpcError, send } from './bridgeRequests';
import { Prefetches } from './bridgePrefetch';
import { Subscriptions } from './bridgeSubscriptions';
import { errorText, type Logger } from './common/logging';
import type { Endpoint } from './common/server';
import { MUTATION_ID_FIELD } from './generated/mutationIds';

export { type ConnectionState, Panel, type PanelPort } from './bridgePanel';
export { MUTATION_ID_FIELD } from './generated/mutationIds';

export interface BridgeOptions {
  /** A running sidecar (the supervisor's `ensure`). */
  connect: () => Promise<Endpoint>;
  /** The connection to this endpoint broke (the supervisor's `lost`). */
  lost: (endpoint: Endpoint, reason: string) => void;
  log: Logger;
  /** Told on every change (the status bar). */
  onState?: (state: ConnectionState, detail?: string) => void;
  /** How long `reconnecting` lasts before panels are told `offline`. */
  offlineAfterMs?: number;
  /** After `connect` itself failed, wait this long (or for `retryNow()`) before trying again. */
  retryAfterFailureMs?: number;
}

export function clientId(prefix: string): string {
  return `${prefix}_${Date.now().toString(36).padStart(9, '0')}${randomBytes(8).toString('hex')}`;
}

/** An error answer to {@link RpcBridge.call}; `reason` is `error.data.code` (§3), e.g. `conflict`. */
export class RpcCallError extends Error {
  readonly code: number;
  readonly reason: string | undefined;
  constructor(method: string, error: RpcError) {
    super(`${method}: ${error.message}`);
    this.code = error.code;
    const data = error.data as { code?: unknown } | undefined;
    this.reason = typeof data?.code === 'string' ? data.code : undefined;
  }
}

export class RpcBridge implements PanelOwner {
  private socket: WebSocket | null = null;
  /** The socket being opened or open, so dispose() can close it either way. */
  private live: WebSocket | null = null;
  private endpoint: Endpoint | null = null;
  /** The data dir of the last connection: seqs only mean something within one store. */
  private lastDataDir: string | null = null;
  private state: ConnectionState = 'reconnecting';
  private detail: string | undefined;
  private readonly requests = new RequestQueue(() => this.socket);
  private readonly subscriptions: Subscriptions;
  /** Reads sent before a panel asked them (a restored panel's first pulls). */
  private readonly prefetches = new Prefetches((method, params, answer) => this.requests.request(method, params, true, answer));
  private readonly panels = new Set<Panel>();
  private disposed = false;
  private running: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private offlineTimer: NodeJS.Timeout | null = null;
  /** The extension host's own listeners for sidecar notifications other than `event`. */
  private readonly listeners = new Map<string, Set<(params: Record<string, unknown>) => void>>();

  constructor(private readonly options: BridgeOptions) {
    this.subscriptions = new Subscriptions({
      request: (method, params, answer) => this.requests.request(method, params, false, answer),
      connected: () => this.socket !== null,
      log: options.log,
    });
  }

  get connectionState(): ConnectionState {
    return this.state;
  }

  /** Requests waiting for an answer or a connection (for tests and the status command). */
  get pendingRequests(): number {
    return this.requests.pending;
  }

  /** Start connecting (and keep reconnecting) in the background. */
  start(): void {
    if (!this.running) this.running = this.run();
  }

  /** Try again now instead of waiting out the retry delay (a user command, a settings change). */
  retryNow(): void {
    this.wake?.();
  }

  addPanel(port: PanelPort): Panel {
    const panel = new Panel(this, port);
    this.panels.add(panel);
    this.start();
    return panel;
  }

  /**
   * A request of the extension host's own (not a panel's): sent on the current connection only,
   * never queued or replayed, since what it refers to (a claimed turn) dies with the connection.
   * Rejects with an {@link RpcCallError}; code -32000 when there is no connection or it closed.
   */
  call(method: string, params: Record<string, unknown>): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.requests.request(method, params, false, (answer) => {
        if (answer.error) reject(new RpcCallError(method, answer.error));
        else resolve(answer.result);
      });
    });
  }

  /**
   * Send a read now that a panel is about to ask (a restored panel's first pulls, known from its
   * state before its page has loaded): the panel's identical request then gets this answer.
   * Waits for the connection like a panel's request; anything but a read is refused (false).
   */
  prefetch(method: string, params: Record<string, unknown>): boolean {
    return this.prefetches.start(method, params);
  }

  /** Whether this read was sent with {@link prefetch} and is still unclaimed. */
  prefetchPending(method: string, params: Record<string, unknown>): boolean {
    return this.prefetches.has(method, params);
  }

  /**
   * The answer of a read sent with {@link prefetch}, if it is in within `ms`: taken for the page's
   * HTML (src/panelPage.ts), so the page's first render needs no round trip. Null (the read left
   * for the page to claim) if it is late, failed, or was never sent.
   */
  prefetched(method: string, params: Record<string, unknown>, ms: number): Promise<Answer | null> {
    return this.prefetches.claimWithin(method, params, ms);
  }

  /** Hear the sidecar's `method` notifications (e.g. `turn.requested`); returns the unsubscribe. */
  onNotification(method: string, listener: (params: Record<string, unknown>) => void): () => void {
    const listeners = this.listeners.get(method) ?? new Set();
    listeners.add(listener);
    this.listeners.set(method, listeners);
    return () => listeners.delete(listener);
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    this.prefetches.clear();
    this.wake?.();
    this.live?.close();
    if (this.offlineTimer) clearTimeout(this.offlineTimer);
    await this.running;
  }

  // --- the connection -------------------------------------------------------------------------

  private async run(): Promise<void> {
    while (!this.disposed) {
      let endpoint: Endpoint;
      try {
        endpoint = await this.options.connect();
      } catch (error) {
        if (this.disposed) return;
        this.setState('offline', errorText(error));
        await this.pause(this.options.retryAfterFailureMs ?? 15_000);
        continue;
      }
      if (this.disposed) return;
      const closed = await this.session(endpoint);
      if (this.disposed) return;
      this.options.lost(endpoint, closed);
      this.setState('reconnecting', closed);
    }
  }

  /** Wait `ms`, or less if `retryNow()` is called. */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = () => {
        this.wake = null;
        done();
      };
    });
  }

  /** One connection, from open to close; resolves with why it ended. */
  private session(endpoint: Endpoint): Promise<string> {
    return new Promise<string>((resolve) => {
      const url = `${endpoint.url.replace(/^http/, 'ws')}/rpc`;
      const socket = new WebSocket(url, { headers: { Authorization: `Bearer ${endpoint.token}` } });
      this.live = socket;
      let opened = false;
      let why = 'closed';
      socket.on('unexpected-response', (_request, response) => {
        why = `refused with HTTP ${response.statusCode}`;
        socket.terminate();
      });
      socket.on('error', (error) => {
        why = errorText(error);
      });
      socket.on('open', () => {
        if (this.disposed) {
          socket.close();
          return;
        }
        opened = true;
        this.socket = socket;
        this.endpoint = endpoint;
        const sameStore = this.lastDataDir === null || this.lastDataDir === endpoint.dataDir;
        this.lastDataDir = endpoint.dataDir;
        void this.resume(socket, sameStore);
      });
      socket.on('message', (data, isBinary) => {
        if (!isBinary) this.fromSidecar(data.toString());
      });
      socket.on('close', (code) => {
        if (this.live === socket) this.live = null;
        if (this.socket === socket) {
          this.socket = null;
          this.endpoint = null;
        }
        this.requests.connectionLost();
        this.subscriptions.connectionLost();
        resolve(opened ? `rpc connection closed (${code})` : `rpc connection failed: ${why}`);
      });
    });
  }

  /**
   * A new connection: subscribe again from the last seqs, send what waits, then say so. On
   * another store (the data dir setting changed) the seqs are meaningless: subscriptions start
   * afresh and panels are told `resumed: false`, so they pull everything again.
   */
  private async resume(socket: WebSocket, sameStore: boolean): Promise<void> {
    this.requests.hold(socket);
    const results = await this.subscriptions.resumeAll(sameStore);
    if (!(await this.requests.replay(socket))) return;
    this.setState('connected', undefined, sameStore && results.every((error) => error === null));
  }

  private setState(state: ConnectionState, detail?: string, resumed = true): void {
    if (this.offlineTimer) {
      clearTimeout(this.offlineTimer);
      this.offlineTimer = null;
    }
    if (state === 'reconnecting') {
      this.offlineTimer = setTimeout(() => this.setState('offline', detail), this.options.offlineAfterMs ?? 3000);
    }
    if (state === this.state && detail === this.detail) return;
    const was = this.state;
    this.state = state;
    this.detail = detail;
    if (state !== was) this.options.log.info(`rpc ${state}${detail ? `: ${detail}` : ''}`);
    this.options.onState?.(state, detail);
    for (const panel of this.panels) panel.post(connectionNotice(state, detail, resumed));
  }

  private fromSidecar(text: string): void {
    let message: Record<string, unknown>;
    try {
      message = JSON.parse(text) as Record<string, unknown>;
    } catch {
      this.options.log.warn('rpc: the sidecar sent a frame that is not JSON');
      return;
    }
    if (!message || typeof message !== 'object') return;
    if (typeof message.method !== 'string') {
      this.requests.answered(message);
      return;
    }
    if (message.id !== undefined && message.id !== null) {
      // The sidecar asks the extension host something we do not serve.
      if (this.socket) {
        send(this.socket, { jsonrpc: '2.0', id: message.id, error: { code: -32601, message: `method not found: ${message.method}` } });
      }
      return;
    }
    const params = (message.params ?? {}) as Record<string, unknown>;
    if (message.method === 'event') this.subscriptions.event(params);
    else if (this.listeners.has(message.method)) for (const listener of [...this.listeners.get(message.method)!]) listener(params);
    else this.options.log.debug(`rpc: notification ${message.method} not handled`);
  }

  // --- what panels ask ------------------------------------------------------------------------

  /** @internal called by Panel */
  handle(panel: Panel, message: unknown): void {
    if (!message || typeof message !== 'object' || Array.isArray(message)) {
      panel.post({ jsonrpc: '2.0', id: null, error: { code: -32600, message: 'invalid request' } });
      return;
    }
    const m = message as Record<string, unknown>;
    if (m.jsonrpc !== '2.0' || typeof m.method !== 'string') {
      if (m.id !== undefined) panel.post({ jsonrpc: '2.0', id: m.id, error: { code: -32600, message: 'invalid request' } });
      return;
    }
    const params = (m.params && typeof m.params === 'object' ? m.params : {}) as Record<string, unknown>;
    if (m.id === undefined || m.id === null) {
      if (m.method === 'bridge.hello') panel.post(connectionNotice(this.state, this.detail, true));
      return;
    }
    const id = m.id as JsonRpcId;
    const reply = (answer: Answer) => panel.post({ jsonrpc: '2.0', id, ...answer });
    if (m.method === 'events.subscribe') this.subscriptions.subscribe(panel, params, reply);
    else if (m.method === 'events.unsubscribe') this.subscriptions.unsubscribe(panel, params, reply);
    else this.relay(panel, m.method, params, reply);
  }

  private relay(panel: Panel, method: string, params: Record<string, unknown>, reply: (answer: Answer) => void): void {
    const answered = (answer: Answer) => {
      if (this.panels.has(panel)) reply(answer);
    };
    if (this.prefetches.claim(method, params, answered)) return;
    const field = MUTATION_ID_FIELD[method];
    const sent = field && params[field] === undefined ? { ...params, [field]: clientId(field === 'id' ? 'c' : 'r') } : params;
    this.requests.request(method, sent, true, answered);
  }

  /** @internal called by Panel */
  removePanel(panel: Panel): void {
    this.panels.delete(panel);
    this.subscriptions.removePanel(panel);
    // Its requests still go out (a message it sent must not be lost); their answers are dropped.
  }

  /** @internal the endpoint in use, for the status command */
  get connectedEndpoint(): Endpoint | null {
    return this.endpoint;
  }

  /** Drop the connection (as a network break would); the bridge reconnects by itself. */
  reconnect(): void {
    this.socket?.terminate();
  }
}
