/**
 * Which Python runs the sidecar (CONTRACT §9, `chatSidecar.pythonPath`).
 *
 * Set: that Python, as is (it must have `chat-sidecar` installed). Empty: the extension's private
 * virtual environment in its global storage, created once with the user's own Python 3.11+ and
 * the sidecar wheel shipped inside the `.vsix`. pip takes the wheel's dependencies from the package
 * index on that first run; later starts reuse the environment. A stamp file names the wheel
 * installed, so an updated extension reinstalls its new wheel.
 */

import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

import { LaunchError } from './server';

export const MIN_PYTHON: readonly [number, number] = [3, 11];

/** Reports progress of the one slow step (a notification in the editor). */
export type Progress = (message: string) => void;

export interface PrivateEnvOptions {
  /** The extension's global storage folder (shared by its windows). */
  storageDir: string;
  /** The folder in the extension holding `chat_sidecar-*.whl`. */
  wheelDir: string;
  /** Pythons to try, first that is new enough wins. */
  candidates?: string[];
  /** Runs `create`, showing progress (VS Code: a notification); tests pass a plain call. */
  withProgress: <T>(title: string, create: (progress: Progress) => Promise<T>) => Promise<T>;
  log: (line: string) => void;
}

const STAMP = '.chat-sidecar-wheel';

function defaultCandidates(): string[] {
  if (process.platform === 'win32') return ['py', 'python3', 'python'];
  return ['python3', 'python3.14', 'python3.13', 'python3.12', 'python3.11', 'python'];
}

function run(file: string, args: string[], timeoutMs: number): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(Object.assign(error, { stderr: String(stderr) }));
      else resolve({ stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** The version of `python` if it runs and has `venv`, else null. */
export async function pythonVersion(python: string): Promise<[number, number] | null> {
  const args = python === 'py' ? ['-3'] : [];
  try {
    const { stdout } = await run(
      python,
      [...args, '-c', 'import sys, venv, ensurepip; print("%d.%d" % sys.version_info[:2])'],
      15_000,
    );
    const match = /^(\d+)\.(\d+)/.exec(stdout.trim());
    return match ? [Number(match[1]), Number(match[2])] : null;
  } catch {
    return null;
  }
}

function newEnough(version: [number, number]): boolean {
  return version[0] > MIN_PYTHON[0] || (version[0] === MIN_PYTHON[0] && version[1] >= MIN_PYTHON[1]);
}

/** The first candidate that is Python 3.11+ with `venv`; LaunchError naming what was tried. */
export async function findBasePython(candidates: string[]): Promise<string> {
  const seen: string[] = [];
  for (const candidate of candidates) {
    const version = await pythonVersion(candidate);
    if (version && newEnough(version)) return candidate;
    seen.push(version ? `${candidate} is ${version.join('.')}` : `${candidate} not found`);
  }
  throw new LaunchError(
    `Chat Sidecar needs Python ${MIN_PYTHON.join('.')} or newer with venv to run its sidecar (${seen.join(', ')}). ` +
      'Install it, or set chatSidecar.pythonPath to a Python that has chat-sidecar installed.',
  );
}

export async function shippedWheel(wheelDir: string): Promise<string> {
  let names: string[] = [];
  try {
    names = (await fs.readdir(wheelDir)).filter((name) => /^chat_sidecar-.*\.whl$/.test(name)).sort();
  } catch {
    // no folder: reported below
  }
  const last = names.at(-1);
  if (!last) {
    throw new LaunchError(`this build of the extension ships no sidecar wheel (${wheelDir}); set chatSidecar.pythonPath`);
  }
  return path.join(wheelDir, last);
}

function venvPython(venv: string): string {
  return process.platform === 'win32' ? path.join(venv, 'Scripts', 'python.exe') : path.join(venv, 'bin', 'python');
}

async function readText(file: string): Promise<string | null> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch {
    return null;
  }
}

/**
 * The private environment's Python, creating or updating the environment first when needed.
 * Windows opening at once share one creation through a lock folder.
 */
export async function privatePython(options: PrivateEnvOptions): Promise<string> {
  const wheel = await shippedWheel(options.wheelDir);
  const venv = path.join(options.storageDir, 'python');
  const python = venvPython(venv);
  const stamp = path.join(venv, STAMP);
  if ((await readText(stamp)) === path.basename(wheel)) return python;

  await fs.mkdir(options.storageDir, { recursive: true });
  const lock = path.join(options.storageDir, 'python.lock');
  await acquireLock(lock);
  try {
    if ((await readText(stamp)) === path.basename(wheel)) return python;
    const base = await findBasePython(options.candidates ?? defaultCandidates());
    await options.withProgress('Chat Sidecar: setting up its Python environment (first run)', async (progress) => {
      options.log(`creating the private environment ${venv} with ${base}`);
      progress(`creating a virtual environment with ${base}`);
      await fs.rm(venv, { recursive: true, force: true });
      const baseArgs = base === 'py' ? ['-3'] : [];
      await runLogged(base, [...baseArgs, '-m', 'venv', venv], options.log);
      progress(`installing ${path.basename(wheel)} and its dependencies`);
      await runLogged(
        python,
        ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', '--quiet', wheel],
        options.log,
      );
      await fs.writeFile(stamp, path.basename(wheel));
    });
    options.log(`private environment ready: ${python}`);
    return python;
  } finally {
    await fs.rm(lock, { recursive: true, force: true });
  }
}

async function runLogged(file: string, args: string[], log: (line: string) => void): Promise<void> {
  try {
    await run(file, args, 10 * 60_000);
  } catch (error) {
    const stderr = String((error as { stderr?: unknown }).stderr ?? '').trim();
    for (const line of stderr.split('\n').slice(-20)) log(line);
    const last = stderr.split('\n').at(-1) ?? '';
    throw new LaunchError(`setting up the sidecar's Python environment failed (${path.basename(file)} ${args.slice(0, 3).join(' ')}): ${last}`);
  }
}

/** A folder as a lock: `mkdir` is atomic. One left by a crash is taken over after 15 minutes. */
async function acquireLock(lock: string): Promise<void> {
  for (;;) {
    try {
      await fs.mkdir(lock);
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const stat = await fs.stat(lock).catch(() => null);
      if (stat && Date.now() - stat.mtimeMs > 15 * 60_000) {
        await fs.rm(lock, { recursive: true, force: true });
        continue;
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}
