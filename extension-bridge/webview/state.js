// @ts-check
/**
 * What the UI holds between renders. It keeps no chat data of its own beyond what it pulled
 * (CONTRACT §6): each pulled thing remembers the `event_seq` of its pull and ignores events at or
 * before it; events that arrive while a pull is in flight wait for it.
 */

/** Turn states in which the conversation is busy (§4): no new send, Stop is offered. */
export const ACTIVE = new Set(['streaming', 'awaiting_tool_approval', 'executing_tools', 'transient_failure']);
/** Turn states a Retry can follow (§4). */
export const RETRYABLE = new Set(['permanent_failure', 'interrupted', 'cancelled']);
export const PAGE = 50;

/**
 * A pulled thing: its seq, the events that came while its pull was in flight, and a counter so
 * that of overlapping pulls only the newest counts.
 * @typedef {{seq: number, loading: boolean, buffer: any[], generation: number}} Pull
 */

/**
 * The open conversation. `tree` knows, per parent, the messages that follow it on any branch
 * (for the "‹ n of m ›" switcher) and which branches hold each message.
 * @typedef {{id: string, conversation: any, messages: any[], hasMore: boolean, pull: Pull,
 *   turn: {id: string | null, state: string}, branches: any[], failed: boolean,
 *   tree: {children: Map<string, any[]>, branchesOf: Map<string, string[]>}}} View
 */

/** @typedef {{client_message_id: string, conversation_id: string, content: string, parent_id?: string | null, status: string}} Outgoing */

export const state = {
  /** @type {Map<string, any>} conversations shown in the list, by id */
  conversations: new Map(),
  /** @type {Pull} */
  listPull: { seq: -1, loading: false, buffer: [], generation: 0 },
  filter: 'all',
  /** how many conversations the list shows; "More…" raises it (one consistent pull, no cursor) */
  listLimit: 100,
  /** @type {string | null} */
  nextCursor: null,
  /** @type {View | null} */
  view: null,
  /** @type {Map<string, Outgoing[]>} */
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
  /** @type {string | null} a message to highlight once it is shown (a search hit) */
  highlight: null,
};

/** @param {string} id @returns {View} */
export function newView(id) {
  return {
    id,
    conversation: null,
    messages: [],
    hasMore: false,
    pull: { seq: -1, loading: true, buffer: [], generation: 0 },
    turn: { id: null, state: 'idle' },
    branches: [],
    failed: false,
    tree: { children: new Map(), branchesOf: new Map() },
  };
}

/** @param {any} conversation */
export function titleOf(conversation) {
  return (conversation && conversation.title) || 'Untitled';
}

/** Whether the open conversation is in the trash (read-only). */
export function inTrash() {
  return Boolean(state.view && state.view.conversation && state.view.conversation.deleted_at);
}
