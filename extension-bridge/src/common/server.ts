/**
 * Finding or starting the sidecar that owns the data dir (CONTRACT §1), and keeping one there.
 *
 * Attaching is the normal path: children of the extension host survive a window reload, so the
 * sidecar the previous extension host started is still running and answers `GET /health` with the
 * token in `DATA_DIR/sidecar.json`. Only when no owner answers do we spawn
 * `python -m sidecar serve` and read its ready line. If the sidecar dies, the next `ensure()`
 * starts (or finds) another, after a backoff that grows with repeated losses so a sidecar that
 * crashes at start-up does not spin.
 *
 * The sidecar is never stopped from here: it is shared by every window on the data dir and exits
 * by itself after its idle timeout once no window is connected.
 *
 * Free of the `vscode` module, so node's test runner drives it against real sidecar processes.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, promises as fs, mkdirSync, openSync, renameSync } from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';

import { errorText, FileTail, fileSize, type Logger } from './logging';
import { resolveDataDir } from './settings';

/** A running sidecar, as its ready line (or discovery file) announces it. */
export interface Endpoint {
  url: string;
  token: string;
  pid: number;
  dataDir: string;
  version: string;
  /** True when we found it running (or `serve` attached); false when our own child owns it. */
  attached: boolean;
}

/** What `ensure()` needs to start a sidecar; asked for on every start (settings may change). */
export interface LaunchConfig {
  python: string;
  /** The `chatSidecar.dataDir` setting: empty means the sidecar's default data dir. */
  dataDir: string;
  env: Record<string, string>;
  /** More `serve` flags (tests pass `--idle-timeout 0`). */
  extraArgs?: string[];
}

export type SidecarState =
  | { kind: 'idle' }
  | { kind: 'starting' }
  | { kind: 'running'; endpoint: Endpoint }
  | { kind: 'restarting'; reason: string; delayMs: number }
  | { kind: 'failed'; reason: string };

export interface SupervisorOptions {
  launch: () => Promise<LaunchConfig>;
  /**
   * The data dir `launch` would name, known without its slow parts (SecretStorage, the private
   * Python): its owner is looked for first, so attaching (the normal path, e.g. after a reload)
   * waits for neither. Unset: `launch` first.
   */
  dataDir?: () => string;
  log: Logger;
  onState?: (state: SidecarState) => void;
  /** First restart delay; doubles with every loss inside `lossWindowMs`, up to `maxDelayMs`. */
  initialDelayMs?: number;
  maxDelayMs?: number;
  lossWindowMs?: number;
  /** Give up (state `failed`) after this many failed starts in a row. */
  maxFailedStarts?: number;
  readyTimeoutMs?: number;
  /**
   * Where the sidecar's stderr goes (one file per data dir), followed into the log; shared by
   * windows, so a window that attached sees the log too. Unset: a pipe (only the window that
   * started the sidecar sees its log, and only until that window's extension host goes).
   */
  logDir?: string;
}

/** Past this size the log is rotated (to `.1`) when a new sidecar starts. */
const LOG_ROTATE_BYTES = 2 * 1024 * 1024;

/** A start that cannot succeed by retrying (no Python, bad setting): reported, not retried. */
export class LaunchError extends Error {}

interface Health {
  status: string;
  pid?: number;
  [key: string]: unknown;
}

/**
 * `GET /health` with the token; null when nothing (or something else) answers. Plain `node:http`
 * rather than `fetch`: this is the first request of a reloaded window (the attach), and `fetch`'s
 * first use costs a few hundred milliseconds of loading. A fresh connection each time (no agent),
 * so no idle socket outlives the answer.
 */
export function fetchHealth(url: string, token: string, timeoutMs = 2000): Promise<Health | null> {
  return new Promise((resolve) => {
    let request: http.ClientRequest;
    try {
      request = http.get(`${url}/health`, { headers: { Authorization: `Bearer ${token}` }, agent: false }, (response) => {
        if (response.statusCode !== 200) {
          response.resume();
          finish(null);
          return;
        }
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () => finish(parseHealth(body)));
        response.on('error', () => finish(null));
      });
    } catch {
      resolve(null); // not an http:// URL
      return;
    }
    const timer = setTimeout(() => request.destroy(), timeoutMs);
    request.on('error', () => finish(null));
    function finish(health: Health | null) {
      clearTimeout(timer);
      resolve(health);
    }
  });
}

function parseHealth(text: string): Health | null {
  try {
    const body: unknown = JSON.parse(text);
    return body && typeof body === 'object' && typeof (body as Health).status === 'string' ? (body as Health) : null;
  } catch {
    return null;
  }
}

/** Parse a ready line / discovery file (§1); null if it is not one. */
export function parseHandshake(text: string): Endpoint | null {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return null;
  }
  if (!body || typeof body !== 'object') return null;
  const b = body as Record<string, unknown>;
  if (b.event !== 'ready' || typeof b.url !== 'string' || typeof b.token !== 'string' || typeof b.pid !== 'number') {
    return null;
  }
  return {
    url: b.url,
    token: b.token,
    pid: b.pid,
    dataDir: typeof b.data_dir === 'string' ? b.data_dir : '',
    version: typeof b.version === 'string' ? b.version : '',
    attached: b.attached === true,
  };
}

/** The owner of `dataDir` if one is running: its discovery file's pid answers `/health`. */
export async function findOwner(dataDir: string): Promise<Endpoint | null> {
  let text: string;
  try {
    text = await fs.readFile(path.join(dataDir, 'sidecar.json'), 'utf8');
  } catch {
    return null;
  }
  const found = parseHandshake(text);
  if (!found) return null;
  const health = await fetchHealth(found.url, found.token);
  if (!health || health.pid !== found.pid) return null;
  return { ...found, attached: true };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class SidecarSupervisor {
  private state: SidecarState = { kind: 'idle' };
  private current: Endpoint | null = null;
  private child: ChildProcess | null = null;
  private pending: Promise<Endpoint> | null = null;
  private losses: number[] = [];
  private disposed = false;
  private restartTimer: NodeJS.Timeout | null = null;
  private tail: FileTail | null = null;

  constructor(private readonly options: SupervisorOptions) {}

  get status(): SidecarState {
    return this.state;
  }

  /** The pid of the sidecar this supervisor spawned and that still runs, if any. */
  get childPid(): number | null {
    return this.child?.pid ?? null;
  }

  /**
   * A running sidecar: the one we know, else the data dir's owner, else a new one. Concurrent
   * callers share one attempt. Rejects with LaunchError when starting cannot work, and with the
   * last error after `maxFailedStarts` failed starts in a row.
   */
  ensure(): Promise<Endpoint> {
    if (this.disposed) return Promise.reject(new Error('the extension is shutting down'));
    if (this.current) return Promise.resolve(this.current);
    if (!this.pending) {
      this.pending = this.start().finally(() => {
        this.pending = null;
      });
    }
    return this.pending;
  }

  /**
   * The connection to `endpoint` broke (a client noticed). Forget it, so the next `ensure()`
   * checks again; if it really died, that starts another after the backoff.
   */
  lost(endpoint: Endpoint, reason: string): void {
    if (this.current !== endpoint) return;
    this.options.log.warn(`sidecar pid ${endpoint.pid} lost: ${reason}`);
    this.current = null;
    this.losses.push(Date.now());
    this.setState({ kind: 'restarting', reason, delayMs: this.restartDelay() });
  }

  /** Forget the failure history (a user's retry): the next start is immediate. */
  reset(): void {
    this.losses = [];
    if (this.state.kind === 'failed') this.setState({ kind: 'idle' });
  }

  /**
   * Forget the known endpoint without counting a loss (the Python or data dir setting changed):
   * the next `ensure()` finds or starts the sidecar the settings now name.
   */
  forget(): void {
    this.current = null;
    this.reset();
  }

  /** Stop supervising. The sidecar itself keeps running for the other windows (idle timeout). */
  dispose(): void {
    this.disposed = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.child?.removeAllListeners('close');
    this.child = null;
    this.current = null;
    this.tail?.stop();
    this.tail = null;
  }

  /** The file the sidecar on `dataDir` logs to, if logs go to files. */
  logFile(dataDir: string): string | null {
    if (!this.options.logDir) return null;
    const digest = createHash('sha256').update(path.resolve(dataDir)).digest('hex').slice(0, 16);
    return path.join(this.options.logDir, `sidecar-${digest}.log`);
  }

  /** Follow `file` from `offset` into the log (and to `also`), instead of whatever was followed. */
  private follow(file: string, offset: number | 'end', also?: (line: string) => void): FileTail {
    this.tail?.stop();
    this.tail = new FileTail(
      file,
      (line) => {
        also?.(line);
        this.options.log.sidecar(line);
      },
      offset,
    );
    return this.tail;
  }

  private setState(state: SidecarState): void {
    this.state = state;
    this.options.onState?.(state);
  }

  private restartDelay(): number {
    const window = this.options.lossWindowMs ?? 60_000;
    const now = Date.now();
    this.losses = this.losses.filter((at) => now - at < window);
    if (this.losses.length === 0) return 0;
    const initial = this.options.initialDelayMs ?? 250;
    return Math.min(this.options.maxDelayMs ?? 10_000, initial * 2 ** (this.losses.length - 1));
  }

  private async start(): Promise<Endpoint> {
    const maxFailed = this.options.maxFailedStarts ?? 5;
    let failed = 0;
    for (;;) {
      const delayMs = this.restartDelay();
      if (delayMs > 0) await sleep(delayMs);
      if (this.disposed) throw new Error('the extension is shutting down');
      this.setState({ kind: 'starting' });
      try {
        const endpoint = await this.attachOrSpawn();
        this.current = endpoint;
        this.options.log.redact(endpoint.token);
        this.setState({ kind: 'running', endpoint });
        return endpoint;
      } catch (error) {
        const reason = errorText(error);
        failed += 1;
        if (error instanceof LaunchError || failed >= maxFailed) {
          this.options.log.error(`cannot start the sidecar: ${reason}`);
          this.setState({ kind: 'failed', reason });
          throw error;
        }
        this.losses.push(Date.now());
        this.options.log.warn(`sidecar start failed (${failed}/${maxFailed}): ${reason}`);
        this.setState({ kind: 'restarting', reason, delayMs: this.restartDelay() });
      }
    }
  }

  private async attachOrSpawn(): Promise<Endpoint> {
    const known = this.options.dataDir?.();
    const early = known ? await findOwner(known) : null;
    if (known && early) return this.attached(early, known);
    const launch = await this.options.launch();
    const dataDir = resolveDataDir(launch.dataDir, launch.env);
    const owner = dataDir === known ? null : await findOwner(dataDir);
    if (owner) return this.attached(owner, dataDir);
    return this.spawnSidecar(launch, this.logFile(dataDir));
  }

  private attached(owner: Endpoint, dataDir: string): Endpoint {
    this.options.log.info(`attached to the sidecar pid ${owner.pid} at ${owner.url} (data dir ${dataDir})`);
    const logFile = this.logFile(dataDir);
    if (logFile) this.follow(logFile, 'end');
    return owner;
  }

  /** Open the log for a new sidecar's stderr (rotated when large); its fd and current size. */
  private openLog(file: string): { fd: number; offset: number } {
    mkdirSync(path.dirname(file), { recursive: true });
    if (fileSize(file) > LOG_ROTATE_BYTES) renameSync(file, `${file}.1`);
    return { fd: openSync(file, 'a', 0o600), offset: fileSize(file) };
  }

  private spawnSidecar(launch: LaunchConfig, logFile: string | null): Promise<Endpoint> {
    const args = ['-m', 'sidecar', 'serve'];
    if (launch.dataDir) args.push('--data-dir', launch.dataDir);
    args.push(...(launch.extraArgs ?? []));
    const log = this.options.log;
    log.info(`starting ${launch.python} ${args.join(' ')}`);
    const timeoutMs = this.options.readyTimeoutMs ?? 30_000;
    return new Promise<Endpoint>((resolve, reject) => {
      const stderrTail: string[] = [];
      const remember = (line: string) => {
        stderrTail.push(line);
        if (stderrTail.length > 20) stderrTail.shift();
      };
      const logTo = logFile ? this.openLog(logFile) : null;
      let child: ChildProcess;
      try {
        // Its own process group: a signal to the extension host's group must not take the
        // sidecar down with it, since other windows (and this one after a reload) still use it.
        child = spawn(launch.python, args, {
          env: launch.env,
          stdio: ['ignore', 'pipe', logTo ? logTo.fd : 'pipe'],
          detached: process.platform !== 'win32',
          windowsHide: true,
        });
      } finally {
        if (logTo) closeSync(logTo.fd);
      }
      child.unref();
      const logTail = logFile && logTo ? this.follow(logFile, logTo.offset, remember) : null;
      let ready: Endpoint | null = null;
      let stdout = '';
      const fail = (message: string, retryable: boolean) => {
        clearTimeout(timer);
        logTail?.poll();
        const tail = stderrTail.length ? `: ${stderrTail.slice(-3).join(' | ')}` : '';
        reject(retryable ? new Error(message + tail) : new LaunchError(message + tail));
      };
      const timer = setTimeout(() => {
        child.kill('SIGTERM');
        fail(`no ready line within ${timeoutMs} ms`, true);
      }, timeoutMs);
      drainLines(child.stderr, (line) => {
        remember(line);
        log.sidecar(line);
      });
      child.stdout?.setEncoding('utf8');
      child.stdout?.on('data', (chunk: string) => {
        if (ready) return;
        stdout += chunk;
        const newline = stdout.indexOf('\n');
        if (newline < 0) return;
        const parsed = parseHandshake(stdout.slice(0, newline));
        clearTimeout(timer);
        if (!parsed) {
          child.kill('SIGTERM');
          fail('the sidecar printed something other than its ready line', true);
          return;
        }
        ready = parsed;
        if (parsed.attached) {
          // Another window won the race: `serve` printed the owner's handshake and exits 0.
          log.info(`attached to the sidecar pid ${parsed.pid} at ${parsed.url} (started by another window)`);
        } else {
          this.child = child;
          log.info(`sidecar pid ${parsed.pid} ready at ${parsed.url} (data dir ${parsed.dataDir})`);
        }
        resolve(parsed);
      });
      child.on('error', (error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') {
          fail(`the Python '${launch.python}' does not exist (setting chatSidecar.pythonPath)`, false);
        } else {
          fail(`cannot run ${launch.python}: ${error.message}`, false);
        }
      });
      // 'close', not 'exit': by then stderr has been read to its end (the reason is in it).
      child.on('close', (code, signal) => {
        if (!ready) {
          logTail?.poll();
          const missing = stderrTail.some((line) => line.includes('No module named sidecar'));
          if (missing) {
            fail(`${launch.python} has no 'sidecar' package: install chat-sidecar into it, or clear chatSidecar.pythonPath`, false);
          } else {
            fail(`the sidecar exited (${signal ?? `code ${code}`}) before it was ready`, true);
          }
          return;
        }
        if (this.child !== child) return;
        this.child = null;
        const endpoint = this.current;
        if (endpoint && endpoint.pid === child.pid) {
          this.lost(endpoint, `exited (${signal ?? `code ${code}`})`);
          this.scheduleRestart();
        }
      });
    });
  }

  /** Our child died: start another after the backoff, even if no client is asking yet. */
  private scheduleRestart(): void {
    if (this.disposed || this.restartTimer) return;
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      this.ensure().catch(() => undefined);
    }, 0);
  }
}

/** Call `onLine` for each line of a stream, as it comes. */
function drainLines(stream: NodeJS.ReadableStream | null, onLine: (line: string) => void): void {
  if (!stream) return;
  let buffer = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buffer += chunk;
    let newline: number;
    while ((newline = buffer.indexOf('\n')) >= 0) {
      onLine(buffer.slice(0, newline).replace(/\r$/, ''));
      buffer = buffer.slice(newline + 1);
    }
  });
  stream.on('end', () => {
    if (buffer) onLine(buffer);
  });
}
