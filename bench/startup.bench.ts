// Start-up time, as `npm start` does it (demo plant seeded on a new database):
//   cold  a new, empty PGlite folder: spawn → first 200 from /readyz (initdb, migrations, admin, demo)
//   warm  SIGTERM, wait for the exit, start again on the same folder → first 200 from /readyz
// The same on a fresh PostgreSQL database as extra figures (skip with --no-pg).
// Each is run RUNS times (env BENCH_RUNS, default 3) and the median reported.
// Targets: cold ≤ 5000 ms, warm ≤ 2000 ms (PGlite, the default a new user gets).
import path from 'node:path';
import { freshPgDatabase, median, round, runBench, startServer, tempDir } from './lib.ts';

const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 3));
const withPg = !process.argv.includes('--no-pg');
const TARGETS = { coldStartMs: 5000, warmStartMs: 2000 };

interface Sample {
  cold: number;
  warm: number;
  stop: number;
}

async function coldThenWarm(target: { dataDir?: string; databaseUrl?: string }): Promise<Sample> {
  const first = await startServer(target);
  const stop = await first.stop();
  if (first.proc.exitCode !== 0) throw new Error(`server exited with code ${first.proc.exitCode} on SIGTERM (see ${first.logFile})`);
  const second = await startServer(target);
  await second.stop();
  return { cold: first.readyMs, warm: second.readyMs, stop };
}

runBench('startup', async () => {
  const pglite: Sample[] = [];
  for (let i = 0; i < RUNS; i++) {
    const dataDir = path.join(tempDir('startup'), 'data');
    const s = await coldThenWarm({ dataDir });
    console.log(`pglite   run ${i + 1}/${RUNS}: cold ${round(s.cold)} ms, warm ${round(s.warm)} ms, stop ${round(s.stop)} ms`);
    pglite.push(s);
  }
  const postgres: Sample[] = [];
  if (withPg) {
    for (let i = 0; i < RUNS; i++) {
      const db = await freshPgDatabase();
      const s = await coldThenWarm({ databaseUrl: db.url });
      await db.drop();
      console.log(`postgres run ${i + 1}/${RUNS}: cold ${round(s.cold)} ms, warm ${round(s.warm)} ms, stop ${round(s.stop)} ms`);
      postgres.push(s);
    }
  }
  const coldStartMs = round(median(pglite.map((s) => s.cold)));
  const warmStartMs = round(median(pglite.map((s) => s.warm)));
  return {
    coldStartMs,
    warmStartMs,
    stopMs: round(median(pglite.map((s) => s.stop))),
    ...(withPg
      ? {
          pgColdStartMs: round(median(postgres.map((s) => s.cold))),
          pgWarmStartMs: round(median(postgres.map((s) => s.warm))),
        }
      : {}),
    runs: RUNS,
    samples: {
      coldStartMs: pglite.map((s) => round(s.cold)),
      warmStartMs: pglite.map((s) => round(s.warm)),
      ...(withPg ? { pgColdStartMs: postgres.map((s) => round(s.cold)), pgWarmStartMs: postgres.map((s) => round(s.warm)) } : {}),
    },
    targets: { coldStartMs: `<= ${TARGETS.coldStartMs}`, warmStartMs: `<= ${TARGETS.warmStartMs}` },
    targetsMet: coldStartMs <= TARGETS.coldStartMs && warmStartMs <= TARGETS.warmStartMs,
  };
});
