/**
 * The webview's page (src/panelPage.ts): what goes into it inline cannot end or change its
 * elements, whatever the chat text or the bundle holds, and reads back unchanged.
 */

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import * as vm from 'node:vm';

import { buildPage, FIRST_READS_ID, HIGHLIGHTER_ID, type PageParts, scriptJson, scriptText, styleText } from '../src/panelPage';

const MEDIA = path.resolve(__dirname, '..', '..', 'media');
const NASTY = [
  '</script><script>alert(1)</script>',
  '</SCRIPT >',
  '<!-- <script> -->',
  '<img src=x onerror=alert(1)>',
  '& &amp; &lt;',
  'line\u2028separator\u2029paragraph',
  "$& $' $` $1 $$",
  '"quoted" \\ backslash',
];

function parts(overrides: Partial<PageParts> = {}): PageParts {
  return {
    template: readFileSync(path.join(MEDIA, 'index.html'), 'utf8'),
    css: 'body { color: red; }',
    script: 'console.log(1);',
    highlighter: 'console.log(2);',
    nonce: 'bm9uY2Ux',
    cspSource: 'https://fake.vscode-cdn.net',
    config: { host: 'vscode', newChat: false, surface: 'panel' },
    first: [],
    firstId: 'f1',
    ...overrides,
  };
}

/** The text of every `<script ...>` element, as the HTML parser splits them (ends at `</script`). */
function scriptElements(html: string): { tag: string; text: string }[] {
  return [...html.matchAll(/(<script\b[^>]*>)([\s\S]*?)<\/script/gi)].map((m) => ({ tag: m[1]!, text: m[2]! }));
}

test('JSON in a script element: no <, > or &, and it reads back unchanged', () => {
  const value = { texts: NASTY, nested: [{ content: NASTY.join('\n') }] };
  const text = scriptJson(value);
  assert.doesNotMatch(text, /[<>&\u2028\u2029]/);
  assert.deepEqual(JSON.parse(text), value);
});

test('a script element\'s code never holds a tag, and means the same', () => {
  // A regular expression's escaped source is other text, but matches the same (also rebuilt from
  // its source with the `u` flag, as highlight.js composes its patterns).
  const code =
    'const re = /<script(?=\\s|>)/i; module.exports = ["</script>", "<SCRIPT src=x>", `</Script>`, "<!-- -->", ' +
    're.test("<SCRIPT>"), re.test("<scripts"), new RegExp(re.source, "u").test("<script "), new RegExp(re.source, "u").test("<xcript ")];';
  const escaped = scriptText(code);
  assert.doesNotMatch(escaped, /<\/?script/i);
  const run = (source: string) => {
    const sandbox = { module: { exports: null as unknown } };
    vm.runInNewContext(source, sandbox);
    return JSON.stringify(sandbox.module.exports);
  };
  assert.deepEqual(run(escaped), run(code));
});

test('a style element\'s text cannot end it', () => {
  assert.doesNotMatch(styleText('a::after { content: "</style><script>x</script>"; }'), /<\/style/i);
});

test('the page: the bundles and the style sheet inline, only chat.js under the nonce, nothing by URL', () => {
  const bundle = readFileSync(path.join(MEDIA, 'chat.js'), 'utf8');
  const highlighter = readFileSync(path.join(MEDIA, 'highlight.js'), 'utf8');
  const html = buildPage(parts({ script: bundle, highlighter }));
  const scripts = scriptElements(html);
  assert.deepEqual(
    scripts.map((s) => s.tag),
    ['<script type="module" nonce="bm9uY2Ux">', `<script type="text/plain" id="${HIGHLIGHTER_ID}">`],
    'each bundle is one element: nothing in it closes it early',
  );
  assert.equal(scripts[0]!.text, scriptText(bundle));
  assert.equal(scripts[1]!.text, scriptText(highlighter));
  assert.match(html, /<style nonce="bm9uY2Ux">body \{ color: red; \}<\/style>/);
  assert.doesNotMatch(html, /<link rel="stylesheet"|<script[^>]*\bsrc=/);
  const policy = /<meta http-equiv="Content-Security-Policy" content="([^"]+)">/.exec(html)![1]!.replace(/&#39;/g, "'");
  assert.equal(
    policy,
    "default-src 'none'; style-src https://fake.vscode-cdn.net 'nonce-bm9uY2Ux'; img-src https://fake.vscode-cdn.net data:; " +
      "font-src https://fake.vscode-cdn.net; script-src 'nonce-bm9uY2Ux'",
  );
  assert.ok(!html.includes(`id="${FIRST_READS_ID}"`), 'no first reads, no block');
});

test('the inert highlight.js block cannot be ended or changed by what its code holds', () => {
  const highlighter = `module.exports = ${JSON.stringify(NASTY)}; /* </script><script>alert(2)</script> <!-- <script> */`;
  const html = buildPage(parts({ highlighter }));
  const scripts = scriptElements(html);
  assert.deepEqual(
    scripts.map((s) => s.tag),
    ['<script type="module" nonce="bm9uY2Ux">', `<script type="text/plain" id="${HIGHLIGHTER_ID}">`],
    'the code opened or closed no element',
  );
  const sandbox = { module: { exports: null as unknown } };
  vm.runInNewContext(scripts[1]!.text, sandbox);
  // (Compared as JSON: the array comes from the sandbox's realm.)
  assert.equal(JSON.stringify(sandbox.module.exports), JSON.stringify(NASTY), 'run as a script, the block means what the bundle said');
  assert.ok(html.endsWith('</body>\n</html>\n'), 'the rest of the page is still there');
});

test('the first reads go in as one JSON block that chat text cannot break out of', () => {
  const page = { id: 'c_1', title: NASTY[0], messages: NASTY.map((content, i) => ({ id: `m_${i}`, content })), event_seq: 7 };
  const first = [
    { method: 'conversations.get', params: { conversation_id: 'c_1', limit: 50 }, result: page },
    { method: 'branches.list', params: { conversation_id: 'c_1' }, result: [{ name: 'main' }] },
  ];
  const html = buildPage(parts({ first }));
  const scripts = scriptElements(html);
  assert.deepEqual(
    scripts.map((s) => s.tag),
    [`<script type="application/json" id="${FIRST_READS_ID}">`, '<script type="module" nonce="bm9uY2Ux">', `<script type="text/plain" id="${HIGHLIGHTER_ID}">`],
    'the chat text opened or closed no element',
  );
  assert.deepEqual(JSON.parse(scripts[0]!.text), {
    id: 'f1',
    reads: first.map((read) => [read.method, read.params, read.result]),
  });
  assert.doesNotMatch(html, /<img|onerror=alert\(1\)>/);
});

test('a template without the links it replaces is an error, not a page that loads nothing', () => {
  assert.throws(() => buildPage(parts({ template: '<!doctype html><meta charset="utf-8"><p>x</p>' })), /chat\.css link/);
});
