/**
 * The bridge's requests to the sidecar, and its offline queue (src/rpcBridge.ts).
 *
 * A webview's memory dies with a reload, so the extension host holds the queue: panel requests
 * made while the sidecar is unreachable, and those whose answer a broken connection lost, are
 * sent again once it is back, in the order they were made (safe: every mutation carries a client
 * id, §4). The bridge's own requests are never queued: they fail when there is no connection.
 */

import WebSocket from 'ws';

export type JsonRpcId = number | string;

export interface RpcError {
  code: number;
  message: string;
  data?: unknown;
}

export interface Answer {
  result?: unknown;
  error?: RpcError;
}

/** A request waiting for its answer from the sidecar. */
interface Outstanding {
  method: string;
  params: Record<string, unknown>;
  /** Panel requests survive a broken connection and are sent again; the bridge's own do not. */
  replay: boolean;
  answer: (answer: Answer) => void;
  /** The connection it was last sent on: any other means it still has to be (re)sent. */
  sentOn: WebSocket | null;
  /** Wakes the replay loop when this request is answered or its connection drops. */
  settle?: () => void;
}

export function send(socket: WebSocket, message: Record<string, unknown>): void {
  socket.send(JSON.stringify(message));
}

export class RequestQueue {
  private nextId = 1;
  private readonly outstanding = new Map<number, Outstanding>();
  /** The connection whose backlog is being replayed; new panel requests wait behind it. */
  private replaying: WebSocket | null = null;

  /** @param connection the open connection, if any */
  constructor(private readonly connection: () => WebSocket | null) {}

  /** Panel requests waiting for an answer or a connection. */
  get pending(): number {
    return [...this.outstanding.values()].filter((entry) => entry.replay).length;
  }

  /** Queue a request upstream; sent now when connected, else when the connection is back. */
  request(method: string, params: Record<string, unknown>, replay: boolean, answer: (answer: Answer) => void): void {
    const id = this.nextId++;
    const entry: Outstanding = { method, params, replay, answer, sentOn: null };
    this.outstanding.set(id, entry);
    const socket = this.connection();
    if (socket && socket.readyState === WebSocket.OPEN && !(replay && this.replaying === socket)) {
      entry.sentOn = socket;
      send(socket, { jsonrpc: '2.0', id, method, params });
    } else if (!replay) {
      this.outstanding.delete(id);
      answer({ error: { code: -32000, message: 'the sidecar is not connected' } });
    }
  }

  /** From now until `replay(socket)` is done, new panel requests wait behind the backlog. */
  hold(socket: WebSocket): void {
    this.replaying = socket;
  }

  /**
   * Send the backlog one request at a time, each after the previous one's answer: the sidecar
   * runs the requests of a connection concurrently, and a queue often holds dependent ones (create
   * a conversation, then send into it) that must be applied in the order they were made.
   * False if the connection dropped meanwhile.
   */
  async replay(socket: WebSocket): Promise<boolean> {
    for (;;) {
      if (this.connection() !== socket) return false;
      const next = [...this.outstanding].find(([, entry]) => entry.replay && entry.sentOn !== socket);
      if (!next) {
        this.replaying = null;
        return true;
      }
      const [id, entry] = next;
      const settled = new Promise<void>((resolve) => {
        entry.settle = resolve;
      });
      entry.sentOn = socket;
      send(socket, { jsonrpc: '2.0', id, method: entry.method, params: entry.params });
      await settled;
    }
  }

  /** An answer from the sidecar (a message with an `id` and no `method`). */
  answered(message: Record<string, unknown>): void {
    const id = typeof message.id === 'number' ? message.id : Number.NaN;
    const entry = this.outstanding.get(id);
    if (!entry) return;
    this.outstanding.delete(id);
    entry.settle?.();
    entry.answer(message.error ? { error: message.error as RpcError } : { result: message.result });
  }

  /** The connection is gone: the bridge's own calls fail, panel requests wait for the next one. */
  connectionLost(): void {
    for (const [id, entry] of this.outstanding) {
      entry.settle?.();
      if (!entry.replay) {
        this.outstanding.delete(id);
        entry.answer({ error: { code: -32000, message: 'the connection to the sidecar closed' } });
      }
    }
    this.replaying = null;
  }
}
