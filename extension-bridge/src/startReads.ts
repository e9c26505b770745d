/**
 * The chat page's first reads when it opens at a known conversation: webview/main.js `start()`
 * pulls the conversation (webview/view.js `pullView`: its latest page of PAGE messages and its
 * branches) beside the list (webview/list.js `pullList` at its defaults). A restored panel's state
 * names that conversation, so the extension host sends these before the page has loaded
 * (`RpcBridge.prefetch`); the page's identical requests then take those answers. Keep them equal
 * to what the page asks (test/startReads.test.ts reads the page's sources): a read that differs is
 * only sent twice, never wrong.
 */

/** webview/state.js PAGE */
export const PAGE = 50;
/** webview/state.js `listLimit`'s start value */
export const LIST_LIMIT = 100;

export function startReads(conversationId: string): [string, Record<string, unknown>][] {
  return [
    ['conversations.get', { conversation_id: conversationId, limit: PAGE }],
    ['branches.list', { conversation_id: conversationId }],
    ['conversations.list', { limit: LIST_LIMIT }],
  ];
}

/** The conversation a restored webview's state names (webview/host.js `rememberOpen`), if any. */
export function rememberedConversation(state: unknown): string | null {
  const id = state && typeof state === 'object' ? (state as Record<string, unknown>).conversation_id : undefined;
  return typeof id === 'string' && id !== '' ? id : null;
}
