// Bundles the extension with esbuild: src/extension.ts (with `ws` inside) -> out/extension.js.
// --tests also bundles test/*.test.ts -> out/test/, with `vscode` resolved to test/fakeVscode.ts
// (node's test runner has no editor); --production drops the source map.
import { build } from 'esbuild';
import { readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const production = process.argv.includes('--production');
const tests = process.argv.includes('--tests');

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
