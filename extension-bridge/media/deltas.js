// @ts-check
/** The rule for applying streamed text (`message.delta`, §6) to what a client holds. */

/**
 * Apply one `message.delta` (§6) to the text a client holds for that message.
 * - `applied`: `offset` equals the text's length, so `text` continues it;
 * - `duplicate`: the text already covers `offset + text.length` (a repeat, e.g. after a pull);
 * - `gap`: `offset` lies beyond the text: something was missed, pull the message again.
 * @param {string} content  what the client holds
 * @param {{offset: number, text: string}} delta
 * @returns {{result: 'applied' | 'duplicate' | 'gap', content: string}}
 */
export function applyDelta(content, delta) {
  if (delta.offset === content.length) return { result: 'applied', content: content + delta.text };
  if (delta.offset < content.length) {
    // A delta that reaches past what we hold (a partial overlap) still brings new text.
    const end = delta.offset + delta.text.length;
    if (end <= content.length) return { result: 'duplicate', content };
    return { result: 'applied', content: content + delta.text.slice(content.length - delta.offset) };
  }
  return { result: 'gap', content };
}
