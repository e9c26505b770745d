/**
 * Panels' event subscriptions, kept alive by the bridge (src/rpcBridge.ts) across reconnections.
 *
 * A panel's `events.subscribe` becomes an upstream subscription. The id the panel sees never
 * changes; across a sidecar restart the bridge subscribes again from the last seq it forwarded,
 * so the panel misses nothing and sees nothing twice.
 */

import type { Logger } from './common/logging';
import type { Panel } from './bridgePanel';
import type { Answer, RpcError } from './bridgeRequests';

/** A panel's subscription. */
interface Subscription {
  panel: Panel;
  id: string;
  conversationId: string | undefined;
  /** The last seq forwarded to the panel; where a re-subscription starts. */
  lastSeq: number | null;
  upstreamId: string | null;
}

export interface SubscriptionsOptions {
  /** Send a request of the bridge's own (never queued; fails without a connection). */
  request: (method: string, params: Record<string, unknown>, answer: (answer: Answer) => void) => void;
  /** Whether a connection is open now. */
  connected: () => boolean;
  log: Logger;
}

export class Subscriptions {
  private readonly byId = new Map<string, Subscription>();
  private readonly byUpstream = new Map<string, Subscription>();
  /** Events for an upstream subscription whose `events.subscribe` answer has not arrived yet. */
  private readonly early = new Map<string, Record<string, unknown>[]>();
  private count = 0;

  constructor(private readonly options: SubscriptionsOptions) {}

  /** A panel's `events.subscribe {conversation_id?, since?}`; answers `{subscription_id, last_seq}`. */
  subscribe(panel: Panel, params: Record<string, unknown>, reply: (answer: Answer) => void): void {
    this.count += 1;
    const subscription: Subscription = {
      panel,
      id: `bridge-${this.count}`,
      conversationId: typeof params.conversation_id === 'string' ? params.conversation_id : undefined,
      lastSeq: typeof params.since === 'number' ? params.since : null,
      upstreamId: null,
    };
    this.byId.set(subscription.id, subscription);
    const answer = () => reply({ result: { subscription_id: subscription.id, last_seq: subscription.lastSeq } });
    if (!this.options.connected()) {
      // Subscribed for real once connected (resumeAll() covers every subscription).
      answer();
      return;
    }
    void this.subscribeUpstream(subscription).then((error) => {
      if (error && error.code === -32602) {
        // Bad params (a malformed conversation id): the panel's mistake, not a connection issue.
        this.byId.delete(subscription.id);
        reply({ error });
      } else {
        answer();
      }
    });
  }

  unsubscribe(panel: Panel, params: Record<string, unknown>, reply: (answer: Answer) => void): void {
    const subscription = this.byId.get(String(params.subscription_id));
    if (!subscription || subscription.panel !== panel) {
      reply({ error: { code: -32602, message: 'no such subscription', data: { code: 'not_found' } } });
      return;
    }
    this.drop(subscription);
    reply({ result: { subscription_id: subscription.id } });
  }

  /** The panel went: its subscriptions end. */
  removePanel(panel: Panel): void {
    for (const subscription of [...this.byId.values()]) if (subscription.panel === panel) this.drop(subscription);
  }

  /**
   * A new connection: subscribe every subscription again from its last seq (afresh on another
   * store, where the seqs mean nothing); resolves with each one's error, if any.
   */
  resumeAll(sameStore: boolean): Promise<(RpcError | null)[]> {
    if (!sameStore) for (const subscription of this.byId.values()) subscription.lastSeq = null;
    return Promise.all([...this.byId.values()].map((subscription) => this.subscribeUpstream(subscription)));
  }

  /** The connection is gone: every upstream subscription with it. */
  connectionLost(): void {
    for (const subscription of this.byId.values()) subscription.upstreamId = null;
    this.byUpstream.clear();
    this.early.clear();
  }

  /** An `event` notification from the sidecar. */
  event(params: Record<string, unknown>): void {
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
    if (type === 'resync' && subscription.upstreamId !== null && this.byId.has(subscription.id)) {
      // `resync` ends the upstream subscription (§7); the panel pulls, and its subscription id
      // stays valid: subscribe again from the seq `resync` carried.
      this.byUpstream.delete(subscription.upstreamId);
      subscription.upstreamId = null;
      if (this.options.connected()) void this.subscribeUpstream(subscription);
    }
  }

  /** Subscribe `subscription` upstream from its last seq; resolves with the error, if any. */
  private subscribeUpstream(subscription: Subscription): Promise<RpcError | null> {
    const params: Record<string, unknown> = {};
    if (subscription.conversationId !== undefined) params.conversation_id = subscription.conversationId;
    if (subscription.lastSeq !== null) params.since = subscription.lastSeq;
    return new Promise<RpcError | null>((resolve) => {
      this.options.request('events.subscribe', params, (answer) => {
        const result = answer.result as { subscription_id?: unknown; last_seq?: unknown } | undefined;
        if (answer.error || !result || result.subscription_id === undefined) {
          const error = answer.error ?? { code: -32603, message: 'events.subscribe gave no subscription id' };
          this.options.log.warn(`rpc: events.subscribe failed: ${error.message}`);
          resolve(error);
          return;
        }
        if (!this.byId.has(subscription.id)) {
          // The panel let go of it meanwhile.
          this.options.request('events.unsubscribe', { subscription_id: result.subscription_id }, () => undefined);
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

  private drop(subscription: Subscription): void {
    this.byId.delete(subscription.id);
    if (subscription.upstreamId !== null) {
      this.byUpstream.delete(subscription.upstreamId);
      if (this.options.connected()) this.options.request('events.unsubscribe', { subscription_id: subscription.upstreamId }, () => undefined);
    }
  }
}
