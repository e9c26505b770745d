/**
 * The JSON-RPC bridge between panels and a real sidecar's /rpc: id rewriting, event fan-out,
 * resuming subscriptions across a sidecar restart, and the offline queue (replayed once).
 * Panels are plain objects that record what the bridge posts to them.
 */

import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';

import type { Endpoint } from '../src/common/server';
import { SidecarSupervisor } from '../src/common/server';
import { type Panel, RpcBridge } from '../src/rpcBridge';
import { cleanUp, launchConfig, MemoryLog, rest, restPost, startSidecar, tempDataDir, waitFor } from './helpers';

type Message = Record<string, any>;

/** One webview: numbers its requests from 1, like media/client.js. */
class FakeWebview {
  readonly received: Message[] = [];
  private nextId = 1;
  readonly panel: Panel;

  constructor(bridge: RpcBridge) {
    this.panel = bridge.addPanel({ postMessage: (message: unknown) => this.received.push(message as Message) });
  }

  send(method: string, params: Record<string, unknown> = {}): number {
    const id = this.nextId++;
    this.panel.receive({ jsonrpc: '2.0', id, method, params });
    return id;
  }

  answer(id: number, timeoutMs = 20_000): Promise<Message> {
    return waitFor(`answer ${id}`, () => this.received.find((m) => m.id === id && m.method === undefined), timeoutMs);
  }

  async call(method: string, params: Record<string, unknown> = {}): Promise<any> {
    const answer = await this.answer(this.send(method, params));
    if (answer.error) throw new Error(`${method}: ${JSON.stringify(answer.error)}`);
    return answer.result;
  }

  events(type?: string): Message[] {
    return this.received
      .filter((m) => m.method === 'event' && (type === undefined || m.params.type === type))
      .map((m) => m.params);
  }

  connectionStates(): string[] {
    return this.received.filter((m) => m.method === 'bridge.connection').map((m) => m.params.state);
  }
}

interface Window {
  supervisor: SidecarSupervisor;
  bridge: RpcBridge;
}

const windows: Window[] = [];

function openWindow(dataDir: string, initialDelayMs = 100): Window {
  const log = new MemoryLog();
  const supervisor = new SidecarSupervisor({ launch: async () => launchConfig(dataDir), log: log.logger, initialDelayMs });
  const bridge = new RpcBridge({
    connect: () => supervisor.ensure(),
    lost: (endpoint, reason) => supervisor.lost(endpoint, reason),
    log: log.logger,
    offlineAfterMs: 500,
  });
  const window = { supervisor, bridge };
  windows.push(window);
  return window;
}

async function running(window: Window, notPid?: number): Promise<Endpoint> {
  return waitFor('a connected sidecar', () => {
    const endpoint = window.bridge.connectedEndpoint;
    return window.bridge.connectionState === 'connected' && endpoint && endpoint.pid !== notPid ? endpoint : null;
  });
}

afterEach(async () => {
  for (const window of windows.splice(0)) {
    window.supervisor.dispose();
    await window.bridge.dispose();
  }
  await cleanUp();
});

describe('RpcBridge', () => {
  test('gives two panels their own answers although their request ids collide', async () => {
    const { bridge } = openWindow(tempDataDir());
    const a = new FakeWebview(bridge);
    const b = new FakeWebview(bridge);
    const idA = a.send('conversations.create', { id: 'c_from_a', title: 'A' });
    const idB = b.send('conversations.create', { id: 'c_from_b', title: 'B' });
    assert.equal(idA, idB, 'both panels used id 1');
    assert.equal((await a.answer(idA)).result.id, 'c_from_a');
    assert.equal((await b.answer(idB)).result.id, 'c_from_b');
    assert.equal(a.received.filter((m) => m.id !== undefined).length, 1, 'A got only its own answer');
    assert.equal(b.received.filter((m) => m.id !== undefined).length, 1, 'B got only its own answer');
  });

  test('answers bridge.hello with the connection state, and refuses what is not JSON-RPC', async () => {
    const window = openWindow(tempDataDir());
    const a = new FakeWebview(window.bridge);
    await running(window);
    a.panel.receive({ jsonrpc: '2.0', method: 'bridge.hello', params: {} });
    assert.equal(a.connectionStates().at(-1), 'connected');
    a.panel.receive({ id: 7, method: 'sidecar.health' });
    assert.equal((await a.answer(7)).error.code, -32600);
    a.panel.receive('not an object');
    assert.equal(a.received.at(-1)?.error?.code, -32600);
  });

  test('a subscription with bad params is refused with the sidecar\'s error', async () => {
    const window = openWindow(tempDataDir());
    const a = new FakeWebview(window.bridge);
    await running(window);
    const answer = await a.answer(a.send('events.subscribe', { conversation_id: 'not a valid id!' }));
    assert.equal(answer.error?.code, -32602, JSON.stringify(answer));
    assert.equal(answer.error?.data?.code, 'validation_failed');
  });

  test('forwards events to every panel that subscribed, each with its own subscription id', async () => {
    const window = openWindow(tempDataDir());
    const a = new FakeWebview(window.bridge);
    const b = new FakeWebview(window.bridge);
    const list = await a.call('conversations.list');
    const subA = await a.call('events.subscribe', { since: list.event_seq });
    const subB = await b.call('events.subscribe', { since: list.event_seq });
    assert.notEqual(subA.subscription_id, subB.subscription_id);
    await a.call('conversations.create', { id: 'c_shared' });
    for (const [webview, sub] of [[a, subA], [b, subB]] as const) {
      const [created] = await waitFor('the event', () => {
        const found = webview.events('conversation.created');
        return found.length ? found : null;
      });
      assert.equal(created!.subscription_id, sub.subscription_id);
      assert.equal(created!.data.conversation_id, 'c_shared');
    }
  });

  test('after resync the panel\'s subscription goes on (the bridge subscribes again)', async () => {
    const window = openWindow(tempDataDir());
    const a = new FakeWebview(window.bridge);
    await running(window);
    // A seq this store never reached (as after a data dir reset): the sidecar answers resync.
    const { subscription_id: id } = await a.call('events.subscribe', { since: 1_000_000 });
    const [resync] = await waitFor('resync', () => (a.events('resync').length ? a.events('resync') : null));
    assert.equal(resync!.subscription_id, id);
    await a.call('conversations.create', { id: 'c_after_resync' });
    const [created] = await waitFor('the event', () => (a.events('conversation.created').length ? a.events('conversation.created') : null));
    assert.equal(created!.subscription_id, id);
    assert.ok(created!.seq > resync!.seq);
  });

  test('a read asked early (a restored panel) answers the identical panel request, once', async () => {
    const window = openWindow(tempDataDir());
    window.bridge.start();
    const endpoint = await running(window);
    await restPost(endpoint, '/api/v1/conversations', { id: 'c_early', title: 'Before' });
    assert.equal(window.bridge.prefetch('conversations.get', { conversation_id: 'c_early', limit: 50 }), true);
    assert.equal(window.bridge.prefetch('conversations.update', { conversation_id: 'c_early', title: 'x' }), false, 'only reads');
    await waitFor('the early answer', () => window.bridge.pendingRequests === 0);
    const renamed = await fetch(`${endpoint.url}/api/v1/conversations/c_early`, {
      method: 'PATCH',
      headers: { Authorization: `Bearer ${endpoint.token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ title: 'After' }),
    });
    assert.equal(renamed.status, 200);
    const a = new FakeWebview(window.bridge);
    // The same read (its params in another order) takes the early answer: the title before the
    // rename, with the event_seq it was read at (the page subscribes from there and hears the rest).
    const early = await a.call('conversations.get', { limit: 50, conversation_id: 'c_early' });
    assert.equal(early.title, 'Before');
    const again = await a.call('conversations.get', { limit: 50, conversation_id: 'c_early' });
    assert.equal(again.title, 'After', 'an early answer is used once');
    assert.ok(again.event_seq > early.event_seq);
    assert.equal((await a.call('conversations.get', { conversation_id: 'c_early' })).title, 'After');
  });

  test('a second window attaches to the same sidecar and sees the first one\'s changes', async () => {
    const dataDir = tempDataDir();
    const first = openWindow(dataDir);
    const second = openWindow(dataDir);
    const a = new FakeWebview(first.bridge);
    const b = new FakeWebview(second.bridge);
    const [endpointA, endpointB] = await Promise.all([running(first), running(second)]);
    assert.equal(endpointA.pid, endpointB.pid);
    await b.call('events.subscribe', {});
    await a.call('conversations.create', { id: 'c_other_window' });
    await waitFor('the event in the other window', () => b.events('conversation.created').length === 1);
  });

  test('after the sidecar restarts, subscriptions resume from the last seq: nothing missed, nothing twice', async () => {
    const dataDir = tempDataDir();
    // A long restart delay, so another client can write while this window is disconnected.
    const window = openWindow(dataDir, 2000);
    const a = new FakeWebview(window.bridge);
    const first = await running(window);
    const { subscription_id: subscriptionId } = await a.call('events.subscribe', { since: (await a.call('conversations.list')).event_seq });
    await a.call('conversations.create', { id: 'c_before' });
    await waitFor('the first event', () => a.events('conversation.created').length === 1);

    process.kill(first.pid, 'SIGKILL');
    await waitFor('reconnecting', () => window.bridge.connectionState !== 'connected');
    // Another window's sidecar takes over the data dir and something changes meanwhile.
    const other = await startSidecar(dataDir);
    await restPost(other, '/api/v1/conversations', { id: 'c_while_away' });

    const second = await running(window, first.pid);
    assert.equal(second.pid, other.pid, 'the bridge attached to the new owner');
    await a.call('conversations.create', { id: 'c_after' });
    await waitFor('all three', () => a.events('conversation.created').length === 3);
    const created = a.events('conversation.created');
    assert.deepEqual(
      created.map((event) => event.data.conversation_id),
      ['c_before', 'c_while_away', 'c_after'],
    );
    assert.ok(created.every((event) => event.subscription_id === subscriptionId), 'the panel kept its subscription id');
    const seqs = a.events().map((event) => event.seq);
    assert.deepEqual(seqs, [...new Set(seqs)].sort((x, y) => x - y), 'increasing, no repeats');
    const states = a.connectionStates();
    assert.ok(states.includes('reconnecting'));
    assert.equal(states.at(-1), 'connected');
    assert.equal(a.received.filter((m) => m.method === 'bridge.connection').at(-1)?.params.resumed, true);
  });

  test('requests made while the sidecar is down wait, then are applied once', async () => {
    const dataDir = tempDataDir();
    const window = openWindow(dataDir, 1000);
    const a = new FakeWebview(window.bridge);
    const first = await running(window);
    process.kill(first.pid, 'SIGKILL');
    await waitFor('disconnected', () => window.bridge.connectionState !== 'connected');

    const create = a.send('conversations.create', { id: 'c_queued', title: 'made offline' });
    const append = a.send('messages.append', { conversation_id: 'c_queued', role: 'user', content: 'sent offline' });
    assert.equal(window.bridge.pendingRequests, 2);
    await waitFor('offline', () => window.bridge.connectionState === 'offline');

    const createAnswer = await a.answer(create);
    const appendAnswer = await a.answer(append);
    assert.equal(createAnswer.result.id, 'c_queued');
    assert.equal(appendAnswer.result.content, 'sent offline');
    assert.match(appendAnswer.result.client_message_id, /^r_/, 'the bridge gave it a client id');
    const second = await running(window, first.pid);
    const stored = await rest(second, '/api/v1/conversations/c_queued/messages');
    assert.equal(stored.items.length, 1);
    assert.equal(window.bridge.pendingRequests, 0);
  });

  test('a chat message queued while the sidecar is down is sent once, and its reply streams to the panel', async () => {
    const dataDir = tempDataDir();
    const window = openWindow(dataDir, 800);
    const a = new FakeWebview(window.bridge);
    const first = await running(window);
    const { event_seq: since } = await a.call('conversations.list');
    await a.call('events.subscribe', { since });
    process.kill(first.pid, 'SIGKILL');
    await waitFor('disconnected', () => window.bridge.connectionState !== 'connected');

    // A new conversation and a message into it, both while offline: order matters on replay.
    a.send('conversations.create', { id: 'c_offline_chat' });
    const send = a.send('chat.sendMessage', { conversation_id: 'c_offline_chat', content: 'hello from the queue' });
    const sent = await a.answer(send);
    assert.ok(sent.result, JSON.stringify(sent.error));
    const { message, turn } = sent.result;
    assert.equal(message.content, 'hello from the queue');

    await waitFor('the turn to complete', () =>
      a.events('turn.state').some((event) => event.data.turn_id === turn.id && event.data.state === 'completed'),
    );
    const deltas = a.events('message.delta').filter((event) => event.data.turn_id === turn.id);
    assert.equal(deltas.map((event) => event.data.text).join(''), 'hello from the queue', 'the echo streamed in order');

    // Sending it again with the same client id (a second replay) changes nothing.
    const again = await a.call('chat.sendMessage', {
      conversation_id: 'c_offline_chat',
      content: 'hello from the queue',
      client_message_id: message.client_message_id,
    });
    assert.equal(again.message.id, message.id);
    assert.equal(again.turn.id, turn.id);
    const endpoint = await running(window, first.pid);
    const stored = await rest(endpoint, '/api/v1/conversations/c_offline_chat/messages');
    assert.deepEqual(
      stored.items.map((m: Message) => [m.role, m.status, m.content]),
      [
        ['user', 'complete', 'hello from the queue'],
        ['assistant', 'complete', 'hello from the queue'],
      ],
    );
  });

  test('a request whose answer a broken connection lost is sent again and applied once', async () => {
    const window = openWindow(tempDataDir());
    const a = new FakeWebview(window.bridge);
    const endpoint = await running(window);
    await a.call('conversations.create', { id: 'c_lost_answer' });
    // Send, then cut the connection at once: the sidecar may or may not have seen it.
    const ids = [1, 2, 3].map((n) => a.send('messages.append', { conversation_id: 'c_lost_answer', role: 'user', content: `m${n}`, client_message_id: `m_lost_${n}` }));
    window.bridge.reconnect();
    for (const id of ids) assert.ok((await a.answer(id)).result, `answer ${id}`);
    const stored = await rest(endpoint, '/api/v1/conversations/c_lost_answer/messages');
    assert.deepEqual(
      stored.items.map((m: Message) => m.content),
      ['m1', 'm2', 'm3'],
    );
  });
});
