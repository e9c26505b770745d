/**
 * The private environment (chatSidecar.pythonPath empty): created once from the shipped wheel
 * with the machine's Python, reused after, and a clear error when no Python 3.11+ exists.
 * Real venv, real pip (its dependencies come from the package index).
 */

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { findBasePython, privatePython, type Progress } from '../src/common/python';
import { LaunchError, SidecarSupervisor } from '../src/common/server';
import { cleanUp, launchConfig, MemoryLog, PYTHON, REPO, tempDataDir } from './helpers';

const work = mkdtempSync(path.join(os.tmpdir(), 'chat-sidecar-venv-'));
const wheelDir = path.join(work, 'wheel');
const storageDir = path.join(work, 'storage');

function recordingProgress(titles: string[], messages: string[]) {
  return async <T>(title: string, create: (progress: Progress) => Promise<T>): Promise<T> => {
    titles.push(title);
    return create((message) => messages.push(message));
  };
}

before(() => {
  mkdirSync(wheelDir, { recursive: true });
  execFileSync(PYTHON, ['-m', 'pip', 'wheel', '--quiet', '--no-deps', '--disable-pip-version-check', REPO, '-w', wheelDir], {
    stdio: 'inherit',
  });
});
after(async () => {
  await cleanUp();
  rmSync(work, { recursive: true, force: true });
});

describe('the private Python environment', () => {
  test('is created once from the shipped wheel, then reused', { timeout: 600_000 }, async () => {
    const titles: string[] = [];
    const messages: string[] = [];
    const log = new MemoryLog();
    const options = { storageDir, wheelDir, withProgress: recordingProgress(titles, messages), log: (line: string) => log.logger.info(line) };
    const python = await privatePython(options);
    assert.equal(python, path.join(storageDir, 'python', 'bin', 'python'));
    assert.equal(titles.length, 1, 'one progress notification');
    assert.match(titles[0]!, /setting up its Python environment/);
    assert.ok(messages.some((message) => message.includes('chat_sidecar-')));
    const installedAt = statSync(path.join(storageDir, 'python', '.chat-sidecar-wheel')).mtimeMs;

    // Second start (a reload, another window): no progress, no reinstall.
    assert.equal(await privatePython(options), python);
    assert.equal(titles.length, 1);
    assert.equal(statSync(path.join(storageDir, 'python', '.chat-sidecar-wheel')).mtimeMs, installedAt);

    // And that environment runs a real sidecar.
    const dataDir = tempDataDir();
    const supervisor = new SidecarSupervisor({ launch: async () => ({ ...launchConfig(dataDir), python }), log: log.logger });
    const endpoint = await supervisor.ensure();
    assert.equal(endpoint.attached, false);
    supervisor.dispose();
  });

  test('an environment from another wheel is rebuilt', { timeout: 600_000 }, async () => {
    // As after an extension update: the stamp names the wheel the environment was made from.
    writeFileSync(path.join(storageDir, 'python', '.chat-sidecar-wheel'), 'chat_sidecar-0.0.1-py3-none-any.whl');
    const titles: string[] = [];
    const python = await privatePython({ storageDir, wheelDir, withProgress: recordingProgress(titles, []), log: () => undefined });
    assert.equal(titles.length, 1, 'reinstalled');
    assert.equal(readFileSync(path.join(storageDir, 'python', '.chat-sidecar-wheel'), 'utf8'), readdirSync(wheelDir)[0]);
    execFileSync(python, ['-c', 'import sidecar']);
  });

  test('no Python 3.11+ on the machine: a clear message, no environment', async () => {
    await assert.rejects(findBasePython(['/nonexistent/python3', 'python2.7-not-here']), (error: Error) => {
      assert.ok(error instanceof LaunchError);
      assert.match(error.message, /needs Python 3\.11 or newer/);
      assert.match(error.message, /chatSidecar\.pythonPath/);
      return true;
    });
    const empty = path.join(work, 'no-wheel');
    mkdirSync(empty, { recursive: true });
    await assert.rejects(
      privatePython({ storageDir: path.join(work, 's2'), wheelDir: empty, withProgress: recordingProgress([], []), log: () => undefined }),
      /ships no sidecar wheel/,
    );
  });
});
