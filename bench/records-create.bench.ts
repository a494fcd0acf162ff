// Throughput and latency of creating a record over HTTP: POST /api/v1/apps/:app/entities/:entity/records
// with a formula, history row, outbox event and audit entry, all in one transaction (the headline).
// The same load is then run on a second entity with a gap-free naming series (`withNamingSeries`):
// gap-free numbering holds the series' counter row from the increment to commit, so creates in ONE
// series are serialised by design (at most one per commit flush); that figure is reported apart.
// Server on a fresh PostgreSQL database (and, with --pglite, on an embedded PGlite folder first);
// autocannon runs in this process on the same machine (2 cores shared by load generator and
// server), 32 connections, a short warm-up, then ~10 s. Afterwards the database is checked: one
// history row and one outbox event per record, and the numbered entity's numbers are gap-free.
// Targets: ≥ 1500 creates/s and p99 ≤ 25 ms.
// Env: BENCH_DURATION_S (10), BENCH_CONNECTIONS (32), TRELLIS_LOG_LEVEL (server log level, warn).
import autocannon from 'autocannon';
import pg from 'pg';
import { PGlite } from '@electric-sql/pglite';
import { freshPgDatabase, login, publishApp, round, runBench, startServer, tempDir, type RunningServer } from './lib.ts';

const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const LOG_LEVEL = process.env.TRELLIS_LOG_LEVEL || 'warn';
const TARGETS = { createsPerSec: 1500, p99Ms: 25 };
const withPglite = process.argv.includes('--pglite');

const FIELDS = [
  { name: 'title', type: 'text', label: { zh: '标题' }, required: true, searchable: true },
  { name: 'line', type: 'text', label: { zh: '产线' } },
  { name: 'shift', type: 'select', label: { zh: '班次' }, options: [{ value: 'day', label: { zh: '白班' } }, { value: 'night', label: { zh: '夜班' } }] },
  { name: 'qty', type: 'integer', label: { zh: '数量' }, min: 0 },
  { name: 'unit_cost', type: 'money', label: { zh: '单位成本' } },
  { name: 'reported_at', type: 'datetime', label: { zh: '报工时间' } },
  { name: 'amount', type: 'formula', label: { zh: '金额' }, formula: 'qty * unit_cost', resultType: 'decimal', scale: 2 },
];

const APP = {
  name: 'bench',
  label: { zh: '压测', en: 'Bench' },
  entities: [
    {
      name: 'work_report',
      label: { zh: '报工单', en: 'Work report' },
      submittable: true,
      fields: FIELDS,
      permissions: [{ role: '*', actions: ['read', 'create', 'write'] }],
    },
    {
      name: 'numbered_report',
      label: { zh: '编号报工单', en: 'Numbered work report' },
      submittable: true,
      namingSeries: 'WR-{YYYY}-{########}',
      fields: FIELDS,
      permissions: [{ role: '*', actions: ['read', 'create', 'write'] }],
    },
  ],
};

const BODY = JSON.stringify({
  values: { title: '数控车床 CK6150 报工', line: 'L3', shift: 'day', qty: 120, unit_cost: '18.75', reported_at: '2026-03-01T08:30:00+08:00' },
});

interface LoadFigures {
  createsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  maxLatencyMs: number;
  totalCreated: number;
  errors: number;
  non2xx: number;
}

interface Checks {
  records: number;
  history: number;
  outbox: number;
  /** Numbered entity only: the highest number handed out, and whether it equals the count. */
  maxNumber?: number;
  gapFree?: boolean;
}

interface RunFigures extends LoadFigures {
  db: 'postgres' | 'pglite';
  checks: Checks;
  withNamingSeries: LoadFigures & { entity: string; checks: Checks };
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

/** Probe, warm up, then the measured run against one entity's create endpoint. */
async function measure(server: RunningServer, auth: { cookie: string; csrf: string }, entity: string): Promise<LoadFigures> {
  const url = `${server.baseUrl}/api/v1/apps/bench/entities/${entity}/records`;
  const probe = await fetch(url, { method: 'POST', headers: { cookie: auth.cookie, 'x-csrf-token': auth.csrf, 'content-type': 'application/json' }, body: BODY });
  const probeBody = await probe.text();
  if (probe.status !== 201) throw new Error(`creating a ${entity} record answered ${probe.status}: ${probeBody.slice(0, 400)}`);
  await load(url, auth, 2); // warm-up: JIT, connection pool, caches
  const r = await load(url, auth, DURATION_S);
  if (process.env.BENCH_LATENCY) console.error(entity, 'latency ms', JSON.stringify(r.latency)); // the whole distribution, for a diagnosis
  return {
    createsPerSec: round(r['2xx'] / DURATION_S),
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
    maxLatencyMs: r.latency.max,
    totalCreated: r['2xx'],
    errors: r.errors + r.timeouts,
    non2xx: r.non2xx,
  };
}

async function counts(query: (sql: string) => Promise<Array<Record<string, unknown>>>, entity: string, numbered: boolean): Promise<Checks> {
  const one = async (sql: string) => Number((await query(sql))[0]!.n);
  const records = await one(`select count(*) as n from x_bench__${entity}`);
  const history = await one(`select count(*) as n from record_history where app = 'bench' and entity = '${entity}'`);
  const outbox = await one(`select count(*) as n from outbox where source = '/trellis/apps/bench/${entity}'`);
  if (!numbered) return { records, history, outbox };
  const maxNumber = await one(`select coalesce(max(split_part(name, '-', 3)::bigint), 0) as n from x_bench__${entity}`);
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
  await publishApp(server.baseUrl, auth, APP);
  const plain = await measure(server, auth, 'work_report');
  const numbered = await measure(server, auth, 'numbered_report');
  await server.stop();

  let checks: Checks;
  let numberedChecks: Checks;
  const check = async () => {
    checks = await counts(query, 'work_report', false);
    numberedChecks = await counts(query, 'numbered_report', true);
  };
  if (db === 'postgres') {
    const c = new pg.Client({ connectionString: pgUrl });
    await c.connect();
    query = async (sql) => (await c.query(sql)).rows;
    try {
      await check();
    } finally {
      await c.end();
    }
  } else {
    const lite = new PGlite(`${dataDir}/pg`);
    query = async (sql) => (await lite.query<Record<string, unknown>>(sql)).rows;
    try {
      await check();
    } finally {
      await lite.close();
    }
  }
  for (const c of [checks!, numberedChecks!]) {
    if (c.history !== c.records || c.outbox !== c.records || c.gapFree === false) {
      throw new Error(`database check failed on ${db}: ${JSON.stringify(c)}`);
    }
  }
  return { db, ...plain, checks: checks!, withNamingSeries: { entity: 'numbered_report', ...numbered, checks: numberedChecks! } };
}

const met = (f: LoadFigures) => f.createsPerSec >= TARGETS.createsPerSec && f.p99Ms <= TARGETS.p99Ms && f.errors === 0 && f.non2xx === 0;

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
    targetsMet: met(main),
    withNamingSeries: {
      ...main.withNamingSeries,
      note: 'gap-free series: the counter row is held from the increment to commit, so creates in one series are serialised (≤ ~1 per commit flush)',
      targetsMet: met(main.withNamingSeries),
    },
    connections: CONNECTIONS,
    durationS: DURATION_S,
    serverLogLevel: LOG_LEVEL,
    ...(lite ? { pglite: { createsPerSec: lite.createsPerSec, p50Ms: lite.p50Ms, p99Ms: lite.p99Ms, non2xx: lite.non2xx } } : {}),
  };
});
