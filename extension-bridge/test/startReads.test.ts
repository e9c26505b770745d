/**
 * The extension host's early reads for a restored panel (src/startReads.ts) are the ones the chat
 * page asks first: read from the page's sources, so a change on either side shows here.
 */

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';

import { LIST_LIMIT, PAGE, rememberedConversation, startReads } from '../src/startReads';

const WEBVIEW = path.resolve(__dirname, '..', '..', 'webview');
const source = (name: string) => readFileSync(path.join(WEBVIEW, name), 'utf8');

test("the early reads are the page's first pulls at their defaults", () => {
  const state = source('state.js');
  assert.equal(Number(/export const PAGE = (\d+);/.exec(state)?.[1]), PAGE);
  assert.equal(Number(/listLimit: (\d+),/.exec(state)?.[1]), LIST_LIMIT);
  assert.match(state, /filter: 'all',/);
  const view = source('view.js');
  assert.ok(view.includes("read('conversations.get', { conversation_id: view.id, limit: PAGE })"));
  assert.ok(view.includes("read('branches.list', { conversation_id: view.id })"));
  const list = source('list.js');
  assert.ok(list.includes('const params = { limit: state.listLimit };'));
  assert.ok(list.includes("read('conversations.list', listParams())"));
  assert.deepEqual(startReads('c_1'), [
    ['conversations.get', { conversation_id: 'c_1', limit: PAGE }],
    ['branches.list', { conversation_id: 'c_1' }],
    ['conversations.list', { limit: LIST_LIMIT }],
  ]);
});

test('the conversation a webview state names', () => {
  assert.equal(rememberedConversation({ conversation_id: 'c_1' }), 'c_1');
  for (const state of [undefined, null, 'c_1', {}, { conversation_id: '' }, { conversation_id: 7 }]) {
    assert.equal(rememberedConversation(state), null);
  }
});
