/**
 * The Chat Sidecar extension (CONTRACT §9): chat panels whose history lives in the sidecar.
 *
 * Activation finds or starts the sidecar for the configured data dir (src/common/server.ts), opens
 * the JSON-RPC bridge to it (src/rpcBridge.ts) and registers the commands, the panel serializer
 * and the side-bar chat view (`chatSidecar.chatView` in the `chatSidecar` activity-bar
 * container). Panels and the view are the same page, media/index.html with its scripts and styles
 * rewritten to webview URIs under a nonce CSP, and share one bridge (one connection to the
 * sidecar); everything they show comes through it, so a reloaded window restores each at the
 * conversation it showed (the webview keeps only that id in `vscode.setState`). Links and exports
 * go through the extension host (src/hostRequests.ts).
 */

import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

import * as vscode from 'vscode';

import { errorText, Logger } from './common/logging';
import { privatePython } from './common/python';
import { fetchHealth, type LaunchConfig, type SidecarState, SidecarSupervisor } from './common/server';
import { describeSync, OPENAI_KEY_SECRET, readSettings, resolveDataDir, SYNC_PASSWORD_SECRET, sidecarEnv } from './common/settings';
import { ExternalWriter } from './externalWriter';
import { handleHostRequest, isHostRequest } from './hostRequests';
import { buildPage, escapeHtml, type FirstRead } from './panelPage';
import { type ConnectionState, type Panel, RpcBridge } from './rpcBridge';
import { rememberedConversation, startReads } from './startReads';

export const VIEW_TYPE = 'chatSidecar.chat';
/** The side-bar chat view (CONTRACT §9), in its own activity-bar container `chatSidecar`. */
export const CHAT_VIEW_ID = 'chatSidecar.chatView';
/**
 * How long a restored page's HTML waits for its first reads' answers (src/panelPage.ts). They are
 * usually in by then (the bridge connects before VS Code restores the panel); a late one costs the
 * page a round trip of its own, a longer wait would hold every page back.
 */
export const FIRST_READS_WAIT_MS = 250;
/**
 * `workspaceState` key: the conversations this workspace's chat pages last showed (ids only, the
 * newest first). Activation sends their first reads at once, a few tenths of a second before VS
 * Code restores the panels, so their answers are in when the pages' HTML is built.
 */
export const SHOWN_KEY = 'chatSidecar.shownConversations';
const SHOWN_KEPT = 3;

/** What a webview is opened with; it reads it from `<meta name="chat-sidecar-config">`. */
interface PanelConfig {
  host: 'vscode';
  /** Open on a fresh conversation (Chat Sidecar: New Chat) instead of the last one. */
  newChat: boolean;
  /** An editor panel, or the side-bar view. */
  surface?: 'panel' | 'view';
}

interface Services {
  context: vscode.ExtensionContext;
  log: Logger;
  supervisor: SidecarSupervisor;
  bridge: RpcBridge;
  panels: Set<vscode.WebviewPanel>;
  /** Present while `chatSidecar.provider` is `external`: this window's language model writes replies. */
  writer: ExternalWriter | null;
}

let services: Services | null = null;

export function activate(context: vscode.ExtensionContext): void {
  const channel = vscode.window.createOutputChannel('Chat Sidecar');
  context.subscriptions.push(channel);
  const settings = () => readSettings(vscode.workspace.getConfiguration('chatSidecar'));
  const log = new Logger(channel, settings().logLevel);
  log.info(`Chat Sidecar ${String(context.extension.packageJSON.version)} activating (extension host pid ${process.pid})`);

  const status = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Right, 100);
  status.name = 'Chat Sidecar';
  status.command = 'chatSidecar.showStatus';
  context.subscriptions.push(status);

  let sidecarState: SidecarState = { kind: 'idle' };
  let connection: ConnectionState = 'reconnecting';
  let connectionDetail: string | undefined;
  let sync: { label: string; tooltip: string } | null = null;
  const render = () => renderStatus(status, sidecarState, connection, connectionDetail, sync);
  /** The sync state in the status item (§10): read from /health while the sidecar runs. */
  const refreshSync = async () => {
    if (sidecarState.kind !== 'running' || !settings().syncUrl) {
      if (sync) {
        sync = null;
        render();
      }
      return;
    }
    const health = await fetchHealth(sidecarState.endpoint.url, sidecarState.endpoint.token).catch(() => null);
    sync = health ? describeSync(health.sync) : null;
    render();
  };
  const syncTimer = setInterval(() => void refreshSync(), 5_000);
  syncTimer.unref(); // never what keeps the extension host (or a test run) alive
  context.subscriptions.push({ dispose: () => clearInterval(syncTimer) });

  const launch = async (): Promise<LaunchConfig> => {
    const current = settings();
    log.setLevel(current.logLevel);
    const python =
      current.pythonPath ||
      (await privatePython({
        storageDir: context.globalStorageUri.fsPath,
        wheelDir: path.join(context.extensionPath, 'wheel'),
        withProgress: (title, create) =>
          Promise.resolve(
            vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title }, (progress) =>
              create((message) => progress.report({ message })),
            ),
          ),
        log: (line) => log.info(line),
      }));
    const key = await context.secrets.get(OPENAI_KEY_SECRET);
    if (key) log.redact(key);
    const syncPassword = await context.secrets.get(SYNC_PASSWORD_SECRET);
    if (syncPassword) log.redact(syncPassword);
    return { python, dataDir: current.dataDir, env: sidecarEnv(current, process.env, key, syncPassword) };
  };

  const supervisor = new SidecarSupervisor({
    launch,
    dataDir: () => resolveDataDir(settings().dataDir, process.env),
    log,
    logDir: path.join(context.globalStorageUri.fsPath, 'logs'),
    onState: (state) => {
      sidecarState = state;
      render();
      if (state.kind === 'failed') void reportFailure(state.reason);
    },
  });
  const bridge = new RpcBridge({
    connect: () => supervisor.ensure(),
    lost: (endpoint, reason) => supervisor.lost(endpoint, reason),
    log,
    onState: (state, detail) => {
      connection = state;
      connectionDetail = detail;
      render();
    },
  });
  const panels = new Set<vscode.WebviewPanel>();
  const current: Services = { context, log, supervisor, bridge, panels, writer: null };
  services = current;
  /** Run the external writer exactly while the provider setting says `external`. */
  const syncWriter = () => {
    const external = settings().provider === 'external';
    if (external && !current.writer) {
      current.writer = new ExternalWriter(bridge, { log, modelFamily: () => settings().externalModelFamily });
      current.writer.start();
    } else if (!external && current.writer) {
      current.writer.dispose();
      current.writer = null;
    }
  };

  const reportFailure = async (reason: string) => {
    const choice = await vscode.window.showErrorMessage(`Chat Sidecar could not start its sidecar: ${reason}`, 'Retry', 'Show Log');
    if (choice === 'Show Log') channel.show(true);
    if (choice === 'Retry') retry();
  };
  const retry = () => {
    supervisor.reset();
    bridge.retryNow();
  };

  context.subscriptions.push(
    vscode.commands.registerCommand('chatSidecar.openChat', () => {
      retryIfFailed(supervisor, retry);
      const existing = [...panels].at(-1);
      if (existing) existing.reveal();
      else openPanel({ host: 'vscode', newChat: false });
    }),
    vscode.commands.registerCommand('chatSidecar.newChat', () => {
      retryIfFailed(supervisor, retry);
      openPanel({ host: 'vscode', newChat: true });
    }),
    vscode.commands.registerCommand('chatSidecar.showStatus', () => showStatus(channel)),
    vscode.commands.registerCommand('chatSidecar.setProviderKey', () => setProviderKey()),
    vscode.commands.registerCommand('chatSidecar.setSyncPassword', () => setSyncPassword()),
    vscode.window.registerWebviewPanelSerializer(VIEW_TYPE, {
      async deserializeWebviewPanel(panel: vscode.WebviewPanel, state: unknown) {
        const conversation = rememberedConversation(state);
        log.info(`restoring a chat panel${conversation ? ` (conversation ${conversation})` : ''}`);
        await setUpPanel(panel, { host: 'vscode', newChat: false }, prefetch(conversation));
      },
    }),
    vscode.window.registerWebviewViewProvider(CHAT_VIEW_ID, {
      async resolveWebviewView(view: vscode.WebviewView, resolving?: vscode.WebviewViewResolveContext) {
        log.info('showing the chat view in the side bar');
        const first = prefetch(rememberedConversation(resolving?.state));
        view.webview.options = { enableScripts: true, localResourceRoots: webviewOptions(context).localResourceRoots };
        await setUpWebview(view.webview, view.onDidDispose, { host: 'vscode', newChat: false, surface: 'view' }, first);
      },
    }),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (!event.affectsConfiguration('chatSidecar')) return;
      log.setLevel(settings().logLevel);
      if (event.affectsConfiguration('chatSidecar.pythonPath') || event.affectsConfiguration('chatSidecar.dataDir')) {
        log.info('the Python or data dir setting changed: switching sidecars');
        supervisor.forget();
        bridge.reconnect();
        bridge.retryNow();
      }
      if (event.affectsConfiguration('chatSidecar.provider')) syncWriter();
      if (['provider', 'openai', 'echo', 'syncUrl', 'deviceName'].some((key) => event.affectsConfiguration(`chatSidecar.${key}`))) {
        void vscode.window.showInformationMessage(
          'Chat Sidecar: provider settings apply when the sidecar next starts (it is shared by every window; `chat-sidecar stop` restarts it).',
        );
      }
    }),
  );

  /** Remember that a page shows `id`, for the next activation (SHOWN_KEY). */
  const rememberShown = (id: string) => {
    const shown = context.workspaceState.get<string[]>(SHOWN_KEY, []);
    if (shown[0] === id) return;
    void context.workspaceState.update(SHOWN_KEY, [id, ...shown.filter((other) => other !== id)].slice(0, SHOWN_KEPT));
  };
  /** A page that opens a conversation reads it (`conversations.get`): that is what it shows. */
  const noteShown = (message: unknown) => {
    const m = message as { method?: unknown; params?: { conversation_id?: unknown } } | null;
    const id = m?.method === 'conversations.get' ? m.params?.conversation_id : undefined;
    if (typeof id === 'string' && id) rememberShown(id);
  };

  /**
   * A restored page's first reads, sent before its page exists (src/startReads.ts); resolves with
   * those answered within FIRST_READS_WAIT_MS, for the page's HTML (src/panelPage.ts). The rest
   * stay for the page to claim when it asks.
   */
  const prefetch = async (conversation: string | null): Promise<FirstRead[]> => {
    if (!conversation) return [];
    rememberShown(conversation);
    const reads = startReads(conversation);
    const ahead = reads.filter(([method, params]) => bridge.prefetchPending(method, params)).length;
    for (const [method, params] of reads) bridge.prefetch(method, params);
    const started = Date.now();
    const answers = await Promise.all(reads.map(([method, params]) => bridge.prefetched(method, params, FIRST_READS_WAIT_MS)));
    const first = reads.flatMap(([method, params], i) => (answers[i] ? [{ method, params, result: answers[i]!.result }] : []));
    log.info(`first reads in the page: ${first.length} of ${reads.length} (${ahead} read ahead; waited ${Date.now() - started} ms)`);
    return first;
  };

  const openPanel = (config: PanelConfig) => {
    const panel = vscode.window.createWebviewPanel(VIEW_TYPE, 'Chat', vscode.ViewColumn.Active, webviewOptions(context));
    void setUpPanel(panel, config);
  };

  const setUpPanel = async (panel: vscode.WebviewPanel, config: PanelConfig, first?: Promise<FirstRead[]>) => {
    panel.webview.options = webviewOptions(context);
    panels.add(panel);
    panel.onDidDispose(() => panels.delete(panel));
    await setUpWebview(panel.webview, panel.onDidDispose, { ...config, surface: 'panel' }, first);
  };

  /** A panel's or the view's webview: joined to the bridge, its host requests served, the page loaded. */
  const setUpWebview = async (
    webview: vscode.Webview,
    onDidDispose: vscode.Event<void>,
    config: PanelConfig,
    first: Promise<FirstRead[]> = Promise.resolve([]),
  ) => {
    const port: Panel = bridge.addPanel(webview);
    const listener = webview.onDidReceiveMessage((message: unknown) => {
      if (isHostRequest(message)) {
        handleHostRequest(message, log).catch((error: unknown) => log.error(`a webview request failed: ${errorText(error)}`));
      } else {
        noteShown(message);
        port.receive(message);
      }
    });
    onDidDispose(() => {
      listener.dispose();
      port.dispose();
    });
    try {
      webview.html = await panelHtml(context, webview, config, await first);
    } catch (error) {
      log.error(`cannot load the chat UI: ${errorText(error)}`);
      webview.html = `<!doctype html><p>Chat Sidecar: the chat UI is missing from this build (${escapeHtml(errorText(error))}).</p>`;
    }
  };

  const showStatus = async (output: vscode.OutputChannel) => {
    retryIfFailed(supervisor, retry);
    try {
      const endpoint = await withTimeout(supervisor.ensure(), 60_000, 'the sidecar did not start within a minute');
      const health = await fetchHealth(endpoint.url, endpoint.token);
      if (!health) throw new Error(`the sidecar at ${endpoint.url} does not answer /health`);
      log.info(`health: ${JSON.stringify(health)}`);
      const store = (health.store ?? {}) as Record<string, unknown>;
      const clients = (health.clients ?? {}) as Record<string, unknown>;
      const choice = await vscode.window.showInformationMessage(
        `Chat Sidecar ${String(health.version)}: ${health.status}, pid ${String(health.pid)}` +
          `${endpoint.attached ? ' (attached)' : ''}, ${String(store.conversations)} conversations, ` +
          `${String(store.messages)} messages, ${String(clients.rpc ?? 0)} RPC clients; data dir ${String(health.data_dir)}; ` +
          `bridge ${bridge.connectionState}, ${bridge.pendingRequests} requests waiting`,
        'Show Log',
      );
      if (choice === 'Show Log') output.show(true);
    } catch (error) {
      const choice = await vscode.window.showErrorMessage(`Chat Sidecar: ${errorText(error)}`, 'Show Log');
      if (choice === 'Show Log') output.show(true);
    }
  };

  const setProviderKey = async () => {
    const key = await vscode.window.showInputBox({
      title: 'Chat Sidecar: API key of the OpenAI-compatible provider',
      prompt: 'Kept in the editor\'s SecretStorage, passed to the sidecar as CHAT_SIDECAR_OPENAI_API_KEY. Empty: remove it.',
      password: true,
      ignoreFocusOut: true,
    });
    if (key === undefined) return;
    if (key) await context.secrets.store(OPENAI_KEY_SECRET, key);
    else await context.secrets.delete(OPENAI_KEY_SECRET);
    void vscode.window.showInformationMessage('Chat Sidecar: the key applies when the sidecar next starts.');
  };

  const setSyncPassword = async () => {
    const password = await vscode.window.showInputBox({
      title: 'Chat Sidecar: password of the sync hub',
      prompt: 'Kept in the editor\'s SecretStorage, passed to the sidecar as CHAT_SIDECAR_SYNC_PASSWORD. Empty: remove it.',
      password: true,
      ignoreFocusOut: true,
    });
    if (password === undefined) return;
    if (password) await context.secrets.store(SYNC_PASSWORD_SECRET, password);
    else await context.secrets.delete(SYNC_PASSWORD_SECRET);
    void vscode.window.showInformationMessage('Chat Sidecar: the sync password applies when the sidecar next starts.');
  };

  render();
  status.show();
  syncWriter();
  bridge.start();
  const shown = context.workspaceState.get<string[]>(SHOWN_KEY, []).filter((id) => typeof id === 'string' && id !== '');
  if (shown.length) {
    log.info(`reading ahead for ${shown.length} conversation(s) this workspace showed last`);
    for (const id of shown) for (const [method, params] of startReads(id)) bridge.prefetch(method, params);
  }
}

export async function deactivate(): Promise<void> {
  const current = services;
  services = null;
  if (!current) return;
  current.log.info('deactivating (the sidecar keeps running for other windows until its idle timeout)');
  current.writer?.dispose();
  current.supervisor.dispose();
  await current.bridge.dispose();
}

function retryIfFailed(supervisor: SidecarSupervisor, retry: () => void): void {
  if (supervisor.status.kind === 'failed') retry();
}

function webviewOptions(context: vscode.ExtensionContext): vscode.WebviewPanelOptions & vscode.WebviewOptions {
  return { enableScripts: true, localResourceRoots: [vscode.Uri.joinPath(context.extensionUri, 'media')] };
}

function renderStatus(
  item: vscode.StatusBarItem,
  sidecar: SidecarState,
  connection: ConnectionState,
  detail: string | undefined,
  sync: { label: string; tooltip: string } | null = null,
): void {
  renderConnection(item, sidecar, connection, detail);
  if (sync) {
    item.text = `${item.text} ${sync.label}`;
    item.tooltip = `${String(item.tooltip)}\n${sync.tooltip}`;
  }
}

function renderConnection(
  item: vscode.StatusBarItem,
  sidecar: SidecarState,
  connection: ConnectionState,
  detail: string | undefined,
): void {
  if (sidecar.kind === 'failed') {
    item.text = '$(error) Chat Sidecar';
    item.tooltip = `The sidecar could not start: ${sidecar.reason}`;
  } else if (connection === 'connected' && sidecar.kind === 'running') {
    item.text = '$(comment-discussion) Chat Sidecar';
    item.tooltip = `Connected to the sidecar pid ${sidecar.endpoint.pid} (${sidecar.endpoint.dataDir})`;
  } else if (connection === 'offline') {
    item.text = '$(debug-disconnect) Chat Sidecar';
    item.tooltip = `Offline${detail ? `: ${detail}` : ''}; requests wait and are sent when it is back`;
  } else {
    item.text = '$(sync~spin) Chat Sidecar';
    item.tooltip = sidecar.kind === 'restarting' ? `Restarting the sidecar: ${sidecar.reason}` : 'Connecting to the sidecar…';
  }
}

/**
 * media/index.html for a webview (src/panelPage.ts): the style sheet and the bundle inline under
 * a fresh nonce (highlight.js inert beside it, run by the bundle after its first render), a CSP that allows nothing else (no network: all traffic goes through postMessage
 * to the bridge), and the first reads that were answered in time.
 */
export async function panelHtml(
  context: vscode.ExtensionContext,
  webview: vscode.Webview,
  config: PanelConfig,
  first: FirstRead[] = [],
): Promise<string> {
  const media = path.join(context.extensionUri.fsPath, 'media');
  const [template, css, script, highlighter] = await Promise.all(
    ['index.html', 'chat.css', 'chat.js', 'highlight.js'].map((name) => fs.readFile(path.join(media, name), 'utf8')),
  );
  return buildPage({
    template: template!,
    css: css!,
    script: script!,
    highlighter: highlighter!,
    nonce: randomBytes(18).toString('base64'),
    cspSource: webview.cspSource,
    config: { ...config },
    first,
    firstId: randomBytes(9).toString('hex'),
  });
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(message)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}
