// A create built from a definition this process has not yet seen replaced (another process published
// a column type change; the cache trusts its copy for STALE_MS): on PostgreSQL the connection still
// holds the create statement prepared for the old table shape, and PostgreSQL refuses it ("cached
// plan must not change result type", 0A000). The create then reads the definition in force and runs
// once more: the person gets their record, not a 500 (decision 0007).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getPublishedApp, publishApp } from '../src/server/modeling/index.ts';
import { rememberPublished } from '../src/server/modeling/registry.ts';
import { systemActor } from '../src/server/platform/index.ts';
import { testTarget } from './helpers/db.ts';
import { createTestTrellis, loginAs, type TestSession, type TestTrellis } from './helpers/trellis.ts';

let t: TestTrellis;
let admin: TestSession;

const fields = (qtyType: 'integer' | 'decimal') => [
  { name: 'title', type: 'text', label: { zh: '标题' }, required: true },
  { name: 'qty', type: qtyType, label: { zh: '数量' }, ...(qtyType === 'decimal' ? { scale: 3 } : {}) },
];
const app = (qtyType: 'integer' | 'decimal') => ({
  name: 'stale',
  label: { zh: '过期计划' },
  entities: [
    // without a series the create returns no row (the record as written is known), so its prepared
    // statement's result never changes type; with one, it returns the row to learn the number
    { name: 'reading', label: { zh: '读数' }, fields: fields(qtyType), permissions: [{ role: '*', actions: ['read', 'create', 'write'] }] },
    { name: 'numbered', label: { zh: '编号读数' }, namingSeries: 'RD-{#####}', fields: fields(qtyType), permissions: [{ role: '*', actions: ['read', 'create', 'write'] }] },
  ],
});

beforeAll(async () => {
  t = await createTestTrellis();
  await publishApp(t.ctx, systemActor, app('integer') as never);
  admin = await loginAs(t);
}, 120_000);
afterAll(async () => {
  await t?.destroy();
});

const create = (entity: string, title: string, qty: unknown) =>
  admin.inject({ method: 'POST', url: `/api/v1/apps/stale/entities/${entity}/records`, payload: { values: { title, qty } } });

describe(`a create against a column type changed by another process's publish (${testTarget})`, () => {
  it('retries once with the definition in force instead of failing on the stale prepared statement', async () => {
    // repeated creates, many at once: the statements are prepared on every pooled connection
    for (let round = 0; round < 5; round++) {
      const rs = await Promise.all(
        Array.from({ length: 40 }, (_, i) => create(i % 2 ? 'reading' : 'numbered', `before ${round}.${i}`, i)),
      );
      expect(rs.map((r) => r.statusCode)).toEqual(Array(40).fill(201));
    }
    const seen = (await getPublishedApp(t.ctx.db, 'stale'))!;

    // another process publishes qty as a decimal; this one still trusts its cached copy
    await publishApp(t.ctx, systemActor, app('decimal') as never, { confirmDestructive: true });
    rememberPublished(seen);
    expect((await getPublishedApp(t.ctx.db, 'stale'))!.version).toBe(seen.version);

    for (let i = 0; i < 6; i++) {
      const r = await create('numbered', `after ${i}`, 3); // valid under both definitions
      expect(r.statusCode, r.body).toBe(201);
      // PostgreSQL refused the stale prepared statement and the retry read the new definition; PGlite
      // prepares nothing, so its create ran with the cached copy, which answers the old type until
      // the copy is checked again (STALE_MS)
      if (testTarget === 'postgres') expect(r.json().values.qty).toBe('3.000');
    }
    rememberPublished(seen); // still not seen, for the entity without a series
    for (let i = 0; i < 6; i++) expect((await create('reading', `after ${i}`, 3)).statusCode).toBe(201);

    for (const table of ['x_stale__numbered', 'x_stale__reading']) {
      const rows = await t.ctx.db.query<{ qty: string }>(`select qty::text as qty from ${table} where title like 'after %'`);
      expect(rows.rows.map((x) => x.qty), table).toEqual(Array(6).fill('3.000'));
    }
    // the trail was written once per record, not once per attempt
    const history = await t.ctx.db.query<{ n: number }>(`select count(*)::int as n from record_history where app = 'stale'`);
    expect(history.rows[0]!.n).toBe(200 + 12);
  });
});
