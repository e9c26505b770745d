/** The extension's log never shows a secret (CONTRACT §2). */

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { Logger } from '../src/common/logging';

describe('logging', () => {
  test('the chat UI line keeps its address but not its token, even before the token is known', () => {
    const lines: string[] = [];
    const log = new Logger({ appendLine: (line) => lines.push(line) });
    log.sidecar('chat UI: http://127.0.0.1:4321/ui/#token=s3cr3t-token-value');
    log.info('opened http://127.0.0.1:4321/rpc?access_token=another-secret-value&x=1');
    assert.equal(lines[0], '[sidecar] chat UI: http://127.0.0.1:4321/ui/#token=***');
    assert.match(lines[1], /\/rpc\?access_token=\*\*\*&x=1$/);
    assert.ok(!lines.join('\n').includes('secret'));
  });

  test('a redacted value is masked wherever it appears', () => {
    const lines: string[] = [];
    const log = new Logger({ appendLine: (line) => lines.push(line) });
    log.redact('provider-key-12345');
    log.warn('request failed with key provider-key-12345 in it');
    assert.ok(lines[0].endsWith('request failed with key *** in it'));
  });
});
