// @ts-check
/** The error the client library raises for an application error from the sidecar (CONTRACT §3). */

/** An application error from the sidecar, with the contract's string code (§3). */
export class SidecarError extends Error {
  /**
   * @param {string} code      the §3 string code (`not_found`, `conflict`, ...)
   * @param {string} message
   * @param {Record<string, any>} [details]
   * @param {number} [rpcCode] the JSON-RPC error code, when the error came over JSON-RPC
   */
  constructor(code, message, details, rpcCode) {
    super(message);
    this.name = 'SidecarError';
    this.code = code;
    this.details = details || {};
    this.rpcCode = rpcCode;
  }

  /** Whether the sidecar lacks this method (-32601) or, for a route without path parameters, the route (404): an older sidecar. */
  get methodMissing() {
    return this.rpcCode === -32601 || this.code === 'method_not_found' || this.code === 'not_found';
  }
}
