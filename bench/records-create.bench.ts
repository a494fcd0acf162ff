// Throughput and latency of creating a record over HTTP: POST /api/v1/apps/:app/entities/:entity/records
// with a naming series, formula, history row, outbox event and audit entry, all in one transaction.
// Server on a fresh PostgreSQL database (and, with --pglite, on an embedded PGlite folder first);
// autocannon runs in this process on the same machine (2 cores shared by load generator and
// server), 32 connections, a short warm-up, then ~10 s. Afterwards the database is checked: one
// history row and one outbox event per record, and the document numbers are gap-free.
// Targets: ≥ 1500 creates/s and p99 ≤ 25 ms.
// Env: BENCH_DURATION_S (10), BENCH_CONNECTIONS (32), TRELLIS_LOG_LEVEL (server log level, warn).
import autocannon from 'autocannon';
import pg from 'pg';
import { PGlite } from '@electric-sql/pglite';
import { freshPgDatabase, login, round, runBench, startServer, tempDir, type RunningServer } from './lib.ts';

const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const LOG_LEVEL = process.env.TRELLIS_LOG_LEVEL || 'warn';
const TARGETS = { createsPerSec: 1500, p99Ms: 25 };
const withPglite = process.argv.includes('--pglite');

const APP = {
  name: 'bench',
  label: { zh: '压测', en: 'Bench' },
  entities: [
    {
      name: 'work_report',
      label: { zh: '报工单', en: 'Work report' },
      submittable: true,
      namingSeries: 'WR-{YYYY}-{########}',
      fields: [
        { name: 'title', type: 'text', label: { zh: '标题' }, required: true, searchable: true },
        { name: 'line', type: 'text', label: { zh: '产线' } },
        { name: 'shift', type: 'select', label: { zh: '班次' }, options: [{ value: 'day', label: { zh: '白班' } }, { value: 'night', label: { zh: '夜班' } }] },
        { name: 'qty', type: 'integer', label: { zh: '数量' }, min: 0 },
        { name: 'unit_cost', type: 'money', label: { zh: '单位成本' } },
        { name: 'reported_at', type: 'datetime', label: { zh: '报工时间' } },
        { name: 'amount', type: 'formula', label: { zh: '金额' }, formula: 'qty * unit_cost', resultType: 'decimal', scale: 2 },
      ],
      permissions: [{ role: '*', actions: ['read', 'create', 'write'] }],
    },
  ],
};

const BODY = JSON.stringify({
  values: { title: '数控车床 CK6150 报工', line: 'L3', shift: 'day', qty: 120, unit_cost: '18.75', reported_at: '2026-03-01T08:30:00+08:00' },
});

interface RunFigures {
  db: 'postgres' | 'pglite';
  createsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  maxLatencyMs: number;
  totalCreated: number;
  errors: number;
  non2xx: number;
  checks: { records: number; history: number; outbox: number; maxNumber: number; gapFree: boolean };
}

async function publish(server: RunningServer, auth: { cookie: string; csrf: string }): Promise<void> {
  const r = await fetch(`${server.baseUrl}/api/v1/apps/publish`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', cookie: auth.cookie, 'x-csrf-token': auth.csrf },
    body: JSON.stringify({ definition: APP }),
  });
  const text = await r.text();
  if (r.status !== 200) throw new Error(`publishing the bench app answered ${r.status}: ${text.slice(0, 400)}`);
}

function load(url: string, auth: { cookie: string; csrf: string }, duration: number): Promise<autocannon.Result> {
  return autocannon({
    url,
    method: 'POST',
    connections: CONNECTIONS,
    duration,
    headers: { cookie: auth.cookie, 'x-csrf-token': auth.csrf, 'content-type': 'application/json' },
    body: BODY,
  });
}

async function counts(query: (sql: string) => Promise<Array<Record<string, unknown>>>): Promise<RunFigures['checks']> {
  const one = async (sql: string) => Number((await query(sql))[0]!.n);
  const records = await one('select count(*) as n from x_bench__work_report');
  const history = await one(`select count(*) as n from record_history where app = 'bench'`);
  const outbox = await one(`select count(*) as n from outbox where source = '/trellis/apps/bench/work_report'`);
  const maxNumber = await one(`select coalesce(max(split_part(name, '-', 3)::bigint), 0) as n from x_bench__work_report`);
  return { records, history, outbox, maxNumber, gapFree: maxNumber === records };
}

async function run(db: 'postgres' | 'pglite'): Promise<RunFigures> {
  let server: RunningServer;
  let query: (sql: string) => Promise<Array<Record<string, unknown>>>;
  let dataDir: string | undefined;
  let pgUrl: string | undefined;
  if (db === 'postgres') {
    const fresh = await freshPgDatabase();
    pgUrl = fresh.url;
    server = await startServer({ databaseUrl: fresh.url, env: { TRELLIS_SKIP_DEMO: '1', TRELLIS_LOG_LEVEL: LOG_LEVEL } });
  } else {
    dataDir = tempDir('records-create');
    server = await startServer({ dataDir, env: { TRELLIS_SKIP_DEMO: '1', TRELLIS_LOG_LEVEL: LOG_LEVEL } });
  }
  const auth = await login(server.baseUrl);
  await publish(server, auth);
  const url = `${server.baseUrl}/api/v1/apps/bench/entities/work_report/records`;
  const probe = await fetch(url, { method: 'POST', headers: { cookie: auth.cookie, 'x-csrf-token': auth.csrf, 'content-type': 'application/json' }, body: BODY });
  const probeBody = await probe.text();
  if (probe.status !== 201) throw new Error(`creating a record answered ${probe.status}: ${probeBody.slice(0, 400)}`);

  await load(url, auth, 2); // warm-up: JIT, connection pool, caches
  const r = await load(url, auth, DURATION_S);
  const created = r['2xx'];
  await server.stop();

  let checks: RunFigures['checks'];
  if (db === 'postgres') {
    const c = new pg.Client({ connectionString: pgUrl });
    await c.connect();
    query = async (sql) => (await c.query(sql)).rows;
    try {
      checks = await counts(query);
    } finally {
      await c.end();
    }
  } else {
    const lite = new PGlite(`${dataDir}/pg`);
    query = async (sql) => (await lite.query<Record<string, unknown>>(sql)).rows;
    try {
      checks = await counts(query);
    } finally {
      await lite.close();
    }
  }
  if (checks.history !== checks.records || checks.outbox !== checks.records || !checks.gapFree) {
    throw new Error(`database check failed on ${db}: ${JSON.stringify(checks)}`);
  }
  return {
    db,
    createsPerSec: round(created / DURATION_S),
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
    maxLatencyMs: r.latency.max,
    totalCreated: created,
    errors: r.errors + r.timeouts,
    non2xx: r.non2xx,
    checks,
  };
}

runBench('records-create', async () => {
  let lite: RunFigures | undefined;
  if (withPglite) {
    lite = await run('pglite');
    console.log(JSON.stringify({ bench: 'records-create', ...lite, targetPerSec: TARGETS.createsPerSec, targetP99Ms: TARGETS.p99Ms }));
  }
  const main = await run('postgres');
  return {
    ...main,
    targetPerSec: TARGETS.createsPerSec,
    targetP99Ms: TARGETS.p99Ms,
    targetsMet: main.createsPerSec >= TARGETS.createsPerSec && main.p99Ms <= TARGETS.p99Ms && main.errors === 0 && main.non2xx === 0,
    connections: CONNECTIONS,
    durationS: DURATION_S,
    serverLogLevel: LOG_LEVEL,
    ...(lite ? { pglite: { createsPerSec: lite.createsPerSec, p50Ms: lite.p50Ms, p99Ms: lite.p99Ms, non2xx: lite.non2xx } } : {}),
  };
});
