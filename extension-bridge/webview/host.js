// @ts-check
/**
 * Where the UI runs: a VS Code webview (postMessage to the extension host) or a plain browser at
 * `/ui` (HTTP to the sidecar with the token from the URL fragment). Everything host-specific —
 * the transport, remembering the open conversation, opening links, saving files — is here, so the
 * rest of the UI does not care which host it is in.
 */

import { HttpTransport, PostMessageTransport, SidecarClient } from '../media/client.js';

export const fragment = new URLSearchParams(location.hash.replace(/^#/, ''));

/** @type {any} */
export const vscodeApi = typeof (/** @type {any} */ (globalThis).acquireVsCodeApi) === 'function'
  ? /** @type {any} */ (globalThis).acquireVsCodeApi()
  : null;

export const token = fragment.get('token') || '';

/** The inert `<script type="text/plain">` holding media/highlight.js in a webview's page (src/panelPage.ts). */
const HIGHLIGHTER_ID = 'chat-sidecar-highlight';

/**
 * What the VS Code extension opened this webview with (`<meta name="chat-sidecar-config">`):
 * `{host: 'vscode', newChat, surface: 'panel' | 'view'}`; absent in a plain browser.
 * @type {{host?: string, newChat?: boolean, surface?: string}}
 */
export const panelConfig = (() => {
  const meta = document.querySelector('meta[name="chat-sidecar-config"]');
  try {
    return meta ? JSON.parse(meta.getAttribute('content') || '{}') : {};
  } catch {
    return {};
  }
})();

export const client = new SidecarClient(
  vscodeApi ? new PostMessageTransport(vscodeApi) : new HttpTransport({ baseUrl: location.origin, token }),
);

/**
 * The answers the extension host put in this page for its first reads (src/panelPage.ts: a JSON
 * block, present when a restored webview's reads were answered before its HTML was built), each
 * taken once. A webview that VS Code loads again from the same HTML (hidden and shown again) finds
 * the block's id in its state and asks afresh: a snapshot is used only by the page it was made
 * for. The state keeps only that id, no chat text.
 * @type {Map<string, any>}
 */
const firstAnswers = (() => {
  const answers = new Map();
  const block = document.getElementById('chat-sidecar-first');
  if (!block || !vscodeApi) return answers;
  try {
    const { id, reads } = JSON.parse(block.textContent || '');
    const saved = vscodeApi.getState() || {};
    if (typeof id !== 'string' || saved.first_reads === id || !Array.isArray(reads)) return answers;
    vscodeApi.setState({ ...saved, first_reads: id });
    for (const [method, params, result] of reads) answers.set(readKey(method, params), result);
  } catch {
    // Not ours, or not JSON: the page asks for everything.
  }
  return answers;
})();

/** @param {string} method @param {Record<string, any>} params */
function readKey(method, params) {
  return JSON.stringify([method, Object.keys(params).sort().map((name) => [name, params[name]])]);
}

/**
 * A read: its answer from the page itself when the extension host put it there (once), else
 * asked through the client.
 * @param {string} method @param {Record<string, any>} params @returns {Promise<any>}
 */
export function read(method, params) {
  const key = readKey(method, params);
  if (!firstAnswers.has(key)) return client.call(method, params);
  const result = firstAnswers.get(key);
  firstAnswers.delete(key);
  return Promise.resolve(result);
}

/**
 * Run highlight.js (media/highlight.js, its own bundle so that evaluating it does not delay the
 * first render): resolves with it once it has run. In a VS Code webview the extension put its
 * text into the page, inert (src/panelPage.ts: fetching a file through the webview's resource
 * loader costs a round trip), and it runs as a script carrying this page's nonce, the one thing
 * the page's CSP lets run (nothing in the page can make the block: chat text never becomes an
 * element with an id). At /ui it is the file next to chat.js, which the CSP allows ('self').
 * @returns {Promise<import('highlight.js').HLJSApi>}
 */
export function loadHighlighter() {
  return new Promise((resolve, reject) => {
    // The name media/highlight.js announces itself with (webview/highlighter.js).
    document.addEventListener('chat-sidecar:highlighter', (event) => resolve(/** @type {CustomEvent} */ (event).detail), { once: true });
    const script = document.createElement('script');
    const embedded = document.getElementById(HIGHLIGHTER_ID);
    if (embedded) {
      // A module script (chat.js) has no document.currentScript: its element is the nonce'd one.
      script.nonce = /** @type {HTMLScriptElement} */ (document.querySelector('script[type="module"][nonce]')).nonce;
      script.text = embedded.textContent || '';
    } else {
      script.src = 'highlight.js';
      script.onerror = () => reject(new Error('highlight.js did not load'));
    }
    document.head.append(script);
  });
}

/**
 * Remember which conversation is open (only its id), so a reload reopens it: in VS Code in the
 * webview's own state (`setState`), in a browser in the URL fragment next to the token.
 * @param {string | null} conversationId
 */
export function rememberOpen(conversationId) {
  if (vscodeApi) {
    vscodeApi.setState({ ...(vscodeApi.getState() || {}), conversation_id: conversationId });
    return;
  }
  const params = new URLSearchParams(location.hash.replace(/^#/, ''));
  if (conversationId) params.set('c', conversationId);
  else params.delete('c');
  history.replaceState(null, '', `#${params.toString()}`);
}

/** The conversation a reload should reopen, if any. */
export function rememberedConversation() {
  return vscodeApi ? (vscodeApi.getState() || {}).conversation_id || null : fragment.get('c');
}

/**
 * Open a link outside the UI: in VS Code through the extension host (`vscode.env.openExternal`,
 * which asks the user for unknown sites); in a browser, a new tab without an opener.
 * @param {string} url
 */
export function openExternal(url) {
  if (!/^(https?:|mailto:)/i.test(url)) return;
  if (vscodeApi) vscodeApi.postMessage({ type: 'chatSidecar.openExternal', url });
  else window.open(url, '_blank', 'noopener,noreferrer');
}

/**
 * Save text as a file: in VS Code the extension host shows a save dialog; in a browser it is a
 * download.
 * @param {string} name @param {string} content @param {string} mime
 */
export function saveFile(name, content, mime) {
  if (vscodeApi) {
    vscodeApi.postMessage({ type: 'chatSidecar.saveFile', name, content });
    return;
  }
  const url = URL.createObjectURL(new Blob([content], { type: mime }));
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
