// @ts-check
/**
 * The reference chat UI: a thin renderer of the sidecar's state (CONTRACT §9), in a VS Code
 * webview (panel or side-bar view) and at `/ui`. This module wires the page: events from the
 * sidecar to the views, the controls and keys to the actions, then the first pull.
 *
 * The modules, each one concern: host (where it runs), dom, state, notices, connection, markdown,
 * time, list, search, view (the open conversation's data), render and rows (drawing it),
 * composer (sending), conversation (actions on a whole conversation).
 */

import { SidecarError } from '../media/client.js';
import { client, loadHighlighter, openExternal, panelConfig, rememberedConversation, token, vscodeApi } from './host.js';
import { $, ui } from './dom.js';
import { onConnection } from './connection.js';
import { cancelEdit, submit } from './composer.js';
import {
  confirmDeleteForever, exportConversation, importFile, moveToTrash, newChat, restore, turnAction, updateConversation,
} from './conversation.js';
import { closeDrawer, moveInList, onListEvent, pullList, setOpenHandler, sortedConversations, toggleDrawer } from './list.js';
import { codeOf, useHighlighter } from './markdown.js';
import { attempt, describe, notify } from './notices.js';
import { renderView, setHealth } from './render.js';
import { copyText } from './rows.js';
import { searchSoon } from './search.js';
import { ACTIVE, state } from './state.js';
import { refreshTimes } from './time.js';
import { loadOlder, noteTurnState, onViewEvent, openConversation, pullView } from './view.js';

const LEGACY_MARK = 'chatSidecar.legacyExportDone';

setOpenHandler(openConversation);

// ------------------------------------------------------------------ events from the sidecar

client.on('*', (event) => {
  const id = event.data && event.data.conversation_id;
  if (event.type.startsWith('conversation.')) onListEvent(event);
  if (event.type === 'turn.state' && id) noteTurnState(id, event.data.state);
  if (event.type.startsWith('conversation.') && event.data.conversation) noteTurnState(id, event.data.conversation.state);
  if (state.view && id === state.view.id) onViewEvent(event);
  if (event.type === 'resync') resync();
  if (event.type === 'store.changed') {
    pullList().catch(() => undefined);
    if (state.view && event.data.conversation_ids.includes(state.view.id)) pullView();
  }
});

/** The sidecar no longer has the events we missed: pull everything shown again. */
function resync() {
  pullList().catch(() => undefined);
  if (state.view) pullView();
}
client.on('reconnected', resync);
client.on('connection', onConnection);

// ------------------------------------------------------------------ one-time legacy export

/**
 * Hand whatever this webview's localStorage holds (an older chat panel kept its history there)
 * to the sidecar once; the sidecar decides what of it is chat data. Marked done only after the
 * sidecar accepted it; a sidecar without the importer (404 / -32601) is not an error.
 */
async function exportLegacyStorage() {
  /** @type {Storage} */
  let storage;
  try {
    storage = globalThis.localStorage;
    if (!storage || storage.getItem(LEGACY_MARK)) return;
  } catch {
    return; // storage disabled
  }
  /** @type {Record<string, string>} */
  const items = {};
  for (let i = 0; i < storage.length; i++) {
    const key = storage.key(i);
    if (key !== null && key !== LEGACY_MARK) items[key] = storage.getItem(key) || '';
  }
  if (!Object.keys(items).length) return;
  try {
    const result = await client.call('legacy.import', {
      kind: 'localstorage-export',
      version: 1,
      origin: location.origin,
      exported_at: new Date().toISOString(),
      items,
    });
    storage.setItem(LEGACY_MARK, new Date().toISOString());
    const found = result && result.imported ? result.created.length + result.merged.length : 0;
    if (found) {
      notify(
        `Imported ${found} conversation${found === 1 ? '' : 's'} (${result.messages} messages) ` +
          "from this panel's old local storage.",
        { kind: 'info' },
      );
      pullList().catch(() => undefined);
    }
  } catch (error) {
    if (!(error instanceof SidecarError && error.methodMissing)) console.warn('legacy export failed; will try again next start', describe(error));
  }
}

// ------------------------------------------------------------------ controls

ui.form.addEventListener('submit', (/** @type {Event} */ event) => {
  event.preventDefault();
  submit();
});
ui.composer.addEventListener('keydown', (/** @type {KeyboardEvent} */ event) => {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    submit();
  } else if (event.key === 'Escape' && state.editing) {
    event.stopPropagation();
    cancelEdit();
  }
});
// Escape: close the export menu or the drawer if open, else stop a streaming reply.
document.addEventListener('keydown', (event) => {
  if (event.key !== 'Escape' || event.defaultPrevented) return;
  if (!ui.exportMenu.hidden) {
    ui.exportMenu.hidden = true;
    ui.exportButton.setAttribute('aria-expanded', 'false');
    ui.exportButton.focus();
    return;
  }
  if (ui.app.classList.contains('drawer-open')) {
    closeDrawer();
    ui.toggleList.focus();
    return;
  }
  if (state.view && state.view.turn.id && ACTIVE.has(state.view.turn.state)) {
    event.preventDefault();
    turnAction('chat.cancel');
  }
});
$('new-chat').addEventListener('click', () => {
  closeDrawer();
  newChat();
});
$('cancel-edit').addEventListener('click', cancelEdit);
ui.toggleList.addEventListener('click', toggleDrawer);
$('drawer-scrim').addEventListener('click', closeDrawer);
ui.stop.addEventListener('click', () => turnAction('chat.cancel'));
ui.retry.addEventListener('click', () => turnAction('chat.retry'));
ui.older.addEventListener('click', () => loadOlder());
ui.more.addEventListener('click', () => {
  state.listLimit = Math.min(state.listLimit + 100, 500);
  attempt('load more conversations', pullList);
});
ui.history.addEventListener('scroll', () => {
  if (ui.history.scrollTop < 40) loadOlder();
});
ui.search.addEventListener('input', searchSoon);
ui.list.addEventListener('keydown', (/** @type {KeyboardEvent} */ event) => moveInList(event, ui.list));
ui.results.addEventListener('keydown', (/** @type {KeyboardEvent} */ event) => moveInList(event, ui.results));
ui.search.addEventListener('keydown', (/** @type {KeyboardEvent} */ event) => {
  if (event.key !== 'ArrowDown') return;
  const target = ui.results.hidden ? ui.list : ui.results;
  const first = target.querySelector('button');
  if (first) {
    event.preventDefault();
    first.focus();
  }
});
for (const button of document.querySelectorAll('.filter')) {
  button.addEventListener('click', () => {
    state.filter = /** @type {HTMLElement} */ (button).dataset.filter || 'all';
    for (const other of document.querySelectorAll('.filter')) other.setAttribute('aria-pressed', String(other === button));
    attempt('load the conversations', pullList);
  });
}
ui.rename.addEventListener('click', () => {
  if (!state.view || !state.view.conversation) return;
  ui.renameInput.value = state.view.conversation.title || '';
  ui.renameForm.hidden = false;
  ui.title.hidden = true;
  ui.renameInput.focus();
  ui.renameInput.select();
});
ui.renameForm.addEventListener('submit', (/** @type {Event} */ event) => {
  event.preventDefault();
  ui.renameForm.hidden = true;
  ui.title.hidden = false;
  const title = ui.renameInput.value.trim();
  if (title && state.view && state.view.conversation && title !== state.view.conversation.title) updateConversation({ title }, 'rename the conversation');
});
ui.renameInput.addEventListener('keydown', (/** @type {KeyboardEvent} */ event) => {
  if (event.key === 'Escape') {
    event.stopPropagation();
    ui.renameForm.hidden = true;
    ui.title.hidden = false;
  }
});
ui.star.addEventListener('click', () => updateConversation({ starred: !state.view?.conversation?.starred }, 'star the conversation'));
ui.pin.addEventListener('click', () => updateConversation({ pinned: !state.view?.conversation?.pinned }, 'pin the conversation'));
ui.archive.addEventListener('click', () => updateConversation({ archived: !state.view?.conversation?.archived }, 'archive the conversation'));
ui.del.addEventListener('click', moveToTrash);
ui.restore.addEventListener('click', restore);
ui.deleteForever.addEventListener('click', confirmDeleteForever);
ui.exportButton.addEventListener('click', () => {
  const open = ui.exportMenu.hidden;
  ui.exportMenu.hidden = !open;
  ui.exportButton.setAttribute('aria-expanded', String(open));
  if (open) /** @type {HTMLElement} */ (ui.exportMenu.querySelector('button')).focus();
});
for (const button of ui.exportMenu.querySelectorAll('button')) {
  button.addEventListener('click', () => {
    ui.exportMenu.hidden = true;
    ui.exportButton.setAttribute('aria-expanded', 'false');
    exportConversation(/** @type {'json'} */ (button.dataset.format));
  });
}
ui.importButton.addEventListener('click', () => ui.importFile.click());
ui.importFile.addEventListener('change', () => {
  const file = ui.importFile.files && ui.importFile.files[0];
  ui.importFile.value = '';
  if (file) importFile(file);
});
ui.branch.addEventListener('change', async () => {
  const view = state.view;
  if (!view) return;
  const done = await attempt('switch branches', () => client.call('branches.switch', { conversation_id: view.id, name: ui.branch.value }).then(() => true));
  if (done) await pullView();
});
// Inside messages: links open outside the UI, code blocks copy their code.
ui.messages.addEventListener('click', (/** @type {MouseEvent} */ event) => {
  const target = /** @type {HTMLElement} */ (event.target);
  const copy = target.closest('.copy-code');
  if (copy) {
    copyText(/** @type {HTMLElement} */ (copy), codeOf(/** @type {HTMLElement} */ (copy)));
    return;
  }
  const link = target.closest('a[href]');
  if (link) {
    event.preventDefault();
    openExternal(link.getAttribute('href') || '');
  }
});
setInterval(refreshTimes, 60_000);

// ------------------------------------------------------------------ start

/**
 * A `performance` mark of the start-up (`chat-sidecar:NAME`): the reload benchmark in
 * tests/e2e reads them to see where a restored panel's time goes. In memory only, no content.
 * @param {string} name
 */
function mark(name) {
  performance.mark(`chat-sidecar:${name}`);
}

/** @type {() => void} */
let shown = () => undefined;
/** Resolved once the page has first shown something (see the end of this file). */
const firstRender = new Promise((resolve) => {
  shown = () => resolve(undefined);
});

async function start() {
  mark('start');
  if (!vscodeApi && !token) {
    notify('No token in this address: open the URL the sidecar printed (it ends in #token=…), or run “chat-sidecar open”.');
    ui.connection.setAttribute('data-state', 'offline');
    ui.connection.textContent = 'Offline';
    return;
  }
  // A browser reopens what its URL names; a VS Code webview what it showed last (its id is in the
  // webview's state), else the newest. A known one is pulled at once, beside the list.
  const saved = panelConfig.newChat ? null : rememberedConversation();
  const opening = saved && !state.view ? openConversation(saved) : null;
  opening?.then(shown, shown); // the conversation is on screen even if the list is still coming
  const seq = await attempt('load the conversations', pullList);
  mark('list-pulled');
  if (seq === undefined) {
    if (!state.view) renderView();
    return void setTimeout(start, 3000);
  }
  await opening;
  // From the older of the two pulls: each ignores the events its own pull already reflects.
  const viewSeq = state.view && !state.view.pull.loading ? state.view.pull.seq : -1;
  client.subscribe(viewSeq >= 0 ? Math.min(seq, viewSeq) : seq);
  client.call('sidecar.health', {}).then(setHealth, () => undefined);
  if (panelConfig.newChat) {
    newChat();
  } else if (!saved) {
    const newest = sortedConversations()[0];
    if (vscodeApi && newest) await openConversation(newest.id);
    else renderView();
  }
  mark('view-shown');
  exportLegacyStorage();
}

// highlight.js only once the first render has had a chance to paint (the frame after it, then a
// task of its own): until then code blocks are plain text, coloured when it arrives. The first
// render is the reopened conversation, or whatever start() settles on (a list request that is
// slow to be answered must not keep the conversation's code uncoloured).
firstRender.then(() => requestAnimationFrame(() => setTimeout(() => {
  loadHighlighter().then((api) => {
    useHighlighter(api);
    mark('highlighted');
  }, (error) => console.warn('code stays uncoloured:', describe(error)));
})));
start().then(shown, shown);
