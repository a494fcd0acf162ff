// `npm test`: the whole suite, in order, with one summary line at the end.
//
//   static   (only with --with-static-checks) `npm run typecheck` and `npm run lint`, one "test" each
//   pglite   vitest on the embedded PGlite (TRELLIS_TEST_PG unset)
//   postgres the same suite on real PostgreSQL (TRELLIS_TEST_PG; skip with TRELLIS_TEST_SKIP_PG=1)
//   e2e      browser tests, test/e2e/vitest.config.ts (skip with TRELLIS_TEST_SKIP_E2E=1)
//
// Counts come from vitest's JSON reporter (test-output/<phase>.json). A phase whose runner
// crashed, timed out or failed outside any test counts as at least one failure. The last line
// printed is always the plain `N passed, N failed`; the exit code is non-zero if anything failed.
// Arguments after `--` go to every vitest phase: `npm test -- test/backbone.test.ts`.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outDir = path.join(root, 'test-output');
const vitestBin = path.join(root, 'node_modules/vitest/vitest.mjs');
const e2eConfig = 'test/e2e/vitest.config.ts';
const phaseTimeoutMs = Number(process.env.TRELLIS_TEST_PHASE_TIMEOUT_S ?? 900) * 1000;
const pgUrl = process.env.TRELLIS_TEST_PG_URL || 'postgres://postgres@127.0.0.1:5432/postgres';

interface PhaseResult {
  name: string;
  passed: number;
  failed: number;
  skipped: number;
  ms: number;
  note?: string;
}

const argv = process.argv.slice(2);
const withStatic = argv.includes('--with-static-checks');
const vitestArgs = argv.filter((a) => a !== '--with-static-checks' && a !== '--');
const filtered = vitestArgs.length > 0;

const results: PhaseResult[] = [];
let current: ReturnType<typeof spawn> | undefined;

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (current?.pid) killGroup(current.pid, 'SIGTERM');
    console.log(`\nInterrupted (${signal}).`);
    printSummary();
    process.exit(130);
  });
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

function banner(text: string): void {
  console.log(`\n${'═'.repeat(8)} ${text} ${'═'.repeat(Math.max(4, 70 - text.length))}`);
}

/** Runs a command in its own process group with output streamed; resolves its exit code (null = killed). */
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; timedOut: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: root, env, stdio: ['ignore', 'inherit', 'inherit'], detached: true });
    current = child;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      console.error(`\n${cmd} ${args.join(' ')}: no result after ${phaseTimeoutMs / 1000} s, stopping it.`);
      killGroup(child.pid!, 'SIGTERM');
      setTimeout(() => killGroup(child.pid!, 'SIGKILL'), 10_000).unref();
    }, phaseTimeoutMs);
    child.on('error', (err) => {
      console.error(`${cmd}: ${err.message}`);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      current = undefined;
      // Forks left behind by a crashed runner must not outlive the phase.
      killGroup(child.pid!, 'SIGKILL');
      resolve({ code, timedOut });
    });
  });
}

interface VitestJson {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
  testResults?: Array<{ name: string; status: string; message?: string; assertionResults?: Array<{ status: string }> }>;
}

async function vitestPhase(name: string, extra: string[], env: NodeJS.ProcessEnv): Promise<void> {
  banner(name);
  const jsonFile = path.join(outDir, `${name}.json`);
  fs.rmSync(jsonFile, { force: true });
  const args = [vitestBin, 'run', ...extra, '--reporter=default', '--reporter=json', `--outputFile=${jsonFile}`];
  if (filtered) args.push('--passWithNoTests', ...vitestArgs);
  const t0 = performance.now();
  const { code, timedOut } = await run(process.execPath, args, env);
  const ms = performance.now() - t0;
  const r: PhaseResult = { name, passed: 0, failed: 0, skipped: 0, ms };
  let report: VitestJson | undefined;
  try {
    report = JSON.parse(fs.readFileSync(jsonFile, 'utf8')) as VitestJson;
  } catch {
    report = undefined;
  }
  if (report) {
    r.passed = report.numPassedTests;
    r.failed = report.numFailedTests;
    r.skipped = report.numPendingTests + report.numTodoTests;
    // A file that failed outside its tests (import error, failing beforeAll/afterAll) has no
    // failed test of its own: count the file once.
    for (const file of report.testResults ?? []) {
      const failedTests = (file.assertionResults ?? []).filter((a) => a.status === 'failed').length;
      if (file.status === 'failed' && failedTests === 0) {
        r.failed += 1;
        console.error(`${name}: ${path.relative(root, file.name)} failed outside its tests${file.message ? `: ${file.message.split('\n')[0]}` : ''}`);
      }
    }
  }
  if (timedOut) {
    r.failed = Math.max(r.failed, 1);
    r.note = 'timed out';
  } else if (!report) {
    r.failed = Math.max(r.failed, 1);
    r.note = `runner exited ${code ?? 'on a signal'} without a report`;
  } else if (code !== 0 && r.failed === 0) {
    // Unhandled errors, or a run that matched no test file at all.
    r.failed = 1;
    r.note = `runner exited ${code ?? 'on a signal'} (unhandled error or no test files; see above)`;
  }
  results.push(r);
}

async function commandAsTest(name: string, script: string): Promise<{ ok: boolean; ms: number }> {
  banner(`${name}: npm run ${script}`);
  const t0 = performance.now();
  const { code } = await run('npm', ['run', '--silent', script], process.env);
  const ms = performance.now() - t0;
  console.log(code === 0 ? `✓ ${script} passed` : `✗ ${script} failed (exit ${code ?? 'signal'})`);
  return { ok: code === 0, ms };
}

function canConnect(url: string): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect({ host: u.hostname || '127.0.0.1', port: Number(u.port || 5432) });
    socket.setTimeout(3000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

function skip(name: string, why: string): void {
  banner(name);
  console.log(`${name}: skipped (${why})`);
  results.push({ name, passed: 0, failed: 0, skipped: 0, ms: 0, note: `skipped: ${why}` });
}

function printSummary(): void {
  const passed = results.reduce((s, r) => s + r.passed, 0);
  const failed = results.reduce((s, r) => s + r.failed, 0);
  banner('summary');
  for (const r of results) {
    const counts = r.note?.startsWith('skipped') ? '' : `${r.passed} passed, ${r.failed} failed${r.skipped ? `, ${r.skipped} skipped` : ''}`;
    const time = r.ms ? `  (${(r.ms / 1000).toFixed(1)} s)` : '';
    console.log(`  ${r.name.padEnd(9)} ${counts}${r.note ? `${counts ? '  ' : ''}[${r.note}]` : ''}${time}`);
  }
  console.log(`  total time ${(performance.now() / 1000).toFixed(1)} s`);
  console.log(`${passed} passed, ${failed} failed`);
}

async function main(): Promise<number> {
  fs.mkdirSync(outDir, { recursive: true });
  const baseEnv: NodeJS.ProcessEnv = { ...process.env };
  delete baseEnv.TRELLIS_TEST_PG;

  if (withStatic) {
    const t0 = performance.now();
    const checks = [await commandAsTest('static', 'typecheck'), await commandAsTest('static', 'lint')];
    const passed = checks.filter((c) => c.ok).length;
    results.push({ name: 'static', passed, failed: checks.length - passed, skipped: 0, ms: performance.now() - t0, note: 'typecheck + lint' });
  }

  await vitestPhase('pglite', [], baseEnv);

  if (process.env.TRELLIS_TEST_SKIP_PG === '1') skip('postgres', 'TRELLIS_TEST_SKIP_PG=1');
  else if (!(await canConnect(pgUrl))) {
    banner('postgres');
    console.error(`postgres: cannot connect to ${new URL(pgUrl).host} (${pgUrl}). Start PostgreSQL, point TRELLIS_TEST_PG_URL at one, or set TRELLIS_TEST_SKIP_PG=1.`);
    results.push({ name: 'postgres', passed: 0, failed: 1, skipped: 0, ms: 0, note: 'PostgreSQL unreachable' });
  } else await vitestPhase('postgres', [], { ...baseEnv, TRELLIS_TEST_PG: pgUrl });

  if (process.env.TRELLIS_TEST_SKIP_E2E === '1') skip('e2e', 'TRELLIS_TEST_SKIP_E2E=1');
  else if (!fs.existsSync(path.join(root, e2eConfig))) skip('e2e', `${e2eConfig} does not exist yet`);
  else await vitestPhase('e2e', ['--config', e2eConfig], baseEnv);

  const total = results.reduce((s, r) => s + r.passed + r.failed, 0);
  // Nothing ran (a filter matched nothing): say so rather than pass silently.
  if (total === 0) console.error('\nNo test ran: that is a failure, not a pass.');
  printSummary();
  return total === 0 || results.some((r) => r.failed > 0) ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    results.push({ name: 'runner', passed: 0, failed: 1, skipped: 0, ms: 0, note: 'scripts/test.ts crashed' });
    printSummary();
    process.exit(1);
  },
);
