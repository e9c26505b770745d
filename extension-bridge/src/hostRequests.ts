/**
 * What a chat webview asks of the editor itself, beside its JSON-RPC traffic to the sidecar:
 * open a link in the user's browser (`vscode.env.openExternal`, which asks before opening an
 * unknown site) and save an export through a save dialog. The webview's own sandbox can do
 * neither. Anything else a webview posts goes to the bridge.
 */

import * as path from 'node:path';

import * as vscode from 'vscode';

import { errorText, type Logger } from './common/logging';

export type HostRequest =
  | { type: 'chatSidecar.openExternal'; url: string }
  | { type: 'chatSidecar.saveFile'; name: string; content: string };

export function isHostRequest(message: unknown): message is HostRequest {
  if (!message || typeof message !== 'object') return false;
  const m = message as Record<string, unknown>;
  if (m.type === 'chatSidecar.openExternal') return typeof m.url === 'string';
  if (m.type === 'chatSidecar.saveFile') return typeof m.name === 'string' && typeof m.content === 'string';
  return false;
}

/** Only web and mail links leave the editor; anything else (`command:`, `file:`...) is refused. */
export function isExternalLink(url: string): boolean {
  return /^(https?:|mailto:)/i.test(url);
}

export async function handleHostRequest(request: HostRequest, log: Logger): Promise<void> {
  if (request.type === 'chatSidecar.openExternal') {
    if (!isExternalLink(request.url)) {
      log.warn(`a chat webview asked to open a non-web link; refused: ${request.url.slice(0, 80)}`);
      return;
    }
    await vscode.env.openExternal(vscode.Uri.parse(request.url));
    return;
  }
  // A file name only: whatever path the webview sent, the user picks the folder.
  const name = path.basename(request.name.replace(/\\/g, '/')) || 'conversation.md';
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
  const target = await vscode.window.showSaveDialog({
    title: 'Chat Sidecar: export the conversation',
    defaultUri: folder ? vscode.Uri.joinPath(folder, name) : undefined,
    filters: name.endsWith('.json') ? { JSON: ['json'] } : { Markdown: ['md'] },
  });
  if (!target) return;
  try {
    await vscode.workspace.fs.writeFile(target, Buffer.from(request.content, 'utf8'));
    void vscode.window.showInformationMessage(`Chat Sidecar: exported to ${target.fsPath}`);
  } catch (error) {
    void vscode.window.showErrorMessage(`Chat Sidecar: could not write ${target.fsPath}: ${errorText(error)}`);
  }
}
