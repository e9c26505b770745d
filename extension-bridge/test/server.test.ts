/** The supervisor against real sidecar processes: spawn, attach, stale discovery, restart, errors. */

import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { after, afterEach, describe, test } from 'node:test';

import { fetchHealth, LaunchError, type SidecarState, SidecarSupervisor } from '../src/common/server';
import { alive, cleanUp, discoveryPid, launchConfig, MemoryLog, startSidecar, tempDataDir, waitFor } from './helpers';

const supervisors: SidecarSupervisor[] = [];

function supervise(dataDir: string, overrides: Partial<ConstructorParameters<typeof SidecarSupervisor>[0]> = {}) {
  const log = new MemoryLog();
  const states: SidecarState[] = [];
  const supervisor = new SidecarSupervisor({
    launch: async () => launchConfig(dataDir),
    log: log.logger,
    onState: (state) => states.push(state),
    initialDelayMs: 100,
    ...overrides,
  });
  supervisors.push(supervisor);
  return { supervisor, log, states };
}

afterEach(async () => {
  for (const supervisor of supervisors.splice(0)) supervisor.dispose();
  await cleanUp();
});
after(() => cleanUp());

describe('fetchHealth', () => {
  test('no pid without the token; null for a closed port, a server that never answers (within its timeout), no URL', async () => {
    const owner = await startSidecar(tempDataDir());
    assert.equal((await fetchHealth(owner.url, owner.token))?.pid, owner.pid);
    // Without the token /health says only that it is up: no pid, so findOwner does not attach.
    assert.equal((await fetchHealth(owner.url, 'not-the-token'))?.pid, undefined);
    const silent = net.createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as net.AddressInfo;
    try {
      const started = Date.now();
      assert.equal(await fetchHealth(`http://127.0.0.1:${port}`, owner.token, 300), null);
      assert.ok(Date.now() - started < 5_000);
    } finally {
      silent.close();
    }
    assert.equal(await fetchHealth(`http://127.0.0.1:${port}`, owner.token), null);
    assert.equal(await fetchHealth('not a url', owner.token), null);
  });
});

describe('SidecarSupervisor', () => {
  test('spawns a sidecar when nothing owns the data dir', async () => {
    const dataDir = tempDataDir();
    const { supervisor, states, log } = supervise(dataDir);
    const endpoint = await supervisor.ensure();
    assert.equal(endpoint.attached, false);
    assert.equal(supervisor.childPid, endpoint.pid);
    assert.equal(discoveryPid(dataDir), endpoint.pid);
    assert.equal(path.resolve(endpoint.dataDir), path.resolve(dataDir));
    const health = await fetchHealth(endpoint.url, endpoint.token);
    assert.equal(health?.pid, endpoint.pid);
    assert.deepEqual(
      states.map((s) => s.kind),
      ['starting', 'running'],
    );
    // The token never reaches the log, even though the ready line carried it.
    log.logger.info(`token is ${endpoint.token}`);
    assert.ok(log.lines.every((line) => !line.includes(endpoint.token)));
  });

  test('attaches to the running owner instead of starting a second one', async () => {
    const dataDir = tempDataDir();
    const owner = await startSidecar(dataDir);
    const { supervisor } = supervise(dataDir);
    const endpoint = await supervisor.ensure();
    assert.equal(endpoint.attached, true);
    assert.equal(endpoint.pid, owner.pid);
    assert.equal(endpoint.token, owner.token);
    assert.equal(supervisor.childPid, null);
  });

  test('attaching waits for none of what only a start needs (secrets, the private Python)', { timeout: 20_000 }, async () => {
    const dataDir = tempDataDir();
    const owner = await startSidecar(dataDir);
    let launched = 0;
    const { supervisor } = supervise(dataDir, {
      dataDir: () => dataDir,
      // A launch that never finishes: an attach that waited for it would never come.
      launch: () => {
        launched += 1;
        return new Promise(() => undefined);
      },
    });
    const endpoint = await supervisor.ensure();
    assert.equal(endpoint.pid, owner.pid);
    assert.equal(endpoint.attached, true);
    assert.equal(launched, 0);
  });

  test('with no owner on the early data dir, the launch decides (and spawns)', async () => {
    const dataDir = tempDataDir();
    const { supervisor } = supervise(dataDir, { dataDir: () => dataDir });
    const endpoint = await supervisor.ensure();
    assert.equal(endpoint.attached, false);
    assert.equal(discoveryPid(dataDir), endpoint.pid);
  });

  test('the sidecar logs to a file that every window follows, also one that attached later', async () => {
    const dataDir = tempDataDir();
    const logDir = path.join(path.dirname(dataDir), 'logs');
    const first = supervise(dataDir, { logDir });
    const endpoint = await first.supervisor.ensure();
    await waitFor('the start-up log line', () => first.log.lines.some((line) => line.startsWith('[sidecar]') && line.includes('serving')));
    // A reload: the next extension host attaches and follows the same file from its end.
    first.supervisor.dispose();
    const second = supervise(dataDir, { logDir });
    assert.equal((await second.supervisor.ensure()).attached, true);
    // A refused request (404) makes an access line at the default level (successes are DEBUG).
    await fetch(`${endpoint.url}/api/v1/nowhere`, { headers: { Authorization: `Bearer ${endpoint.token}` } });
    const seen = await waitFor('the request in the second window\'s log', () =>
      second.log.lines.find((line) => line.startsWith('[sidecar]') && line.includes('GET /api/v1/nowhere 404')),
    );
    assert.ok(!seen.includes(endpoint.token));
    assert.ok(!second.log.lines.some((line) => line.includes('serving')), 'only what came after it attached');
    assert.equal(first.supervisor.logFile(dataDir), second.supervisor.logFile(dataDir));
  });

  test('two windows starting at once end up on one sidecar', async () => {
    const dataDir = tempDataDir();
    const first = supervise(dataDir).supervisor;
    const second = supervise(dataDir).supervisor;
    const [a, b] = await Promise.all([first.ensure(), second.ensure()]);
    assert.equal(a.pid, b.pid);
    assert.equal(a.token, b.token);
    assert.equal([a.attached, b.attached].filter((attached) => !attached).length, 1, 'exactly one of them owns it');
  });

  test('ignores a stale discovery file and spawns a new owner', async () => {
    const dataDir = tempDataDir();
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const stale = { event: 'ready', pid: 999_999, host: '127.0.0.1', port: 9, url: 'http://127.0.0.1:9', token: 'stale-token-value', data_dir: dataDir, version: '0', attached: false };
    writeFileSync(path.join(dataDir, 'sidecar.json'), JSON.stringify(stale), { mode: 0o600 });
    const { supervisor } = supervise(dataDir);
    const endpoint = await supervisor.ensure();
    assert.equal(endpoint.attached, false);
    assert.notEqual(endpoint.pid, stale.pid);
    assert.equal(discoveryPid(dataDir), endpoint.pid);
  });

  test('restarts the sidecar after it dies', async () => {
    const dataDir = tempDataDir();
    const { supervisor, states } = supervise(dataDir);
    const first = await supervisor.ensure();
    process.kill(first.pid, 'SIGKILL');
    const second = await waitFor('a new sidecar', () => {
      const state = supervisor.status;
      return state.kind === 'running' && state.endpoint.pid !== first.pid ? state.endpoint : null;
    });
    assert.equal(alive(first.pid), false);
    assert.equal(supervisor.childPid, second.pid);
    assert.notEqual(second.token, first.token);
    assert.ok(await fetchHealth(second.url, second.token));
    assert.ok(states.some((state) => state.kind === 'restarting'), 'the loss was reported');
  });

  test('backs off between restarts of a sidecar that keeps dying', async () => {
    const dataDir = tempDataDir();
    const { supervisor } = supervise(dataDir, { initialDelayMs: 300 });
    const started: number[] = [];
    let endpoint = await supervisor.ensure();
    started.push(Date.now());
    for (let i = 0; i < 2; i += 1) {
      const dead = endpoint.pid;
      process.kill(dead, 'SIGKILL');
      endpoint = await waitFor('a restart', () => {
        const state = supervisor.status;
        return state.kind === 'running' && state.endpoint.pid !== dead ? state.endpoint : null;
      });
      started.push(Date.now());
    }
    // Delays of 300 then 600 ms (plus start-up time): the second gap is the longer wait.
    assert.ok(started[1]! - started[0]! >= 300, `first gap ${started[1]! - started[0]!} ms`);
    assert.ok(started[2]! - started[1]! >= 600, `second gap ${started[2]! - started[1]!} ms`);
  });

  test('a Python that does not exist fails at once with the setting named', async () => {
    const dataDir = tempDataDir();
    const { supervisor, states } = supervise(dataDir, {
      launch: async () => ({ ...launchConfig(dataDir), python: '/nonexistent/python3' }),
    });
    await assert.rejects(supervisor.ensure(), (error: Error) => {
      assert.ok(error instanceof LaunchError);
      assert.match(error.message, /\/nonexistent\/python3.*chatSidecar\.pythonPath/);
      return true;
    });
    assert.equal(states.at(-1)?.kind, 'failed');
  });

  for (const logs of ['a pipe', 'a log file']) {
    test(`a Python without chat-sidecar installed is reported as such (stderr to ${logs})`, async () => {
      const dataDir = tempDataDir();
      const { supervisor } = supervise(dataDir, {
        launch: async () => ({ ...launchConfig(dataDir), python: 'python3', env: { PATH: process.env.PATH ?? '', HOME: '/nonexistent' } }),
        ...(logs === 'a log file' ? { logDir: path.join(path.dirname(dataDir), 'logs') } : {}),
      });
      await assert.rejects(supervisor.ensure(), /has no 'sidecar' package/);
    });
  }
});
