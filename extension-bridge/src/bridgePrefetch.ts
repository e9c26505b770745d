/**
 * Reads asked for before a panel asks them (src/rpcBridge.ts): a restored panel's first pulls.
 *
 * When VS Code restores a chat panel after Reload Window, the extension host knows the
 * conversation it showed (the webview's state holds its id) well before the page's script has
 * loaded and asked for anything. The bridge sends those reads at once; when the page then asks
 * the same (same method, same params), it gets that answer instead of waiting for a round trip of
 * its own. Only reads, each answer used once and kept briefly: an answer is a snapshot with its
 * `event_seq`, and the page subscribes from there, so what changed since comes as events.
 */

import type { Answer } from './bridgeRequests';

/** The methods that may be asked early: reads of the store, nothing that changes it. */
const READS = new Set(['conversations.get', 'conversations.list', 'branches.list', 'messages.list']);

/** How long an unclaimed answer (or a read still on its way) is kept for a panel to claim. */
export const PREFETCH_TTL_MS = 15_000;

interface Early {
  answer: Answer | null;
  waiters: ((answer: Answer) => void)[];
  timer: NodeJS.Timeout;
}

/** One key per read: the method and its params with sorted keys. */
function keyOf(method: string, params: Record<string, unknown>): string {
  const sorted = Object.keys(params)
    .sort()
    .map((name) => [name, params[name]]);
  return JSON.stringify([method, sorted]);
}

export class Prefetches {
  private readonly early = new Map<string, Early>();

  /** @param send a request that waits for the connection and answers once */
  constructor(
    private readonly send: (method: string, params: Record<string, unknown>, answer: (answer: Answer) => void) => void,
    private readonly ttlMs = PREFETCH_TTL_MS,
  ) {}

  /** Ask `method` now, for a panel to claim later; false (nothing sent) if it is not a read. */
  start(method: string, params: Record<string, unknown>): boolean {
    if (!READS.has(method)) return false;
    const key = keyOf(method, params);
    if (this.early.has(key)) return true;
    const timer = setTimeout(() => this.early.delete(key), this.ttlMs);
    timer.unref();
    const entry: Early = { answer: null, waiters: [], timer };
    this.early.set(key, entry);
    this.send(method, params, (answer) => {
      entry.answer = answer;
      for (const waiter of entry.waiters.splice(0)) waiter(answer);
    });
    return true;
  }

  /** Whether this read was sent early and is still waiting to be claimed. */
  has(method: string, params: Record<string, unknown>): boolean {
    return this.early.has(keyOf(method, params));
  }

  /** If this read was asked early, `reply` gets that answer (now or when it comes) and true. */
  claim(method: string, params: Record<string, unknown>, reply: (answer: Answer) => void): boolean {
    if (!READS.has(method)) return false;
    const key = keyOf(method, params);
    const entry = this.early.get(key);
    if (!entry) return false;
    this.early.delete(key);
    clearTimeout(entry.timer);
    if (entry.answer) reply(entry.answer);
    else entry.waiters.push(reply);
    return true;
  }

  /**
   * This read's answer if it comes within `ms` (claimed, so no page gets it again); else null and
   * the read stays for the page to claim. Only a result is taken: an error is left to the page's
   * own request, which reports it as it always does.
   */
  async claimWithin(method: string, params: Record<string, unknown>, ms: number): Promise<Answer | null> {
    const entry = this.early.get(keyOf(method, params));
    if (!entry) return null;
    if (!entry.answer) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        timer = setTimeout(resolve, ms);
        entry.waiters.push(() => resolve());
      });
      clearTimeout(timer);
    }
    const answer = entry.answer;
    if (!answer || answer.error || this.early.get(keyOf(method, params)) !== entry) return null;
    this.early.delete(keyOf(method, params));
    clearTimeout(entry.timer);
    return answer;
  }

  clear(): void {
    for (const entry of this.early.values()) clearTimeout(entry.timer);
    this.early.clear();
  }
}
