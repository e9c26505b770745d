// @ts-check
/**
 * The connection badge (`data-testid="connection"`, `data-state` connected | reconnecting |
 * offline) and what it means for the user: queued messages, and how to get back when the sidecar
 * is gone for longer than a restart (in a browser, a sidecar started again may listen on another
 * port, which this page cannot know: `chat-sidecar open` opens the UI at the new address).
 */

import { client, vscodeApi } from './host.js';
import { ui } from './dom.js';
import { ACTION_TIMEOUT_MS, notify, withdraw } from './notices.js';
import { renderView } from './render.js';
import { pullView } from './view.js';
import { state } from './state.js';

/** How long the sidecar may be away before the page explains how to find it again. */
export const LOST_HINT_AFTER_MS = Math.min(6000, ACTION_TIMEOUT_MS);

let hintTimer = 0;
let hinted = false;

/** @param {{state: string, detail?: string}} change */
export function onConnection({ state: connection, detail }) {
  ui.connection.setAttribute('data-state', connection);
  const queued = [...state.outbox.values()].reduce((n, q) => n + q.length, 0);
  ui.connection.textContent = {
    connected: 'Connected',
    reconnecting: 'Reconnecting…',
    offline: queued ? `Offline: ${queued} queued` : 'Offline',
  }[/** @type {'connected'} */ (connection)] || connection;
  ui.connection.title = {
    connected: 'Connected to the sidecar that keeps your chats.',
    reconnecting: 'The sidecar is not answering; trying again. Messages you send wait and go out when it is back.',
    offline: vscodeApi
      ? 'The sidecar is not running; the extension is starting it again. Messages you send wait and go out when it is back.'
      : `The sidecar at ${location.host} is not answering. Messages you send wait here. If it was restarted on another port, run “chat-sidecar open”.`,
  }[/** @type {'connected'} */ (connection)] || '';
  if (detail) notify(detail);
  clearTimeout(hintTimer);
  if (connection === 'connected') {
    withdraw('lost');
    hinted = false;
    // What could not be opened while it was away is opened now.
    if (state.view && state.view.failed) pullView();
  } else if (!hinted) {
    hintTimer = window.setTimeout(showLostHint, LOST_HINT_AFTER_MS);
  }
  if (state.view) renderView();
}

function showLostHint() {
  if (client.state === 'connected') return;
  hinted = true;
  notify(
    vscodeApi
      ? 'The sidecar has not answered for a while. The extension keeps restarting it; “Chat Sidecar: Show Status” says why it is down. Nothing you send is lost: it waits and is sent when the sidecar is back.'
      : `The sidecar at ${location.host} has not answered for a while. If it stopped, start it again; if it was restarted on another port, run “chat-sidecar open” in a terminal to open the chat at its new address. Nothing you send is lost while this page stays open.`,
    { tag: 'lost' },
  );
}
