// @ts-check
/**
 * Drawing the open conversation: its header (title, flags, totals, what the trash allows), its
 * messages (rows.js), the composer's buttons, and the first-use help when there is nothing yet.
 */

import { el, ui } from './dom.js';
import { scheduleRender } from './markdown.js';
import { messageRow, rows } from './rows.js';
import { ACTIVE, RETRYABLE, inTrash, state, titleOf } from './state.js';

/** What the sidecar said about itself (`sidecar.health`), for the first-use help. @type {any} */
let health = null;
/** @param {any} value */
export function setHealth(value) {
  health = value;
  renderEmptyState();
}

function nearBottom() {
  return ui.history.scrollHeight - ui.history.scrollTop - ui.history.clientHeight < 80;
}

/**
 * Whether the history is scrolled to its end, as of the last scroll: a streaming reply keeps it
 * there without reading the layout on every delta (which would force a layout each time).
 */
let atBottom = true;
ui.history.addEventListener('scroll', () => {
  atBottom = nearBottom();
}, { passive: true });

/** @param {boolean} [toBottom] */
export function renderView(toBottom = false) {
  const view = state.view;
  const stick = nearBottom();
  ui.actions.hidden = !view || !view.conversation;
  if (!view) {
    ui.title.textContent = 'No conversation open';
    ui.totals.textContent = '';
    ui.messages.replaceChildren();
    rows.clear();
    ui.older.hidden = true;
    renderReadOnly();
    renderControls();
    renderEmptyState();
    return;
  }
  const c = view.conversation;
  ui.title.textContent = c ? titleOf(c) : view.failed ? 'Could not load this conversation' : 'Loading…';
  if (c) renderHeader(c);
  renderReadOnly();
  ui.older.hidden = !view.hasMore;
  // Tool calls shown on a card (which shows their result or error): their tool messages are not shown again.
  const toolResultsShown = new Set();
  for (const m of view.messages) for (const call of m.tool_calls || []) toolResultsShown.add(call.id);
  const lastAssistant = [...view.messages].reverse().find((m) => m.role === 'assistant');
  const busy = ACTIVE.has(view.turn.state);
  const wanted = [
    ...view.messages.map((m) =>
      messageRow(m, false, { last: m === lastAssistant, toolResultShown: toolResultsShown.has(m.tool_call_id), busy }),
    ),
    ...(state.outbox.get(view.id) || []).map((q) =>
      messageRow({ id: q.client_message_id, role: 'user', content: q.content, status: q.status, tool_calls: null }, true, { last: false, toolResultShown: false, busy }),
    ),
  ];
  const keep = new Set(wanted);
  for (const [key, row] of rows) if (!keep.has(row)) rows.delete(key);
  wanted.forEach((row, i) => {
    if (ui.messages.children[i] !== row) ui.messages.insertBefore(row, ui.messages.children[i] || null);
  });
  while (ui.messages.children.length > wanted.length) ui.messages.lastElementChild.remove();
  renderControls();
  renderEmptyState();
  if (toBottom || stick) ui.history.scrollTop = ui.history.scrollHeight;
}

/** @param {any} c */
function renderHeader(c) {
  const view = /** @type {import('./state.js').View} */ (state.view);
  ui.star.setAttribute('aria-pressed', String(Boolean(c.starred)));
  ui.pin.setAttribute('aria-pressed', String(Boolean(c.pinned)));
  ui.archive.setAttribute('aria-pressed', String(Boolean(c.archived)));
  ui.star.textContent = c.starred ? 'Unstar' : 'Star';
  ui.pin.textContent = c.pinned ? 'Unpin' : 'Pin';
  ui.archive.textContent = c.archived ? 'Unarchive' : 'Archive';
  const usage = c.usage;
  ui.totals.textContent = usage && (usage.input_tokens || usage.output_tokens) ? `${usage.input_tokens} in / ${usage.output_tokens} out tokens in total` : '';
  const active = c.active_branch;
  const options = (view.branches.length ? view.branches : [{ name: active }]).map((b) => {
    const option = el('option', { value: b.name }, b.name === 'main' ? 'main (first version)' : b.name);
    if (b.name === active) option.setAttribute('selected', '');
    return option;
  });
  ui.branch.replaceChildren(...options);
  ui.branch.value = active;
  ui.branch.hidden = options.length < 2;
}

/** The trash is read-only: Restore and Delete forever, nothing that writes. */
function renderReadOnly() {
  const trash = inTrash();
  for (const button of [ui.rename, ui.star, ui.pin, ui.archive, ui.del]) button.hidden = trash;
  ui.branch.disabled = trash;
  ui.restore.hidden = !trash;
  ui.deleteForever.hidden = !trash;
  ui.trashNote.hidden = !trash;
  ui.composer.disabled = trash;
  ui.send.disabled = trash;
}

export function renderControls() {
  const view = state.view;
  const turnState = view ? view.turn.state : 'idle';
  ui.stop.hidden = !(view && view.turn.id && ACTIVE.has(turnState));
  ui.retry.hidden = !(view && view.turn.id && RETRYABLE.has(turnState)) || inTrash();
}

/** First use, or an empty conversation: what to do, and who will answer. */
function renderEmptyState() {
  const view = state.view;
  const empty = !view ? true : Boolean(view.conversation) && !view.messages.length && !(state.outbox.get(view.id) || []).length;
  ui.emptyState.hidden = !empty;
  if (!empty) return;
  const provider = health && typeof health.provider === 'string' ? health.provider : null;
  const lines = [
    el('p', { class: 'lead' }, view ? 'This conversation is empty.' : 'No conversation open.'),
    el('p', {}, 'Type a message below and press Enter to send it (Shift+Enter starts a new line). Replies are kept by the sidecar, so nothing is lost when this window reloads.'),
    el('p', {}, provider
      ? `Replies come from the “${provider}” provider${provider === 'echo' ? ', which repeats what you write (no model)' : ''}.`
      : 'Replies come from the sidecar’s provider; the default, “echo”, repeats what you write (no model).'),
    el('p', {}, 'To use another: in VS Code set “chatSidecar.provider” (echo, openai or external) and run “Chat Sidecar: Set Provider API Key”; outside VS Code start the sidecar with “chat-sidecar serve --provider openai”.'),
  ];
  ui.emptyState.replaceChildren(...lines);
}

function keepAtBottom() {
  if (atBottom) ui.history.scrollTop = ui.history.scrollHeight;
}

/** A streaming delta: only this message's text is rendered again, at most once a frame. @param {any} message */
export function updateContent(message) {
  const row = rows.get(message.id);
  if (!row) return;
  const body = /** @type {HTMLElement} */ (row.querySelector('[data-testid="message-body"]'));
  scheduleRender(body, message.content, keepAtBottom);
}
