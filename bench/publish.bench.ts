// Republishing an app whose 40-field entity already holds 10,000 records, adding 3 fields: one
// filterable text (its index is built over the existing rows), one decimal with a default (the
// existing rows are filled) and one date. This is the schema-evolution path a citizen developer
// takes every day; it runs in one transaction with the diff, the data checks, the DDL, the version
// row and the audit entry. Real PostgreSQL, fresh database `trellis_bench_<random>`, dropped after.
// Runs the change 5 times (each adds 3 new fields) and reports the median; target ≤ 1000 ms.
import pino from 'pino';
import { loadConfig } from '../src/server/config.ts';
import { migrate, openDatabase } from '../src/server/db/index.ts';
import { allMigrations } from '../src/server/main.ts';
import { publishApp } from '../src/server/modeling/index.ts';
import { systemActor, systemClock, type AppContext } from '../src/server/platform/index.ts';
import type { AppDef, FieldDef } from '../src/shared/definition.ts';
import { freshPgDatabase, median, round, runBench } from './lib.ts';

const ROWS = 10_000;
const RUNS = 5;
const TARGET_MS = 1000;

const TYPES: FieldDef['type'][] = ['text', 'integer', 'decimal', 'money', 'date', 'datetime', 'boolean', 'select', 'long_text', 'percent'];

function baseApp(): AppDef {
  const fields: FieldDef[] = Array.from({ length: 40 }, (_, i) => {
    const type = TYPES[i % TYPES.length]!;
    return {
      name: `f${String(i).padStart(2, '0')}_${type}`,
      type,
      label: { zh: `字段${i}` },
      ...(type === 'select' ? { options: [{ value: 'a', label: { zh: 'A' } }, { value: 'b', label: { zh: 'B' } }] } : {}),
      ...(i % 9 === 0 ? { filterable: true } : {}),
    };
  });
  return { name: 'bench_pub', label: { zh: '发布压测' }, entities: [{ name: 'wide_doc', label: { zh: '宽表单' }, fields, namingSeries: 'WD-{######}' }] };
}

runBench('publish-add-3-fields', async () => {
  const pg = await freshPgDatabase();
  const db = await openDatabase({ databaseUrl: pg.url, poolSize: 4 });
  try {
    await migrate(db, allMigrations());
    const ctx: AppContext = { config: loadConfig({ TRELLIS_LOG_LEVEL: 'silent' }), db, log: pino({ level: 'silent' }), clock: systemClock };
    const def = baseApp();
    await publishApp(ctx, systemActor, def);

    // 10,000 records with every column filled.
    const cols = def.entities[0]!.fields;
    const expr = (f: FieldDef): string => {
      switch (f.type) {
        case 'integer':
          return 'g';
        case 'decimal':
        case 'money':
        case 'percent':
          return '(g * 1.25)';
        case 'date':
          return `(date '2026-01-01' + (g % 365))`;
        case 'datetime':
          return `(timestamptz '2026-01-01 08:00+08' + g * interval '1 minute')`;
        case 'boolean':
          return '(g % 2 = 0)';
        case 'select':
          return `(case when g % 2 = 0 then 'a' else 'b' end)`;
        default:
          return `('值 ' || g)`;
      }
    };
    const t0 = performance.now();
    await db.query(
      `insert into x_bench_pub__wide_doc (name, ${cols.map((c) => `"${c.name}"`).join(', ')})
       select 'WD-' || lpad(g::text, 6, '0'), ${cols.map(expr).join(', ')} from generate_series(1, ${ROWS}) g`,
    );
    await db.query('analyze x_bench_pub__wide_doc');
    const loadMs = performance.now() - t0;

    const times: number[] = [];
    let dryRunMs = 0;
    for (let run = 0; run < RUNS; run++) {
      def.entities[0]!.fields.push(
        { name: `added${run}_code`, type: 'text', label: { zh: '新编码' }, filterable: true },
        { name: `added${run}_rate`, type: 'decimal', label: { zh: '新费率' }, scale: 4, default: '0.0500' },
        { name: `added${run}_due`, type: 'date', label: { zh: '新日期' } },
      );
      if (run === 0) {
        const d0 = performance.now();
        await publishApp(ctx, systemActor, def, { dryRun: true });
        dryRunMs = performance.now() - d0;
      }
      const s = performance.now();
      const r = await publishApp(ctx, systemActor, def);
      times.push(performance.now() - s);
      if (r.changes.filter((c) => c.kind === 'add_field').length !== 3) throw new Error(`expected 3 added fields, got ${JSON.stringify(r.changes)}`);
    }
    const check = await db.query<{ n: number; filled: number }>(`select count(*)::int as n, count(*) filter (where added0_rate = 0.05)::int as filled from x_bench_pub__wide_doc`);
    if (check.rows[0]!.n !== ROWS || check.rows[0]!.filled !== ROWS) throw new Error(`data check failed: ${JSON.stringify(check.rows[0])}`);
    const ms = round(median(times), 1);
    console.error(`publish-add-3-fields: runs ${times.map((x) => round(x, 1)).join(', ')} ms; dry run ${round(dryRunMs, 1)} ms; loading ${ROWS} rows ${round(loadMs)} ms`);
    return {
      ms,
      target: TARGET_MS,
      targetsMet: ms <= TARGET_MS,
      firstMs: round(times[0]!, 1),
      maxMs: round(Math.max(...times), 1),
      dryRunMs: round(dryRunMs, 1),
      rows: ROWS,
      fields: 40,
      runs: RUNS,
      db: 'postgres',
    };
  } finally {
    await db.close();
  }
});
