// The sample ERP driver on the Trellis database (PGlite; PostgreSQL with TRELLIS_TEST_PG).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { migrate } from '../src/server/db/index.ts';
import { loadConfig } from '../src/server/config.ts';
import { getDriver } from '../src/server/integration/drivers/index.ts';
import { masterDataMigrations, seedSampleErp } from '../src/server/integration/masterdata/index.ts';
import type { DeliveryRequest, DestinationHandle, DriverContext, PulledRow, SourceHandle } from '../src/server/integration/types.ts';
import { systemClock, type AppContext } from '../src/server/platform/context.ts';
import { createTestDatabase, testTarget, type TestDatabase } from './helpers/db.ts';

let seq = 0;
function delivery(payload: unknown, key = `sk-${++seq}`): DeliveryRequest {
  return {
    deliveryId: `d-${seq}`,
    idempotencyKey: key,
    partitionKey: null,
    payload,
    attempt: 1,
    event: { specversion: '1.0', id: `e-${seq}`, source: '/test', type: 'test', time: new Date().toISOString(), datacontenttype: 'application/json', data: {} },
  };
}
async function pullAll(src: SourceHandle, object: string, since: string | null, limit = 100) {
  const rows: PulledRow[] = [];
  let wm = since;
  for (;;) {
    const r = await src.pull({ object, since: wm, limit });
    rows.push(...r.rows);
    wm = r.nextWatermark;
    if (!r.more) return { rows, watermark: wm };
  }
}

describe(`sample ERP driver (${testTarget})`, () => {
  let t: TestDatabase;
  let ctx: AppContext;
  let src: SourceHandle;
  let dest: DestinationHandle;
  beforeAll(async () => {
    t = await createTestDatabase();
    await migrate(t.db, masterDataMigrations);
    ctx = { config: loadConfig({ TRELLIS_LOG_LEVEL: 'silent' }), db: t.db, log: pino({ level: 'silent' }), clock: systemClock };
    const first = await t.db.tx((tx) => seedSampleErp(tx, new Date('2026-03-01T00:00:00Z')));
    expect(first).toEqual({ seeded: true, counts: { material: 60, supplier: 12, bom: 18, work_order: 40, purchase_order: 30, equipment: 237 } });
    expect((await t.db.tx((tx) => seedSampleErp(tx))).seeded).toBe(false);
    const driver = getDriver('sample_erp')!;
    const dctx: DriverContext = { ctx, connectorId: 'sample-erp', connectorName: 'sample' };
    src = await driver.openSource!({}, undefined, dctx);
    dest = await driver.openDestination!({}, undefined, dctx);
  });
  afterAll(async () => {
    await t.drop();
  });

  it('labels itself as demo data and holds the demo plant: 237 machines, multi-level BOMs, dated POs', async () => {
    const test = await dest.test();
    expect(test.ok).toBe(true);
    expect(test.message).toContain('示例 ERP');
    const eq = await pullAll(src, 'equipment', null, 100);
    expect(eq.rows).toHaveLength(237);
    expect(new Set(eq.rows.map((r) => r.data.code)).size).toBe(237);
    const cats = new Set(eq.rows.map((r) => r.data.category));
    expect([...cats].sort()).toEqual(['boiler', 'cnc', 'compressor', 'crane', 'forklift', 'injection', 'lathe', 'press']);
    expect(eq.rows[0]!.data).toMatchObject({ code: 'EQ-CL-001', workshop: expect.any(String), commissioned_on: expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/), runtime_hours: expect.stringMatching(/^\d+\.\d$/) });

    const boms = (await pullAll(src, 'bom', null)).rows.map((r) => r.data as { code: string; output_code: string; inputs: Array<{ material_code: string }> });
    const byOutput = new Map(boms.map((b) => [b.output_code, b]));
    // 减速机 → 输入轴组件 → 输入轴 → 40Cr圆钢: three levels below the reducer
    const reducer = byOutput.get('GRD-ZQ250-40')!;
    expect(reducer.inputs.map((i) => i.material_code)).toContain('AS-INSHAFT-ZQ250');
    expect(byOutput.get('AS-INSHAFT-ZQ250')!.inputs.map((i) => i.material_code)).toContain('SH-IN-ZQ250');
    expect(byOutput.get('SH-IN-ZQ250')!.inputs.map((i) => i.material_code)).toEqual(['RM-40CR-D60']);

    const pos = (await pullAll(src, 'purchase_order', null)).rows;
    expect(pos).toHaveLength(30);
    for (const po of pos) {
      const d = po.data as { total_amount: string; lines: Array<{ quantity: string; unit_price: string }> };
      expect(d.lines.length).toBeGreaterThan(0);
      // exact decimal arithmetic: the total is the sum of quantity × price in cents
      const cents = d.lines.reduce((s, l) => s + BigInt(l.quantity) * BigInt(l.unit_price.replace('.', '')), 0n);
      expect(d.total_amount).toBe(`${cents / 100n}.${String(cents % 100n).padStart(2, '0')}`);
    }
    expect((await pullAll(src, 'work_order', null)).rows).toHaveLength(40);
    expect((await pullAll(src, 'supplier', null)).rows).toHaveLength(12);
    expect((await pullAll(src, 'material', null, 7)).rows).toHaveLength(60);
  });

  it('pulls incrementally: after a write only the changed work order comes again', async () => {
    const all = await pullAll(src, 'work_order', null, 15);
    expect((await pullAll(src, 'work_order', all.watermark)).rows).toHaveLength(0);
    const out = await dest.send(delivery({ model: 'production', method: 'write', search: [['number', '=', 'WO-2026-0003']], values: { planned_date: '2026-04-01', quantity: '12.5' } }));
    expect(out).toMatchObject({ ok: true });
    const again = await pullAll(src, 'work_order', all.watermark);
    expect(again.rows.map((r) => [r.data.number, r.data.planned_date, r.data.quantity])).toEqual([['WO-2026-0003', '2026-04-01', '12.5']]);
  });

  it('runs the same create / button / note payloads as Tryton, and a retried create makes one document', async () => {
    const payload = {
      model: 'production',
      method: 'create',
      values: {
        product: { $ref: { model: 'product.product', domain: [['code', '=', 'SH-OUT-ZQ250']] } },
        bom: { $ref: { model: 'production.bom', domain: [['name', '=', 'BOM-SH-OUT-ZQ250']] } },
        quantity: '6',
        planned_start_date: '2026-03-10',
        planned_date: '2026-03-12',
        reference: 'ECN-2026-0001',
      },
    };
    const req = delivery(payload, 'idem-sample-1');
    expect(await dest.lookup!(req)).toEqual({ exists: false });
    const [a, b] = await Promise.all([dest.send(req), dest.send({ ...req, attempt: 2 })]);
    expect(a.ok && b.ok).toBe(true);
    expect((a as { externalRef: string }).externalRef).toBe((b as { externalRef: string }).externalRef);
    const n = await ctx.db.query<{ n: number }>(`select count(*)::int as n from erp_sample_productions where data->>'reference' like '%[trellis:idem-sample-1]%'`);
    expect(n.rows[0]!.n).toBe(1);
    expect(await dest.lookup!(req)).toEqual({ exists: true, externalRef: (a as { externalRef: string }).externalRef });

    const id = Number((a as { externalRef: string }).externalRef.split(',')[1]);
    const row = (await ctx.db.query<{ code: string; data: Record<string, unknown> }>(`select code, data from erp_sample_productions where id = $1`, [id])).rows[0]!;
    expect(row.data).toMatchObject({ number: row.code, state: 'draft', product_code: 'SH-OUT-ZQ250', product_name: '输出轴 ZQ250', quantity: '6', bom_code: 'BOM-SH-OUT-ZQ250', reference: 'ECN-2026-0001 [trellis:idem-sample-1]' });

    expect(await dest.send(delivery({ model: 'production', method: 'button', button: 'wait', ids: [id] }))).toMatchObject({ ok: true });
    expect(await dest.send(delivery({ model: 'production', method: 'button', button: 'wait', ids: [id] }))).toMatchObject({ ok: true }); // pressing again is harmless
    const refused = await dest.send(delivery({ model: 'production', method: 'button', button: 'done', ids: [id] }));
    expect(refused).toMatchObject({ ok: false, retryable: false, error: expect.stringContaining('"waiting"') });

    const note = await dest.send(
      delivery({ model: 'ir.note', method: 'create', values: { resource: { $ref: { model: 'production', domain: [['id', '=', id]], reference: true } }, message: '首件检验合格' } }),
    );
    expect(note).toMatchObject({ ok: true });
    const notes = await ctx.db.query<{ data: { resource: string; message: string } }>(`select data from erp_sample_notes`);
    expect(notes.rows.map((r) => r.data.resource)).toEqual([`production,${id}`]);
  });

  it('classifies permanent errors like the Tryton driver', async () => {
    expect(await dest.send(delivery({ model: 'production', method: 'explode' }))).toMatchObject({ ok: false, retryable: false });
    expect(await dest.send(delivery({ model: 'spaceship', method: 'create', values: {} }))).toMatchObject({ ok: false, retryable: false, error: expect.stringContaining('no model "spaceship"') });
    expect(await dest.send(delivery({ model: 'production', method: 'write', ids: [1], values: { colour: 'red' } }))).toMatchObject({ ok: false, retryable: false, error: expect.stringContaining('"colour"') });
    expect(await dest.send(delivery({ model: 'production', method: 'create', values: { quantity: '1' } }))).toMatchObject({ ok: false, retryable: false, error: expect.stringContaining('required') });
    expect(await dest.send(delivery({ model: 'production', method: 'button', button: 'wait', search: [['number', '=', 'NO-SUCH']] }))).toMatchObject({ ok: false, retryable: false });
    await expect(src.pull({ object: 'spaceship', since: null, limit: 10 })).rejects.toMatchObject({ retryable: false });
  });
});
