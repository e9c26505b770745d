// @ts-check
/** How a JSON-RPC method name (§7) maps onto the REST API (§5), for the browser's HTTP transport. */

import { SidecarError } from './sidecar_error.js';

/** @param {Record<string, any>} params @param {string[]} names */
function pick(params, names) {
  /** @type {Record<string, any>} */
  const out = {};
  for (const name of names) {
    if (params[name] !== undefined) out[name] = params[name];
  }
  return out;
}

/** @param {Record<string, any>} params */
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

/** @param {unknown} id */
function seg(id) {
  if (typeof id !== 'string' || id === '') throw new SidecarError('validation_failed', 'missing id');
  return encodeURIComponent(id);
}

/**
 * JSON-RPC method (§7) -> REST request (§5). `params.conversation_id` names the conversation.
 * @param {string} method
 * @param {Record<string, any>} p
 * @returns {{verb: string, path: string, body?: any, headers?: Record<string, string>}}
 */
export function restRoute(method, p) {
  const conv = () => `/api/v1/conversations/${seg(p.conversation_id)}`;
  switch (method) {
    case 'sidecar.health':
      return { verb: 'GET', path: '/health' };
    case 'conversations.list':
      return {
        verb: 'GET',
        path: '/api/v1/conversations' + query(pick(p, ['limit', 'cursor', 'archived', 'starred', 'pinned', 'deleted', 'workspace', 'q'])),
      };
    case 'conversations.create':
      return { verb: 'POST', path: '/api/v1/conversations', body: pick(p, ['id', 'title', 'workspace', 'tags', 'metadata']) };
    case 'conversations.get':
      return { verb: 'GET', path: conv() + query(pick(p, ['limit', 'before'])) };
    case 'conversations.update':
      return {
        verb: 'PATCH',
        path: conv(),
        body: pick(p, ['title', 'starred', 'pinned', 'archived', 'tags', 'metadata', 'request_id']),
        headers: p.if_revision !== undefined ? { 'If-Match': String(p.if_revision) } : undefined,
      };
    case 'conversations.delete':
      // DELETE has no body: its request_id rides in the query (as the REST handler reads it).
      return { verb: 'DELETE', path: conv() + query({ purge: p.purge ? 'true' : undefined, request_id: p.request_id }) };
    case 'conversations.restore':
      return { verb: 'POST', path: conv() + '/restore', body: pick(p, ['request_id']) };
    case 'conversations.export':
      return { verb: 'GET', path: conv() + '/export' + query(pick(p, ['format'])) };
    case 'messages.list':
      return { verb: 'GET', path: conv() + '/messages' + query(pick(p, ['limit', 'before', 'after', 'branch'])) };
    case 'messages.append':
      return { verb: 'POST', path: conv() + '/messages', body: pick(p, ['role', 'content', 'client_message_id', 'parent_id', 'metadata']) };
    case 'messages.update':
      return { verb: 'PATCH', path: `${conv()}/messages/${seg(p.message_id)}`, body: pick(p, ['content', 'metadata', 'request_id']) };
    case 'chat.sendMessage':
      return { verb: 'POST', path: conv() + '/actions/send_message', body: pick(p, ['content', 'client_message_id', 'parent_id', 'branch']) };
    case 'chat.approveTools':
      return { verb: 'POST', path: conv() + '/actions/approve_tools', body: pick(p, ['turn_id', 'decisions', 'request_id']) };
    case 'chat.cancel':
      return { verb: 'POST', path: conv() + '/actions/cancel', body: pick(p, ['turn_id', 'request_id']) };
    case 'chat.retry':
      return { verb: 'POST', path: conv() + '/actions/retry', body: pick(p, ['turn_id', 'request_id']) };
    case 'branches.list':
      return { verb: 'GET', path: conv() + '/branches' };
    case 'branches.create':
      return { verb: 'POST', path: conv() + '/branches', body: pick(p, ['from_message_id', 'name', 'request_id']) };
    case 'branches.switch':
      return { verb: 'PUT', path: `${conv()}/branches/${seg(p.name)}`, body: pick(p, ['request_id']) };
    case 'search.query':
      return { verb: 'GET', path: '/api/v1/search' + query(pick(p, ['q', 'limit', 'conversation_id'])) };
    case 'import.conversations':
      return { verb: 'POST', path: '/api/v1/import', body: pick(p, ['format', 'version', 'exported_at', 'conversations', 'run_id']) };
    case 'legacy.import':
      return { verb: 'POST', path: '/api/v1/legacy-import', body: pick(p, ['kind', 'version', 'origin', 'exported_at', 'items']) };
    default:
      throw new SidecarError('method_not_found', `unknown method ${method}`, {}, -32601);
  }
}
