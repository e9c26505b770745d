// @ts-check
// Generated from the sidecar's table of operations (sidecar/api/table.py) by
// `python -m sidecar.api.client_routes`: do not edit. JSON-RPC method (CONTRACT §7) -> its REST
// request (§5), interpreted by rest_routes.js.

/**
 * @typedef {object} RestRouteSpec
 * @property {string} verb            the HTTP method
 * @property {string} path            the path template; `{name}` is the param `name`, an id
 * @property {string[]} path_params   the params in the path, in the template's order
 * @property {string[]} query         the params sent in the query string (when given)
 * @property {string[] | null} body   the params picked into the JSON body; `null`: no body
 * @property {boolean} document       the params are the body as they are (an export document)
 * @property {Record<string, string>} headers  param -> the header it is sent in (when given)
 */

/** @type {Readonly<Record<string, Readonly<RestRouteSpec>>>} */
export const REST_ROUTES = deepFreeze({
  "branches.create": {"verb":"POST","path":"/api/v1/conversations/{conversation_id}/branches","path_params":["conversation_id"],"query":[],"body":["from_message_id","name","request_id"],"document":false,"headers":{}},
  "branches.list": {"verb":"GET","path":"/api/v1/conversations/{conversation_id}/branches","path_params":["conversation_id"],"query":[],"body":null,"document":false,"headers":{}},
  "branches.switch": {"verb":"PUT","path":"/api/v1/conversations/{conversation_id}/branches/{name}","path_params":["conversation_id","name"],"query":[],"body":["request_id"],"document":false,"headers":{}},
  "chat.approveTools": {"verb":"POST","path":"/api/v1/conversations/{conversation_id}/actions/approve_tools","path_params":["conversation_id"],"query":[],"body":["turn_id","decisions","request_id"],"document":false,"headers":{}},
  "chat.cancel": {"verb":"POST","path":"/api/v1/conversations/{conversation_id}/actions/cancel","path_params":["conversation_id"],"query":[],"body":["turn_id","request_id"],"document":false,"headers":{}},
  "chat.retry": {"verb":"POST","path":"/api/v1/conversations/{conversation_id}/actions/retry","path_params":["conversation_id"],"query":[],"body":["turn_id","request_id"],"document":false,"headers":{}},
  "chat.sendMessage": {"verb":"POST","path":"/api/v1/conversations/{conversation_id}/actions/send_message","path_params":["conversation_id"],"query":[],"body":["content","client_message_id","parent_id","branch"],"document":false,"headers":{}},
  "conversations.create": {"verb":"POST","path":"/api/v1/conversations","path_params":[],"query":[],"body":["id","title","workspace","tags","metadata"],"document":false,"headers":{}},
  "conversations.delete": {"verb":"DELETE","path":"/api/v1/conversations/{conversation_id}","path_params":["conversation_id"],"query":["purge","request_id"],"body":null,"document":false,"headers":{}},
  "conversations.export": {"verb":"GET","path":"/api/v1/conversations/{conversation_id}/export","path_params":["conversation_id"],"query":["format"],"body":null,"document":false,"headers":{}},
  "conversations.get": {"verb":"GET","path":"/api/v1/conversations/{conversation_id}","path_params":["conversation_id"],"query":["limit","before"],"body":null,"document":false,"headers":{}},
  "conversations.list": {"verb":"GET","path":"/api/v1/conversations","path_params":[],"query":["limit","cursor","archived","starred","pinned","deleted","workspace","q","empty"],"body":null,"document":false,"headers":{}},
  "conversations.restore": {"verb":"POST","path":"/api/v1/conversations/{conversation_id}/restore","path_params":["conversation_id"],"query":[],"body":["request_id"],"document":false,"headers":{}},
  "conversations.update": {"verb":"PATCH","path":"/api/v1/conversations/{conversation_id}","path_params":["conversation_id"],"query":[],"body":["title","starred","pinned","archived","tags","metadata","request_id"],"document":false,"headers":{"if_revision":"If-Match"}},
  "import.conversations": {"verb":"POST","path":"/api/v1/import","path_params":[],"query":[],"body":null,"document":true,"headers":{}},
  "legacy.import": {"verb":"POST","path":"/api/v1/legacy-import","path_params":[],"query":[],"body":["exported_at","items","kind","origin","version"],"document":false,"headers":{}},
  "messages.append": {"verb":"POST","path":"/api/v1/conversations/{conversation_id}/messages","path_params":["conversation_id"],"query":[],"body":["role","content","client_message_id","parent_id","metadata"],"document":false,"headers":{}},
  "messages.list": {"verb":"GET","path":"/api/v1/conversations/{conversation_id}/messages","path_params":["conversation_id"],"query":["limit","before","after","branch"],"body":null,"document":false,"headers":{}},
  "messages.update": {"verb":"PATCH","path":"/api/v1/conversations/{conversation_id}/messages/{message_id}","path_params":["conversation_id","message_id"],"query":[],"body":["content","metadata","request_id"],"document":false,"headers":{}},
  "search.query": {"verb":"GET","path":"/api/v1/search","path_params":[],"query":["q","limit","conversation_id","role","archived","deleted","from","to"],"body":null,"document":false,"headers":{}},
  "sidecar.health": {"verb":"GET","path":"/health","path_params":[],"query":[],"body":null,"document":false,"headers":{}},
  "tools.list": {"verb":"GET","path":"/api/v1/tools","path_params":[],"query":[],"body":null,"document":false,"headers":{}},
});

/** @template T @param {T} value @returns {T} */
function deepFreeze(value) {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
