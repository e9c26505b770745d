/**
 * `chatSidecar.provider = external` through the real activation: the extension starts its sidecar
 * with that provider and its writer, a chat panel's message is answered by the editor's language
 * model (the fake `vscode.lm`), and switching the setting away stops the writer.
 */

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';

import type * as vscodeTypes from 'vscode';

import { activate, deactivate } from '../src/extension';
import { commands, fakeContext, FakeChatModel, type FakePanel, harness } from './fakeVscode';
import { cleanUp, discoveryPid, PYTHON, tempDataDir, waitFor } from './helpers';

const EXTENSION = path.resolve(__dirname, '..', '..');
const storage = mkdtempSync(path.join(os.tmpdir(), 'chat-sidecar-storage-'));
const dataDir = tempDataDir();
const model = new FakeChatModel('fake-editor-model', [{ chunks: ['written ', 'by the ', 'editor'] }]);

let nextId = 1;
async function call(panel: FakePanel, method: string, params: Record<string, unknown>): Promise<any> {
  const id = `t${nextId++}`;
  panel.webview.received.fire({ jsonrpc: '2.0', id, method, params });
  const answer = (await waitFor(`answer to ${method}`, () =>
    panel.webview.posted.find((m) => (m as { id?: unknown }).id === id),
  )) as { result?: unknown; error?: unknown };
  if (answer.error) throw new Error(`${method}: ${JSON.stringify(answer.error)}`);
  return answer.result;
}

function turnStates(panel: FakePanel, turnId: string): string[] {
  return (panel.webview.posted as { method?: string; params?: any }[])
    .filter((m) => m.method === 'event' && m.params.type === 'turn.state' && m.params.data.turn_id === turnId)
    .map((m) => m.params.data.state as string);
}

before(() => {
  harness.reset();
  harness.models.push(model);
  harness.configuration['chatSidecar.pythonPath'] = PYTHON;
  harness.configuration['chatSidecar.dataDir'] = dataDir;
  harness.configuration['chatSidecar.provider'] = 'external';
  harness.configuration['chatSidecar.external.modelFamily'] = 'fake-editor-model';
  activate(fakeContext(EXTENSION, storage) as unknown as vscodeTypes.ExtensionContext);
});
after(async () => {
  await deactivate();
  await cleanUp();
  rmSync(storage, { recursive: true, force: true });
});

describe('the extension with the external provider', () => {
  test('a message sent from a chat panel is answered by the editor\'s language model', async () => {
    await commands.executeCommand('chatSidecar.newChat');
    const panel = harness.panels[0]!;
    await waitFor('the sidecar', () => discoveryPid(dataDir));
    const { event_seq: since } = await call(panel, 'conversations.list', {});
    await call(panel, 'events.subscribe', { since });
    await call(panel, 'conversations.create', { id: 'c_editor_model' });
    const { turn } = await call(panel, 'chat.sendMessage', { conversation_id: 'c_editor_model', content: 'who writes this?' });
    await waitFor('the turn to complete', () => turnStates(panel, turn.id).includes('completed'));
    const { items } = await call(panel, 'messages.list', { conversation_id: 'c_editor_model' });
    assert.deepEqual(
      items.map((m: { role: string; status: string; content: string }) => [m.role, m.status, m.content]),
      [
        ['user', 'complete', 'who writes this?'],
        ['assistant', 'complete', 'written by the editor'],
      ],
    );
    assert.equal(model.requests.length, 1);
    assert.deepEqual(harness.modelSelectors.at(-1), { family: 'fake-editor-model' });
    assert.ok(harness.output.some((line) => line.includes('writes replies with the editor\'s language model')));
    assert.ok(!harness.output.some((line) => line.includes('who writes this?')), 'chat content is never logged');
  });

  test('switching the provider away from external stops the writer: nobody claims the next turn', async () => {
    const panel = harness.panels[0]!;
    harness.changeConfiguration('chatSidecar.provider', 'echo');
    // The sidecar keeps its provider (external) until it restarts, so the turn waits unclaimed.
    const { turn } = await call(panel, 'chat.sendMessage', { conversation_id: 'c_editor_model', content: 'anyone?' });
    await new Promise((resolve) => setTimeout(resolve, 1000));
    assert.deepEqual(turnStates(panel, turn.id), ['streaming'], 'still waiting for a writer');
    assert.equal(model.requests.length, 1, 'the model was not asked again');
    harness.changeConfiguration('chatSidecar.provider', 'external');
    const started = harness.output.filter((line) => line.includes('writes replies with the editor\'s language model'));
    assert.equal(started.length, 2, 'the writer started again');
    // It would take this turn at its next announcement, after the 30 s claim timeout: cancel instead.
    await call(panel, 'chat.cancel', { conversation_id: 'c_editor_model', turn_id: turn.id });
    await waitFor('cancelled', () => turnStates(panel, turn.id).includes('cancelled'));
  });
});
