// `npm run bench [-- name ...] [--strict]`: runs each bench/*.bench.ts (or the ones named:
// `startup`, `me`, or a path) one at a time as a child process, relays its output, and collects
// the final `{"bench": ...}` line of each. The results go to test-output/bench-results.json.
// Exit code: non-zero when a bench failed (no result line, or an error); with --strict also
// when a bench reports `targetsMet: false`.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { repoRoot } from './lib.ts';

const benchDir = path.join(repoRoot, 'bench');
const args = process.argv.slice(2).filter((a) => a !== '--');
const strict = args.includes('--strict');
const names = args.filter((a) => !a.startsWith('--'));

function resolveBench(name: string): string {
  const candidates = [path.resolve(name), path.join(benchDir, name), path.join(benchDir, `${name}.bench.ts`)];
  const found = candidates.find((c) => c.endsWith('.bench.ts') && fs.existsSync(c));
  if (!found) throw new Error(`no benchmark "${name}" (have: ${listBenches().map((f) => path.basename(f, '.bench.ts')).join(', ')})`);
  return found;
}

function listBenches(): string[] {
  return fs
    .readdirSync(benchDir)
    .filter((f) => f.endsWith('.bench.ts'))
    .sort()
    .map((f) => path.join(benchDir, f));
}

interface Outcome {
  file: string;
  code: number | null;
  result: Record<string, unknown> | undefined;
  ms: number;
}

function runOne(file: string): Promise<Outcome> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [file, ...args.filter((a) => a.startsWith('--') && a !== '--strict')], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let result: Record<string, unknown> | undefined;
    const lines = readline.createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      console.log(line);
      if (line.startsWith('{')) {
        try {
          const parsed = JSON.parse(line) as Record<string, unknown>;
          if (typeof parsed.bench === 'string') result = parsed;
        } catch {
          // an ordinary line that starts with a brace
        }
      }
    });
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    child.on('close', (code) => {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      resolve({ file, code, result, ms: performance.now() - t0 });
    });
  });
}

async function main(): Promise<number> {
  const files = names.length ? names.map(resolveBench) : listBenches();
  const outcomes: Outcome[] = [];
  for (const file of files) {
    console.log(`\n════════ bench ${path.basename(file)} ════════`);
    outcomes.push(await runOne(file));
  }
  console.log('\n════════ bench summary ════════');
  let failed = 0;
  let missed = 0;
  for (const o of outcomes) {
    const name = path.basename(o.file, '.bench.ts');
    const secs = `${(o.ms / 1000).toFixed(1)} s`;
    if (o.code !== 0 || !o.result || 'error' in o.result) {
      failed++;
      const why = o.result && 'error' in o.result ? String(o.result.error) : `exit ${o.code ?? 'on a signal'}, no result line`;
      console.log(`  ✗ ${name.padEnd(10)} FAILED: ${why}  (${secs})`);
      continue;
    }
    const { bench: _bench, samples: _samples, targets, targetsMet, machine, ...figures } = o.result;
    if (targetsMet === false) missed++;
    const mark = targetsMet === false ? `! target missed ${JSON.stringify(targets)}` : targetsMet === true ? '✓ targets met' : '';
    const m = machine as { loadAvg1mBefore?: number; loadAvg1mAfter?: number } | undefined;
    const load = m ? `, load ${m.loadAvg1mBefore}→${m.loadAvg1mAfter}` : '';
    console.log(`  ${name.padEnd(12)} ${JSON.stringify(figures)}  ${mark}  (${secs}${load})`);
  }
  fs.mkdirSync(path.join(repoRoot, 'test-output'), { recursive: true });
  fs.writeFileSync(
    path.join(repoRoot, 'test-output/bench-results.json'),
    `${JSON.stringify({ at: new Date().toISOString(), results: outcomes.map((o) => o.result ?? { bench: path.basename(o.file, '.bench.ts'), error: `exit ${o.code}` }) }, null, 2)}\n`,
  );
  return failed > 0 || (strict && missed > 0) ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
