// @ts-check
/**
 * How a JSON-RPC method name (§7) maps onto the REST API (§5), for the browser's HTTP transport.
 *
 * The map itself is data, `REST_ROUTES` (rest_routes_table.js), generated from the sidecar's one
 * table of operations (`python -m sidecar.api.client_routes`), so it cannot drift from what the
 * sidecar serves; this module only reads it.
 */

import { REST_ROUTES } from './rest_routes_table.js';
import { SidecarError } from './sidecar_error.js';

/** @typedef {import('./rest_routes_table.js').RestRouteSpec} RestRouteSpec */

/**
 * The query string of the given params (`?a=1&b=x`, or `''`); absent, `null` and `''` values are
 * left out, as the sidecar reads them as absent.
 * @param {Record<string, any>} params
 */
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

/** @param {Record<string, any>} params @param {readonly string[]} names */
function pick(params, names) {
  /** @type {Record<string, any>} */
  const out = {};
  for (const name of names) {
    if (params[name] !== undefined) out[name] = params[name];
  }
  return out;
}

/** @param {unknown} id */
function seg(id) {
  if (typeof id !== 'string' || id === '') throw new SidecarError('validation_failed', 'missing id');
  return encodeURIComponent(id);
}

/**
 * JSON-RPC method (§7) -> REST request (§5): the path template filled from the params (each a
 * non-empty string, else `validation_failed`), the query and body picked from them, headers
 * from theirs. A method REST does not serve is `method_not_found` (-32601), as the sidecar answers.
 * @param {string} method
 * @param {Record<string, any>} params
 * @returns {{verb: string, path: string, body?: any, headers?: Record<string, string>}}
 */
export function restRoute(method, params) {
  /** @type {RestRouteSpec | undefined} */
  const spec = Object.hasOwn(REST_ROUTES, method) ? REST_ROUTES[method] : undefined;
  if (!spec) throw new SidecarError('method_not_found', `unknown method ${method}`, {}, -32601);
  const p = params || {};
  let path = spec.path;
  for (const name of spec.path_params) path = path.split(`{${name}}`).join(seg(p[name]));
  /** @type {{verb: string, path: string, body?: any, headers?: Record<string, string>}} */
  const route = { verb: spec.verb, path: path + query(pick(p, spec.query)) };
  if (spec.document) route.body = p;
  else if (spec.body) route.body = pick(p, spec.body);
  /** @type {Record<string, string>} */
  const headers = {};
  for (const [name, header] of Object.entries(spec.headers)) {
    if (p[name] !== undefined && p[name] !== null) headers[header] = String(p[name]);
  }
  if (Object.keys(headers).length) route.headers = headers;
  return route;
}
