/**
 * The extension's settings (`chatSidecar.*`, CONTRACT §9) and what they become for the sidecar:
 * command-line flags and `CHAT_SIDECAR_*` environment variables (§1).
 *
 * Kept free of the `vscode` module: the reader takes anything with `get(key)` (VS Code's
 * WorkspaceConfiguration fits), so the same code runs under node's test runner.
 */

import * as os from 'node:os';
import * as path from 'node:path';

export const PROVIDERS = ['echo', 'openai', 'external'] as const;
export type Provider = (typeof PROVIDERS)[number];
export type LogLevel = 'debug' | 'info' | 'warning' | 'error';
const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warning', 'error'];

/** SecretStorage key of the OpenAI-compatible provider's API key (never in settings.json, §2). */
export const OPENAI_KEY_SECRET = 'chatSidecar.openai.apiKey';
/** SecretStorage key of the sync hub's password (§10: never in a URL, a flag or settings.json). */
export const SYNC_PASSWORD_SECRET = 'chatSidecar.sync.password';

export interface SidecarSettings {
  /** The Python that runs `-m sidecar`; empty: the extension's private environment. */
  pythonPath: string;
  /** The data dir; empty: the sidecar's default (the same one `chat-migrate` uses). */
  dataDir: string;
  provider: Provider;
  openaiBaseUrl: string;
  openaiModel: string;
  /** Echo provider: characters per chunk, 0 = the sidecar's default. */
  echoChunk: number;
  /** Echo provider: milliseconds between chunks, -1 = the sidecar's default. */
  echoDelayMs: number;
  /** External provider: the editor's language model family to write with; empty = the first available. */
  externalModelFamily: string;
  logLevel: LogLevel;
  /** The PostgreSQL hub shared with other machines (§10); empty = no sync. */
  syncUrl: string;
  /** This machine's name in the hub; empty = the host name. */
  deviceName: string;
}

export interface ConfigurationLike {
  get<T>(section: string): T | undefined;
}

/** `~/x` -> the home folder's `x`, as a user would expect of a path setting. */
export function expandHome(value: string, home: string = os.homedir()): string {
  if (value === '~') return home;
  if (value.startsWith('~/') || value.startsWith('~\\')) return path.join(home, value.slice(2));
  return value;
}

function text(config: ConfigurationLike, key: string): string {
  const value = config.get<unknown>(key);
  return typeof value === 'string' ? value.trim() : '';
}

function integer(config: ConfigurationLike, key: string, fallback: number): number {
  const value = config.get<unknown>(key);
  return typeof value === 'number' && Number.isInteger(value) ? value : fallback;
}

/** The `chatSidecar` section as typed values; anything malformed falls back to its default. */
export function readSettings(config: ConfigurationLike): SidecarSettings {
  const provider = text(config, 'provider');
  const logLevel = text(config, 'logLevel');
  return {
    pythonPath: expandHome(text(config, 'pythonPath')),
    dataDir: expandHome(text(config, 'dataDir')),
    provider: (PROVIDERS as readonly string[]).includes(provider) ? (provider as Provider) : 'echo',
    openaiBaseUrl: text(config, 'openai.baseUrl'),
    openaiModel: text(config, 'openai.model'),
    echoChunk: integer(config, 'echo.chunk', 0),
    echoDelayMs: integer(config, 'echo.delayMs', -1),
    externalModelFamily: text(config, 'external.modelFamily'),
    logLevel: (LOG_LEVELS as readonly string[]).includes(logLevel) ? (logLevel as LogLevel) : 'info',
    syncUrl: text(config, 'syncUrl'),
    deviceName: text(config, 'deviceName'),
  };
}

/**
 * The sidecar's environment: the editor's own, passed through (§9), plus the provider settings.
 * A setting left at its default does not override a variable the user exported themselves.
 */
export function sidecarEnv(
  settings: SidecarSettings,
  base: NodeJS.ProcessEnv,
  openaiApiKey: string | undefined,
  syncPassword?: string,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(base)) if (value !== undefined) env[key] = value;
  env.CHAT_SIDECAR_PROVIDER = settings.provider;
  if (settings.openaiBaseUrl) env.CHAT_SIDECAR_OPENAI_BASE_URL = settings.openaiBaseUrl;
  if (settings.openaiModel) env.CHAT_SIDECAR_OPENAI_MODEL = settings.openaiModel;
  if (openaiApiKey) env.CHAT_SIDECAR_OPENAI_API_KEY = openaiApiKey;
  if (settings.echoChunk > 0) env.CHAT_SIDECAR_ECHO_CHUNK = String(settings.echoChunk);
  if (settings.echoDelayMs >= 0) env.CHAT_SIDECAR_ECHO_DELAY_MS = String(settings.echoDelayMs);
  env.CHAT_SIDECAR_LOG_LEVEL = settings.logLevel;
  if (settings.syncUrl) env.CHAT_SIDECAR_SYNC_URL = settings.syncUrl;
  if (settings.deviceName) env.CHAT_SIDECAR_DEVICE_NAME = settings.deviceName;
  if (syncPassword) env.CHAT_SIDECAR_SYNC_PASSWORD = syncPassword;
  return env;
}

/**
 * The data dir a `serve` without `--data-dir` would use, so the extension can find its discovery
 * file before starting anything. Mirrors `sidecar.settings.default_data_dir` and the
 * `CHAT_SIDECAR_DATA_DIR` twin (§1).
 */
export function resolveDataDir(setting: string, env: Record<string, string | undefined>, home: string = os.homedir()): string {
  if (setting) return path.resolve(setting);
  const fromEnv = env.CHAT_SIDECAR_DATA_DIR;
  if (fromEnv) return path.resolve(fromEnv);
  const base = env.XDG_DATA_HOME ? env.XDG_DATA_HOME : path.join(home, '.local', 'share');
  return path.resolve(base, 'chat-sidecar');
}

/** The status bar's words for the health's `sync` block (§10): `null` when sync is off. */
export function describeSync(sync: unknown): { label: string; tooltip: string } | null {
  if (!sync || typeof sync !== 'object') return null;
  const block = sync as Record<string, unknown>;
  const state = typeof block.state === 'string' ? block.state : 'off';
  if (state === 'off') return null;
  const hub = typeof block.hub === 'string' ? block.hub : 'the hub';
  const pending = typeof block.pending === 'number' ? block.pending : 0;
  const icons: Record<string, string> = {
    online: '$(cloud)',
    connecting: '$(sync~spin)',
    offline: '$(cloud-offline)',
    error: '$(warning)',
  };
  const waiting = pending > 0 ? `, ${pending} change${pending === 1 ? '' : 's'} to send` : '';
  const error = typeof block.error === 'string' && block.error ? `: ${block.error}` : '';
  return { label: icons[state] ?? '$(cloud)', tooltip: `Sync ${state} with ${hub}${waiting}${error}` };
}
