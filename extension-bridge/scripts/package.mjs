// `npm run package`: builds the sidecar's wheel into wheel/ (shipped inside the .vsix, installed
// into the extension's private environment on first use), then writes dist/chat-sidecar.vsix.
// The Python that builds the wheel: $CHAT_SIDECAR_PYTHON, else the project's .venv, else python3.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const project = join(root, '..');
const venvPython = join(project, '.venv', 'bin', 'python');
const python = process.env.CHAT_SIDECAR_PYTHON || (existsSync(venvPython) ? venvPython : 'python3');

const wheelDir = join(root, 'wheel');
rmSync(wheelDir, { recursive: true, force: true });
mkdirSync(wheelDir, { recursive: true });
// pip wheel builds in an isolated copy, so the tree's build/ and *.egg-info are not packed.
execFileSync(python, ['-m', 'pip', 'wheel', '--quiet', '--no-deps', '--disable-pip-version-check', project, '-w', wheelDir], {
  stdio: 'inherit',
});
const wheels = readdirSync(wheelDir).filter((name) => /^chat_sidecar-.*\.whl$/.test(name));
if (wheels.length !== 1) throw new Error(`expected one chat_sidecar wheel in ${wheelDir}, found ${wheels.join(', ') || 'none'}`);

mkdirSync(join(root, 'dist'), { recursive: true });
const vsce = join(root, 'node_modules', '.bin', process.platform === 'win32' ? 'vsce.cmd' : 'vsce');
execFileSync(
  vsce,
  ['package', '--no-dependencies', '--allow-missing-repository', '--skip-license', '--out', join(root, 'dist', 'chat-sidecar.vsix')],
  { cwd: root, stdio: 'inherit' },
);
