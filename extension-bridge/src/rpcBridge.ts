/**
 * The bridge between chat webviews and the sidecar's JSON-RPC endpoint (CONTRACT §7).
 *
 * Each webview posts JSON-RPC 2.0 messages to the extension host; the bridge relays them over one
 * WebSocket to `/rpc` and posts the answers back. What the bridge adds:
 *
 * - Ids: every panel numbers its requests from 1, so the bridge gives each request its own
 *   upstream id and maps the answer back to the panel and id it came from.
 * - Subscriptions: a panel's `events.subscribe` becomes an upstream subscription that the bridge
 *   keeps alive. The id the panel sees never changes; across a sidecar restart the bridge
 *   subscribes again from the last seq it forwarded, so the panel misses nothing and sees nothing
 *   twice.
 * - The offline queue: a webview's memory dies with a reload, so the extension host holds it.
 *   Requests made while the sidecar is unreachable, and those whose answer a broken connection
 *   lost, are sent again once it is back, in the order they were made. That is safe because every
 *   mutation carries a client id (`id`, `client_message_id` or `request_id`, §4): the bridge fills
 *   one in when the webview did not, so a repeated request is applied once.
 *
 * Panels are told the connection state with `bridge.connection {state, detail, resumed}`.
 * Free of the `vscode` module: a panel is anything that can `postMessage`.
 */

import { randomBytes } from 'node:crypto';

import WebSocket from 'ws';

import { errorText, type Logger } from './common/logging';
import type { Endpoint } from './common/server';
import { MUTATION_ID_FIELD } from './generated/mutationIds';

export type ConnectionState = 'connected' | 'reconnecting' | 'offline';

/** The webview side of one panel. */
export interface PanelPort {
  postMessage(message: unknown): unknown;
}

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

/**
 * Mutating methods and the field that makes each idempotent (§4), generated from the sidecar's
 * table of operations (src/generated/mutationIds.ts, built): a request that lacks it gets one
 * here, before it is first sent, so a replay repeats the same id.
 */
export { MUTATION_ID_FIELD };

export function clientId(prefix: string): string {
  return `${prefix}_${Date.now().toString(36).padStart(9, '0')}${randomBytes(8).toString('hex')}`;
}

type JsonRpcId = number | string;

interface RpcError {
  code: number;
  message: string;
  data?: unknown;
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

interface Answer {
  result?: unknown;
  error?: RpcError;
}

/** A request waiting for its answer from the sidecar. */
interface Outstanding {
  method: string;
  params: Record<string, unknown>;
  /** Panel requests survive a broken connection and are sent again; the bridge's own do not. */
  replay: boolean;
  answer: (answer: Answer) => void;
  /** The connection it was last sent on: any other means it still has to be (re)sent. */
  sentOn: WebSocket | null;
  /** Wakes the replay loop when this request is answered or its connection drops. */
  settle?: () => void;
}

/** A panel's subscription, kept alive by the bridge across reconnections. */
interface Subscription {
  panel: Panel;
  id: string;
  conversationId: string | undefined;
  /** The last seq forwarded to the panel; where a re-subscription starts. */
  lastSeq: number | null;
  upstreamId: string | null;
}

export class RpcBridge {
  private socket: WebSocket | null = null;
  /** The socket being opened or open, so dispose() can close it either way. */
  private live: WebSocket | null = null;
  private endpoint: Endpoint | null = null;
  /** The data dir of the last connection: seqs only mean something within one store. */
  private lastDataDir: string | null = null;
  private state: ConnectionState = 'reconnecting';
  private detail: string | undefined;
  private nextId = 1;
  private readonly outstanding = new Map<number, Outstanding>();
  /** The connection whose backlog is being replayed; new panel requests wait behind it. */
  private replaying: WebSocket | null = null;
  private readonly subscriptions = new Map<string, Subscription>();
  private readonly byUpstream = new Map<string, Subscription>();
  /** Events for an upstream subscription whose `events.subscribe` answer has not arrived yet. */
  private readonly early = new Map<string, Record<string, unknown>[]>();
  private readonly panels = new Set<Panel>();
  private disposed = false;
  private running: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private offlineTimer: NodeJS.Timeout | null = null;
  private subscriptionCount = 0;
  /** The extension host's own listeners for sidecar notifications other than `event`. */
  private readonly listeners = new Map<string, Set<(params: Record<string, unknown>) => void>>();

  constructor(private readonly options: BridgeOptions) {}

  get connectionState(): ConnectionState {
    return this.state;
  }

  /** Requests waiting for an answer or a connection (for tests and the status command). */
  get pendingRequests(): number {
    return [...this.outstanding.values()].filter((entry) => entry.replay).length;
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
      this.request(method, params, false, (answer) => {
        if (answer.error) reject(new RpcCallError(method, answer.error));
        else resolve(answer.result);
      });
    });
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
        this.connectionLost();
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
    this.replaying = socket;
    if (!sameStore) for (const subscription of this.subscriptions.values()) subscription.lastSeq = null;
    const resubscribed = [...this.subscriptions.values()].map((subscription) => this.subscribeUpstream(subscription));
    const results = await Promise.all(resubscribed);
    if (!(await this.replay(socket))) return;
    this.replaying = null;
    this.setState('connected', undefined, sameStore && results.every((error) => error === null));
  }

  /**
   * Send the backlog one request at a time, each after the previous one's answer: the sidecar
   * runs the requests of a connection concurrently, and a queue often holds dependent ones (create
   * a conversation, then send into it) that must be applied in the order they were made.
   * False if the connection dropped meanwhile.
   */
  private async replay(socket: WebSocket): Promise<boolean> {
    for (;;) {
      if (this.socket !== socket) return false;
      const next = [...this.outstanding].find(([, entry]) => entry.replay && entry.sentOn !== socket);
      if (!next) return true;
      const [id, entry] = next;
      const settled = new Promise<void>((resolve) => {
        entry.settle = resolve;
      });
      entry.sentOn = socket;
      this.send(socket, { jsonrpc: '2.0', id, method: entry.method, params: entry.params });
      await settled;
    }
  }

  /** The connection is gone: the bridge's own calls fail, panel requests wait for the next one. */
  private connectionLost(): void {
    for (const [id, entry] of this.outstanding) {
      entry.settle?.();
      if (!entry.replay) {
        this.outstanding.delete(id);
        entry.answer({ error: { code: -32000, message: 'the connection to the sidecar closed' } });
      }
    }
    this.replaying = null;
    for (const subscription of this.subscriptions.values()) subscription.upstreamId = null;
    this.byUpstream.clear();
    this.early.clear();
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

  private send(socket: WebSocket, message: Record<string, unknown>): void {
    socket.send(JSON.stringify(message));
  }

  /** Queue a request upstream; sent now when connected, else when the connection is back. */
  private request(method: string, params: Record<string, unknown>, replay: boolean, answer: (answer: Answer) => void): void {
    const id = this.nextId++;
    const entry: Outstanding = { method, params, replay, answer, sentOn: null };
    this.outstanding.set(id, entry);
    const socket = this.socket;
    if (socket && socket.readyState === WebSocket.OPEN && !(replay && this.replaying === socket)) {
      entry.sentOn = socket;
      this.send(socket, { jsonrpc: '2.0', id, method, params });
    } else if (!replay) {
      this.outstanding.delete(id);
      answer({ error: { code: -32000, message: 'the sidecar is not connected' } });
    }
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
    if (typeof message.method === 'string') {
      if (message.id !== undefined && message.id !== null) {
        // The sidecar asks the extension host something we do not serve.
        if (this.socket) {
          this.send(this.socket, {
            jsonrpc: '2.0',
            id: message.id,
            error: { code: -32601, message: `method not found: ${message.method}` },
          });
        }
        return;
      }
      const params = (message.params ?? {}) as Record<string, unknown>;
      if (message.method === 'event') this.event(params);
      else if (this.listeners.has(message.method)) for (const listener of [...this.listeners.get(message.method)!]) listener(params);
      else this.options.log.debug(`rpc: notification ${message.method} not handled`);
      return;
    }
    const id = typeof message.id === 'number' ? message.id : Number.NaN;
    const entry = this.outstanding.get(id);
    if (!entry) return;
    this.outstanding.delete(id);
    entry.settle?.();
    entry.answer(message.error ? { error: message.error as RpcError } : { result: message.result });
  }

  private event(params: Record<string, unknown>): void {
    const upstreamId = String(params.subscription_id);
    const subscription = this.byUpstream.get(upstreamId);
    if (!subscription) {
      const waiting = this.early.get(upstreamId) ?? [];
      waiting.push(params);
      this.early.set(upstreamId, waiting);
      return;
    }
    this.forward(subscription, params);
  }

  private forward(subscription: Subscription, params: Record<string, unknown>): void {
    const seq = typeof params.seq === 'number' ? params.seq : null;
    const type = params.type;
    if (type === 'server.shutdown') {
      // The connection closes next; the bridge reconnects and resumes this subscription, so the
      // panel only sees `bridge.connection` go reconnecting -> connected.
      this.options.log.info('rpc: the sidecar is shutting down');
      return;
    }
    if (seq !== null) {
      // After a re-subscription the replay starts past lastSeq, so this only drops repeats.
      // `resync` carries the current seq and always passes.
      if (subscription.lastSeq !== null && seq <= subscription.lastSeq && type !== 'resync') return;
      subscription.lastSeq = seq;
    }
    subscription.panel.post({ jsonrpc: '2.0', method: 'event', params: { ...params, subscription_id: subscription.id } });
    if (type === 'resync' && subscription.upstreamId !== null && this.subscriptions.has(subscription.id)) {
      // `resync` ends the upstream subscription (§7); the panel pulls, and its subscription id
      // stays valid: subscribe again from the seq `resync` carried.
      this.byUpstream.delete(subscription.upstreamId);
      subscription.upstreamId = null;
      if (this.socket) void this.subscribeUpstream(subscription);
    }
  }

  /** Subscribe `subscription` upstream from its last seq; resolves with the error, if any. */
  private subscribeUpstream(subscription: Subscription): Promise<RpcError | null> {
    const params: Record<string, unknown> = {};
    if (subscription.conversationId !== undefined) params.conversation_id = subscription.conversationId;
    if (subscription.lastSeq !== null) params.since = subscription.lastSeq;
    return new Promise<RpcError | null>((resolve) => {
      this.request('events.subscribe', params, false, (answer) => {
        const result = answer.result as { subscription_id?: unknown; last_seq?: unknown } | undefined;
        if (answer.error || !result || result.subscription_id === undefined) {
          const error = answer.error ?? { code: -32603, message: 'events.subscribe gave no subscription id' };
          this.options.log.warn(`rpc: events.subscribe failed: ${error.message}`);
          resolve(error);
          return;
        }
        if (!this.subscriptions.has(subscription.id)) {
          // The panel let go of it meanwhile.
          this.request('events.unsubscribe', { subscription_id: result.subscription_id }, false, () => undefined);
          resolve(null);
          return;
        }
        const upstreamId = String(result.subscription_id);
        subscription.upstreamId = upstreamId;
        if (subscription.lastSeq === null && typeof result.last_seq === 'number') subscription.lastSeq = result.last_seq;
        this.byUpstream.set(upstreamId, subscription);
        for (const params of this.early.get(upstreamId) ?? []) this.forward(subscription, params);
        this.early.delete(upstreamId);
        resolve(null);
      });
    });
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
    if (m.method === 'events.subscribe') this.subscribe(panel, params, reply);
    else if (m.method === 'events.unsubscribe') this.unsubscribe(panel, params, reply);
    else this.relay(panel, m.method, params, reply);
  }

  private relay(panel: Panel, method: string, params: Record<string, unknown>, reply: (answer: Answer) => void): void {
    const field = MUTATION_ID_FIELD[method];
    const sent = field && params[field] === undefined ? { ...params, [field]: clientId(field === 'id' ? 'c' : 'r') } : params;
    this.request(method, sent, true, (answer) => {
      if (this.panels.has(panel)) reply(answer);
    });
  }

  private subscribe(panel: Panel, params: Record<string, unknown>, reply: (answer: Answer) => void): void {
    this.subscriptionCount += 1;
    const subscription: Subscription = {
      panel,
      id: `bridge-${this.subscriptionCount}`,
      conversationId: typeof params.conversation_id === 'string' ? params.conversation_id : undefined,
      lastSeq: typeof params.since === 'number' ? params.since : null,
      upstreamId: null,
    };
    this.subscriptions.set(subscription.id, subscription);
    const answer = () =>
      reply({ result: { subscription_id: subscription.id, last_seq: subscription.lastSeq } });
    if (!this.socket) {
      // Subscribed for real once connected (resume() covers every subscription).
      answer();
      return;
    }
    void this.subscribeUpstream(subscription).then((error) => {
      if (error && error.code === -32602) {
        // Bad params (a malformed conversation id): the panel's mistake, not a connection issue.
        this.subscriptions.delete(subscription.id);
        reply({ error });
      } else {
        answer();
      }
    });
  }

  private unsubscribe(panel: Panel, params: Record<string, unknown>, reply: (answer: Answer) => void): void {
    const subscription = this.subscriptions.get(String(params.subscription_id));
    if (!subscription || subscription.panel !== panel) {
      reply({ error: { code: -32602, message: 'no such subscription', data: { code: 'not_found' } } });
      return;
    }
    this.drop(subscription);
    reply({ result: { subscription_id: subscription.id } });
  }

  private drop(subscription: Subscription): void {
    this.subscriptions.delete(subscription.id);
    if (subscription.upstreamId !== null) {
      this.byUpstream.delete(subscription.upstreamId);
      if (this.socket) this.request('events.unsubscribe', { subscription_id: subscription.upstreamId }, false, () => undefined);
    }
  }

  /** @internal called by Panel */
  removePanel(panel: Panel): void {
    this.panels.delete(panel);
    for (const subscription of [...this.subscriptions.values()]) if (subscription.panel === panel) this.drop(subscription);
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

function connectionNotice(state: ConnectionState, detail: string | undefined, resumed: boolean): Record<string, unknown> {
  return { jsonrpc: '2.0', method: 'bridge.connection', params: { state, detail: detail ?? null, resumed } };
}

/** One webview's end of the bridge: feed it the webview's messages, dispose it with the panel. */
export class Panel {
  constructor(
    private readonly bridge: RpcBridge,
    private readonly port: PanelPort,
  ) {}

  receive(message: unknown): void {
    this.bridge.handle(this, message);
  }

  post(message: unknown): void {
    try {
      void this.port.postMessage(message);
    } catch {
      // The webview is gone; its dispose follows.
    }
  }

  dispose(): void {
    this.bridge.removePanel(this);
  }
}
