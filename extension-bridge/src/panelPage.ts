/**
 * The chat page as a webview gets it: media/index.html made self-contained, under a nonce CSP.
 *
 * Why self-contained: every file a webview loads goes through VS Code's resource loader, a round
 * trip through the (busy, just reloaded) workbench; in the reload benchmark (docs/benchmarks.md,
 * "Reload in code-server") fetching chat.css and chat.js took 0.5 s and more after the document
 * had started. So the style sheet and the bundle go into the HTML itself, each with the nonce (no
 * 'unsafe-inline': only what carries this page's nonce runs or applies). /ui keeps loading the
 * same files by URL (its CSP is 'self').
 *
 * Why highlight.js is a block of text: it is its own bundle (media/highlight.js), run after the
 * first render so that evaluating it does not delay that render. It goes into the page inert (a
 * `<script type="text/plain">`, escaped like chat.js), and chat.js runs it later as a script with
 * this page's nonce (webview/host.js `loadHighlighter`): no second fetch, and the CSP unchanged.
 *
 * Why the first answers: a restored panel's first reads (src/startReads.ts) are sent before its
 * page exists (src/bridgePrefetch.ts); those answered by the time the HTML is built go into it, as
 * a JSON block the page reads instead of asking (webview/host.js `read`), so its first render
 * needs no postMessage round trip. Each answer is a snapshot with its `event_seq`, and the page
 * subscribes from there, so whatever changed since comes as events: the page shows what the
 * sidecar holds, never an older copy. The block is marked with an id the page keeps in its state
 * once used, so a webview that VS Code loads again from the same HTML (hidden and shown again)
 * asks afresh instead of showing the old snapshot.
 *
 * Free of the `vscode` module (test/panelPage.test.ts builds pages directly).
 */

/** A first read and its result, as the page will ask it. */
export interface FirstRead {
  method: string;
  params: Record<string, unknown>;
  result: unknown;
}

export interface PageParts {
  /** media/index.html */
  template: string;
  /** media/chat.css */
  css: string;
  /** media/chat.js (an ES module bundle) */
  script: string;
  /** media/highlight.js (a classic script, run by chat.js after the first render) */
  highlighter: string;
  nonce: string;
  /** the webview's own origin (`webview.cspSource`), for images and fonts */
  cspSource: string;
  /** what the page reads from `<meta name="chat-sidecar-config">` */
  config: Record<string, unknown>;
  /** the first reads answered before the page was built (none: the page asks them all) */
  first: FirstRead[];
  /** a fresh id for this page's embedded answers */
  firstId: string;
}

/** The `<script type="application/json">` element the page reads its first answers from. */
export const FIRST_READS_ID = 'chat-sidecar-first';
/** The inert `<script type="text/plain">` element holding media/highlight.js. */
export const HIGHLIGHTER_ID = 'chat-sidecar-highlight';

const STYLE_LINK = /<link rel="stylesheet" href="chat\.css">/;
const SCRIPT_TAG = /<script type="module" src="chat\.js"><\/script>/;

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * JSON that is safe as a `<script>` element's text: every `<`, `>` and `&` (and the two line
 * separators) as a `\u` escape, so no `</script>` or `<!--` in the data can end or change the
 * element; `JSON.parse` reads it back unchanged.
 */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * JavaScript that is safe as a `<script>` element's text: the `s` of every `<script` and
 * `</script` (any case) written as a `\u` escape, which means the same in a string, a regular
 * expression, a template, an identifier or a comment, so the HTML parser never sees a tag (the
 * way React escapes inline scripts). Without `<script`, a `<!--` cannot start the "double
 * escaped" state either.
 */
export function scriptText(code: string): string {
  return code.replace(/<(\/?)(s)(cript)/gi, (_match, slash: string, s: string, rest: string) => `<${slash}\\u00${s.charCodeAt(0).toString(16)}${rest}`);
}

/** CSS that is safe as a `<style>` element's text (`\/` is `/` in CSS). */
export function styleText(css: string): string {
  return css.replace(/<\/(style)/gi, '<\\/$1');
}

export function contentSecurityPolicy(nonce: string, cspSource: string): string {
  return [
    "default-src 'none'",
    `style-src ${cspSource} 'nonce-${nonce}'`,
    `img-src ${cspSource} data:`,
    `font-src ${cspSource}`,
    `script-src 'nonce-${nonce}'`,
  ].join('; ');
}

/** The whole page. Throws if the template no longer has the links it replaces. */
export function buildPage(parts: PageParts): string {
  const { template, nonce } = parts;
  if (!STYLE_LINK.test(template) || !SCRIPT_TAG.test(template) || !/<meta charset="utf-8">/i.test(template)) {
    throw new Error('media/index.html does not have the chat.css link, the chat.js script or the charset meta the extension replaces');
  }
  const head =
    `<meta http-equiv="Content-Security-Policy" content="${escapeHtml(contentSecurityPolicy(nonce, parts.cspSource))}">\n  ` +
    `<meta name="chat-sidecar-config" content="${escapeHtml(JSON.stringify(parts.config))}">`;
  const first = parts.first.length
    ? `<script type="application/json" id="${FIRST_READS_ID}">` +
      scriptJson({ id: parts.firstId, reads: parts.first.map((read) => [read.method, read.params, read.result]) }) +
      '</script>\n'
    : '';
  // Function replacements throughout: a `$` in the data is never a replacement pattern.
  return template
    .replace(/(<meta charset="utf-8">)/i, (charset: string) => `${charset}\n  ${head}`)
    .replace(STYLE_LINK, () => `<style nonce="${nonce}">${styleText(parts.css)}</style>`)
    .replace(
      SCRIPT_TAG,
      () =>
        `${first}<script type="module" nonce="${nonce}">${scriptText(parts.script)}</script>\n  ` +
        `<script type="text/plain" id="${HIGHLIGHTER_ID}">${scriptText(parts.highlighter)}</script>`,
    );
}
