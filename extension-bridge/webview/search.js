// @ts-check
/**
 * Search: one result per hit, with the conversation's title, the message's role and the snippet
 * with its matches marked (plain text ranges, no markup from the data). Opening a hit opens the
 * conversation, pages back until the message is loaded, scrolls to it and highlights it.
 */

import { SidecarError } from '../media/client.js';
import { client } from './host.js';
import { el, ui } from './dom.js';
import { closeDrawer } from './list.js';
import { describe, notify, timed } from './notices.js';
import { state, titleOf } from './state.js';
import { loadOlder, openConversation } from './view.js';
import { rows } from './rows.js';

const ROLE_NAMES = { user: 'You', assistant: 'Assistant', system: 'System', tool: 'Tool' };

let searchTimer = 0;
let searchRound = 0;

export function searchSoon() {
  clearTimeout(searchTimer);
  searchTimer = window.setTimeout(runSearch, 250);
}

export async function runSearch() {
  const q = ui.search.value.trim();
  const round = ++searchRound;
  if (!q) {
    ui.results.hidden = true;
    ui.list.hidden = false;
    return;
  }
  /** @type {{conversation_id: string, message_id: string | null, snippet: string, highlights: number[][], role?: string | null, conversation_title?: string | null}[]} */
  let hits;
  try {
    const found = await timed(client.call('search.query', { q, limit: 20 }));
    hits = found.items;
  } catch (error) {
    if (!(error instanceof SidecarError && error.methodMissing)) {
      if (round === searchRound) notify(`Search failed: ${describe(error)}`, { retry: runSearch });
      return;
    }
    // An older sidecar without full-text search: fall back to the list's title filter.
    const page = await client.call('conversations.list', { q, limit: 50, archived: 'any' });
    hits = page.items.map((/** @type {any} */ c) => ({ conversation_id: c.id, message_id: null, snippet: titleOf(c), highlights: [], conversation_title: c.title }));
  }
  if (round !== searchRound) return;
  ui.results.replaceChildren(...hits.map(resultItem));
  nameUnknown(hits, round);
  if (!hits.length) ui.results.append(el('li', { class: 'empty' }, `No matches for “${q}”`));
  ui.results.hidden = false;
  ui.list.hidden = true;
}

/**
 * Hits in conversations the list does not show (archived, another filter) from a sidecar that
 * does not send `conversation_title`: their titles are looked up, once per conversation.
 * @param {{conversation_id: string, conversation_title?: string | null}[]} hits @param {number} round
 */
async function nameUnknown(hits, round) {
  const unknown = new Set(hits.filter((h) => h.conversation_title === undefined && !state.conversations.has(h.conversation_id)).map((h) => h.conversation_id));
  for (const id of unknown) {
    const found = await timed(client.call('conversations.get', { conversation_id: id, limit: 1 })).catch(() => null);
    if (!found || round !== searchRound) continue;
    for (const item of ui.results.querySelectorAll(`[data-conversation-id="${CSS.escape(id)}"] .title`)) item.textContent = titleOf(found);
  }
}

/** @param {{conversation_id: string, message_id: string | null, snippet: string, highlights: number[][], role?: string | null, conversation_title?: string | null}} hit */
function resultItem(hit) {
  const li = el('li', { 'data-testid': 'search-result', 'data-conversation-id': hit.conversation_id });
  if (hit.message_id) li.setAttribute('data-message-id', hit.message_id);
  const button = el('button', { type: 'button', class: 'conversation search-result' });
  const known = state.conversations.get(hit.conversation_id);
  const title = hit.conversation_title || (known ? titleOf(known) : 'Untitled');
  const head = el('span', { class: 'item-head' });
  head.append(el('span', { class: 'title' }, title));
  const role = hit.role ? /** @type {Record<string, string>} */ (ROLE_NAMES)[hit.role] || hit.role : hit.message_id ? '' : 'Title';
  if (role) head.append(el('span', { class: 'role', 'data-testid': 'search-role' }, role));
  button.append(head, snippetNode(hit.snippet, hit.highlights || []));
  button.setAttribute('aria-label', `${role ? `${role} in ` : ''}${title}: ${hit.snippet}`);
  button.addEventListener('click', () => {
    closeDrawer();
    openHit(hit.conversation_id, hit.message_id);
  });
  li.append(button);
  return li;
}

/**
 * Open a search hit: the conversation, and for a message hit that message, paging back through
 * the history until it is loaded, scrolled into view, focused and highlighted.
 * @param {string} conversationId @param {string | null} messageId
 */
export async function openHit(conversationId, messageId) {
  if (!state.view || state.view.id !== conversationId) await openConversation(conversationId);
  if (!messageId) return;
  for (let page = 0; page < 40; page++) {
    const view = state.view;
    if (!view || view.id !== conversationId) return;
    const row = rows.get(messageId);
    if (row) {
      for (const old of ui.messages.querySelectorAll('.msg.hit')) old.classList.remove('hit');
      row.classList.add('hit');
      const content = /** @type {HTMLElement} */ (row.querySelector('[data-testid="message"]'));
      content.setAttribute('tabindex', '-1');
      content.scrollIntoView({ block: 'center' });
      content.focus({ preventScroll: true });
      return;
    }
    if (!view.hasMore) {
      notify('That message is on another branch of this conversation; the conversation is open.', { kind: 'info' });
      return;
    }
    await loadOlder();
  }
}

/**
 * A snippet with its highlighted ranges as <mark>: plain text pieces, no markup from the data.
 * @param {string} snippet @param {number[][]} highlights
 */
function snippetNode(snippet, highlights) {
  const node = el('span', { class: 'snippet' });
  let at = 0;
  for (const [start, end] of [...highlights].sort((a, b) => a[0] - b[0])) {
    if (start < at || end <= start) continue;
    node.append(document.createTextNode(snippet.slice(at, start)), el('mark', {}, snippet.slice(start, end)));
    at = end;
  }
  node.append(document.createTextNode(snippet.slice(at)));
  return node;
}
