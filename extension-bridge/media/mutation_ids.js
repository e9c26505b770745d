// @ts-check
/**
 * Mutating methods and the client id that makes each one idempotent (CONTRACT §4). The client
 * fills it in when the caller did not, so every mutation can be replayed safely after a dropped
 * connection. Kept alone (the extension's copy is src/mutationIds.ts) so that the table can be
 * generated from the API's declaration without touching the client.
 * @type {Record<string, string>}
 */
export const MUTATION_ID_FIELD = {
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
