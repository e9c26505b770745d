/**
 * The extension's log: one "Chat Sidecar" output channel for the extension's own lines and the
 * sidecar's stderr. Nothing secret goes in: the session token is replaced wherever it appears
 * (CONTRACT §2: no secret and no chat content in any log), and chat content is never logged.
 */

import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';

/** Where lines go: a VS Code OutputChannel in the editor, an array in tests. */
export interface LineSink {
  appendLine(line: string): void;
}

export type Level = 'debug' | 'info' | 'warning' | 'error';

const ORDER: Record<Level, number> = { debug: 10, info: 20, warning: 30, error: 40 };

export class Logger {
  private readonly secrets = new Set<string>();

  constructor(
    private readonly sink: LineSink,
    private level: Level = 'info',
  ) {}

  setLevel(level: Level): void {
    this.level = level;
  }

  /** Replace `value` by `***` in every later line (the token, a provider key). */
  redact(value: string): void {
    if (value.length >= 8) this.secrets.add(value);
  }

  debug(message: string): void {
    this.write('debug', message);
  }

  info(message: string): void {
    this.write('info', message);
  }

  warn(message: string): void {
    this.write('warning', message);
  }

  error(message: string): void {
    this.write('error', message);
  }

  /** A line the sidecar wrote to its stderr: it has its own timestamp and level already. */
  sidecar(line: string): void {
    if (line.trim() !== '') this.sink.appendLine(this.scrub(`[sidecar] ${line}`));
  }

  private write(level: Level, message: string): void {
    if (ORDER[level] < ORDER[this.level]) return;
    this.sink.appendLine(this.scrub(`${new Date().toISOString()} ${level.toUpperCase()} ${message}`));
  }

  private scrub(line: string): string {
    // The sidecar names its chat UI as URL/ui/#token=TOKEN on stderr (CONTRACT §1): that token is
    // masked even when the line is read before the handshake told us the token to redact.
    let out = line.replace(/([#&?](?:access_)?token=)[^\s&]+/g, '$1***');
    for (const secret of this.secrets) out = out.split(secret).join('***');
    return out;
  }
}

/** The message of anything thrown, for a log line or a notification. */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Follows a growing file and calls `onLine` for each new line (polling: portable, and cheap for
 * one small log). The sidecar's stderr goes to a file rather than a pipe so that it outlives the
 * extension host that started it: after a window reload the new extension host attaches to the
 * same sidecar and follows the same file. A file that shrank was rotated: read it from the start.
 */
export class FileTail {
  private offset: number;
  private decoder = new StringDecoder('utf8');
  private partial = '';
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly file: string,
    private readonly onLine: (line: string) => void,
    fromOffset: number | 'end',
    intervalMs = 250,
  ) {
    this.offset = fromOffset === 'end' ? fileSize(file) : fromOffset;
    this.timer = setInterval(() => this.poll(), intervalMs);
    this.timer.unref();
  }

  /** Read what was added since the last call (also called on a timer). */
  poll(): void {
    let fd: number;
    try {
      fd = openSync(this.file, 'r');
    } catch {
      return;
    }
    try {
      const size = fstatSync(fd).size;
      if (size < this.offset) {
        this.offset = 0;
        this.partial = '';
        this.decoder = new StringDecoder('utf8');
      }
      const buffer = Buffer.alloc(64 * 1024);
      while (this.offset < size) {
        const read = readSync(fd, buffer, 0, Math.min(buffer.length, size - this.offset), this.offset);
        if (read <= 0) break;
        this.offset += read;
        this.partial += this.decoder.write(buffer.subarray(0, read));
      }
    } finally {
      closeSync(fd);
    }
    let newline: number;
    while ((newline = this.partial.indexOf('\n')) >= 0) {
      this.onLine(this.partial.slice(0, newline).replace(/\r$/, ''));
      this.partial = this.partial.slice(newline + 1);
    }
  }

  stop(): void {
    clearInterval(this.timer);
    this.poll();
  }
}

export function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}
