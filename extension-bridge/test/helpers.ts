/**
 * Test helpers: real sidecar processes on temporary data dirs (never a mock of our own server).
 * The Python is the project's .venv (or $CHAT_SIDECAR_PYTHON), which has chat-sidecar installed.
 */

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { Logger } from '../src/common/logging';
import { type Endpoint, type LaunchConfig, parseHandshake } from '../src/common/server';

export const REPO = path.resolve(__dirname, '..', '..', '..');
export const PYTHON = process.env.CHAT_SIDECAR_PYTHON || path.join(REPO, '.venv', 'bin', 'python');

export class MemoryLog {
  readonly lines: string[] = [];
  readonly logger = new Logger({ appendLine: (line) => this.lines.push(line) }, 'debug');
}

const made: string[] = [];

/** A fresh data dir, removed (after its sidecar is stopped) by `cleanUp()`. */
export function tempDataDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'chat-sidecar-ext-'));
  made.push(dir);
  return path.join(dir, 'data');
}

export function launchConfig(dataDir: string, env: Record<string, string> = {}): LaunchConfig {
  const base: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !key.startsWith('CHAT_SIDECAR_')) base[key] = value;
  }
  return {
    python: PYTHON,
    dataDir,
    env: { ...base, CHAT_SIDECAR_ECHO_DELAY_MS: '5', ...env },
    extraArgs: ['--idle-timeout', '0'],
  };
}

/** The discovery file's pid, or null. */
export function discoveryPid(dataDir: string): number | null {
  const file = path.join(dataDir, 'sidecar.json');
  if (!existsSync(file)) return null;
  return parseHandshake(readFileSync(file, 'utf8'))?.pid ?? null;
}

/** Start `serve` ourselves (another window's sidecar) and read its ready line. */
export function startSidecar(dataDir: string): Promise<Endpoint> {
  const config = launchConfig(dataDir);
  const child = spawn(config.python, ['-m', 'sidecar', 'serve', '--data-dir', dataDir, ...(config.extraArgs ?? [])], {
    env: config.env,
    stdio: ['ignore', 'pipe', 'ignore'],
    detached: true,
  });
  child.unref();
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      out += chunk;
      const newline = out.indexOf('\n');
      if (newline < 0) return;
      const endpoint = parseHandshake(out.slice(0, newline));
      child.stdout.destroy();
      if (endpoint) resolve(endpoint);
      else reject(new Error(`not a ready line: ${out}`));
    });
    child.on('exit', (code) => reject(new Error(`serve exited ${code}`)));
  });
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function waitFor<T>(what: string, probe: () => T | null | undefined | false | Promise<T | null | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Stop every sidecar on our data dirs (SIGTERM, then SIGKILL) and remove the folders. */
export async function cleanUp(extraPids: number[] = []): Promise<void> {
  const pids = new Set(extraPids);
  for (const dir of made) {
    const pid = discoveryPid(path.join(dir, 'data'));
    if (pid !== null) pids.add(pid);
  }
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  const deadline = Date.now() + 10_000;
  while ([...pids].some(alive) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** GET a REST path with the token (checks over the REST API, beside the bridge under test). */
export async function rest(endpoint: Endpoint, pathname: string): Promise<any> {
  const response = await fetch(endpoint.url + pathname, { headers: { Authorization: `Bearer ${endpoint.token}` } });
  if (!response.ok) throw new Error(`GET ${pathname}: HTTP ${response.status}`);
  return response.json();
}

/** POST a REST path with the token (another client writing beside the bridge). */
export async function restPost(endpoint: Endpoint, pathname: string, body: unknown): Promise<any> {
  const response = await fetch(endpoint.url + pathname, {
    method: 'POST',
    headers: { Authorization: `Bearer ${endpoint.token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`POST ${pathname}: HTTP ${response.status} ${await response.text()}`);
  return response.json();
}
