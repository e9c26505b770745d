/**
 * Mutating methods and the field that makes each idempotent (CONTRACT §4), as in
 * media/mutation_ids.js: the bridge fills one in on a request that lacks it, before it is first
 * sent, so a replay repeats the same id. Kept alone so that the table can be generated from the
 * API's declaration without touching the bridge.
 */
export const MUTATION_ID_FIELD: Readonly<Record<string, string>> = {
  'conversations.create': 'id',
  'conversations.update': 'request_id',
  'conversations.delete': 'request_id',
  'conversations.restore': 'request_id',
  'messages.append': 'client_message_id',
  'messages.update': 'request_id',
  'chat.sendMessage': 'client_message_id',
  'chat.approveTools': 'request_id',
  'chat.cancel': 'request_id',
  'chat.retry': 'request_id',
  'branches.create': 'request_id',
  'branches.switch': 'request_id',
  'import.conversations': 'run_id',
};
