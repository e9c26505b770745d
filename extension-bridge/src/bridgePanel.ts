/**
 * One webview's end of the bridge (src/rpcBridge.ts), and the notices the bridge posts to it.
 * Free of the `vscode` module: a panel is anything that can `postMessage`.
 */

export type ConnectionState = 'connected' | 'reconnecting' | 'offline';

/** The webview side of one panel. */
export interface PanelPort {
  postMessage(message: unknown): unknown;
}

/** What a panel hands its webview's messages to, and tells when it goes. */
export interface PanelOwner {
  handle(panel: Panel, message: unknown): void;
  removePanel(panel: Panel): void;
}

/** One webview's end of the bridge: feed it the webview's messages, dispose it with the panel. */
export class Panel {
  constructor(
    private readonly owner: PanelOwner,
    private readonly port: PanelPort,
  ) {}

  receive(message: unknown): void {
    this.owner.handle(this, message);
  }

  post(message: unknown): void {
    try {
      void this.port.postMessage(message);
    } catch {
      // The webview is gone; its dispose follows.
    }
  }

  dispose(): void {
    this.owner.removePanel(this);
  }
}

/** `bridge.connection {state, detail, resumed}`: what a panel is told on every change. */
export function connectionNotice(state: ConnectionState, detail: string | undefined, resumed: boolean): Record<string, unknown> {
  return { jsonrpc: '2.0', method: 'bridge.connection', params: { state, detail: detail ?? null, resumed } };
}
