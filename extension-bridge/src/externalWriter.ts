/**
 * The `external` provider's writer (CONTRACT §7): this editor's own language model (`vscode.lm`)
 * writes the replies the sidecar asks for.
 *
 * The sidecar announces each turn that needs a writer with a `turn.requested` notification, sent
 * only to RPC connections with a live event subscription covering its conversation. So the writer
 * holds one store-wide subscription (`events.subscribe {}`) through the bridge, as a panel of its
 * own: the bridge keeps it alive across reconnects, and its `turn.state` events say when the
 * sidecar cancels a turn being written. Every window runs a writer; the first `turns.claim` wins
 * and the others' 409 is ignored, so a reply is written once.
 *
 * A claim lives on one connection: when it closes, the sidecar fails the attempt as transient and
 * announces the turn again, so the writer just drops what it was writing. Text only: the
 * `vscode.lm` API of the editors we support (1.90) has no tool calls (docs/decisions.md).
 */

import * as vscode from 'vscode';

import { errorText, type Logger } from './common/logging';
import { type Panel, RpcCallError } from './rpcBridge';

/** The part of {@link RpcBridge} the writer uses. */
export interface WriterLink {
  addPanel(port: { postMessage(message: unknown): unknown }): Panel;
  call(method: string, params: Record<string, unknown>): Promise<unknown>;
  onNotification(method: string, listener: (params: Record<string, unknown>) => void): () => void;
}

export interface WriterOptions {
  log: Logger;
  /** `chatSidecar.external.modelFamily`, read for every turn; empty = the first model available. */
  modelFamily: () => string;
}

export const NO_MODEL = 'no language model is available in this editor';

/** Turn states that end a reply being written; the sidecar has stopped listening to it. */
const STOPPED_STATES = new Set(['cancelled', 'interrupted', 'permanent_failure']);
/** Language model errors a retry cannot cure. */
const PERMANENT_LM_ERRORS = new Set(['NoPermissions', 'Blocked']);

/** A CONTRACT §4 Message, as far as the writer reads it. */
interface Message {
  role?: unknown;
  content?: unknown;
  tool_calls?: unknown;
  tool_call_id?: unknown;
  metadata?: unknown;
}

/** Why a write stopped early. */
type Stop = 'turn-stopped' | 'claim-lost' | 'disposed';

interface Write {
  source: vscode.CancellationTokenSource;
  stop: Stop | null;
}

export class ExternalWriter {
  private panel: Panel | null = null;
  private unlisten: (() => void) | null = null;
  private readonly writes = new Map<string, Write>();
  /** Turns with a `turns.claim` on the way, so one window never claims a turn twice. */
  private readonly claiming = new Set<string>();

  constructor(
    private readonly link: WriterLink,
    private readonly options: WriterOptions,
  ) {}

  /** Turns being written now (for tests and the log). */
  get activeTurns(): string[] {
    return [...this.writes.keys()];
  }

  start(): void {
    if (this.panel) return;
    this.unlisten = this.link.onNotification('turn.requested', (params) => {
      if (typeof params.turn_id === 'string') void this.write(params.turn_id);
    });
    this.panel = this.link.addPanel({ postMessage: (message) => this.fromBridge(message) });
    this.panel.receive({ jsonrpc: '2.0', id: 1, method: 'events.subscribe', params: {} });
    this.options.log.info('external provider: this window writes replies with the editor\'s language model');
  }

  dispose(): void {
    this.unlisten?.();
    this.unlisten = null;
    this.panel?.dispose();
    this.panel = null;
    for (const [turnId, write] of this.writes) this.abort(turnId, write, 'disposed');
  }

  private fromBridge(message: unknown): void {
    const m = message as { method?: unknown; params?: Record<string, unknown>; id?: unknown; error?: { message?: unknown } };
    if (m.id === 1 && m.error) {
      this.options.log.warn(`external provider: cannot subscribe to events: ${String(m.error.message)}`);
    } else if (m.method === 'bridge.connection' && m.params?.state !== 'connected') {
      // The connection that held the claims is gone; the sidecar announces the turns again.
      for (const [turnId, write] of this.writes) this.abort(turnId, write, 'claim-lost');
    } else if (m.method === 'event' && m.params?.type === 'turn.state') {
      const data = (m.params.data ?? {}) as { turn_id?: unknown; state?: unknown };
      if (typeof data.turn_id !== 'string') return;
      const write = this.writes.get(data.turn_id);
      if (write && STOPPED_STATES.has(String(data.state))) this.abort(data.turn_id, write, 'turn-stopped');
      // A turn (re)starting. Its announcement may have gone out while this window was
      // reconnecting, with no subscription for it to reach: claiming now needs no announcement
      // (the claim answers with it), and a turn not open yet or written elsewhere answers 404/409.
      else if (!write && data.state === 'streaming') void this.write(data.turn_id);
    }
  }

  /**
   * Stop a write. A lost claim lets go of the turn at once (it may be announced again while the
   * model winds down); a stopped turn keeps it until the write has said its last word.
   */
  private abort(turnId: string, write: Write, stop: Stop): void {
    if (write.stop === null) write.stop = stop;
    if (stop !== 'turn-stopped' && this.writes.get(turnId) === write) this.writes.delete(turnId);
    write.source.cancel();
  }

  /** Claim the turn and write its reply; every outcome ends in complete, fail or silence. */
  private async write(turnId: string): Promise<void> {
    if (!this.panel || this.writes.has(turnId) || this.claiming.has(turnId)) return;
    this.claiming.add(turnId);
    let announcement: Record<string, unknown>;
    try {
      announcement = ((await this.link.call('turns.claim', { turn_id: turnId })) ?? {}) as Record<string, unknown>;
    } catch (error) {
      if (error instanceof RpcCallError && (error.reason === 'conflict' || error.reason === 'not_found')) {
        this.options.log.debug(`external provider: turn ${turnId} is written elsewhere`);
      } else {
        this.options.log.warn(`external provider: cannot claim turn ${turnId}: ${errorText(error)}`);
      }
      return;
    } finally {
      this.claiming.delete(turnId);
    }
    const write: Write = { source: new vscode.CancellationTokenSource(), stop: null };
    this.writes.set(turnId, write);
    try {
      await this.generate(turnId, announcement, write);
    } finally {
      if (this.writes.get(turnId) === write) this.writes.delete(turnId);
      write.source.dispose();
    }
  }

  private async generate(turnId: string, announcement: Record<string, unknown>, write: Write): Promise<void> {
    const token = write.source.token;
    let failure: { transient: boolean; message: string } | null = null;
    try {
      const family = this.options.modelFamily();
      const [model] = await vscode.lm.selectChatModels(family ? { family } : undefined);
      if (!model) {
        failure = { transient: false, message: family ? `${NO_MODEL} (family ${family})` : NO_MODEL };
      } else {
        this.options.log.info(`external provider: writing turn ${turnId} with ${model.vendor}/${model.family}`);
        const messages = toChatMessages(Array.isArray(announcement.messages) ? (announcement.messages as Message[]) : []);
        const response = await model.sendRequest(
          messages,
          { justification: 'Chat Sidecar writes the reply to the message you sent in its chat panel.' },
          token,
        );
        for await (const text of response.text) {
          if (token.isCancellationRequested) break;
          if (!text) continue;
          try {
            await this.link.call('turns.pushDelta', { turn_id: turnId, text });
          } catch (error) {
            // not_found / conflict: the sidecar cancelled the turn or gave it up; -32000: our
            // connection (and with it the claim) is gone. Either way nobody reads on.
            this.options.log.info(`external provider: turn ${turnId} stopped: ${errorText(error)}`);
            this.abort(turnId, write, 'claim-lost');
            break;
          }
        }
      }
    } catch (error) {
      if (write.stop === null) failure = classify(error);
    }
    if (write.stop === 'claim-lost' || write.stop === 'disposed') return;
    try {
      if (write.stop === 'turn-stopped') {
        // A cancelled turn answers not_found. A `turn.state` event that was stale (one that
        // arrived after the turn was announced anew) must not leave the turn waiting for us: a
        // transient failure lets the sidecar announce it once more.
        await this.link.call('turns.fail', { turn_id: turnId, transient: true, message: 'the writer was told the turn stopped' });
      } else if (failure) {
        this.options.log.warn(`external provider: turn ${turnId} failed (${failure.transient ? 'transient' : 'permanent'}): ${failure.message}`);
        await this.link.call('turns.fail', { turn_id: turnId, ...failure });
      } else {
        await this.link.call('turns.complete', { turn_id: turnId });
      }
    } catch (error) {
      this.options.log.debug(`external provider: turn ${turnId} was no longer ours to end: ${errorText(error)}`);
    }
  }
}

/** A language model error becomes a turn failure: permanent when a retry cannot help. */
export function classify(error: unknown): { transient: boolean; message: string } {
  const message = errorText(error) || 'the language model failed';
  if (error instanceof vscode.LanguageModelError) {
    return { transient: !PERMANENT_LM_ERRORS.has(error.code), message: `language model error ${error.code}: ${message}` };
  }
  return { transient: true, message };
}

/**
 * §4 messages -> `vscode.lm` messages, which know only User and Assistant: system messages are
 * folded into the first user message, tool calls and their results become text.
 */
export function toChatMessages(history: Message[]): vscode.LanguageModelChatMessage[] {
  const system: string[] = [];
  const turns: { role: 'user' | 'assistant'; text: string }[] = [];
  for (const message of history) {
    const content = typeof message.content === 'string' ? message.content : '';
    if (message.role === 'system') {
      if (content) system.push(content);
    } else if (message.role === 'user') {
      turns.push({ role: 'user', text: content });
    } else if (message.role === 'assistant') {
      const calls = Array.isArray(message.tool_calls) ? (message.tool_calls as { name?: unknown; arguments?: unknown }[]) : [];
      const text = [content, ...calls.map((call) => `[called the tool ${String(call.name)} with ${JSON.stringify(call.arguments ?? {})}]`)]
        .filter(Boolean)
        .join('\n');
      if (text) turns.push({ role: 'assistant', text });
    } else if (message.role === 'tool') {
      const metadata = (message.metadata ?? {}) as { tool_name?: unknown };
      const name = typeof metadata.tool_name === 'string' ? metadata.tool_name : String(message.tool_call_id ?? 'a tool');
      turns.push({ role: 'user', text: `[the tool ${name} returned] ${content}` });
    }
  }
  if (system.length) {
    const preface = system.join('\n\n');
    const first = turns.find((turn) => turn.role === 'user');
    if (first) first.text = first.text ? `${preface}\n\n${first.text}` : preface;
    else turns.unshift({ role: 'user', text: preface });
  }
  return turns.map((turn) =>
    turn.role === 'user' ? vscode.LanguageModelChatMessage.User(turn.text) : vscode.LanguageModelChatMessage.Assistant(turn.text),
  );
}
