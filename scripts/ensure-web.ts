// Builds the web app before `npm start` when src/web/dist is missing or older than its sources.
// Prints one line either way; on a failed build it prints Vite's output and exits 1.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const webRoot = path.join(repoRoot, 'src/web');
const distIndex = path.join(webRoot, 'dist/index.html');
const viteBin = path.join(repoRoot, 'node_modules/.bin/vite');
const SKIP_DIRS = new Set(['dist', 'node_modules']);
// Two starts at once (e.g. a test run beside `npm start`) must not build into the same folder together.
const lockDir = path.join(repoRoot, 'node_modules/.cache/trellis-web-build.lock');
const LOCK_STALE_MS = 5 * 60_000;

/** Newest modification time of any file under `dir`, skipping build output. */
function newestSource(dir: string): { mtimeMs: number; file: string | null } {
  let newest = { mtimeMs: 0, file: null as string | null };
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (SKIP_DIRS.has(entry.name) && dir === webRoot) continue;
      const inner = newestSource(full);
      if (inner.mtimeMs > newest.mtimeMs) newest = inner;
    } else if (entry.isFile()) {
      const { mtimeMs } = fs.statSync(full);
      if (mtimeMs > newest.mtimeMs) newest = { mtimeMs, file: full };
    }
  }
  return newest;
}

function staleReason(): string | null {
  if (!fs.existsSync(distIndex)) return 'not built yet';
  const built = fs.statSync(distIndex).mtimeMs;
  const newest = newestSource(webRoot);
  if (newest.mtimeMs > built && newest.file) return `${path.relative(repoRoot, newest.file)} changed`;
  return null;
}

function build(): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    // Run Vite's own script with this Node (the pinned one), no TTY needed.
    const child = spawn(process.execPath, [viteBin, 'build', '--config', 'src/web/vite.config.ts'], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
      // NODE_ENV=production always: a test runner's NODE_ENV=test would ship React's development build.
      env: { ...process.env, NODE_ENV: 'production', CI: process.env.CI ?? '1', NO_COLOR: '1', FORCE_COLOR: '0' },
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', (err) => resolve({ code: 1, output: `${output}\n${err.message}` }));
    child.on('close', (code) => resolve({ code: code ?? 1, output }));
  });
}

async function acquireLock(): Promise<() => void> {
  fs.mkdirSync(path.dirname(lockDir), { recursive: true });
  for (;;) {
    try {
      fs.mkdirSync(lockDir);
      return () => fs.rmSync(lockDir, { recursive: true, force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const age = Date.now() - (fs.statSync(lockDir, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > LOCK_STALE_MS) fs.rmSync(lockDir, { recursive: true, force: true });
      else await new Promise((r) => setTimeout(r, 250));
    }
  }
}

async function main(): Promise<number> {
  if (!staleReason()) {
    console.log('web app: up to date (src/web/dist)');
    return 0;
  }
  const release = await acquireLock();
  try {
    return await buildIfStale();
  } finally {
    release();
  }
}

async function buildIfStale(): Promise<number> {
  // Checked again under the lock: another process may have just built it.
  const reason = staleReason();
  if (!reason) {
    console.log('web app: up to date (src/web/dist)');
    return 0;
  }
  if (!fs.existsSync(viteBin)) {
    // A production install without dev dependencies: the API still runs, the UI does not.
    console.log(`web app: ${reason}, but Vite is not installed (npm install without --omit=dev); starting without the web UI`);
    return 0;
  }
  const t0 = performance.now();
  const { code, output } = await build();
  if (code !== 0) {
    console.error(output.trimEnd());
    console.error(`web app: build failed (exit ${code}); fix the error above or run \`npm run build\``);
    return 1;
  }
  console.log(`web app: built into src/web/dist in ${((performance.now() - t0) / 1000).toFixed(1)} s (${reason})`);
  return 0;
}

process.exitCode = await main();
