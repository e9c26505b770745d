// @ts-check
/**
 * Notices: every failed action says what happened and offers a way to try again; nothing the UI
 * waits for waits forever. One notice is shown at a time (the newest), in `#notice`
 * (`data-testid="notice"`): `role="alert"` for errors, `role="status"` for information.
 */

import { SidecarError } from '../media/client.js';
import { el, ui } from './dom.js';
import { fragment } from './host.js';

/**
 * How long an action may wait for the sidecar before the user is told (it may still be queued).
 * `#wait_ms=` in the page's address sets it (the UI tests use a short one).
 */
export const ACTION_TIMEOUT_MS = Number(fragment.get('wait_ms')) || 10_000;

export class TimeoutError extends Error {}

/**
 * @param {string} text  empty: hide the notice
 * @param {{kind?: 'error' | 'info', retry?: (() => unknown) | null, retryLabel?: string, actionId?: string, tag?: string}} [options]
 *   `retry`: the action the notice's button runs (Retry, or a confirmation's "Delete forever");
 *   `tag`: names the notice, so that whoever showed it can take it back (`withdraw`)
 */
export function notify(text, { kind = 'error', retry = null, retryLabel = 'Retry', actionId = 'notice-retry', tag = '' } = {}) {
  const notice = ui.notice;
  notice.dataset.tag = tag;
  notice.hidden = !text;
  notice.className = `notice ${kind}`;
  notice.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  notice.replaceChildren();
  if (!text) return;
  notice.append(el('span', { class: 'notice-text' }, text));
  if (retry) {
    const again = el('button', { type: 'button', 'data-testid': actionId }, retryLabel);
    again.addEventListener('click', () => {
      notify('');
      retry();
    });
    notice.append(again);
  }
  const close = el('button', { type: 'button', class: 'icon', 'aria-label': 'Dismiss', 'data-testid': 'notice-dismiss' });
  close.addEventListener('click', () => notify(''));
  notice.append(close);
}

/** Hide the notice if it is still the one named `tag`. @param {string} tag */
export function withdraw(tag) {
  if (ui.notice.dataset.tag === tag) notify('');
}

/** @param {unknown} error */
export function describe(error) {
  if (error instanceof TimeoutError) return error.message;
  return error instanceof SidecarError ? `${error.message} (${error.code})` : String(error);
}

/**
 * `promise`, or a TimeoutError after `ms`: the UI never waits on the sidecar for ever. The request
 * itself may still be delivered later (it waits in the offline queue with its client id), which
 * the message says.
 * @template T @param {Promise<T>} promise @param {number} [ms]
 * @returns {Promise<T>}
 */
export function timed(promise, ms = ACTION_TIMEOUT_MS) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new TimeoutError(`the sidecar did not answer within ${Math.round(ms / 1000)} s (it may be down or restarting)`)),
      ms,
    );
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/**
 * Run an action with a bounded wait; on failure show "could not WHAT: why" with a Retry that runs
 * it again. Resolves with the action's result, or undefined after a failure (already shown).
 * @template T @param {string} what @param {() => Promise<T>} action
 * @returns {Promise<T | undefined>}
 */
export async function attempt(what, action) {
  try {
    return await timed(action());
  } catch (error) {
    notify(`Could not ${what}: ${describe(error)}`, { retry: () => attempt(what, action) });
    return undefined;
  }
}
