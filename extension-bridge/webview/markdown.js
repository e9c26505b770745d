// @ts-check
/**
 * Chat text as Markdown (CommonMark, tables, fenced code): markdown-it renders it with raw HTML
 * turned off (HTML in the data stays text), DOMPurify then removes anything that is not plain
 * document markup (scripts, event handlers, `javascript:` and other non-web links, SVG, styles),
 * and highlight.js colours code blocks once it has arrived (it is loaded after the first render:
 * until then they are plain text). Each code block gets a language label and a copy button;
 * links open outside the UI (host.js).
 *
 * A streaming reply is rendered at most once per animation frame, and only that message: the
 * deltas of a frame are coalesced, the rest of the conversation is not touched.
 */

import DOMPurify from 'dompurify';
import MarkdownIt from 'markdown-it';

import { el } from './dom.js';

/** @typedef {import('highlight.js').HLJSApi} HLJSApi */

/**
 * highlight.js once its bundle has run (media/highlight.js, loaded after the first render:
 * host.js `loadHighlighter`); until then code blocks are shown as plain text.
 * @type {HLJSApi | null}
 */
let hljs = null;

// No `highlight` option: markdown-it escapes every code block, and colour() colours it afterwards.
const md = new MarkdownIt({ html: false, linkify: true });
// Remote images would be fetched (and blocked by the CSP): an image is shown as its link instead.
md.disable('image');
md.enable(['table', 'strikethrough']);
// Table alignment as a class, not a style attribute (the CSP allows no inline style).
md.core.ruler.push('align_as_class', (state) => {
  for (const token of state.tokens) {
    const style = token.attrGet('style');
    if (!style || (token.type !== 'th_open' && token.type !== 'td_open')) continue;
    const align = /text-align:(left|right|center)/.exec(String(style));
    token.attrs = (token.attrs || []).filter(([name]) => name !== 'style');
    if (align) token.attrJoin('class', `align-${align[1]}`);
  }
});

const PURIFY = {
  // DOMPurify's default, less the schemes a chat has no use for: web and mail links, and values
  // with no scheme at all (an <ol start="999"> is checked against it too).
  ALLOWED_URI_REGEXP: /^(?:(?:https?|mailto):|[^a-z]|[a-z+.-]+(?:[^a-z+.\-:]|$))/i,
  FORBID_TAGS: ['style', 'img', 'svg', 'math', 'form', 'input', 'button', 'iframe', 'object', 'embed'],
  FORBID_ATTR: ['style', 'id', 'name'],
  ALLOW_DATA_ATTR: false,
  RETURN_DOM_FRAGMENT: true,
};

/**
 * `text` as sanitised Markdown, decorated (code block labels and copy buttons, link targets).
 * @param {string} text @returns {DocumentFragment}
 */
export function renderMarkdown(text) {
  const fragment = /** @type {DocumentFragment} */ (/** @type {unknown} */ (DOMPurify.sanitize(md.render(text), PURIFY)));
  // The line breaks markdown-it writes between blocks are not content: without them the message's
  // text is exactly what it shows (a growing reply's text stays a prefix of the final one).
  for (const node of [...fragment.childNodes]) if (node.nodeType === Node.TEXT_NODE && !(node.textContent || '').trim()) node.remove();
  for (const pre of fragment.querySelectorAll('pre')) decorateCode(pre);
  for (const link of fragment.querySelectorAll('a[href]')) {
    link.setAttribute('target', '_blank');
    link.setAttribute('rel', 'noopener noreferrer');
    link.setAttribute('title', link.getAttribute('href') || '');
  }
  return fragment;
}

/**
 * A code block's language: the one markdown-it wrote as its `language-` class ('' for none).
 * @param {Element | null} code
 */
function languageOf(code) {
  const match = code && /(?:^|\s)language-([\w+#.-]+)/.exec(code.className);
  return match ? match[1] : '';
}

/** @param {HTMLElement} pre */
function decorateCode(pre) {
  const code = pre.querySelector('code');
  const language = languageOf(code);
  if (code && hljs) colour(code, hljs);
  const block = el('div', { class: 'code-block', 'data-lang': language || 'text' });
  // The label and the button's caption are drawn by CSS (attr / content), so the message's text
  // stays exactly the content as rendered.
  const copy = el('button', { type: 'button', class: 'copy-code', 'data-testid': 'copy-code', 'aria-label': `Copy ${language || 'code'}` });
  pre.replaceWith(block);
  block.append(copy, pre);
}

/**
 * Colour a code block as highlight.js does, if it knows the block's language (the one its label
 * names: `languageOf`), with its output through DOMPurify like all HTML that goes in; `hljs`
 * marks the block as done.
 * @param {HTMLElement} code @param {HLJSApi} api
 */
function colour(code, api) {
  const language = languageOf(code);
  if (language && api.getLanguage(language)) {
    try {
      const html = api.highlight(code.textContent || '', { language, ignoreIllegals: true }).value;
      code.replaceChildren(/** @type {Node} */ (/** @type {unknown} */ (DOMPurify.sanitize(html, PURIFY))));
    } catch {
      // Left as the plain text it is.
    }
  }
  code.classList.add('hljs');
}

/**
 * highlight.js has arrived: colour the code blocks shown without it (every rendered message is
 * in the document: render.js keeps no row off it), and every later render colours its own.
 * @param {HLJSApi} api
 */
export function useHighlighter(api) {
  hljs = api;
  for (const code of document.querySelectorAll('.code-block > pre > code:not(.hljs)')) colour(/** @type {HTMLElement} */ (code), api);
}

/**
 * What Markdown reads as, without its syntax (a list item's preview: `**bold**` -> `bold`).
 * Parsed in an inert document: nothing in it runs or loads.
 * @param {string} text
 */
export function plainText(text) {
  return new DOMParser().parseFromString(md.render(text), 'text/html').body.textContent?.replace(/\s+/g, ' ').trim() || '';
}

/** Replace what `body` shows with `text` rendered. @param {HTMLElement} body @param {string} text */
export function renderInto(body, text) {
  body.replaceChildren(renderMarkdown(text));
}

/**
 * Where a growing text's finished blocks end: after its last blank line that is outside a code
 * fence. Markdown blocks before it no longer change as text is added (up to rare cases such as a
 * list continued after a blank line, which the final render puts right).
 * @param {string} text
 */
export function stableEnd(text) {
  let end = 0;
  let fence = '';
  let at = 0;
  while (at < text.length) {
    const next = text.indexOf('\n', at);
    if (next < 0) break;
    const line = text.slice(at, next);
    const marker = /^ {0,3}(`{3,}|~{3,})/.exec(line);
    if (marker && (!fence || marker[1][0] === fence[0] && marker[1].length >= fence.length && !line.trim().slice(marker[1].length))) {
      fence = fence ? '' : marker[1];
    } else if (!fence && !line.trim() && at > 0) {
      end = next + 1;
    }
    at = next + 1;
  }
  return end;
}

/**
 * What each streaming body shows: how much of the text is rendered as finished blocks, and how
 * many nodes at its end belong to the still-growing tail.
 * @type {WeakMap<HTMLElement, {stable: number, tail: number}>}
 */
const growing = new WeakMap();

/**
 * Render a growing text: the finished blocks are rendered once and kept, only the tail (the block
 * being written) is rendered again.
 * @param {HTMLElement} body @param {string} text
 */
function renderGrowing(body, text) {
  let known = growing.get(body);
  if (!known) {
    body.replaceChildren();
    known = { stable: 0, tail: 0 };
  }
  for (let i = 0; i < known.tail; i++) body.lastChild?.remove();
  const end = stableEnd(text);
  if (end > known.stable) {
    body.append(renderMarkdown(text.slice(known.stable, end)));
    known.stable = end;
  }
  const tail = renderMarkdown(text.slice(known.stable));
  known.tail = tail.childNodes.length;
  body.append(tail);
  growing.set(body, known);
}

/** @type {Map<HTMLElement, string>} bodies waiting for the next frame, with their newest text */
const pending = new Map();
let frame = 0;

/**
 * A streaming message grew: render it on the next animation frame (several deltas in one frame
 * cost one render, and only its growing tail is rendered again). `after` runs once the frame's
 * renders are done (e.g. to keep the view scrolled).
 * @param {HTMLElement} body @param {string} text @param {() => void} [after]
 */
export function scheduleRender(body, text, after) {
  pending.set(body, text);
  if (after) afterFrame.add(after);
  if (!frame) frame = requestAnimationFrame(flush);
}
/** @type {Set<() => void>} */
const afterFrame = new Set();

function flush() {
  frame = 0;
  for (const [body, text] of pending) renderGrowing(body, text);
  pending.clear();
  for (const after of afterFrame) after();
  afterFrame.clear();
}

/** Render `text` now and whole (a message shown or finished), cancelling a scheduled render. @param {HTMLElement} body @param {string} text */
export function renderNow(body, text) {
  pending.delete(body);
  growing.delete(body);
  renderInto(body, text);
}

/**
 * The text a code block's copy button copies: the code as written, without the highlighting.
 * @param {HTMLElement} button
 */
export function codeOf(button) {
  const code = button.closest('.code-block')?.querySelector('code');
  return code ? code.textContent || '' : '';
}
