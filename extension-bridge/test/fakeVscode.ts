/**
 * The part of the `vscode` API the extension uses, for node's test runner (the test build aliases
 * `vscode` to this file). It stands in for the editor only: the sidecar, its processes and the
 * bridge under test are all real. `harness` lets a test act as the user and the webview.
 */

import { promises as fs } from 'node:fs';
import * as path from 'node:path';

type Listener<T> = (value: T) => unknown;

export interface Disposable {
  dispose(): unknown;
}

class Emitter<T> {
  private readonly listeners = new Set<Listener<T>>();
  readonly event = (listener: Listener<T>): Disposable => {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  };
  fire(value: T): void {
    for (const listener of [...this.listeners]) listener(value);
  }
}

export class Uri {
  private constructor(
    readonly scheme: string,
    readonly fsPath: string,
  ) {}
  static file(fsPath: string): Uri {
    return new Uri('file', path.resolve(fsPath));
  }
  static parse(value: string): Uri {
    const colon = value.indexOf(':');
    return new Uri(value.slice(0, colon), value.slice(colon + 1).replace(/^\/\//, ''));
  }
  static joinPath(base: Uri, ...parts: string[]): Uri {
    return new Uri(base.scheme, path.join(base.fsPath, ...parts));
  }
  get path(): string {
    return this.fsPath;
  }
  toString(): string {
    return `${this.scheme}://${this.fsPath}`;
  }
}

export enum StatusBarAlignment {
  Left = 1,
  Right = 2,
}
export enum ViewColumn {
  Active = -1,
  One = 1,
}
export enum ProgressLocation {
  Notification = 15,
}

export class FakeWebview {
  options: Record<string, unknown> = {};
  html = '';
  readonly cspSource = 'https://fake.vscode-cdn.net';
  readonly posted: unknown[] = [];
  readonly received = new Emitter<unknown>();
  readonly onDidReceiveMessage = this.received.event;
  asWebviewUri(uri: Uri): { toString(): string } {
    return { toString: () => `https://fake.vscode-cdn.net${uri.fsPath}` };
  }
  postMessage(message: unknown): Promise<boolean> {
    this.posted.push(message);
    return Promise.resolve(true);
  }
}

export class FakePanel {
  readonly webview = new FakeWebview();
  readonly disposed = new Emitter<void>();
  readonly onDidDispose = this.disposed.event;
  revealed = 0;
  constructor(
    readonly viewType: string,
    public title: string,
  ) {}
  reveal(): void {
    this.revealed += 1;
  }
  dispose(): void {
    this.disposed.fire();
  }
}

/** A side-bar webview view, as `resolveWebviewView` gets it. */
export class FakeView {
  readonly webview = new FakeWebview();
  readonly disposed = new Emitter<void>();
  readonly onDidDispose = this.disposed.event;
  dispose(): void {
    this.disposed.fire();
  }
}

export class CancellationTokenSource {
  private readonly cancelled = new Emitter<void>();
  readonly token = {
    isCancellationRequested: false,
    onCancellationRequested: this.cancelled.event,
  };
  cancel(): void {
    if (this.token.isCancellationRequested) return;
    this.token.isCancellationRequested = true;
    this.cancelled.fire();
  }
  dispose(): void {}
}
type CancellationToken = CancellationTokenSource['token'];

export enum LanguageModelChatMessageRole {
  User = 1,
  Assistant = 2,
}

export class LanguageModelChatMessage {
  static User(content: string, name?: string): LanguageModelChatMessage {
    return new LanguageModelChatMessage(LanguageModelChatMessageRole.User, content, name);
  }
  static Assistant(content: string, name?: string): LanguageModelChatMessage {
    return new LanguageModelChatMessage(LanguageModelChatMessageRole.Assistant, content, name);
  }
  constructor(
    public role: LanguageModelChatMessageRole,
    public content: string,
    public name?: string,
  ) {}
}

export class LanguageModelError extends Error {
  static NoPermissions(message?: string): LanguageModelError {
    return new LanguageModelError(message ?? 'no permission', 'NoPermissions');
  }
  static Blocked(message?: string): LanguageModelError {
    return new LanguageModelError(message ?? 'blocked', 'Blocked');
  }
  static NotFound(message?: string): LanguageModelError {
    return new LanguageModelError(message ?? 'not found', 'NotFound');
  }
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

/** What one `sendRequest` does: stream `chunks` (`delayMs` apart), then throw `error` if given. */
export interface ScriptedReply {
  chunks: string[];
  error?: Error;
  delayMs?: number;
}

/** One `sendRequest` the model was given: its messages, and whether its token was cancelled. */
export interface ModelRequest {
  messages: LanguageModelChatMessage[];
  cancelled: boolean;
  done: boolean;
}

/**
 * A `vscode.lm` chat model that plays scripted replies, one per request (the last one repeats).
 * It honours the cancellation token as the editor's do: the stream stops with an error.
 */
export class FakeChatModel {
  readonly vendor = 'fake';
  readonly version = '1';
  readonly maxInputTokens = 4096;
  readonly requests: ModelRequest[] = [];
  readonly id: string;
  constructor(
    readonly family: string,
    private readonly replies: ScriptedReply[],
  ) {
    this.id = `fake-${family}`;
    this.name = `Fake ${family}`;
  }
  readonly name: string;

  sendRequest(messages: LanguageModelChatMessage[], _options: unknown, token: CancellationToken): Promise<{ text: AsyncIterable<string> }> {
    const reply = this.replies[Math.min(this.requests.length, this.replies.length - 1)]!;
    const request: ModelRequest = { messages, cancelled: false, done: false };
    this.requests.push(request);
    token.onCancellationRequested(() => {
      request.cancelled = true;
    });
    async function* text(): AsyncIterable<string> {
      try {
        for (const chunk of reply.chunks) {
          await cancellableDelay(reply.delayMs ?? 5, token);
          yield chunk;
        }
        if (reply.error) throw reply.error;
      } finally {
        request.done = true;
      }
    }
    return Promise.resolve({ text: text() });
  }

  countTokens(text: string | LanguageModelChatMessage): Promise<number> {
    return Promise.resolve((typeof text === 'string' ? text : text.content).length);
  }
}

function cancellableDelay(ms: number, token: CancellationToken): Promise<void> {
  return new Promise((resolve, reject) => {
    if (token.isCancellationRequested) return reject(new Error('Canceled'));
    const timer = setTimeout(() => {
      listener.dispose();
      resolve();
    }, ms);
    const listener = token.onCancellationRequested(() => {
      clearTimeout(timer);
      reject(new Error('Canceled'));
    });
  });
}

export const lm = {
  selectChatModels(selector?: { family?: string }): Promise<FakeChatModel[]> {
    harness.modelSelectors.push(selector);
    return Promise.resolve(harness.models.filter((model) => !selector?.family || model.family === selector.family));
  },
};

interface Serializer {
  deserializeWebviewPanel(panel: FakePanel, state: unknown): Promise<void>;
}

interface ViewProvider {
  resolveWebviewView(view: FakeView): Promise<void> | void;
}

const configurationChanged = new Emitter<{ affectsConfiguration(section: string): boolean }>();

export const harness = {
  commands: new Map<string, (...args: unknown[]) => unknown>(),
  serializers: new Map<string, Serializer>(),
  viewProviders: new Map<string, ViewProvider>(),
  /** Links given to `env.openExternal`, and what the next save dialog answers (undefined: cancelled). */
  opened: [] as string[],
  saveTarget: undefined as Uri | undefined,
  panels: [] as FakePanel[],
  configuration: {} as Record<string, unknown>,
  messages: [] as { level: 'info' | 'error'; text: string }[],
  progressTitles: [] as string[],
  output: [] as string[],
  statusTexts: [] as string[],
  /** The chat models `lm.selectChatModels` offers, and the selectors it was called with. */
  models: [] as FakeChatModel[],
  modelSelectors: [] as ({ family?: string } | undefined)[],
  /** Change a setting as the user would: the value, then onDidChangeConfiguration. */
  changeConfiguration(key: string, value: unknown): void {
    this.configuration[key] = value;
    configurationChanged.fire({ affectsConfiguration: (section: string) => key === section || key.startsWith(`${section}.`) });
  },
  reset(): void {
    this.commands.clear();
    this.serializers.clear();
    this.viewProviders.clear();
    this.opened.length = 0;
    this.saveTarget = undefined;
    this.panels.length = 0;
    this.messages.length = 0;
    this.progressTitles.length = 0;
    this.output.length = 0;
    this.statusTexts.length = 0;
    this.models.length = 0;
    this.modelSelectors.length = 0;
  },
};

export const commands = {
  registerCommand(id: string, run: (...args: unknown[]) => unknown): Disposable {
    harness.commands.set(id, run);
    return { dispose: () => harness.commands.delete(id) };
  },
  executeCommand(id: string, ...args: unknown[]): Promise<unknown> {
    const run = harness.commands.get(id);
    if (!run) return Promise.reject(new Error(`command ${id} not registered`));
    return Promise.resolve(run(...args));
  },
};

export const workspace = {
  getConfiguration(section: string) {
    return {
      get<T>(key: string): T | undefined {
        return harness.configuration[`${section}.${key}`] as T | undefined;
      },
    };
  },
  onDidChangeConfiguration: configurationChanged.event,
  workspaceFolders: undefined as { uri: Uri }[] | undefined,
  fs: {
    writeFile(uri: Uri, content: Uint8Array): Promise<void> {
      return fs.writeFile(uri.fsPath, content);
    },
  },
};

export const env = {
  openExternal(uri: Uri): Promise<boolean> {
    harness.opened.push(uri.toString());
    return Promise.resolve(true);
  },
};

export const window = {
  createOutputChannel(_name: string) {
    return { appendLine: (line: string) => harness.output.push(line), show: () => undefined, dispose: () => undefined };
  },
  createStatusBarItem(_alignment: StatusBarAlignment, _priority: number) {
    const item = {
      name: '',
      command: '',
      tooltip: '' as unknown,
      _text: '',
      get text() {
        return this._text;
      },
      set text(value: string) {
        this._text = value;
        harness.statusTexts.push(value);
      },
      show: () => undefined,
      dispose: () => undefined,
    };
    return item;
  },
  createWebviewPanel(viewType: string, title: string): FakePanel {
    const panel = new FakePanel(viewType, title);
    harness.panels.push(panel);
    return panel;
  },
  registerWebviewPanelSerializer(viewType: string, serializer: Serializer): Disposable {
    harness.serializers.set(viewType, serializer);
    return { dispose: () => harness.serializers.delete(viewType) };
  },
  registerWebviewViewProvider(viewId: string, provider: ViewProvider): Disposable {
    harness.viewProviders.set(viewId, provider);
    return { dispose: () => harness.viewProviders.delete(viewId) };
  },
  showSaveDialog(_options: unknown): Promise<Uri | undefined> {
    return Promise.resolve(harness.saveTarget);
  },
  showInformationMessage(text: string): Promise<undefined> {
    harness.messages.push({ level: 'info', text });
    return Promise.resolve(undefined);
  },
  showErrorMessage(text: string): Promise<undefined> {
    harness.messages.push({ level: 'error', text });
    return Promise.resolve(undefined);
  },
  showInputBox(): Promise<undefined> {
    return Promise.resolve(undefined);
  },
  withProgress<T>(options: { title: string }, task: (progress: { report(value: unknown): void }) => Promise<T>): Promise<T> {
    harness.progressTitles.push(options.title);
    return task({ report: () => undefined });
  },
};

/** An ExtensionContext for the extension folder `extensionPath`, storage under `storagePath`. */
export function fakeContext(extensionPath: string, storagePath: string, version = '0.0.0-test', memory = new Map<string, unknown>()) {
  const secrets = new Map<string, string>();
  return {
    /** `workspaceState`: pass the same `memory` to a later activation to keep it across a reload. */
    workspaceState: {
      get: <T>(key: string, fallback?: T) => (memory.has(key) ? (memory.get(key) as T) : fallback),
      update: (key: string, value: unknown) => Promise.resolve(void memory.set(key, value)),
      keys: () => [...memory.keys()],
    },
    subscriptions: [] as Disposable[],
    extensionPath,
    extensionUri: Uri.file(extensionPath),
    globalStorageUri: Uri.file(storagePath),
    extension: { packageJSON: { version } },
    secrets: {
      get: (key: string) => Promise.resolve(secrets.get(key)),
      store: (key: string, value: string) => Promise.resolve(void secrets.set(key, value)),
      delete: (key: string) => Promise.resolve(void secrets.delete(key)),
    },
  };
}
