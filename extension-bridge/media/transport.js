// @ts-check
/** The types every transport of the client library shares (no code: JSDoc only). */

/** @typedef {'connected' | 'reconnecting' | 'offline'} ConnectionState */
/** @typedef {{seq: number, type: string, data: any}} SidecarEvent */
/**
 * @typedef {object} Transport
 * @property {(method: string, params: Record<string, any>) => Promise<any>} request
 * @property {(since: number | null, sink: EventSink) => () => void} subscribe
 * @property {(listener: (state: ConnectionState, detail?: string) => void) => void} onState
 */
/**
 * @typedef {object} EventSink
 * @property {(event: SidecarEvent) => void} event
 * @property {() => void} reconnected   the stream is open again after a break that may have lost
 *   events (the bridge could not resume): the client must pull again. The HTTP transport never
 *   needs it: it resumes from the last seq, and the sidecar replays or sends `resync`.
 */

export {};
