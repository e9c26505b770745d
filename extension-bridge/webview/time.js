// @ts-check
/** Timestamps as people read them: relative ("5 min ago"), the exact time on hover. */

const RELATIVE = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto', style: 'short' });
const EXACT = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
const DAY = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });

/** @param {string} iso @param {number} [now] */
export function relativeTime(iso, now = Date.now()) {
  const then = Date.parse(iso);
  if (!Number.isFinite(then)) return '';
  const seconds = Math.round((then - now) / 1000);
  const abs = Math.abs(seconds);
  if (abs < 45) return 'just now';
  if (abs < 3600) return RELATIVE.format(Math.round(seconds / 60), 'minute');
  if (abs < 86_400) return RELATIVE.format(Math.round(seconds / 3600), 'hour');
  if (abs < 7 * 86_400) return RELATIVE.format(Math.round(seconds / 86_400), 'day');
  return DAY.format(then);
}

/** @param {string} iso */
export function exactTime(iso) {
  const then = Date.parse(iso);
  return Number.isFinite(then) ? EXACT.format(then) : '';
}

/** A `<time>` element (`data-testid="message-time"`) for `iso`. @param {string} iso */
export function timeElement(iso) {
  const node = document.createElement('time');
  node.setAttribute('data-testid', 'message-time');
  node.setAttribute('datetime', iso);
  node.title = exactTime(iso);
  node.textContent = relativeTime(iso);
  return node;
}

/** Bring every relative time on the page up to date (called once a minute). */
export function refreshTimes() {
  for (const node of document.querySelectorAll('time[datetime]')) {
    const text = relativeTime(node.getAttribute('datetime') || '');
    if (node.textContent !== text) node.textContent = text;
  }
}
