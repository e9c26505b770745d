// @ts-check
/**
 * One message on screen: who and when (relative time, exact on hover), model and token usage
 * where the provider reported them, the content as sanitised Markdown, its tool calls as cards
 * (a tool's result is shown once, in its card), and its actions: copy, edit and resend,
 * regenerate, and "‹ n of m ›" when other versions of it exist on other branches.
 */

import { client } from './host.js';
import { el } from './dom.js';
import { renderNow } from './markdown.js';
import { attempt } from './notices.js';
import { inTrash, state } from './state.js';
import { timeElement } from './time.js';
import { regenerate, resend, startEdit } from './composer.js';
import { showSibling } from './view.js';

const WHO = { user: 'You', assistant: 'Assistant', system: 'System', tool: 'Tool' };

/** @type {Map<string, HTMLElement>} message id (or client id while queued) -> its row */
export const rows = new Map();
/**
 * What each row last showed: a row is rebuilt only when its message object (replaced on every
 * update; deltas render the text directly) or its context changed, so focus on its buttons
 * survives unrelated events.
 * @type {WeakMap<HTMLElement, {message: any, key: string}>}
 */
const shown = new WeakMap();

/**
 * @param {any} message @param {boolean} queued
 * @param {{last: boolean, toolResultShown: boolean, busy: boolean}} context
 */
export function messageRow(message, queued, context) {
  let row = rows.get(message.id);
  if (!row) {
    row = el('li', { class: `msg ${message.role}` });
    const content = el('div', { 'data-testid': 'message', class: 'content' });
    content.append(el('div', { 'data-testid': 'message-body', class: 'md' }));
    row.append(el('div', { class: 'meta' }), content, el('div', { class: 'state' }), el('div', { class: 'tools' }), el('div', { class: 'actions' }));
    rows.set(message.id, row);
  }
  const label = statusLabel(message.status);
  const siblings = siblingsOf(message);
  const key = [label, context.last, context.toolResultShown, context.busy, inTrash(), siblings.map((s) => s.id).join()].join('|');
  const last = shown.get(row);
  if (last && last.message === message && last.key === key) return row;
  // Rendered whole when the text or the status changed (a finished reply is rendered once whole,
  // after the growing renders of its stream).
  const contentChanged = !last || last.message.content !== message.content || last.message.status !== message.status;
  shown.set(row, { message, key });
  const [meta, content, status, tools, actions] = /** @type {HTMLElement[]} */ ([...row.children]);
  // A tool message repeats a result its card already shows: it stays in the DOM (for tests and
  // screen readers' history) but is not shown twice.
  row.hidden = message.role === 'tool' && context.toolResultShown;
  row.classList.toggle('last', context.last);
  renderMeta(meta, message);
  content.setAttribute('data-role', message.role);
  content.setAttribute('data-status', message.status);
  content.setAttribute('data-message-id', message.id);
  content.setAttribute('aria-busy', String(message.status === 'streaming'));
  if (contentChanged) renderNow(/** @type {HTMLElement} */ (content.firstElementChild), message.content || '');
  status.textContent = label;
  renderTools(tools, message);
  renderActions(actions, message, queued, context, siblings);
  return row;
}

/** @param {HTMLElement} meta @param {any} message */
function renderMeta(meta, message) {
  meta.replaceChildren(el('span', { class: 'who' }, /** @type {Record<string, string>} */ (WHO)[message.role] || message.role));
  if (message.created_at) meta.append(timeElement(message.created_at));
  const usage = message.metadata && message.metadata.usage;
  if (usage) {
    const parts = [usage.model, Number.isFinite(usage.input_tokens) ? `${usage.input_tokens} in / ${usage.output_tokens} out tokens` : ''].filter(Boolean);
    meta.append(el('span', { class: 'usage', 'data-testid': 'message-usage' }, parts.join(' · ')));
  }
}

/** The versions of `message` on other branches (same parent), itself included, oldest first. @param {any} message */
function siblingsOf(message) {
  const view = state.view;
  if (!view || !message.conversation_id) return [];
  const siblings = view.tree.children.get(message.parent_id || '') || [];
  return siblings.length > 1 && siblings.some((s) => s.id === message.id) ? siblings : [];
}

/**
 * @param {HTMLElement} box @param {any} message @param {boolean} queued
 * @param {{last: boolean, busy: boolean}} context @param {any[]} siblings
 */
function renderActions(box, message, queued, context, siblings) {
  box.replaceChildren();
  if (queued) {
    if (message.status === 'failed') {
      const again = el('button', { type: 'button', 'data-testid': 'send-again' }, 'Send again');
      again.addEventListener('click', () => resend(message.id));
      box.append(again);
    }
    return;
  }
  if (siblings.length) box.append(switcher(message, siblings));
  if (message.role === 'tool') return;
  if (message.content) {
    const copy = el('button', { type: 'button', class: 'small', 'data-testid': 'copy-message', 'aria-label': 'Copy this message' }, 'Copy');
    copy.addEventListener('click', () => copyText(copy, message.content));
    box.append(copy);
  }
  if (inTrash()) return;
  if (message.role === 'user') {
    const edit = el('button', { type: 'button', class: 'small', 'data-testid': 'edit-message', 'aria-label': 'Edit this message and resend' }, 'Edit');
    edit.addEventListener('click', () => startEdit(message));
    box.append(edit);
  }
  if (message.role === 'assistant' && context.last && !context.busy) {
    const again = el('button', { type: 'button', class: 'small', 'data-testid': 'regenerate', 'aria-label': 'Write this reply again' }, 'Regenerate');
    again.addEventListener('click', () => regenerate(message));
    box.append(again);
  }
}

/** "‹ n of m ›": the other versions of this message. @param {any} message @param {any[]} siblings */
function switcher(message, siblings) {
  const at = siblings.findIndex((s) => s.id === message.id);
  const box = el('span', { class: 'switcher', 'data-testid': 'branch-switcher', role: 'group', 'aria-label': 'Versions of this message' });
  const previous = el('button', { type: 'button', class: 'small', 'aria-label': 'Previous version' }, '‹');
  const next = el('button', { type: 'button', class: 'small', 'aria-label': 'Next version' }, '›');
  /** @type {HTMLButtonElement} */ (previous).disabled = at <= 0;
  /** @type {HTMLButtonElement} */ (next).disabled = at >= siblings.length - 1;
  previous.addEventListener('click', () => showSibling(siblings[at - 1].id));
  next.addEventListener('click', () => showSibling(siblings[at + 1].id));
  box.append(previous, el('span', { class: 'count', 'aria-live': 'polite' }, `${at + 1} of ${siblings.length}`), next);
  return box;
}

/**
 * Copy to the clipboard, and say so on the button for a moment.
 * @param {HTMLElement} button @param {string} text
 */
export async function copyText(button, text) {
  const done = await attempt('copy to the clipboard', () => navigator.clipboard.writeText(text).then(() => true));
  if (!done) return;
  button.classList.add('copied');
  button.setAttribute('data-copied', 'true');
  setTimeout(() => {
    button.classList.remove('copied');
    button.removeAttribute('data-copied');
  }, 1500);
}

/** @param {string} status */
function statusLabel(status) {
  return {
    queued: client.state === 'connected' ? 'Sending…' : 'Queued: sent when the sidecar is back',
    failed: 'Failed',
    interrupted: 'Interrupted',
    cancelled: 'Stopped',
  }[/** @type {'queued'} */ (status)] || '';
}

/** @param {HTMLElement} box @param {any} message */
function renderTools(box, message) {
  box.replaceChildren();
  const calls = Array.isArray(message.tool_calls) ? message.tool_calls : [];
  for (const call of calls) {
    const card = el('div', { class: `tool-card ${call.status}`, 'data-testid': 'tool-card', 'data-tool-call-id': call.id, 'data-tool-status': call.status, role: 'group', 'aria-label': `Tool call ${call.name}: ${call.status}` });
    const head = el('div', { class: 'tool-head' });
    head.append(el('strong', {}, call.name), el('span', { class: 'tool-status' }, call.status === 'pending' ? 'waiting for your approval' : call.status));
    card.append(head, el('code', { class: 'arguments' }, JSON.stringify(call.arguments)));
    if (call.status === 'pending' && message.turn_id && !inTrash()) {
      const buttons = el('div', { class: 'buttons' });
      const approve = el('button', { type: 'button', 'data-testid': 'approve-tool', 'aria-label': `Approve ${call.name}` }, 'Approve');
      const deny = el('button', { type: 'button', 'data-testid': 'deny-tool', 'aria-label': `Deny ${call.name}` }, 'Deny');
      approve.addEventListener('click', () => decide(message, call.id, true));
      deny.addEventListener('click', () => decide(message, call.id, false));
      buttons.append(approve, deny);
      card.append(buttons);
    }
    if (call.result !== undefined && call.result !== null) {
      card.append(el('div', { class: 'result-label' }, 'Result'), el('code', { class: 'result' }, typeof call.result === 'string' ? call.result : JSON.stringify(call.result)));
    }
    if (call.error) card.append(el('div', { class: 'tool-error' }, String(call.error)));
    box.append(card);
  }
}

/** @param {any} message @param {string} toolCallId @param {boolean} approved */
async function decide(message, toolCallId, approved) {
  const view = state.view;
  if (!view) return;
  const pending = message.tool_calls.filter((/** @type {any} */ c) => c.status === 'pending');
  let taken = state.decisions.get(message.turn_id);
  if (!taken) state.decisions.set(message.turn_id, (taken = new Map()));
  taken.set(toolCallId, approved);
  if (pending.some((/** @type {any} */ c) => !taken.has(c.id))) return; // wait for the others
  state.decisions.delete(message.turn_id);
  const decisions = pending.map((/** @type {any} */ c) => ({ tool_call_id: c.id, approved: Boolean(taken.get(c.id)) }));
  await attempt('send the tool decision', () => client.call('chat.approveTools', { conversation_id: view.id, turn_id: message.turn_id, decisions }));
}
