// @ts-check
/**
 * The conversation list: pulled per filter, kept current by `conversation.*` events, moved
 * through with the arrow keys. Below the layout's breakpoint it is a drawer over the chat
 * (opened by the "Chats" button, closed on a choice or Escape).
 */

import { read } from './host.js';
import { el, ui } from './dom.js';
import { plainText } from './markdown.js';
import { relativeTime } from './time.js';
import { state, titleOf } from './state.js';

/** What a click on an item does (set by main.js, which knows the open-conversation view). */
let onOpen = /** @type {(id: string) => unknown} */ (() => undefined);
/** @param {(id: string) => unknown} open */
export function setOpenHandler(open) {
  onOpen = open;
}

/** @param {any} c */
export function matchesFilter(c) {
  if (state.filter === 'trash') return Boolean(c.deleted_at);
  if (c.deleted_at) return false;
  if (state.filter === 'archived') return Boolean(c.archived);
  if (c.archived) return false;
  if (state.filter === 'pinned') return Boolean(c.pinned);
  if (state.filter === 'starred') return Boolean(c.starred);
  return true;
}

function listParams() {
  /** @type {Record<string, any>} */
  const params = { limit: state.listLimit };
  if (state.filter === 'trash') params.deleted = 'true';
  else if (state.filter === 'archived') params.archived = 'true';
  else if (state.filter === 'pinned') params.pinned = 'true';
  else if (state.filter === 'starred') params.starred = 'true';
  return params;
}

/**
 * Pull the list (again). Pulls may overlap (a filter click during a resync): only the newest one's
 * answer is used, and events stay held until it is in.
 */
export async function pullList() {
  const pull = state.listPull;
  const generation = ++pull.generation;
  pull.loading = true;
  try {
    const page = await read('conversations.list', listParams());
    if (generation !== pull.generation) return page.event_seq;
    state.conversations.clear();
    for (const c of page.items) state.conversations.set(c.id, c);
    state.nextCursor = page.next_cursor;
    pull.seq = page.event_seq;
    return page.event_seq;
  } finally {
    if (generation === pull.generation) {
      pull.loading = false;
      const waiting = pull.buffer.splice(0);
      for (const event of waiting) onListEvent(event);
      renderList();
    }
  }
}

/** @param {any} event */
export function onListEvent(event) {
  const pull = state.listPull;
  if (pull.loading) {
    pull.buffer.push(event);
    return;
  }
  if (event.seq <= pull.seq) return;
  const { conversation_id: id, conversation } = event.data;
  if (conversation && matchesFilter(conversation)) state.conversations.set(id, conversation);
  else state.conversations.delete(id);
  renderList();
}

export function sortedConversations() {
  return [...state.conversations.values()].sort((a, b) => {
    if (a.pinned !== b.pinned) return a.pinned ? -1 : 1;
    return a.updated_at < b.updated_at ? 1 : a.updated_at > b.updated_at ? -1 : 0;
  });
}

export function renderList() {
  const items = sortedConversations().map((c) => {
    const li = el('li', { 'data-testid': 'conversation-item', 'data-conversation-id': c.id });
    const button = el('button', { type: 'button', class: 'conversation' });
    if (state.view && state.view.id === c.id) button.setAttribute('aria-current', 'true');
    const flags = [c.pinned && 'pinned', c.starred && 'starred', c.archived && 'archived', c.deleted_at && 'in the trash'].filter(Boolean);
    button.setAttribute('aria-label', `${titleOf(c)}${flags.length ? `, ${flags.join(', ')}` : ''}`);
    const head = el('span', { class: 'item-head' });
    head.append(el('span', { class: 'title' }, titleOf(c)));
    const badges = `${c.pinned ? '📌' : ''}${c.starred ? '★' : ''}`;
    if (badges) head.append(el('span', { class: 'badges', 'aria-hidden': 'true' }, badges));
    // Drawn by CSS from the attribute: the item's text stays its title.
    if (c.updated_at) head.append(el('span', { class: 'when', 'aria-hidden': 'true', 'data-when': relativeTime(c.updated_at) }));
    button.append(head);
    if (c.last_message_preview) button.append(el('span', { class: 'preview', 'aria-hidden': 'true' }, plainText(c.last_message_preview)));
    button.addEventListener('click', () => {
      closeDrawer();
      onOpen(c.id);
    });
    li.append(button);
    return li;
  });
  if (!items.length && !state.listPull.loading) {
    const empty = { all: 'No conversations yet.', trash: 'The trash is empty.' }[/** @type {'all'} */ (state.filter)] || `Nothing ${state.filter}.`;
    items.push(el('li', { class: 'empty' }, empty));
  }
  ui.list.replaceChildren(...items);
  ui.more.hidden = !state.nextCursor || state.listLimit >= 500;
}

/**
 * Arrow keys, Home and End move between the items of a list of buttons (the conversations, the
 * search results).
 * @param {KeyboardEvent} event @param {HTMLElement} list
 */
export function moveInList(event, list) {
  const buttons = /** @type {HTMLElement[]} */ ([...list.querySelectorAll('button')]);
  if (!buttons.length) return;
  const at = buttons.indexOf(/** @type {HTMLElement} */ (document.activeElement));
  let next = -1;
  if (event.key === 'ArrowDown') next = Math.min(at + 1, buttons.length - 1);
  else if (event.key === 'ArrowUp') next = Math.max(at - 1, 0);
  else if (event.key === 'Home') next = 0;
  else if (event.key === 'End') next = buttons.length - 1;
  if (next < 0) return;
  event.preventDefault();
  buttons[next].focus();
}

export function openDrawer() {
  ui.app.classList.add('drawer-open');
  ui.toggleList.setAttribute('aria-expanded', 'true');
  const current = ui.list.querySelector('[aria-current="true"]') || ui.list.querySelector('button') || ui.search;
  /** @type {HTMLElement} */ (current).focus();
}

export function closeDrawer() {
  if (!ui.app.classList.contains('drawer-open')) return;
  ui.app.classList.remove('drawer-open');
  ui.toggleList.setAttribute('aria-expanded', 'false');
}

export function toggleDrawer() {
  if (ui.app.classList.contains('drawer-open')) {
    closeDrawer();
    ui.toggleList.focus();
  } else {
    openDrawer();
  }
}
