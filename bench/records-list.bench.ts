// Latency of a filtered, sorted list page over a large entity under a row scope:
// 1,000,000 rows (bulk-inserted with generate_series, owner departments spread over the demo
// department tree), read by a workshop director whose permission is `department_subtree`
// (machining and its two teams: about 3 of 13 departments). Each request is
// GET …/records?filter={kind = b and qty >= 500}&sort=-created_at&limit=50, following the
// cursor for 5 pages and starting again. One client, sequential, after a warm-up.
// Target: p99 ≤ 20 ms over 500 requests.
// Env: BENCH_ROWS (1000000), BENCH_REQUESTS (500), TRELLIS_LOG_LEVEL (server log level, warn).
import pg from 'pg';
import { freshPgDatabase, login, percentile, publishApp, round, runBench, startServer } from './lib.ts';

const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 500);
const LOG_LEVEL = process.env.TRELLIS_LOG_LEVEL || 'warn';
const TARGET_P99_MS = 20;
const DEMO_PASSWORD = 'Trellis-Demo-2026';

const APP = {
  name: 'benchlist',
  label: { zh: '列表压测', en: 'List bench' },
  entities: [
    {
      name: 'ledger',
      label: { zh: '台账', en: 'Ledger' },
      fields: [
        { name: 'title', type: 'text', label: { zh: '标题' }, searchable: true },
        { name: 'qty', type: 'integer', label: { zh: '数量' }, filterable: true },
        { name: 'amount', type: 'money', label: { zh: '金额' } },
        {
          name: 'kind',
          type: 'select',
          label: { zh: '类别' },
          filterable: true,
          options: ['a', 'b', 'c', 'd'].map((v) => ({ value: v, label: { zh: v } })),
        },
        { name: 'happened_on', type: 'date', label: { zh: '日期' }, filterable: true },
      ],
      permissions: [{ role: 'workshop_director', actions: ['read'], scope: 'department_subtree' }],
    },
  ],
};

runBench('records-list', async () => {
  const db = await freshPgDatabase();
  const server = await startServer({ databaseUrl: db.url, env: { TRELLIS_LOG_LEVEL: LOG_LEVEL } }); // demo plant seeded
  const admin = await login(server.baseUrl);
  await publishApp(server.baseUrl, admin, APP);

  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  const t0 = performance.now();
  try {
    const adminId = (await c.query<{ id: string }>(`select id from users where username = 'admin'`)).rows[0]!.id;
    const depts = (await c.query<{ n: number }>('select count(*)::int as n from departments')).rows[0]!.n;
    if (depts < 5) throw new Error(`the demo department tree is missing (${depts} departments)`);
    const batch = 250_000;
    for (let from = 1; from <= ROWS; from += batch) {
      const to = Math.min(ROWS, from + batch - 1);
      await c.query(
        `insert into x_benchlist__ledger (name, status, version, created_by, created_at, updated_by, updated_at,
                                          owner_department_id, search_text, title, qty, amount, kind, happened_on)
         select 'L-' || g, 'draft', 1, $1, timestamptz '2026-01-01 00:00:00+08' + g * interval '1 second', $1,
                timestamptz '2026-01-01 00:00:00+08' + g * interval '1 second',
                d.ids[1 + (g * 7) % d.n], 'L-' || g || ' ledger entry ' || g, 'ledger entry ' || g, (g * 37) % 1000,
                ((g * 101) % 1000000)::numeric / 100, (array['a','b','c','d'])[1 + g % 4], date '2025-01-01' + (g % 365)
           from generate_series($2::int, $3::int) g,
                (select array_agg(id order by code) as ids, count(*)::int as n from departments) d`,
        [adminId, from, to],
      );
    }
    await c.query('analyze x_benchlist__ledger');
  } finally {
    await c.end();
  }
  const loadS = (performance.now() - t0) / 1000;

  const director = await login(server.baseUrl, 'zhao.director', DEMO_PASSWORD);
  const filter = encodeURIComponent(JSON.stringify({ and: [{ field: 'kind', op: 'eq', value: 'b' }, { field: 'qty', op: 'gte', value: 500 }] }));
  const base = `${server.baseUrl}/api/v1/apps/benchlist/entities/ledger/records?filter=${filter}&sort=-created_at&limit=50`;
  let cursor: string | null = null;
  let pageNo = 0;
  const one = async (): Promise<number> => {
    const url = cursor ? `${base}&after=${encodeURIComponent(cursor)}` : base;
    const s = performance.now();
    const res = await fetch(url, { headers: { cookie: director.cookie } });
    const body = (await res.json()) as { items?: unknown[]; nextCursor?: string | null; detail?: string };
    const ms = performance.now() - s;
    if (res.status !== 200) throw new Error(`list answered ${res.status}: ${body.detail ?? JSON.stringify(body).slice(0, 300)}`);
    if (body.items?.length !== 50) throw new Error(`expected 50 items, got ${body.items?.length}`);
    pageNo++;
    cursor = pageNo % 5 === 0 ? null : (body.nextCursor ?? null);
    return ms;
  };
  // The director must see only their subtree: every item's department is one of theirs.
  const check = await fetch(base, { headers: { cookie: director.cookie } });
  const checkBody = (await check.json()) as { items: Array<{ owner_department_id: string }> };
  const c2 = new pg.Client({ connectionString: db.url });
  await c2.connect();
  const allowed = new Set(
    (
      await c2.query<{ id: string }>(
        `select dc.descendant_id as id from department_closure dc join departments d on d.id = dc.ancestor_id where d.code = 'machining'`,
      )
    ).rows.map((r) => r.id),
  );
  const visible = (await c2.query<{ n: number }>(
    `select count(*)::int as n from x_benchlist__ledger where owner_department_id = any($1::uuid[])`,
    [[...allowed]],
  )).rows[0]!.n;
  await c2.end();
  if (!checkBody.items.every((i) => allowed.has(i.owner_department_id))) throw new Error('the row scope leaked rows of other departments');

  for (let i = 0; i < 50; i++) await one(); // warm-up
  const lat: number[] = [];
  for (let i = 0; i < REQUESTS; i++) lat.push(await one());
  lat.sort((a, b) => a - b);
  const p99Ms = round(percentile(lat, 0.99), 2);
  await server.stop();
  return {
    db: 'postgres',
    rows: ROWS,
    rowsInScope: visible,
    requests: REQUESTS,
    p50Ms: round(percentile(lat, 0.5), 2),
    p95Ms: round(percentile(lat, 0.95), 2),
    p99Ms,
    maxMs: round(lat.at(-1)!, 2),
    targetP99Ms: TARGET_P99_MS,
    targetsMet: p99Ms <= TARGET_P99_MS,
    bulkLoadS: round(loadS, 1),
    serverLogLevel: LOG_LEVEL,
  };
});
