/**
 * The `external` provider end to end: a real sidecar started with `--provider external`, real
 * bridges, and the writer (src/externalWriter.ts) answering its `turn.requested` with the fake
 * editor's language model (test/fakeVscode.ts `lm`). Checks what the store ends up holding.
 */

import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';

import type { Endpoint } from '../src/common/server';
import { SidecarSupervisor } from '../src/common/server';
import { ExternalWriter, NO_MODEL, toChatMessages } from '../src/externalWriter';
import { type Panel, RpcBridge } from '../src/rpcBridge';
import { FakeChatModel, harness, LanguageModelChatMessageRole, LanguageModelError } from './fakeVscode';
import { cleanUp, launchConfig, MemoryLog, rest, tempDataDir, waitFor } from './helpers';

type Message = Record<string, any>;

/** A chat panel: numbers its requests from 1 and records what the bridge posts. */
class FakeWebview {
  readonly received: Message[] = [];
  private nextId = 1;
  readonly panel: Panel;

  constructor(bridge: RpcBridge) {
    this.panel = bridge.addPanel({ postMessage: (message: unknown) => this.received.push(message as Message) });
  }

  async call(method: string, params: Record<string, unknown> = {}): Promise<any> {
    const id = this.nextId++;
    this.panel.receive({ jsonrpc: '2.0', id, method, params });
    const answer = await waitFor(`answer to ${method}`, () => this.received.find((m) => m.id === id && m.method === undefined));
    if (answer.error) throw new Error(`${method}: ${JSON.stringify(answer.error)}`);
    return answer.result;
  }

  /** The `turn.state` events of `turnId`, as `[state, error message]`. */
  states(turnId: string): [string, string | null][] {
    return this.received
      .filter((m) => m.method === 'event' && m.params.type === 'turn.state' && m.params.data.turn_id === turnId)
      .map((m) => [m.params.data.state, m.params.data.error?.message ?? null]);
  }

  ended(turnId: string, timeoutMs = 20_000): Promise<[string, string | null]> {
    return waitFor(
      `turn ${turnId} to end`,
      () => this.states(turnId).find(([state]) => ['completed', 'permanent_failure', 'cancelled', 'interrupted'].includes(state)),
      timeoutMs,
    );
  }
}

interface Window {
  supervisor: SidecarSupervisor;
  bridge: RpcBridge;
  writer: ExternalWriter;
  log: MemoryLog;
}

const windows: Window[] = [];

function openWindow(dataDir: string, modelFamily = ''): Window {
  const log = new MemoryLog();
  // The default 30 s claim timeout outlasts every wait here, so a turn left unclaimed (a writer
  // that missed its announcement) fails the test instead of being rescued by a re-announcement.
  const config = launchConfig(dataDir, { CHAT_SIDECAR_RETRY_BASE_DELAY: '0.05' });
  config.extraArgs = [...(config.extraArgs ?? []), '--provider', 'external'];
  const supervisor = new SidecarSupervisor({ launch: async () => config, log: log.logger, initialDelayMs: 100 });
  const bridge = new RpcBridge({
    connect: () => supervisor.ensure(),
    lost: (endpoint, reason) => supervisor.lost(endpoint, reason),
    log: log.logger,
    offlineAfterMs: 500,
  });
  const writer = new ExternalWriter(bridge, { log: log.logger, modelFamily: () => modelFamily });
  writer.start();
  const window = { supervisor, bridge, writer, log };
  windows.push(window);
  return window;
}

async function connected(window: Window): Promise<Endpoint> {
  return waitFor('a connected sidecar', () =>
    window.bridge.connectionState === 'connected' ? window.bridge.connectedEndpoint : null,
  );
}

/** A panel subscribed store-wide, a conversation, and a message sent into it: `{message, turn}`. */
async function chat(window: Window, content: string, conversationId = 'c_external'): Promise<{ webview: FakeWebview; turn: any }> {
  const webview = new FakeWebview(window.bridge);
  await connected(window);
  const { event_seq: since } = await webview.call('conversations.list');
  await webview.call('events.subscribe', { since });
  await webview.call('conversations.create', { id: conversationId });
  const { turn } = await webview.call('chat.sendMessage', { conversation_id: conversationId, content });
  return { webview, turn };
}

async function stored(window: Window, conversationId = 'c_external'): Promise<[string, string, string][]> {
  const endpoint = await connected(window);
  const { items } = await rest(endpoint, `/api/v1/conversations/${conversationId}/messages`);
  return items.map((m: Message) => [m.role, m.status, m.content]);
}

afterEach(async () => {
  for (const window of windows.splice(0)) {
    window.writer.dispose();
    window.supervisor.dispose();
    await window.bridge.dispose();
  }
  harness.reset();
  await cleanUp();
});

describe('the external provider', () => {
  test('the editor\'s language model writes the reply; the panel sees it streamed and completed', async () => {
    const model = new FakeChatModel('fake-large', [{ chunks: ['Hello', ', ', 'world', '!'] }]);
    harness.models.push(model);
    const window = openWindow(tempDataDir());
    const { webview, turn } = await chat(window, 'say hello');
    assert.deepEqual(await webview.ended(turn.id), ['completed', null]);
    assert.deepEqual(await stored(window), [
      ['user', 'complete', 'say hello'],
      ['assistant', 'complete', 'Hello, world!'],
    ]);
    const deltas = webview.received.filter((m) => m.method === 'event' && m.params.type === 'message.delta');
    assert.equal(deltas.map((m) => m.params.data.text).join(''), 'Hello, world!', 'streamed in order');
    assert.equal(model.requests.length, 1);
    assert.deepEqual(
      model.requests[0]!.messages.map((m) => [m.role, m.content]),
      [[LanguageModelChatMessageRole.User, 'say hello']],
    );
    assert.deepEqual(window.writer.activeTurns, []);
  });

  test('chatSidecar.external.modelFamily picks that model', async () => {
    const other = new FakeChatModel('fake-small', [{ chunks: ['small'] }]);
    const chosen = new FakeChatModel('fake-large', [{ chunks: ['large'] }]);
    harness.models.push(other, chosen);
    const window = openWindow(tempDataDir(), 'fake-large');
    const { webview, turn } = await chat(window, 'which one?');
    assert.deepEqual(await webview.ended(turn.id), ['completed', null]);
    assert.equal((await stored(window))[1]![2], 'large');
    assert.equal(other.requests.length, 0);
    assert.deepEqual(harness.modelSelectors.at(-1), { family: 'fake-large' });
  });

  test('with two windows exactly one claims the turn: the reply is written once', async () => {
    const model = new FakeChatModel('fake-large', [{ chunks: ['only ', 'once'], delayMs: 20 }]);
    harness.models.push(model);
    const dataDir = tempDataDir();
    const first = openWindow(dataDir);
    const second = openWindow(dataDir);
    const [a, b] = await Promise.all([connected(first), connected(second)]);
    assert.equal(a.pid, b.pid, 'both windows share one sidecar');
    // The second window's writer must be subscribed too before the turn is announced.
    await waitFor('both writers subscribed', async () => {
      const health = await rest(a, '/health');
      return health.clients.rpc >= 2;
    });
    const { webview, turn } = await chat(first, 'write me once');
    assert.deepEqual(await webview.ended(turn.id), ['completed', null]);
    assert.equal(model.requests.length, 1, 'one model call for the turn');
    assert.deepEqual(await stored(first), [
      ['user', 'complete', 'write me once'],
      ['assistant', 'complete', 'only once'],
    ]);
    const claimed = [first, second].filter((w) => w.log.lines.some((line) => line.includes(`writing turn ${turn.id}`)));
    assert.equal(claimed.length, 1, 'exactly one window wrote it');
  });

  test('no language model in the editor: the turn ends permanent_failure saying so', async () => {
    const window = openWindow(tempDataDir());
    const { webview, turn } = await chat(window, 'anyone there?');
    const [state, error] = await webview.ended(turn.id);
    assert.equal(state, 'permanent_failure');
    assert.equal(error, NO_MODEL);
    assert.ok(!webview.states(turn.id).some(([s]) => s === 'transient_failure'), 'not retried');
    assert.deepEqual((await stored(window))[1], ['assistant', 'failed', '']);
  });

  test('a model refusal (NoPermissions) is permanent, not retried', async () => {
    const model = new FakeChatModel('fake-large', [{ chunks: [], error: LanguageModelError.NoPermissions('the user did not consent') }]);
    harness.models.push(model);
    const window = openWindow(tempDataDir());
    const { webview, turn } = await chat(window, 'may I?');
    const [state, error] = await webview.ended(turn.id);
    assert.equal(state, 'permanent_failure');
    assert.match(error ?? '', /NoPermissions: the user did not consent/);
    assert.equal(model.requests.length, 1);
  });

  test('a transient model error is retried by the sidecar, and the next attempt completes', async () => {
    const model = new FakeChatModel('fake-large', [
      { chunks: ['partial '], error: new Error('network connection reset') },
      { chunks: ['second ', 'time'] },
    ]);
    harness.models.push(model);
    const window = openWindow(tempDataDir());
    const { webview, turn } = await chat(window, 'try again');
    assert.deepEqual(await webview.ended(turn.id), ['completed', null]);
    assert.deepEqual(
      webview.states(turn.id).map(([state]) => state),
      ['streaming', 'transient_failure', 'streaming', 'completed'],
    );
    assert.equal(model.requests.length, 2);
    assert.deepEqual((await stored(window))[1], ['assistant', 'complete', 'second time'], 'the partial first attempt is gone');
  });

  test('chat.cancel from the panel cancels the model\'s token and the turn', async () => {
    const model = new FakeChatModel('fake-large', [{ chunks: Array.from({ length: 200 }, (_, i) => `w${i} `), delayMs: 50 }]);
    harness.models.push(model);
    const window = openWindow(tempDataDir());
    const { webview, turn } = await chat(window, 'talk for a long time');
    await waitFor('some text', () => webview.received.some((m) => m.method === 'event' && m.params.type === 'message.delta'));
    await webview.call('chat.cancel', { conversation_id: 'c_external', turn_id: turn.id });
    assert.deepEqual(await webview.ended(turn.id), ['cancelled', null]);
    await waitFor('the model token cancelled', () => model.requests[0]!.cancelled && model.requests[0]!.done);
    await waitFor('the writer let go', () => window.writer.activeTurns.length === 0);
    const [, assistant] = await stored(window);
    assert.equal(assistant![1], 'cancelled');
    assert.ok(assistant![2].startsWith('w0 ') && assistant![2].length < 200 * 4, 'the partial reply is kept');
  });

  test('a dropped connection mid-reply: the sidecar announces the turn again and the resumed writer completes it', async () => {
    const model = new FakeChatModel('fake-large', [
      { chunks: Array.from({ length: 100 }, (_, i) => `x${i} `), delayMs: 50 },
      { chunks: ['after ', 'the reconnect'] },
    ]);
    harness.models.push(model);
    const window = openWindow(tempDataDir());
    const { webview, turn } = await chat(window, 'survive a reconnect');
    await waitFor('some text', () => webview.received.some((m) => m.method === 'event' && m.params.type === 'message.delta'));
    window.bridge.reconnect();
    assert.deepEqual(await webview.ended(turn.id), ['completed', null]);
    assert.ok(model.requests[0]!.cancelled, 'the first request was dropped with its claim');
    assert.equal(model.requests.length, 2);
    assert.ok(webview.states(turn.id).some(([state]) => state === 'transient_failure'));
    assert.deepEqual((await stored(window))[1], ['assistant', 'complete', 'after the reconnect']);
  });
});

describe('toChatMessages', () => {
  test('folds system messages into the first user message and turns tool traffic into text', () => {
    const messages = toChatMessages([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'What time is it?' },
      { role: 'assistant', content: '', tool_calls: [{ id: 't1', name: 'clock', arguments: { tz: 'UTC' } }] },
      { role: 'tool', content: '{"time":"12:00"}', tool_call_id: 't1', metadata: { tool_name: 'clock' } },
      { role: 'assistant', content: 'Noon.' },
      { role: 'user', content: 'Thanks' },
    ]);
    assert.deepEqual(
      messages.map((m) => [m.role, m.content]),
      [
        [LanguageModelChatMessageRole.User, 'Be brief.\n\nWhat time is it?'],
        [LanguageModelChatMessageRole.Assistant, '[called the tool clock with {"tz":"UTC"}]'],
        [LanguageModelChatMessageRole.User, '[the tool clock returned] {"time":"12:00"}'],
        [LanguageModelChatMessageRole.Assistant, 'Noon.'],
        [LanguageModelChatMessageRole.User, 'Thanks'],
      ],
    );
  });

  test('a system message with no user message becomes one; empty assistant messages are left out', () => {
    const messages = toChatMessages([
      { role: 'system', content: 'You are terse.' },
      { role: 'assistant', content: '' },
    ]);
    assert.deepEqual(messages.map((m) => [m.role, m.content]), [[LanguageModelChatMessageRole.User, 'You are terse.']]);
  });
});
