/**
 * The extension's activation against a fake editor API (test/fakeVscode.ts) and a real sidecar:
 * commands, the panel's HTML and CSP, the serializer, Show Status, and that deactivating leaves
 * the shared sidecar running.
 */

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';

import type * as vscodeTypes from 'vscode';

import { readFileSync } from 'node:fs';

import { OPENAI_KEY_SECRET } from '../src/common/settings';
import { activate, CHAT_VIEW_ID, deactivate, SHOWN_KEY, VIEW_TYPE } from '../src/extension';
import { commands, fakeContext, type FakePanel, FakeView, harness, Uri } from './fakeVscode';
import { alive, cleanUp, discoveryPid, PYTHON, tempDataDir, waitFor } from './helpers';

const EXTENSION = path.resolve(__dirname, '..', '..');
const storage = mkdtempSync(path.join(os.tmpdir(), 'chat-sidecar-storage-'));
const dataDir = tempDataDir();

function csp(html: string): string {
  const match = /<meta http-equiv="Content-Security-Policy" content="([^"]+)">/.exec(html);
  assert.ok(match, 'the page has a CSP');
  return match[1]!.replace(/&#39;/g, "'");
}

function config(html: string): Record<string, unknown> {
  const match = /<meta name="chat-sidecar-config" content="([^"]+)">/.exec(html);
  assert.ok(match, 'the page carries its config');
  return JSON.parse(match[1]!.replace(/&#34;/g, '"')) as Record<string, unknown>;
}

async function loaded(panel: FakePanel): Promise<string> {
  return waitFor('the panel html', () => panel.webview.html || null);
}

const API_KEY = 'sk-test-0123456789abcdef';

before(async () => {
  harness.reset();
  harness.configuration['chatSidecar.pythonPath'] = PYTHON;
  harness.configuration['chatSidecar.dataDir'] = dataDir;
  process.env.CHAT_SIDECAR_TEST_MARKER = 'from-the-editor';
  const context = fakeContext(EXTENSION, storage);
  await context.secrets.store(OPENAI_KEY_SECRET, API_KEY);
  activate(context as unknown as vscodeTypes.ExtensionContext);
});
after(async () => {
  await deactivate();
  await cleanUp();
  rmSync(storage, { recursive: true, force: true });
});

describe('the extension', () => {
  test('registers its commands and the chat panel serializer', () => {
    for (const id of ['chatSidecar.openChat', 'chatSidecar.newChat', 'chatSidecar.showStatus']) {
      assert.ok(harness.commands.has(id), id);
    }
    assert.ok(harness.serializers.has(VIEW_TYPE));
  });

  test('starts the sidecar for the configured data dir', async () => {
    const pid = await waitFor('the sidecar', () => discoveryPid(dataDir));
    assert.ok(alive(pid));
    assert.ok(harness.statusTexts.length > 0, 'a status bar item is shown');
  });

  test('the sidecar gets the editor\'s environment, the provider and the key from SecretStorage', async () => {
    const pid = await waitFor('the sidecar', () => discoveryPid(dataDir));
    const environ = new Map(
      readFileSync(`/proc/${pid}/environ`, 'utf8')
        .split('\0')
        .filter(Boolean)
        .map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)] as const),
    );
    assert.equal(environ.get('CHAT_SIDECAR_TEST_MARKER'), 'from-the-editor');
    assert.equal(environ.get('CHAT_SIDECAR_PROVIDER'), 'echo');
    assert.equal(environ.get('CHAT_SIDECAR_OPENAI_API_KEY'), API_KEY);
    assert.ok(!harness.output.some((line) => line.includes(API_KEY)), 'the key is never logged');
  });

  test('Open Chat opens one panel under a nonce CSP with the style sheet and the bundle inline', async () => {
    await commands.executeCommand('chatSidecar.openChat');
    assert.equal(harness.panels.length, 1);
    const panel = harness.panels[0]!;
    assert.equal(panel.viewType, VIEW_TYPE);
    const html = await loaded(panel);
    const policy = csp(html);
    const nonce = /'nonce-([^']+)'/.exec(policy)?.[1];
    assert.ok(nonce, policy);
    assert.match(policy, /default-src 'none'/);
    assert.match(policy, new RegExp(`script-src 'nonce-${nonce!.replace(/[+/]/g, '\\$&')}'$`));
    assert.doesNotMatch(policy, /unsafe-inline|unsafe-eval/);
    const scripts = [...html.matchAll(/<script\b[^>]*>/g)].map((m) => m[0]);
    assert.deepEqual(
      scripts,
      [`<script type="module" nonce="${nonce}">`, '<script type="text/plain" id="chat-sidecar-highlight">'],
      'one script: the bundle (highlight.js beside it, inert), no first reads for a new panel',
    );
    const bundle = readFileSync(path.join(EXTENSION, 'media', 'chat.js'), 'utf8');
    assert.ok(bundle.length > 10_000 && html.length > bundle.length, 'the bundle is in the page');
    assert.match(html, new RegExp(`<style nonce="${nonce!.replace(/[+/]/g, '\\$&')}">`));
    assert.doesNotMatch(html, /<link rel="stylesheet"|<script[^>]*\bsrc=/, 'nothing loaded by URL');
    assert.equal(config(html).newChat, false);

    // Again: the open panel is revealed, not a second one made.
    await commands.executeCommand('chatSidecar.openChat');
    assert.equal(harness.panels.length, 1);
    assert.equal(panel.revealed, 1);
  });

  test('New Chat opens a panel on a new conversation', async () => {
    await commands.executeCommand('chatSidecar.newChat');
    assert.equal(harness.panels.length, 2);
    assert.equal(config(await loaded(harness.panels[1]!)).newChat, true);
  });

  test('each panel gets a fresh nonce', async () => {
    const [a, b] = harness.panels;
    const nonceOf = (html: string) => /'nonce-([^']+)'/.exec(csp(html))?.[1];
    assert.notEqual(nonceOf(a!.webview.html), nonceOf(b!.webview.html));
  });

  test('the serializer restores a panel after a reload', async () => {
    const serializer = harness.serializers.get(VIEW_TYPE)!;
    const { FakePanel: Panel } = await import('./fakeVscode');
    const restored = new Panel(VIEW_TYPE, 'Chat');
    await serializer.deserializeWebviewPanel(restored, { conversation_id: 'c_restored', scroll_top: 120 });
    assert.match(restored.webview.html, /<script type="module" nonce=/);
    assert.deepEqual((restored.webview.options as { enableScripts?: boolean }).enableScripts, true);
    assert.ok(harness.output.some((line) => line.includes('restoring a chat panel (conversation c_restored)')));
  });

  test('the side-bar chat view is the same page, on the same bridge as the panels', async () => {
    const manifest = JSON.parse(readFileSync(path.join(EXTENSION, 'package.json'), 'utf8')) as {
      contributes: { viewsContainers: { activitybar: { id: string }[] }; views: Record<string, { id: string; type: string }[]> };
    };
    assert.deepEqual(manifest.contributes.viewsContainers.activitybar.map((c) => c.id), ['chatSidecar']);
    assert.deepEqual(manifest.contributes.views.chatSidecar!.map((v) => [v.id, v.type]), [[CHAT_VIEW_ID, 'webview']]);
    const provider = harness.viewProviders.get(CHAT_VIEW_ID);
    assert.ok(provider, 'the view provider is registered');
    const view = new FakeView();
    await provider.resolveWebviewView(view);
    const html = view.webview.html;
    assert.match(html, /<script type="module" nonce=/);
    assert.doesNotMatch(csp(html), /unsafe-inline|unsafe-eval/);
    assert.deepEqual(config(html), { host: 'vscode', newChat: false, surface: 'view' });
    view.webview.received.fire({ jsonrpc: '2.0', id: 7, method: 'sidecar.health', params: {} });
    const answer = await waitFor('the answer', () =>
      view.webview.posted.find((m) => (m as { id?: unknown }).id === 7) as { result?: { pid?: number } } | undefined,
    );
    assert.equal(answer.result?.pid, discoveryPid(dataDir));
    view.dispose();
  });

  test('a webview\'s links open through the editor (web links only), and exports go through a save dialog', async () => {
    const panel = harness.panels[0]!;
    panel.webview.received.fire({ type: 'chatSidecar.openExternal', url: 'https://example.com/docs' });
    panel.webview.received.fire({ type: 'chatSidecar.openExternal', url: 'command:workbench.action.quit' });
    await waitFor('the link opened', () => harness.opened.length > 0 || null);
    assert.deepEqual(harness.opened, ['https://example.com/docs']);
    const target = path.join(storage, 'exported.md');
    harness.saveTarget = Uri.file(target);
    panel.webview.received.fire({ type: 'chatSidecar.saveFile', name: '../../evil/Export-me.md', content: '# hello\n' });
    await waitFor('the export written', () => {
      try {
        return readFileSync(target, 'utf8') || null;
      } catch {
        return null;
      }
    });
    assert.equal(readFileSync(target, 'utf8'), '# hello\n');
    assert.ok(harness.messages.some((m) => m.text.includes('exported to')));
  });

  test('a panel\'s requests reach the sidecar through the bridge, and the status bar says connected', async () => {
    const panel = harness.panels[0]!;
    panel.webview.received.fire({ jsonrpc: '2.0', id: 1, method: 'sidecar.health', params: {} });
    const answer = await waitFor('the answer', () =>
      panel.webview.posted.find((m) => (m as { id?: unknown }).id === 1) as { result?: { pid?: number } } | undefined,
    );
    assert.equal(answer.result?.pid, discoveryPid(dataDir));
    assert.equal(harness.statusTexts.at(-1), '$(comment-discussion) Chat Sidecar');
    // The other panel got nothing of it.
    assert.ok(!harness.panels[1]!.webview.posted.some((m) => (m as { id?: unknown }).id === 1));
  });

  test('Show Status reports the health of the sidecar', async () => {
    await commands.executeCommand('chatSidecar.showStatus');
    const pid = discoveryPid(dataDir);
    const message = harness.messages.at(-1);
    assert.equal(message?.level, 'info', JSON.stringify(message));
    assert.match(message!.text, new RegExp(`ok, pid ${pid}`));
    assert.ok(message!.text.includes(dataDir));
  });

  test('changing the data dir setting moves the panels to that data dir\'s sidecar', async () => {
    const before = discoveryPid(dataDir)!;
    const otherDir = tempDataDir();
    const panel = harness.panels[0]!;
    panel.webview.received.fire({ jsonrpc: '2.0', id: 'sub', method: 'events.subscribe', params: {} });
    await waitFor('subscribed', () => panel.webview.posted.some((m) => (m as { id?: unknown }).id === 'sub'));
    harness.changeConfiguration('chatSidecar.dataDir', otherDir);
    const after = await waitFor('the other sidecar', () => discoveryPid(otherDir));
    assert.notEqual(after, before);
    panel.webview.received.fire({ jsonrpc: '2.0', id: 'h2', method: 'sidecar.health', params: {} });
    const answer = await waitFor('the answer', () =>
      panel.webview.posted.find((m) => (m as { id?: unknown }).id === 'h2') as { result?: { pid?: number } } | undefined,
    );
    assert.equal(answer.result?.pid, after);
    // Another store: the panel must pull again rather than trust its seqs.
    const notices = panel.webview.posted.filter((m) => (m as { method?: string }).method === 'bridge.connection') as {
      params: { state: string; resumed: boolean };
    }[];
    assert.deepEqual(notices.at(-1)?.params, { state: 'connected', detail: null, resumed: false });
    assert.ok(alive(before), 'the first sidecar is left to the other windows');
    harness.changeConfiguration('chatSidecar.dataDir', dataDir);
    await waitFor('back on the first sidecar', () => harness.output.some((line) => line.includes(`attached to the sidecar pid ${before}`)));
  });

  test('deactivating leaves the sidecar running for other windows', async () => {
    const pid = discoveryPid(dataDir)!;
    await deactivate();
    assert.ok(alive(pid));
    assert.equal(discoveryPid(dataDir), pid);
  });

  test('a conversation a page showed is read at the next activation, and its restored page holds the answers', async () => {
    const memory = new Map<string, unknown>();
    harness.reset();
    activate(fakeContext(EXTENSION, storage, undefined, memory) as unknown as vscodeTypes.ExtensionContext);
    await commands.executeCommand('chatSidecar.openChat');
    const panel = harness.panels[0]!;
    const answer = (id: number) =>
      waitFor(`answer ${id}`, () => panel.webview.posted.find((m) => (m as { id?: unknown }).id === id) as { result?: Record<string, unknown> } | undefined);
    panel.webview.received.fire({ jsonrpc: '2.0', id: 1, method: 'conversations.create', params: { title: 'read ahead </script>' } });
    const id = (await answer(1)).result!.id as string;
    panel.webview.received.fire({ jsonrpc: '2.0', id: 2, method: 'conversations.get', params: { conversation_id: id, limit: 50 } });
    await answer(2);
    assert.deepEqual(memory.get(SHOWN_KEY), [id], 'the workspace remembers the id, nothing else');

    // Reload: the old extension host goes (or its connection would keep this test process
    // alive), a new activation reads it at once; the restored panel's page holds the answers.
    await deactivate();
    harness.reset();
    activate(fakeContext(EXTENSION, storage, undefined, memory) as unknown as vscodeTypes.ExtensionContext);
    assert.ok(harness.output.some((line) => line.includes('reading ahead for 1 conversation(s)')));
    await waitFor('connected', () => harness.statusTexts.at(-1) === '$(comment-discussion) Chat Sidecar');
    const { FakePanel: Panel } = await import('./fakeVscode');
    const restored = new Panel(VIEW_TYPE, 'Chat');
    await harness.serializers.get(VIEW_TYPE)!.deserializeWebviewPanel(restored, { conversation_id: id });
    assert.ok(
      harness.output.some((line) => line.includes('first reads in the page: 3 of 3 (3 read ahead;')),
      harness.output.join('\n'),
    );
    const block = /<script type="application\/json" id="chat-sidecar-first">([^<]*)<\/script>/.exec(restored.webview.html);
    assert.ok(block, 'the page holds its first answers');
    const { reads } = JSON.parse(block[1]!) as { reads: [string, Record<string, unknown>, Record<string, unknown>][] };
    assert.deepEqual(reads.map(([method]) => method), ['conversations.get', 'branches.list', 'conversations.list']);
    assert.equal(reads[0]![2].title, 'read ahead </script>');
    await deactivate(); // one activation at a time: a leaked one would restart the sidecar that after() stops
  });

  test('after a reload (a new activation) the extension attaches to that same sidecar', async () => {
    const pid = discoveryPid(dataDir)!;
    harness.reset();
    activate(fakeContext(EXTENSION, storage) as unknown as vscodeTypes.ExtensionContext);
    await waitFor('attached', () => harness.output.some((line) => line.includes(`attached to the sidecar pid ${pid}`)));
    await waitFor('connected', () => harness.statusTexts.at(-1) === '$(comment-discussion) Chat Sidecar');
    assert.equal(discoveryPid(dataDir), pid);
    assert.ok(!harness.output.some((line) => line.includes('starting ')), 'no second sidecar was started');
  });
});
