// @ts-check
/**
 * The open conversation: pulling it (with a bounded wait), following its events, paging back,
 * and the message tree behind the "‹ n of m ›" switchers.
 */

import { applyDelta } from '../media/client.js';
import { client, read, rememberOpen } from './host.js';
import { ui } from './dom.js';
import { renderList } from './list.js';
import { attempt, describe, notify, timed } from './notices.js';
import { dropQueued, cancelEdit } from './composer.js';
import { renderView, renderControls, updateContent } from './render.js';
import { ACTIVE, PAGE, newView, state } from './state.js';

/** How much of each other branch is read to find a message's siblings. */
const TREE_DEPTH = 200;

/** @param {string} id */
export async function openConversation(id) {
  cancelEdit();
  state.view = newView(id);
  rememberOpen(id);
  renderList();
  renderView();
  await pullView();
  if (window.matchMedia('(min-width: 640px)').matches || document.activeElement === document.body) ui.composer.focus();
}

/** Pull the open conversation (its latest page on the active branch) and its branches. */
export async function pullView() {
  const view = state.view;
  if (!view) return;
  const generation = ++view.pull.generation;
  const current = () => state.view === view && generation === view.pull.generation;
  view.pull.loading = true;
  try {
    // Both asked at once: one round trip to the sidecar, not two (none when the page holds them).
    const [page, branches] = await Promise.all([
      timed(read('conversations.get', { conversation_id: view.id, limit: PAGE })),
      timed(read('branches.list', { conversation_id: view.id })).catch(() => []),
    ]);
    if (!current()) return;
    const { messages, has_more: hasMore, event_seq: seq, ...conversation } = page;
    view.conversation = conversation;
    view.messages = messages;
    view.hasMore = hasMore;
    view.pull.seq = seq;
    view.failed = false;
    setTurn(view, latestTurnId(messages), conversation.state);
    view.branches = Array.isArray(branches) ? branches : [];
    for (const m of messages) dropQueued(m);
    pullTree(view);
  } catch (error) {
    if (current()) {
      view.failed = true;
      notify(`Could not open the conversation: ${describe(error)}`, { retry: pullView });
    }
  } finally {
    if (generation === view.pull.generation) {
      view.pull.loading = false;
      const waiting = view.pull.buffer.splice(0);
      if (state.view === view) {
        for (const event of waiting) onViewEvent(event);
        renderView(true);
      }
    }
  }
}

/**
 * Learn which messages follow the same parent on other branches (each branch's path, up to
 * TREE_DEPTH messages back), so that a message with siblings gets its switcher. A conversation
 * with one branch needs nothing.
 * @param {import('./state.js').View} view
 */
async function pullTree(view) {
  /** @type {Map<string, any[]>} */
  const children = new Map();
  /** @type {Map<string, string[]>} */
  const branchesOf = new Map();
  const add = (/** @type {any} */ m, /** @type {string} */ branch) => {
    const key = m.parent_id || '';
    let siblings = children.get(key);
    if (!siblings) children.set(key, (siblings = []));
    if (!siblings.some((s) => s.id === m.id)) siblings.push({ id: m.id, created_at: m.created_at });
    let names = branchesOf.get(m.id);
    if (!names) branchesOf.set(m.id, (names = []));
    if (!names.includes(branch)) names.push(branch);
  };
  if (view.branches.length > 1) {
    try {
      for (const branch of view.branches) {
        const page = await timed(client.call('messages.list', { conversation_id: view.id, branch: branch.name, limit: TREE_DEPTH }));
        for (const m of page.items) add(m, branch.name);
      }
    } catch {
      return; // the switchers wait for the next pull
    }
  }
  if (state.view !== view) return;
  for (const siblings of children.values()) siblings.sort((a, b) => (a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : 0));
  view.tree = { children, branchesOf };
  renderView();
}

/**
 * Show `siblingId` instead of the message it is a sibling of: switch to a branch that holds it
 * (the most recently made one, when several do).
 * @param {string} siblingId
 */
export async function showSibling(siblingId) {
  const view = state.view;
  if (!view) return;
  const names = view.tree.branchesOf.get(siblingId) || [];
  const name = names.includes(view.conversation?.active_branch) ? view.conversation.active_branch : names[names.length - 1];
  if (!name) return;
  const switched = await attempt('switch to that version', () => client.call('branches.switch', { conversation_id: view.id, name }));
  if (switched !== undefined && state.view === view) await pullView();
}

let loadingOlder = false;

/** Lazy history: the page before the oldest message shown, kept in place on the screen. */
export async function loadOlder() {
  const view = state.view;
  if (!view || !view.hasMore || !view.messages.length || view.pull.loading || loadingOlder) return;
  const before = view.messages[0].id;
  loadingOlder = true;
  /** @type {any} */
  let page;
  try {
    page = await timed(client.call('messages.list', { conversation_id: view.id, before, limit: PAGE }));
  } catch (error) {
    notify(`Could not load older messages: ${describe(error)}`, { retry: loadOlder });
    return;
  } finally {
    loadingOlder = false;
  }
  if (state.view !== view || view.messages[0].id !== before) return;
  const height = ui.history.scrollHeight;
  const known = new Set(view.messages.map((m) => m.id));
  view.messages = [...page.items.filter((/** @type {any} */ m) => !known.has(m.id)), ...view.messages];
  view.hasMore = page.has_more;
  renderView();
  ui.history.scrollTop += ui.history.scrollHeight - height;
}

/** @param {any[]} messages */
function latestTurnId(messages) {
  for (let i = messages.length - 1; i >= 0; i--) if (messages[i].turn_id) return messages[i].turn_id;
  return null;
}

/** @param {import('./state.js').View} view @param {string | null} turnId @param {string} turnState */
export function setTurn(view, turnId, turnState) {
  if (turnId) view.turn.id = turnId;
  view.turn.state = turnState;
  noteTurnState(view.id, turnState);
}

/** @param {string} conversationId @param {string} turnState */
export function noteTurnState(conversationId, turnState) {
  state.turnStates.set(conversationId, turnState);
  if (ACTIVE.has(turnState)) return;
  const waiters = state.idleWaiters.get(conversationId);
  if (!waiters) return;
  state.idleWaiters.delete(conversationId);
  for (const wake of waiters) wake();
}

/** @param {any} event */
export function onViewEvent(event) {
  const view = state.view;
  if (!view) return;
  if (view.pull.loading) {
    view.pull.buffer.push(event);
    return;
  }
  if (event.seq <= view.pull.seq) return;
  const data = event.data;
  switch (event.type) {
    case 'message.created':
    case 'message.updated': {
      const message = data.message;
      dropQueued(message);
      const at = view.messages.findIndex((m) => m.id === message.id);
      if (at >= 0) view.messages[at] = message;
      else if (belongsAtTail(view, message)) view.messages.push(message);
      else if (event.type === 'message.created') return void repull();
      if (message.turn_id && message.role === 'assistant') view.turn.id = message.turn_id;
      renderView();
      return;
    }
    case 'message.delta': {
      const message = view.messages.find((m) => m.id === data.message_id);
      if (!message) return void repull();
      const next = applyDelta(message.content, data);
      if (next.result === 'gap') return void repull();
      if (next.result === 'applied') {
        message.content = next.content;
        updateContent(message);
      }
      return;
    }
    case 'turn.state':
      setTurn(view, data.turn_id, data.state);
      renderControls();
      return;
    case 'tool.approval_requested': {
      const message = view.messages.find((m) => m.turn_id === data.turn_id && m.role === 'assistant' && m.tool_calls);
      if (!message) return void repull();
      renderView();
      return;
    }
    default:
      if (event.type.startsWith('conversation.')) {
        if (!data.conversation) {
          notify('This conversation was deleted for good.', { kind: 'info' });
          state.view = null;
          rememberOpen(null);
          renderView();
          return;
        }
        const before = view.conversation;
        view.conversation = data.conversation;
        noteTurnState(view.id, data.conversation.state);
        view.turn.state = data.conversation.state;
        if (before && before.active_branch !== data.conversation.active_branch) return void repull();
        renderView();
      }
  }
}

/** @param {import('./state.js').View} view @param {any} message */
export function belongsAtTail(view, message) {
  const tail = view.messages[view.messages.length - 1];
  return tail ? message.parent_id === tail.id : message.parent_id === null && !view.hasMore;
}

let repullQueued = false;
/** Something does not fit the view (a new branch, a gap): pull it again, once per burst. */
export function repull() {
  if (repullQueued) return;
  repullQueued = true;
  queueMicrotask(() => {
    repullQueued = false;
    pullView();
  });
}
