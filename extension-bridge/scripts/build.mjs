// Bundles with esbuild:
// - the chat UI: webview/main.js (its modules, media/client.js, markdown-it and DOMPurify inside)
//   -> media/chat.js, the script the webview and /ui load (no CDN);
// - highlight.js with its languages: webview/highlighter.js -> media/highlight.js, a classic script
//   the page runs after its first render (webview/host.js `loadHighlighter`), so that evaluating
//   it does not delay that render;
// - the extension: src/extension.ts (with `ws` inside) -> out/extension.js.
// --webview builds only the chat UI (what scripts/serve and the UI tests need);
// --tests also bundles test/*.test.ts -> out/test/, with `vscode` resolved to test/fakeVscode.ts
// (node's test runner has no editor); --production drops the source map.
import { build } from 'esbuild';
import { readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const production = process.argv.includes('--production');
const tests = process.argv.includes('--tests');
const webviewOnly = process.argv.includes('--webview');

const browser = { bundle: true, platform: 'browser', target: 'es2022', minify: true, legalComments: 'eof', logLevel: 'warning' };
await Promise.all([
  build({ ...browser, entryPoints: [join(root, 'webview', 'main.js')], outfile: join(root, 'media', 'chat.js'), format: 'esm' }),
  build({ ...browser, entryPoints: [join(root, 'webview', 'highlighter.js')], outfile: join(root, 'media', 'highlight.js'), format: 'iife' }),
]);
if (webviewOnly) process.exit(0);

const common = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node18',
  logLevel: 'warning',
  // Optional native speed-ups that ws loads inside try/catch.
  external: ['bufferutil', 'utf-8-validate'],
};

rmSync(join(root, 'out'), { recursive: true, force: true });
await build({
  ...common,
  entryPoints: [join(root, 'src', 'extension.ts')],
  outfile: join(root, 'out', 'extension.js'),
  external: [...common.external, 'vscode'],
  sourcemap: production ? false : 'linked',
});
if (tests) {
  const entryPoints = readdirSync(join(root, 'test'))
    .filter((name) => name.endsWith('.test.ts'))
    .map((name) => join(root, 'test', name));
  await build({
    ...common,
    entryPoints,
    outdir: join(root, 'out', 'test'),
    alias: { vscode: join(root, 'test', 'fakeVscode.ts') },
    sourcemap: 'inline',
  });
}
