// @ts-check
/**
 * The reference chat UI: a thin renderer of the sidecar's state (CONTRACT §9).
 *
 * It keeps no chat data of its own (nothing in localStorage but the one-time legacy export mark):
 * every view is a pull, kept current by events (§6). Each pulled thing (the conversation list, the
 * open conversation) remembers the `event_seq` of its pull and ignores events at or before it, so
 * "pull, then subscribe" misses nothing and repeats nothing; events that arrive while a pull is in
 * flight wait for it. All chat text is rendered with `textContent`, never as markup.
 *
 * Sending goes through an outbox per conversation: one `chat.sendMessage` at a time, the next one
 * only once the previous turn has finished (the sidecar refuses a send while a turn runs). Queued
 * messages are shown with `data-status="queued"` until the sidecar has them; while it is
 * unreachable they wait in the transport's offline queue, with their client ids, so each is sent
 * exactly once when it is back.
 */

import { HttpTransport, PostMessageTransport, SidecarClient, SidecarError, applyDelta, newId } from './client.js';

/** Turn states in which the conversation is busy (§4): no new send, Stop is offered. */
const ACTIVE = new Set(['streaming', 'awaiting_tool_approval', 'executing_tools', 'transient_failure']);
/** Turn states a Retry can follow (§4). */
const RETRYABLE = new Set(['permanent_failure', 'interrupted', 'cancelled']);
const PAGE = 50;
const LEGACY_MARK = 'chatSidecar.legacyExportDone';

/** @param {string} id @returns {any} */
const $ = (id) => /** @type {any} */ (document.getElementById(id));

const ui = {
  list: $('conversation-list'),
  more: $('more-conversations'),
  results: $('search-results'),
  search: $('search'),
  connection: $('connection'),
  title: $('chat-title'),
  renameForm: $('rename-form'),
  renameInput: $('rename-input'),
  actions: $('chat-actions'),
  branch: $('branch'),
  star: $('star'),
  pin: $('pin'),
  archive: $('archive'),
  del: $('delete'),
  restore: $('restore'),
  history: $('history'),
  older: $('load-older'),
  messages: $('messages'),
  notice: $('notice'),
  form: $('composer-form'),
  composer: $('composer'),
  send: $('send'),
  stop: $('stop'),
  retry: $('retry'),
  editing: $('editing'),
};

// ------------------------------------------------------------------ connection

const fragment = new URLSearchParams(location.hash.replace(/^#/, ''));
/** @type {any} */
const vscodeApi = typeof (/** @type {any} */ (globalThis).acquireVsCodeApi) === 'function'
  ? /** @type {any} */ (globalThis).acquireVsCodeApi()
  : null;
const token = fragment.get('token') || '';
/**
 * What the VS Code extension opened this panel with (`<meta name="chat-sidecar-config">`):
 * `{host: 'vscode', newChat}`; absent in a plain browser.
 * @type {{host?: string, newChat?: boolean}}
 */
const panelConfig = (() => {
  const meta = document.querySelector('meta[name="chat-sidecar-config"]');
  try {
    return meta ? JSON.parse(meta.getAttribute('content') || '{}') : {};
  } catch {
    return {};
  }
})();
const client = new SidecarClient(
  vscodeApi ? new PostMessageTransport(vscodeApi) : new HttpTransport({ baseUrl: location.origin, token }),
);

// ------------------------------------------------------------------ state

/**
 * A pulled thing: its seq, the events that came while its pull was in flight, and a counter so
 * that of overlapping pulls only the newest counts.
 * @typedef {{seq: number, loading: boolean, buffer: any[], generation: number}} Pull
 */

const state = {
  /** @type {Map<string, any>} conversations shown in the list, by id */
  conversations: new Map(),
  /** @type {Pull} */
  listPull: { seq: -1, loading: false, buffer: [], generation: 0 },
  filter: 'all',
  /** how many conversations the list shows; "More…" raises it (one consistent pull, no cursor) */
  listLimit: 100,
  /** @type {string | null} */
  nextCursor: null,
  /** @type {null | {id: string, conversation: any, messages: any[], hasMore: boolean, pull: Pull, turn: {id: string | null, state: string}, branches: any[]}} */
  view: null,
  /** @type {Map<string, {client_message_id: string, conversation_id: string, content: string, parent_id?: string | null, status: string}[]>} */
  outbox: new Map(),
  /** @type {Set<string>} conversations whose outbox is being sent */
  draining: new Set(),
  /** @type {Map<string, Set<() => void>>} waiting for a conversation's turn to end */
  idleWaiters: new Map(),
  /** @type {Map<string, string>} latest known turn state per conversation */
  turnStates: new Map(),
  /** @type {null | {message: any}} the user message being edited */
  editing: null,
  /** @type {Map<string, Map<string, boolean>>} tool decisions taken so far, per turn */
  decisions: new Map(),
};

// ------------------------------------------------------------------ small helpers

/** @param {string} tag @param {Record<string, string>} [attrs] @param {string} [text] */
function el(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

/** @param {string} text @param {'error' | 'info'} [kind] */
function notify(text, kind = 'error') {
  ui.notice.textContent = text;
  ui.notice.className = `notice ${kind}`;
  ui.notice.hidden = !text;
}

/** @param {unknown} error */
function describe(error) {
  return error instanceof SidecarError ? `${error.message} (${error.code})` : String(error);
}

/** @param {any} conversation */
function titleOf(conversation) {
  return (conversation && conversation.title) || 'Untitled';
}

/**
 * Remember which conversation is open (only its id), so a reload reopens it: in VS Code in the
 * webview's own state (`setState`), in a browser in the URL fragment next to the token.
 */
function rememberOpen() {
  if (vscodeApi) {
    vscodeApi.setState({ ...(vscodeApi.getState() || {}), conversation_id: state.view ? state.view.id : null });
    return;
  }
  const params = new URLSearchParams(location.hash.replace(/^#/, ''));
  if (state.view) params.set('c', state.view.id);
  else params.delete('c');
  history.replaceState(null, '', `#${params.toString()}`);
}

// ------------------------------------------------------------------ conversation list

/** @param {any} c */
function matchesFilter(c) {
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
async function pullList() {
  const pull = state.listPull;
  const generation = ++pull.generation;
  pull.loading = true;
  try {
    const page = await client.call('conversations.list', listParams());
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
function onListEvent(event) {
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

function sortedConversations() {
  return [...state.conversations.values()].sort((a, b) => {
    if (a.pinned !== b.pinned) return a.pinned ? -1 : 1;
    return a.updated_at < b.updated_at ? 1 : a.updated_at > b.updated_at ? -1 : 0;
  });
}

function renderList() {
  const items = sortedConversations().map((c) => {
    const li = el('li', { 'data-testid': 'conversation-item', 'data-conversation-id': c.id });
    const button = el('button', { type: 'button', class: 'conversation' });
    if (state.view && state.view.id === c.id) button.setAttribute('aria-current', 'true');
    button.append(el('span', { class: 'title' }, titleOf(c)));
    const badges = `${c.pinned ? ' 📌' : ''}${c.starred ? ' ★' : ''}`;
    if (badges) button.append(el('span', { class: 'badges', 'aria-label': `${c.pinned ? 'pinned ' : ''}${c.starred ? 'starred' : ''}` }, badges));
    if (c.last_message_preview) button.append(el('span', { class: 'preview' }, c.last_message_preview));
    button.addEventListener('click', () => openConversation(c.id));
    li.append(button);
    return li;
  });
  ui.list.replaceChildren(...items);
  ui.more.hidden = !state.nextCursor || state.listLimit >= 500;
}

// ------------------------------------------------------------------ search

let searchTimer = 0;
let searchRound = 0;

async function runSearch() {
  const q = ui.search.value.trim();
  const round = ++searchRound;
  if (!q) {
    ui.results.hidden = true;
    ui.list.hidden = false;
    return;
  }
  /** @type {{conversation_id: string, message_id: string | null, snippet: string, highlights: number[][]}[]} */
  let hits;
  try {
    const found = await client.call('search.query', { q, limit: 20 });
    hits = found.items;
  } catch (error) {
    if (!(error instanceof SidecarError && error.methodMissing)) {
      notify(`search failed: ${describe(error)}`);
      return;
    }
    // An older sidecar without full-text search: fall back to the list's title filter.
    const page = await client.call('conversations.list', { q, limit: 50, archived: 'any' });
    hits = page.items.map((/** @type {any} */ c) => ({ conversation_id: c.id, message_id: null, snippet: titleOf(c), highlights: [] }));
  }
  if (round !== searchRound) return;
  ui.results.replaceChildren(
    ...hits.map((hit) => {
      const li = el('li', { 'data-testid': 'search-result', 'data-conversation-id': hit.conversation_id });
      const button = el('button', { type: 'button', class: 'conversation search-result' });
      const known = state.conversations.get(hit.conversation_id);
      button.append(el('span', { class: 'title' }, known ? titleOf(known) : hit.conversation_id));
      button.append(snippetNode(hit.snippet, hit.highlights || []));
      button.addEventListener('click', () => openHit(hit.conversation_id, hit.message_id));
      li.append(button);
      return li;
    }),
  );
  if (!hits.length) ui.results.append(el('li', { class: 'empty' }, 'No matches'));
  ui.results.hidden = false;
  ui.list.hidden = true;
}

/**
 * Open a search hit: the conversation, and for a message hit that message, paging back through
 * the history until it is loaded, scrolled into view and focused.
 * @param {string} conversationId @param {string | null} messageId
 */
async function openHit(conversationId, messageId) {
  if (!state.view || state.view.id !== conversationId) await openConversation(conversationId);
  if (!messageId) return;
  for (let page = 0; page < 20; page++) {
    const view = state.view;
    if (!view || view.id !== conversationId) return;
    const row = rows.get(messageId);
    if (row) {
      const content = /** @type {HTMLElement} */ (row.children[1]);
      content.setAttribute('tabindex', '-1');
      content.scrollIntoView({ block: 'center' });
      content.focus();
      return;
    }
    if (!view.hasMore) return; // on another branch: the conversation is open, that is all
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

// ------------------------------------------------------------------ the open conversation

/** @param {string} id */
async function openConversation(id) {
  state.editing = null;
  ui.editing.hidden = true;
  state.view = {
    id,
    conversation: null,
    messages: [],
    hasMore: false,
    pull: { seq: -1, loading: true, buffer: [], generation: 0 },
    turn: { id: null, state: 'idle' },
    branches: [],
  };
  rememberOpen();
  renderList();
  renderView();
  await pullView();
  ui.composer.focus();
}

/** Pull the open conversation (its latest page on the active branch) and its branches. */
async function pullView() {
  const view = state.view;
  if (!view) return;
  const generation = ++view.pull.generation;
  const current = () => state.view === view && generation === view.pull.generation;
  view.pull.loading = true;
  try {
    const page = await client.call('conversations.get', { conversation_id: view.id, limit: PAGE });
    const branches = await client.call('branches.list', { conversation_id: view.id }).catch(() => []);
    if (!current()) return;
    const { messages, has_more: hasMore, event_seq: seq, ...conversation } = page;
    view.conversation = conversation;
    view.messages = messages;
    view.hasMore = hasMore;
    view.pull.seq = seq;
    setTurn(view, latestTurnId(messages), conversation.state);
    view.branches = branches;
    for (const m of messages) dropQueued(m);
  } catch (error) {
    if (current()) {
      notify(`could not open the conversation: ${describe(error)}`);
      state.view = null;
      rememberOpen();
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

let loadingOlder = false;

/** Lazy history: the page before the oldest message shown, kept in place on the screen. */
async function loadOlder() {
  const view = state.view;
  if (!view || !view.hasMore || !view.messages.length || view.pull.loading || loadingOlder) return;
  const before = view.messages[0].id;
  loadingOlder = true;
  /** @type {any} */
  let page;
  try {
    page = await client.call('messages.list', { conversation_id: view.id, before, limit: PAGE });
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

/** @param {NonNullable<typeof state.view>} view @param {string | null} turnId @param {string} turnState */
function setTurn(view, turnId, turnState) {
  if (turnId) view.turn.id = turnId;
  view.turn.state = turnState;
  noteTurnState(view.id, turnState);
}

/** @param {string} conversationId @param {string} turnState */
function noteTurnState(conversationId, turnState) {
  state.turnStates.set(conversationId, turnState);
  if (ACTIVE.has(turnState)) return;
  const waiters = state.idleWaiters.get(conversationId);
  if (!waiters) return;
  state.idleWaiters.delete(conversationId);
  for (const wake of waiters) wake();
}

/** @param {any} event */
function onViewEvent(event) {
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
          notify('This conversation was deleted for good.', 'info');
          state.view = null;
          rememberOpen();
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

/** @param {NonNullable<typeof state.view>} view @param {any} message */
function belongsAtTail(view, message) {
  const tail = view.messages[view.messages.length - 1];
  return tail ? message.parent_id === tail.id : message.parent_id === null && !view.hasMore;
}

let repullQueued = false;
/** Something does not fit the view (a new branch, a gap): pull it again, once per burst. */
function repull() {
  if (repullQueued) return;
  repullQueued = true;
  queueMicrotask(() => {
    repullQueued = false;
    pullView();
  });
}

// ------------------------------------------------------------------ rendering the conversation

/** @type {Map<string, HTMLElement>} message id (or client id while queued) -> its row */
const rows = new Map();
/**
 * What each row last showed: a row is rebuilt only when its message object (replaced on every
 * update; deltas write the text directly) or its status line changed, so focus on its buttons
 * survives unrelated events.
 * @type {WeakMap<HTMLElement, {message: any, label: string}>}
 */
const shown = new WeakMap();

/** @param {boolean} [toBottom] */
function renderView(toBottom = false) {
  const view = state.view;
  ui.actions.hidden = !view || !view.conversation;
  const nearBottom = ui.history.scrollHeight - ui.history.scrollTop - ui.history.clientHeight < 80;
  if (!view) {
    ui.title.textContent = 'No conversation open';
    ui.messages.replaceChildren();
    rows.clear();
    ui.older.hidden = true;
    renderControls();
    return;
  }
  const c = view.conversation;
  ui.title.textContent = c ? titleOf(c) : 'Loading…';
  if (c) {
    ui.star.setAttribute('aria-pressed', String(Boolean(c.starred)));
    ui.pin.setAttribute('aria-pressed', String(Boolean(c.pinned)));
    ui.archive.setAttribute('aria-pressed', String(Boolean(c.archived)));
    ui.star.textContent = c.starred ? 'Unstar' : 'Star';
    ui.pin.textContent = c.pinned ? 'Unpin' : 'Pin';
    ui.archive.textContent = c.archived ? 'Unarchive' : 'Archive';
    ui.del.hidden = Boolean(c.deleted_at);
    ui.restore.hidden = !c.deleted_at;
    renderBranches(view);
  }
  ui.older.hidden = !view.hasMore;
  const wanted = [
    ...view.messages.map((m) => messageRow(m, false)),
    ...(state.outbox.get(view.id) || []).map((q) => messageRow(queuedAsMessage(q), true)),
  ];
  const keep = new Set(wanted);
  for (const [key, row] of rows) if (!keep.has(row)) rows.delete(key);
  wanted.forEach((row, i) => {
    if (ui.messages.children[i] !== row) ui.messages.insertBefore(row, ui.messages.children[i] || null);
  });
  while (ui.messages.children.length > wanted.length) ui.messages.lastElementChild.remove();
  renderControls();
  if (toBottom || nearBottom) ui.history.scrollTop = ui.history.scrollHeight;
}

/** @param {{client_message_id: string, conversation_id: string, content: string, status: string}} q */
function queuedAsMessage(q) {
  return { id: q.client_message_id, role: 'user', content: q.content, status: q.status, tool_calls: null };
}

/** @param {any} message @param {boolean} queued */
function messageRow(message, queued) {
  const key = message.id;
  let row = rows.get(key);
  if (!row) {
    row = el('li', { class: `msg ${message.role}` });
    row.append(el('div', { class: 'who' }), el('div', { 'data-testid': 'message', class: 'content' }), el('div', { class: 'state' }), el('div', { class: 'tools' }), el('div', { class: 'actions' }));
    rows.set(key, row);
  }
  const label = statusLabel(message.status);
  const last = shown.get(row);
  if (last && last.message === message && last.label === label) return row;
  shown.set(row, { message, label });
  const [who, content, status, tools, actions] = /** @type {HTMLElement[]} */ ([...row.children]);
  who.textContent = { user: 'You', assistant: 'Assistant', system: 'System', tool: 'Tool' }[/** @type {'user'} */ (message.role)] || message.role;
  content.setAttribute('data-role', message.role);
  content.setAttribute('data-status', message.status);
  content.setAttribute('data-message-id', message.id);
  if (content.textContent !== message.content) content.textContent = message.content;
  content.setAttribute('aria-busy', String(message.status === 'streaming'));
  status.textContent = label;
  renderTools(tools, message);
  actions.replaceChildren();
  if (queued && message.status === 'failed') {
    const again = el('button', { type: 'button', 'data-testid': 'send-again' }, 'Send again');
    again.addEventListener('click', () => resend(message.id));
    actions.append(again);
  } else if (!queued && message.role === 'user') {
    const edit = el('button', { type: 'button', 'data-testid': 'edit-message', 'aria-label': 'Edit this message and resend' }, 'Edit');
    edit.addEventListener('click', () => startEdit(message));
    actions.append(edit);
  }
  return row;
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

/** Put a message that failed to send back in its outbox (same client id). @param {string} clientMessageId */
function resend(clientMessageId) {
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

/** A streaming delta: only the text changes. @param {any} message */
function updateContent(message) {
  const row = rows.get(message.id);
  if (!row) return;
  const nearBottom = ui.history.scrollHeight - ui.history.scrollTop - ui.history.clientHeight < 80;
  row.children[1].textContent = message.content;
  if (nearBottom) ui.history.scrollTop = ui.history.scrollHeight;
}

/** @param {HTMLElement} box @param {any} message */
function renderTools(box, message) {
  box.replaceChildren();
  const calls = Array.isArray(message.tool_calls) ? message.tool_calls : [];
  for (const call of calls) {
    const card = el('div', { class: 'tool-card', 'data-testid': 'tool-card', 'data-tool-call-id': call.id, 'data-tool-status': call.status, role: 'group', 'aria-label': `Tool call ${call.name}` });
    card.append(el('strong', {}, call.name), document.createTextNode(' '), el('code', {}, JSON.stringify(call.arguments)));
    card.append(el('div', { class: 'state' }, call.status === 'pending' ? 'Waiting for your approval' : call.status));
    if (call.status === 'pending' && message.turn_id) {
      const buttons = el('div', { class: 'buttons' });
      const approve = el('button', { type: 'button', 'data-testid': 'approve-tool' }, 'Approve');
      const deny = el('button', { type: 'button', 'data-testid': 'deny-tool' }, 'Deny');
      approve.setAttribute('aria-label', `Approve ${call.name}`);
      deny.setAttribute('aria-label', `Deny ${call.name}`);
      approve.addEventListener('click', () => decide(message, call.id, true));
      deny.addEventListener('click', () => decide(message, call.id, false));
      buttons.append(approve, deny);
      card.append(buttons);
    }
    if (call.result !== undefined && call.result !== null) card.append(el('code', { class: 'result' }, typeof call.result === 'string' ? call.result : JSON.stringify(call.result)));
    if (call.error) card.append(el('div', { class: 'state' }, String(call.error)));
    box.append(card);
  }
}

/** @param {NonNullable<typeof state.view>} view */
function renderBranches(view) {
  const active = view.conversation.active_branch;
  const options = (view.branches.length ? view.branches : [{ name: active }]).map((b) => {
    const option = el('option', { value: b.name }, b.name);
    if (b.name === active) option.setAttribute('selected', '');
    return option;
  });
  ui.branch.replaceChildren(...options);
  ui.branch.value = active;
  ui.branch.hidden = options.length < 2;
}

function renderControls() {
  const view = state.view;
  const turnState = view ? view.turn.state : 'idle';
  ui.stop.hidden = !(view && view.turn.id && ACTIVE.has(turnState));
  ui.retry.hidden = !(view && view.turn.id && RETRYABLE.has(turnState));
}

// ------------------------------------------------------------------ actions

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
  try {
    await client.call('chat.approveTools', { conversation_id: view.id, turn_id: message.turn_id, decisions });
  } catch (error) {
    notify(`could not send the decision: ${describe(error)}`);
  }
}

/** @param {'chat.cancel' | 'chat.retry'} method */
async function turnAction(method) {
  const view = state.view;
  if (!view || !view.turn.id) return;
  try {
    const turn = await client.call(method, { conversation_id: view.id, turn_id: view.turn.id });
    if (state.view === view && turn && turn.state) setTurn(view, turn.id, turn.state);
    renderControls();
  } catch (error) {
    notify(describe(error));
  }
}

/** @param {any} message */
function startEdit(message) {
  state.editing = { message };
  ui.composer.value = message.content;
  ui.editing.hidden = false;
  ui.composer.focus();
}

function cancelEdit() {
  state.editing = null;
  ui.editing.hidden = true;
}

/** @param {Record<string, any>} fields */
async function updateConversation(fields) {
  const view = state.view;
  if (!view) return;
  try {
    const conversation = await client.call('conversations.update', { conversation_id: view.id, ...fields });
    if (state.view === view) {
      view.conversation = { ...view.conversation, ...conversation };
      renderView();
    }
  } catch (error) {
    notify(describe(error));
  }
}

/**
 * Open a new conversation at once; it is created in the background (with its client id, so it
 * can wait in the offline queue, and a message sent meanwhile follows it in the same queue).
 */
function newChat() {
  const id = newId('c');
  state.conversations.set(id, { id, title: null, pinned: false, starred: false, archived: false, deleted_at: null, updated_at: new Date().toISOString() });
  state.view = { id, conversation: null, messages: [], hasMore: false, pull: { seq: -1, loading: true, buffer: [], generation: 0 }, turn: { id: null, state: 'idle' }, branches: [] };
  cancelEdit();
  rememberOpen();
  renderList();
  renderView();
  ui.composer.focus();
  client.call('conversations.create', { id }).then(
    () => (state.view && state.view.id === id ? pullView() : undefined),
    (error) => {
      notify(`could not create the conversation: ${describe(error)}`);
      if (state.view && state.view.id === id) {
        state.view = null;
        rememberOpen();
        renderView();
      }
    },
  );
}

// ------------------------------------------------------------------ sending (the outbox)

async function submit() {
  const content = ui.composer.value;
  if (!content.trim()) return;
  if (!state.view) newChat();
  const view = state.view;
  if (!view) return;
  /** @type {{client_message_id: string, conversation_id: string, content: string, parent_id?: string | null, status: string}} */
  const entry = { client_message_id: newId('m'), conversation_id: view.id, content, status: 'queued' };
  if (state.editing) {
    entry.parent_id = state.editing.message.parent_id;
    cancelEdit();
  }
  ui.composer.value = '';
  let queue = state.outbox.get(view.id);
  if (!queue) state.outbox.set(view.id, (queue = []));
  queue.push(entry);
  renderView(true);
  drain(view.id);
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

/** @param {{client_message_id: string, conversation_id: string, content: string, parent_id?: string | null, status: string}} entry */
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
      notify(`not sent: ${describe(error)}`);
      renderView();
      return;
    }
  }
}

/** An untitled conversation takes its first message's first line as its title. @param {string} id @param {string} content */
function nameAfterFirstMessage(id, content) {
  const known = state.view && state.view.id === id && state.view.conversation ? state.view.conversation : state.conversations.get(id);
  if (!known || known.title) return;
  known.title = content.trim().split('\n')[0].slice(0, 80);
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
function dropQueued(message) {
  if (!message || !message.client_message_id) return;
  const queue = state.outbox.get(message.conversation_id);
  if (!queue) return;
  const at = queue.findIndex((e) => e.client_message_id === message.client_message_id);
  if (at < 0) return;
  queue.splice(at, 1);
  rows.delete(message.client_message_id);
  if (!queue.length) state.outbox.delete(message.conversation_id);
}

// ------------------------------------------------------------------ events and connection

client.on('*', (event) => {
  const id = event.data && event.data.conversation_id;
  if (event.type.startsWith('conversation.')) onListEvent(event);
  if (event.type === 'turn.state' && id) noteTurnState(id, event.data.state);
  if (event.type.startsWith('conversation.') && event.data.conversation) noteTurnState(id, event.data.conversation.state);
  if (state.view && id === state.view.id) onViewEvent(event);
  if (event.type === 'resync') resync();
  if (event.type === 'store.changed') {
    pullList();
    if (state.view && event.data.conversation_ids.includes(state.view.id)) pullView();
  }
});

/** The sidecar no longer has the events we missed: pull everything shown again. */
function resync() {
  pullList();
  if (state.view) pullView();
}
client.on('reconnected', resync);

client.on('connection', ({ state: connection, detail }) => {
  ui.connection.setAttribute('data-state', connection);
  const queued = [...state.outbox.values()].reduce((n, q) => n + q.length, 0);
  ui.connection.textContent = {
    connected: 'Connected',
    reconnecting: 'Reconnecting…',
    offline: queued ? `Offline: ${queued} queued` : 'Offline',
  }[/** @type {'connected'} */ (connection)];
  if (detail) notify(detail);
  if (state.view) renderView();
});

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
        'info',
      );
      pullList();
    }
  } catch (error) {
    if (!(error instanceof SidecarError && error.methodMissing)) console.warn('legacy export failed; will try again next start', describe(error));
  }
}

// ------------------------------------------------------------------ wiring

ui.form.addEventListener('submit', (/** @type {Event} */ event) => {
  event.preventDefault();
  submit();
});
ui.composer.addEventListener('keydown', (/** @type {KeyboardEvent} */ event) => {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    submit();
  } else if (event.key === 'Escape' && state.editing) {
    cancelEdit();
  }
});
$('new-chat').addEventListener('click', () => newChat());
$('cancel-edit').addEventListener('click', cancelEdit);
ui.stop.addEventListener('click', () => turnAction('chat.cancel'));
ui.retry.addEventListener('click', () => turnAction('chat.retry'));
ui.older.addEventListener('click', loadOlder);
ui.more.addEventListener('click', () => {
  state.listLimit = Math.min(state.listLimit + 100, 500);
  pullList().catch((error) => notify(describe(error)));
});
ui.history.addEventListener('scroll', () => {
  if (ui.history.scrollTop < 40) loadOlder().catch((error) => notify(describe(error)));
});
ui.search.addEventListener('input', () => {
  clearTimeout(searchTimer);
  searchTimer = window.setTimeout(runSearch, 250);
});
for (const button of document.querySelectorAll('.filter')) {
  button.addEventListener('click', () => {
    state.filter = /** @type {HTMLElement} */ (button).dataset.filter || 'all';
    for (const other of document.querySelectorAll('.filter')) other.setAttribute('aria-pressed', String(other === button));
    pullList().catch((error) => notify(describe(error)));
  });
}
$('rename').addEventListener('click', () => {
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
  if (title && state.view && state.view.conversation && title !== state.view.conversation.title) updateConversation({ title });
});
ui.renameInput.addEventListener('keydown', (/** @type {KeyboardEvent} */ event) => {
  if (event.key === 'Escape') {
    ui.renameForm.hidden = true;
    ui.title.hidden = false;
  }
});
ui.star.addEventListener('click', () => updateConversation({ starred: !state.view?.conversation?.starred }));
ui.pin.addEventListener('click', () => updateConversation({ pinned: !state.view?.conversation?.pinned }));
ui.archive.addEventListener('click', () => updateConversation({ archived: !state.view?.conversation?.archived }));
ui.del.addEventListener('click', async () => {
  const view = state.view;
  if (!view) return;
  try {
    await client.call('conversations.delete', { conversation_id: view.id });
    notify('Moved to the trash (see Trash to restore it).', 'info');
    await pullView();
  } catch (error) {
    notify(describe(error));
  }
});
ui.restore.addEventListener('click', async () => {
  const view = state.view;
  if (!view) return;
  try {
    const conversation = await client.call('conversations.restore', { conversation_id: view.id });
    if (state.view === view) view.conversation = { ...view.conversation, ...conversation };
    notify('');
    renderView();
  } catch (error) {
    notify(describe(error));
  }
});
ui.branch.addEventListener('change', async () => {
  const view = state.view;
  if (!view) return;
  try {
    await client.call('branches.switch', { conversation_id: view.id, name: ui.branch.value });
    await pullView();
  } catch (error) {
    notify(describe(error));
  }
});

async function start() {
  if (!vscodeApi && !token) {
    notify('No token: open the URL the sidecar printed, with #token=… at the end.');
    ui.connection.setAttribute('data-state', 'offline');
    ui.connection.textContent = 'Offline';
    return;
  }
  try {
    const seq = await pullList();
    client.subscribe(seq);
  } catch (error) {
    notify(`could not load conversations: ${describe(error)}`);
    return;
  }
  if (panelConfig.newChat) {
    newChat();
  } else {
    // A browser reopens what its URL names; a VS Code panel what it showed last, else the newest.
    const saved = vscodeApi ? (vscodeApi.getState() || {}).conversation_id : fragment.get('c');
    const open = saved || (vscodeApi && sortedConversations().length ? sortedConversations()[0].id : null);
    if (open) await openConversation(open);
  }
  exportLegacyStorage();
}

start();
