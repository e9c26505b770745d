// @ts-check
/**
 * What can be done to a conversation as a whole: start one (reusing an empty untitled one rather
 * than making more), rename, star, pin, archive, move to the trash and back, delete forever
 * (confirmed), export (Markdown or JSON) and import, stop or retry its turn. Every action has a
 * bounded wait and says when it failed (notices.js).
 */

import { newId } from '../media/client.js';
import { client, rememberOpen, saveFile } from './host.js';
import { ui } from './dom.js';
import { pullList, renderList } from './list.js';
import { attempt, describe, notify, timed } from './notices.js';
import { cancelEdit } from './composer.js';
import { renderControls, renderView } from './render.js';
import { newView, state, titleOf } from './state.js';
import { openConversation, pullView, setTurn } from './view.js';

/** An empty untitled conversation: what "New chat" would make anyway. @param {any} c */
function isBlank(c) {
  return c && !c.title && !c.deleted_at && !c.archived && !c.message_count && !(state.outbox.get(c.id) || []).length;
}

/**
 * Open a new conversation at once; it is created in the background (with its client id, so it
 * can wait in the offline queue, and a message sent meanwhile follows it in the same queue). An
 * empty untitled one already there is opened instead of making another.
 */
export function newChat() {
  const view = state.view;
  if (view && view.conversation && isBlank(view.conversation) && !view.messages.length) {
    ui.composer.focus();
    return;
  }
  const blank = [...state.conversations.values()].find(isBlank);
  if (blank) {
    openConversation(blank.id);
    return;
  }
  const id = newId('c');
  const now = new Date().toISOString();
  state.conversations.set(id, { id, title: null, pinned: false, starred: false, archived: false, deleted_at: null, updated_at: now, message_count: 0 });
  state.view = newView(id);
  state.view.conversation = { id, title: null, starred: false, pinned: false, archived: false, deleted_at: null, active_branch: 'main', message_count: 0, state: 'idle' };
  cancelEdit();
  rememberOpen(id);
  renderList();
  renderView();
  ui.composer.focus();
  const create = () =>
    timed(client.call('conversations.create', { id })).then(
      () => (state.view && state.view.id === id ? pullView() : undefined),
      (error) => notify(`Could not create the conversation: ${describe(error)}`, { retry: create }),
    );
  create();
}

/** @param {Record<string, any>} fields @param {string} what */
export async function updateConversation(fields, what) {
  const view = state.view;
  if (!view) return;
  const conversation = await attempt(what, () => client.call('conversations.update', { conversation_id: view.id, ...fields }));
  if (conversation && state.view === view) {
    view.conversation = { ...view.conversation, ...conversation };
    renderView();
  }
}

export async function moveToTrash() {
  const view = state.view;
  if (!view) return;
  const done = await attempt('move the conversation to the trash', () => client.call('conversations.delete', { conversation_id: view.id }).then(() => true));
  if (!done) return;
  notify('Moved to the trash (see Trash to restore it).', { kind: 'info' });
  await pullView();
}

export async function restore() {
  const view = state.view;
  if (!view) return;
  const conversation = await attempt('restore the conversation', () => client.call('conversations.restore', { conversation_id: view.id }));
  if (!conversation) return;
  if (state.view === view) view.conversation = { ...view.conversation, ...conversation };
  notify('Restored.', { kind: 'info' });
  renderView();
}

/** Ask first; on yes, purge it (`DELETE ...?purge=true`). */
export function confirmDeleteForever() {
  const view = state.view;
  if (!view || !view.conversation) return;
  notify(`Delete “${titleOf(view.conversation)}” forever? This cannot be undone.`, {
    kind: 'info',
    retry: () => deleteForever(view.id),
    retryLabel: 'Delete forever',
    actionId: 'confirm-delete-forever',
  });
}

/** @param {string} id */
async function deleteForever(id) {
  const done = await attempt('delete the conversation forever', () => client.call('conversations.delete', { conversation_id: id, purge: true }).then(() => true));
  if (!done) return;
  state.conversations.delete(id);
  if (state.view && state.view.id === id) {
    state.view = null;
    rememberOpen(null);
  }
  notify('Deleted forever.', { kind: 'info' });
  renderList();
  renderView();
}

/** @param {'chat.cancel' | 'chat.retry'} method */
export async function turnAction(method) {
  const view = state.view;
  if (!view || !view.turn.id) return;
  const turnId = view.turn.id;
  const turn = await attempt(method === 'chat.cancel' ? 'stop the reply' : 'retry the reply', () => client.call(method, { conversation_id: view.id, turn_id: turnId }));
  if (turn && state.view === view && turn.state) setTurn(view, turn.id, turn.state);
  renderControls();
}

/** @param {'markdown' | 'json'} format */
export async function exportConversation(format) {
  const view = state.view;
  if (!view || !view.conversation) return;
  const exported = await attempt('export the conversation', () => client.call('conversations.export', { conversation_id: view.id, format }));
  if (exported === undefined) return;
  const base = (titleOf(view.conversation).replace(/[^\w .-]+/g, '').trim().slice(0, 60) || 'conversation').replace(/\s+/g, '-');
  if (format === 'markdown') saveFile(`${base}.md`, String(exported), 'text/markdown');
  else saveFile(`${base}.json`, JSON.stringify(exported, null, 2), 'application/json');
}

/**
 * Import a file in the export's JSON format (one conversation or many); what it holds is merged
 * by the sidecar (idempotent: importing twice changes nothing).
 * @param {File} file
 */
export async function importFile(file) {
  /** @type {any} */
  let document;
  try {
    document = JSON.parse(await file.text());
  } catch {
    notify(`Could not import ${file.name}: it is not a Chat Sidecar JSON export (use Export → JSON to make one).`);
    return;
  }
  if (!document || !Array.isArray(document.conversations)) {
    notify(`Could not import ${file.name}: no "conversations" in it (use Export → JSON to make one).`);
    return;
  }
  const result = await attempt(`import ${file.name}`, () => client.call('import.conversations', document));
  if (!result) return;
  const counts = ['created', 'merged', 'unchanged'].map((key) => `${(result[key] || []).length} ${key}`).join(', ');
  notify(`Imported ${file.name}: ${counts}.`, { kind: 'info' });
  await pullList().catch(() => undefined);
  const first = (result.created || [])[0] || (result.merged || [])[0];
  if (first) await openConversation(first);
}
