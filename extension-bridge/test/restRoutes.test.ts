/**
 * The browser transport's JSON-RPC -> REST map (media/rest_routes.js) reading the route table
 * generated from the sidecar's table of operations (media/rest_routes_table.js): every method in
 * it resolves to a filled path, the requests the chat UI makes are the ones REST serves, and the
 * errors are the ones the UI handles. (That the table says what the sidecar's table says, and
 * that its requests reach those operations, is tests/rpc/test_client_routes.py.)
 */

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';

import { restRoute } from '../media/rest_routes.js';
import { REST_ROUTES } from '../media/rest_routes_table.js';
import { SidecarError } from '../media/sidecar_error.js';

const WEBVIEW = path.resolve(__dirname, '..', '..', 'webview');

/** A distinct value per param, so a param sent in the wrong place shows. */
const sample = (name: string) => `v-${name}`;

test('every method in the generated table resolves to its verb and a filled path', () => {
  const methods = Object.keys(REST_ROUTES);
  assert.ok(methods.length >= 20, `only ${methods.length} methods`);
  for (const method of methods) {
    const spec = REST_ROUTES[method];
    const params: Record<string, unknown> = {};
    for (const name of [...spec.path_params, ...spec.query, ...(spec.body ?? []), ...Object.keys(spec.headers)]) {
      params[name] = sample(name);
    }
    const route = restRoute(method, params);
    assert.equal(route.verb, spec.verb, method);
    const url = new URL(route.path, 'http://127.0.0.1');
    let expected = spec.path;
    for (const name of spec.path_params) expected = expected.replace(`{${name}}`, sample(name));
    assert.equal(url.pathname, expected, method);
    assert.ok(!route.path.includes('{'), `${method}: ${route.path}`);
    assert.deepEqual(Object.fromEntries(url.searchParams), Object.fromEntries(spec.query.map((n) => [n, sample(n)])), method);
    if (spec.document) assert.equal(route.body, params, method);
    else if (spec.body) assert.deepEqual(route.body, Object.fromEntries(spec.body.map((n) => [n, sample(n)])), method);
    else assert.equal(route.body, undefined, method);
    const headers = Object.entries(spec.headers).map(([name, header]) => [header, sample(name)]);
    assert.deepEqual(route.headers, headers.length ? Object.fromEntries(headers) : undefined, method);
  }
});

test('the requests the chat UI made with the hand-written map are still made', () => {
  const c = '/api/v1/conversations/c%2F1';
  const cases: [string, Record<string, any>, Record<string, any>][] = [
    ['sidecar.health', {}, { verb: 'GET', path: '/health' }],
    ['conversations.list', { limit: 100, archived: 'any', q: '' }, { verb: 'GET', path: '/api/v1/conversations?limit=100&archived=any' }],
    ['conversations.create', { id: 'c_1', title: 't', extra: 1 }, { verb: 'POST', path: '/api/v1/conversations', body: { id: 'c_1', title: 't' } }],
    ['conversations.get', { conversation_id: 'c/1', limit: 50 }, { verb: 'GET', path: `${c}?limit=50` }],
    [
      'conversations.update',
      { conversation_id: 'c/1', title: 'x', request_id: 'r', if_revision: 3 },
      { verb: 'PATCH', path: c, body: { title: 'x', request_id: 'r' }, headers: { 'If-Match': '3' } },
    ],
    ['conversations.update', { conversation_id: 'c/1', starred: true }, { verb: 'PATCH', path: c, body: { starred: true } }],
    ['conversations.delete', { conversation_id: 'c/1', request_id: 'r1' }, { verb: 'DELETE', path: `${c}?request_id=r1` }],
    ['conversations.delete', { conversation_id: 'c/1', purge: true }, { verb: 'DELETE', path: `${c}?purge=true` }],
    ['conversations.restore', { conversation_id: 'c/1' }, { verb: 'POST', path: `${c}/restore`, body: {} }],
    ['conversations.export', { conversation_id: 'c/1', format: 'markdown' }, { verb: 'GET', path: `${c}/export?format=markdown` }],
    ['messages.list', { conversation_id: 'c/1', before: 'm_9', branch: 'main' }, { verb: 'GET', path: `${c}/messages?before=m_9&branch=main` }],
    [
      'messages.update',
      { conversation_id: 'c/1', message_id: 'm 1', content: 'x' },
      { verb: 'PATCH', path: `${c}/messages/m%201`, body: { content: 'x' } },
    ],
    [
      'chat.sendMessage',
      { conversation_id: 'c/1', content: 'x', client_message_id: 'k' },
      { verb: 'POST', path: `${c}/actions/send_message`, body: { content: 'x', client_message_id: 'k' } },
    ],
    ['chat.cancel', { conversation_id: 'c/1', turn_id: 't' }, { verb: 'POST', path: `${c}/actions/cancel`, body: { turn_id: 't' } }],
    ['branches.list', { conversation_id: 'c/1' }, { verb: 'GET', path: `${c}/branches` }],
    ['branches.switch', { conversation_id: 'c/1', name: 'b/2', request_id: 'r' }, { verb: 'PUT', path: `${c}/branches/b%2F2`, body: { request_id: 'r' } }],
    ['search.query', { q: 'hello', limit: 20 }, { verb: 'GET', path: '/api/v1/search?q=hello&limit=20' }],
    ['tools.list', {}, { verb: 'GET', path: '/api/v1/tools' }],
  ];
  for (const [method, params, expected] of cases) assert.deepEqual(restRoute(method, params), expected, method);
  const document = { format: 'chat-sidecar-export', version: 1, conversations: [], run_id: 'run_1' };
  assert.deepEqual(restRoute('import.conversations', document), { verb: 'POST', path: '/api/v1/import', body: document });
});

test('a missing or empty id is validation_failed; a method REST lacks is method_not_found', () => {
  for (const [method, spec] of Object.entries(REST_ROUTES)) {
    for (const missing of spec.path_params) {
      for (const bad of [undefined, '', 7]) {
        const params = Object.fromEntries(spec.path_params.map((n) => [n, n === missing ? bad : 'x']));
        assert.throws(
          () => restRoute(method, params),
          (error: unknown) => error instanceof SidecarError && error.code === 'validation_failed' && error.message === 'missing id',
          `${method} without ${missing}`,
        );
      }
    }
  }
  for (const method of ['events.subscribe', 'tools.register', 'nope', 'toString', '__proto__']) {
    assert.throws(
      () => restRoute(method, {}),
      (error: unknown) =>
        error instanceof SidecarError && error.code === 'method_not_found' && error.rpcCode === -32601 && error.methodMissing,
      method,
    );
  }
});

test('the table is frozen: no caller can change a route', () => {
  assert.ok(Object.isFrozen(REST_ROUTES));
  const spec = REST_ROUTES['conversations.get'];
  assert.ok(Object.isFrozen(spec) && Object.isFrozen(spec.query) && Object.isFrozen(spec.headers));
});

test('every method the chat UI calls has a REST route (the /ui page can make it)', () => {
  const called = new Set<string>();
  for (const name of readdirSync(WEBVIEW).filter((file) => file.endsWith('.js'))) {
    const text = readFileSync(path.join(WEBVIEW, name), 'utf8');
    for (const match of text.matchAll(/\b(?:call|read)\('([a-z]+\.[A-Za-z]+)'/g)) called.add(match[1]);
  }
  assert.ok(called.size >= 15, [...called].join(' '));
  for (const method of called) assert.ok(Object.hasOwn(REST_ROUTES, method), method);
});
