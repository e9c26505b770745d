// Writes the clients' idempotency table (media/mutation_ids.js, src/generated/mutationIds.ts)
// from the sidecar's table of operations: `python -m sidecar.api.client_table`, with the
// checkout's .venv Python when there is one (scripts/test makes it), else python3.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const checkout = join(root, '..');
const venv = join(checkout, '.venv', 'bin', 'python');
const python = process.env.CHAT_SIDECAR_PYTHON || (existsSync(venv) ? venv : 'python3');
const run = spawnSync(python, ['-m', 'sidecar.api.client_table', root], {
  cwd: checkout,
  stdio: 'inherit',
});
if (run.status !== 0) {
  console.error(`generating the client id table failed (${python} -m sidecar.api.client_table)`);
  process.exit(run.status ?? 1);
}
