/** Settings -> the sidecar's flags and environment (CONTRACT §1, §9). */

import assert from 'node:assert/strict';
import * as path from 'node:path';
import { describe, test } from 'node:test';

import { describeSync, readSettings, resolveDataDir, sidecarEnv } from '../src/common/settings';

const config = (values: Record<string, unknown>) => ({ get: <T>(key: string) => values[key] as T | undefined });

describe('settings', () => {
  test('defaults, and malformed values fall back to them', () => {
    assert.deepEqual(readSettings(config({})), {
      pythonPath: '',
      dataDir: '',
      provider: 'echo',
      openaiBaseUrl: '',
      openaiModel: '',
      echoChunk: 0,
      echoDelayMs: -1,
      externalModelFamily: '',
      logLevel: 'info',
      syncUrl: '',
      deviceName: '',
    });
    const odd = readSettings(config({ provider: 'gpt', 'echo.chunk': 2.5, logLevel: 7, pythonPath: 3 }));
    assert.equal(odd.provider, 'echo');
    assert.equal(odd.echoChunk, 0);
    assert.equal(odd.logLevel, 'info');
    assert.equal(odd.pythonPath, '');
  });

  test('~ in path settings is the home folder', () => {
    const s = readSettings(config({ pythonPath: '~/venv/bin/python', dataDir: ' ~/chats ' }));
    assert.ok(!s.pythonPath.startsWith('~') && s.pythonPath.endsWith(path.join('venv', 'bin', 'python')));
    assert.ok(!s.dataDir.startsWith('~') && s.dataDir.endsWith('chats'));
  });

  test('the environment passes through, plus the provider settings and the key', () => {
    const s = readSettings(config({ provider: 'openai', 'openai.baseUrl': 'http://127.0.0.1:9/v1', 'openai.model': 'm', 'echo.delayMs': 0 }));
    const env = sidecarEnv(s, { PATH: '/bin', CHAT_SIDECAR_ECHO_CHUNK: '3', UNSET: undefined }, 'sk-secret');
    assert.equal(env.PATH, '/bin');
    assert.equal(env.CHAT_SIDECAR_PROVIDER, 'openai');
    assert.equal(env.CHAT_SIDECAR_OPENAI_BASE_URL, 'http://127.0.0.1:9/v1');
    assert.equal(env.CHAT_SIDECAR_OPENAI_MODEL, 'm');
    assert.equal(env.CHAT_SIDECAR_OPENAI_API_KEY, 'sk-secret');
    assert.equal(env.CHAT_SIDECAR_ECHO_DELAY_MS, '0', 'a setting that is set wins');
    assert.equal(env.CHAT_SIDECAR_ECHO_CHUNK, '3', 'a setting left at its default does not override the user');
    assert.ok(!('UNSET' in env));
    assert.ok(!('CHAT_SIDECAR_OPENAI_API_KEY' in sidecarEnv(s, {}, undefined)));
  });

  test('sync: the hub URL, the device name and the password from SecretStorage (§10)', () => {
    const s = readSettings(config({ syncUrl: ' postgresql://me@hub:5432/chats ', deviceName: 'laptop' }));
    const env = sidecarEnv(s, {}, undefined, 'pw-secret');
    assert.equal(env.CHAT_SIDECAR_SYNC_URL, 'postgresql://me@hub:5432/chats');
    assert.equal(env.CHAT_SIDECAR_DEVICE_NAME, 'laptop');
    assert.equal(env.CHAT_SIDECAR_SYNC_PASSWORD, 'pw-secret');
    const off = sidecarEnv(readSettings(config({})), {}, undefined);
    assert.ok(!('CHAT_SIDECAR_SYNC_URL' in off) && !('CHAT_SIDECAR_SYNC_PASSWORD' in off));
  });

  test('the status item words for each sync state', () => {
    assert.equal(describeSync(undefined), null);
    assert.equal(describeSync({ state: 'off' }), null);
    assert.deepEqual(describeSync({ state: 'online', hub: 'postgresql://me@hub/c', pending: 0 }), {
      label: '$(cloud)',
      tooltip: 'Sync online with postgresql://me@hub/c',
    });
    const offline = describeSync({ state: 'offline', hub: 'h', pending: 3, error: 'hub unreachable: OSError' });
    assert.equal(offline?.label, '$(cloud-offline)');
    assert.equal(offline?.tooltip, 'Sync offline with h, 3 changes to send: hub unreachable: OSError');
    assert.equal(describeSync({ state: 'error', hub: 'h', error: 'newer schema' })?.label, '$(warning)');
  });

  test('the default data dir is the sidecar\'s', () => {
    assert.equal(resolveDataDir('/x/y', {}), path.resolve('/x/y'));
    assert.equal(resolveDataDir('', { CHAT_SIDECAR_DATA_DIR: '/env/dir' }), '/env/dir');
    assert.equal(resolveDataDir('', { XDG_DATA_HOME: '/xdg' }, '/home/u'), '/xdg/chat-sidecar');
    assert.equal(resolveDataDir('', { XDG_DATA_HOME: '' }, '/home/u'), '/home/u/.local/share/chat-sidecar');
  });
});
