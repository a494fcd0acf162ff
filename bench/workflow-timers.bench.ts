// Durable timers on real PostgreSQL: TIMERS timers come due evenly over SPREAD_S seconds; WORKERS
// timer workers (as several Trellis processes would run them, each with its own pool lanes)
// claim them with FOR UPDATE SKIP LOCKED under a lease and fire each in its own transaction
// (the effect writes an in-app notification row). Lag = fired_at − due_at, from the database.
// Target: p99 lag ≤ 1 s, every timer fired exactly once.
// Env: BENCH_TIMERS (100000), BENCH_SPREAD_S (60), BENCH_WORKERS (2), BENCH_LANES (4).
import pino from 'pino';
import { loadConfig } from '../src/server/config.ts';
import { openDatabase } from '../src/server/db/index.ts';
import { createTrellis } from '../src/server/main.ts';
import { systemClock } from '../src/server/platform/context.ts';
import { registerTimerKind, TimerWorker } from '../src/server/workflow/index.ts';
import { freshPgDatabase, round, runBench } from './lib.ts';

const TIMERS = Number(process.env.BENCH_TIMERS ?? 100_000);
const SPREAD_S = Number(process.env.BENCH_SPREAD_S ?? 60);
const WORKERS = Number(process.env.BENCH_WORKERS ?? 2);
const LANES = Number(process.env.BENCH_LANES ?? 4);
const TARGET_P99_MS = 1000;

runBench('workflow-timers', async () => {
  const pgdb = await freshPgDatabase();
  const config = loadConfig({ DATABASE_URL: pgdb.url, TRELLIS_LOG_LEVEL: 'silent', TRELLIS_ADMIN_PASSWORD: 'Bench-Admin-Pass-2026!', TRELLIS_DATA_DIR: '/nonexistent' });
  const t = await createTrellis(config, { seedDemo: false, announce: () => {}, logger: pino({ level: 'silent' }) });
  const admin = (await t.ctx.db.query<{ id: string }>(`select id from users where username = 'admin'`)).rows[0]!.id;
  // The effect: one notification row for the admin, in the firing transaction.
  registerTimerKind('bench.notify', async (tx, timer, now) => {
    await tx.query(`insert into wf_notifications (user_id, kind, title, created_at) values ($1, 'reminder', $2, $3)`, [admin, `timer ${timer.id}`, now]);
    return 'notified';
  });
  // Each "process" gets its own pool, as separate Trellis instances would.
  const pools = await Promise.all(Array.from({ length: WORKERS }, () => openDatabase({ databaseUrl: pgdb.url, poolSize: LANES + 1 })));
  const workers = pools.map((db, i) => new TimerWorker(db, systemClock, { workerId: `bench-${i}`, concurrency: LANES, batchSize: 200, pollMs: 100 }));
  try {
    const start = Date.now() + 3000; // a little time to start the workers
    await t.ctx.db.query(
      `insert into wf_timers (due_at, kind, payload, created_at)
       select to_timestamp(($1::bigint + (g * $2::numeric / $3)::bigint) / 1000.0), 'bench.notify', '{}'::jsonb, now()
         from generate_series(0, $3 - 1) g`,
      [start, SPREAD_S * 1000, TIMERS],
    );
    await t.ctx.db.query('analyze wf_timers');
    for (const w of workers) w.start();
    const deadline = start + SPREAD_S * 1000 + 120_000;
    for (;;) {
      await new Promise((r) => setTimeout(r, 1000));
      const left = (await t.ctx.db.query<{ n: number }>('select count(*)::int as n from wf_timers where fired_at is null')).rows[0]!.n;
      if (left === 0) break;
      if (Date.now() > deadline) throw new Error(`${left} timers still unfired 2 minutes after the last was due`);
    }
    await Promise.all(workers.map((w) => w.stop()));
    const r = await t.ctx.db.query<{ p50: number; p99: number; max: number; fired: number; notes: number }>(
      `select percentile_cont(0.5) within group (order by extract(epoch from fired_at - due_at)) * 1000 as p50,
              percentile_cont(0.99) within group (order by extract(epoch from fired_at - due_at)) * 1000 as p99,
              max(extract(epoch from fired_at - due_at)) * 1000 as max,
              count(*)::int as fired,
              (select count(*)::int from wf_notifications where kind = 'reminder') as notes
         from wf_timers where kind = 'bench.notify'`,
    );
    const x = r.rows[0]!;
    const exactlyOnce = x.fired === TIMERS && x.notes === TIMERS;
    const p99 = round(Number(x.p99), 1);
    return {
      timers: TIMERS,
      spreadS: SPREAD_S,
      workers: WORKERS,
      lanesPerWorker: LANES,
      lagP50Ms: round(Number(x.p50), 1),
      lagP99Ms: p99,
      lagMaxMs: round(Number(x.max), 1),
      firedPerWorker: workers.map((w) => w.fired),
      effects: x.notes,
      exactlyOnce,
      target: { lagP99Ms: `<= ${TARGET_P99_MS}` },
      targetsMet: exactlyOnce && p99 <= TARGET_P99_MS,
    };
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    await Promise.all(pools.map((p) => p.close()));
    await t.close();
  }
});
