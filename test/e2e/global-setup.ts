// Once per e2e run: build the web app if its sources changed (same check as `npm start`).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export default function setup(): void {
  const run = spawnSync(process.execPath, ['scripts/ensure-web.ts'], { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (run.status !== 0) throw new Error(`building the web app failed:\n${run.stdout}\n${run.stderr}`);
}
