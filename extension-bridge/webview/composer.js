// @ts-check
/**
 * Writing and sending. Sending goes through an outbox per conversation: one `chat.sendMessage`
 * at a time, the next one only once the previous turn has finished (the sidecar refuses a send
 * while a turn runs). Queued messages are shown with `data-status="queued"` until the sidecar has
 * them; while it is unreachable they wait in the transport's offline queue, with their client
 * ids, so each is sent exactly once when it is back. Editing a message, or regenerating a reply,
 * is a send that follows the edited message's parent: the sidecar makes it a new branch.
 */

import { SidecarError, newId } from '../media/client.js';
import { client } from './host.js';
import { ui } from './dom.js';
import { newChat } from './conversation.js';
import { plainText } from './markdown.js';
import { describe, notify } from './notices.js';
import { renderView } from './render.js';
import { rows } from './rows.js';
import { ACTIVE, inTrash, state } from './state.js';
import { belongsAtTail, noteTurnState, repull, setTurn } from './view.js';

export async function submit() {
  const content = ui.composer.value;
  if (!content.trim() || inTrash()) return;
  if (!state.view) newChat();
  const view = state.view;
  if (!view) return;
  /** @type {import('./state.js').Outgoing} */
  const entry = { client_message_id: newId('m'), conversation_id: view.id, content, status: 'queued' };
  if (state.editing) {
    entry.parent_id = state.editing.message.parent_id;
    cancelEdit();
  }
  ui.composer.value = '';
  enqueue(entry);
}

/** @param {import('./state.js').Outgoing} entry */
function enqueue(entry) {
  let queue = state.outbox.get(entry.conversation_id);
  if (!queue) state.outbox.set(entry.conversation_id, (queue = []));
  queue.push(entry);
  renderView(true);
  drain(entry.conversation_id);
}

/**
 * Write the reply to `assistant` again: its user message is sent once more after the same parent,
 * so the new exchange is a sibling of the old one ("‹ 2 of 2 ›" goes back to it).
 * @param {any} assistant
 */
export function regenerate(assistant) {
  const view = state.view;
  if (!view) return;
  const at = view.messages.indexOf(assistant);
  const user = [...view.messages.slice(0, at)].reverse().find((m) => m.role === 'user');
  if (!user) return;
  enqueue({ client_message_id: newId('m'), conversation_id: view.id, content: user.content, parent_id: user.parent_id, status: 'queued' });
}

/** @param {any} message */
export function startEdit(message) {
  state.editing = { message };
  ui.composer.value = message.content;
  ui.editing.hidden = false;
  ui.composer.focus();
}

export function cancelEdit() {
  state.editing = null;
  ui.editing.hidden = true;
}

/** Put a message that failed to send back in its outbox (same client id). @param {string} clientMessageId */
export function resend(clientMessageId) {
  for (const [conversationId, queue] of state.outbox) {
    const entry = queue.find((e) => e.client_message_id === clientMessageId);
    if (!entry) continue;
    entry.status = 'queued';
    notify('');
    renderView();
    drain(conversationId);
    return;
  }
}

/**
 * Send a conversation's queued messages one by one; each waits for the previous turn to end.
 * @param {string} conversationId
 */
async function drain(conversationId) {
  if (state.draining.has(conversationId)) return;
  state.draining.add(conversationId);
  try {
    for (;;) {
      const queue = state.outbox.get(conversationId);
      const entry = queue && queue.find((e) => e.status === 'queued');
      if (!entry) return;
      await sendOne(entry);
    }
  } finally {
    state.draining.delete(conversationId);
  }
}

/** @param {import('./state.js').Outgoing} entry */
async function sendOne(entry) {
  for (let attempt = 0; ; attempt++) {
    await untilIdle(entry.conversation_id);
    /** @type {Record<string, any>} */
    const params = { conversation_id: entry.conversation_id, content: entry.content, client_message_id: entry.client_message_id };
    if (entry.parent_id !== undefined) params.parent_id = entry.parent_id;
    try {
      const { message, turn } = await client.call('chat.sendMessage', params);
      noteTurnState(entry.conversation_id, turn.state);
      const view = state.view;
      if (view && view.id === entry.conversation_id) {
        setTurn(view, turn.id, turn.state);
        if (!view.messages.some((m) => m.id === message.id)) {
          if (belongsAtTail(view, message)) view.messages.push(message);
          else repull();
        }
      }
      dropQueued(message);
      renderView(true);
      nameAfterFirstMessage(entry.conversation_id, entry.content);
      return;
    } catch (error) {
      // 409 without details.existing: a turn is still running (e.g. it started elsewhere).
      const busy = error instanceof SidecarError && error.code === 'conflict' && !(error.details && error.details.existing);
      if (busy && attempt < 20) {
        state.turnStates.set(entry.conversation_id, 'streaming');
        continue;
      }
      entry.status = 'failed';
      notify(`Not sent: ${describe(error)}`, { retry: () => resend(entry.client_message_id), retryLabel: 'Send again' });
      renderView();
      return;
    }
  }
}

/**
 * An untitled conversation takes its first message's first line as its title, as it reads
 * (`**bold**` -> `bold`).
 * @param {string} id @param {string} content
 */
function nameAfterFirstMessage(id, content) {
  const known = state.view && state.view.id === id && state.view.conversation ? state.view.conversation : state.conversations.get(id);
  if (!known || known.title) return;
  const firstLine = content.trim().split('\n')[0];
  known.title = (plainText(firstLine) || firstLine).slice(0, 80);
  client.call('conversations.update', { conversation_id: id, title: known.title }).catch(() => {});
}

/** Resolves once the conversation has no running turn (by events, or by a look every 2 s). @param {string} conversationId */
function untilIdle(conversationId) {
  if (!ACTIVE.has(state.turnStates.get(conversationId) || 'idle')) return Promise.resolve();
  return new Promise((resolve) => {
    let waiters = state.idleWaiters.get(conversationId);
    if (!waiters) state.idleWaiters.set(conversationId, (waiters = new Set()));
    let looking = false;
    const timer = setInterval(async () => {
      if (looking) return; // one look at a time, also while the sidecar is away
      looking = true;
      try {
        const page = await client.call('conversations.get', { conversation_id: conversationId, limit: 1 });
        noteTurnState(conversationId, page.state);
      } catch {
        // the events or the next look will tell
      } finally {
        looking = false;
      }
    }, 2000);
    const wake = () => {
      clearInterval(timer);
      resolve(undefined);
    };
    waiters.add(wake);
  });
}

/** The sidecar has this message: it is no longer queued here. @param {any} message */
export function dropQueued(message) {
  if (!message || !message.client_message_id) return;
  const queue = state.outbox.get(message.conversation_id);
  if (!queue) return;
  const at = queue.findIndex((e) => e.client_message_id === message.client_message_id);
  if (at < 0) return;
  queue.splice(at, 1);
  rows.delete(message.client_message_id);
  if (!queue.length) state.outbox.delete(message.conversation_id);
}
