// The Tryton driver against a real trytond (Debian tryton-server) started by the test.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getDriver } from '../src/server/integration/drivers/index.ts';
import '../src/server/integration/drivers/tryton.ts';
import { TrytonClient, TrytonError } from '../src/server/integration/drivers/tryton-rpc.ts';
import type { DeliveryRequest, DestinationHandle, DriverContext, PulledRow, SourceHandle } from '../src/server/integration/types.ts';
import pino from 'pino';
import { migrate } from '../src/server/db/index.ts';
import { loadConfig } from '../src/server/config.ts';
import { claimJob, getCached, masterDataMigrations, runJob, setMasterDataSourceOpener } from '../src/server/integration/masterdata/index.ts';
import { systemClock, type AppContext } from '../src/server/platform/context.ts';
import { createTestDatabase } from './helpers/db.ts';
import { TRYTON_DB, TRYTON_PASSWORD, TRYTON_USER, seedTryton, startTryton, type TestTryton, type TrytonSeed } from './helpers/tryton.ts';

const dctx = { connectorId: 'test', connectorName: 'tryton-test' } as unknown as DriverContext;
let seq = 0;
function delivery(payload: unknown, key = `key-${Date.now()}-${++seq}`): DeliveryRequest {
  return {
    deliveryId: `d-${seq}`,
    idempotencyKey: key,
    partitionKey: null,
    payload,
    attempt: 1,
    event: { specversion: '1.0', id: `e-${seq}`, source: '/test', type: 'test', time: new Date().toISOString(), datacontenttype: 'application/json', data: {} },
  };
}

async function pullAll(src: SourceHandle, object: string, since: string | null, limit = 100): Promise<{ rows: PulledRow[]; watermark: string | null; pages: number }> {
  const rows: PulledRow[] = [];
  let wm = since;
  let pages = 0;
  for (;;) {
    const r = await src.pull({ object, since: wm, limit });
    pages++;
    rows.push(...r.rows);
    wm = r.nextWatermark ?? wm;
    if (!r.more) return { rows, watermark: wm, pages };
  }
}

describe('Tryton driver (real trytond)', () => {
  let tryton: TestTryton;
  let seed: TrytonSeed;
  let dest: DestinationHandle;
  let src: SourceHandle;
  const config = () => ({ url: tryton.url, database: TRYTON_DB, username: TRYTON_USER, timeoutMs: 10_000 });
  const driver = getDriver('tryton')!;

  beforeAll(async () => {
    tryton = await startTryton();
    seed = await seedTryton(tryton.client);
    dest = await driver.openDestination!(driver.configSchema.parse(config()), { password: TRYTON_PASSWORD }, dctx);
    src = await driver.openSource!(driver.configSchema.parse(config()), { password: TRYTON_PASSWORD }, dctx);
  }, 120_000);
  afterAll(async () => {
    await tryton?.destroy();
  });

  it('signs in, and renews a session the server has forgotten, repeating the call once', async () => {
    const c = new TrytonClient({ url: tryton.url, database: TRYTON_DB, username: TRYTON_USER, password: TRYTON_PASSWORD });
    await c.searchRead('party.party', [], 0, 1, null, ['id']);
    expect(c.logins).toBe(1);
    const old = c.sessionKey;
    // end the session on the server behind the client's back
    const r = await fetch(`${tryton.url}/${TRYTON_DB}/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: c.sessionHeader! },
      body: JSON.stringify({ id: 1, method: 'common.db.logout', params: [] }),
    });
    expect(r.ok).toBe(true);
    const parties = await c.searchRead('party.party', [['code', '=', 'SUP-001']], 0, 1, null, ['name']);
    expect(parties[0]?.name).toBe('宝钢特钢有限公司');
    expect(c.logins).toBe(2);
    expect(c.sessionKey).not.toBe(old);
  });

  it('refuses a wrong password as a permanent error and says so in the connection test', async () => {
    const bad = await driver.openDestination!(driver.configSchema.parse(config()), { password: 'wrong' }, dctx);
    const t = await bad.test();
    expect(t.ok).toBe(false);
    expect(t.message).toMatch(/password/);
    const out = await bad.send(delivery({ model: 'production', method: 'button', button: 'wait', ids: [seed.productionIds[0]] }));
    expect(out).toMatchObject({ ok: false, retryable: false });
    const good = await dest.test();
    expect(good.ok).toBe(true);
    expect(good.message).toContain('华东精机零部件有限公司');
  });

  it('pulls materials, suppliers, BOMs with inputs/outputs, work orders and purchase orders with lines', async () => {
    const materials = await pullAll(src, 'material', null);
    expect(materials.rows.map((r) => r.data.code).sort()).toEqual(['BRG-6205', 'RM-45-D60', 'SH-100']);
    expect(materials.rows.find((r) => r.data.code === 'RM-45-D60')!.data).toEqual({ code: 'RM-45-D60', name: '45#圆钢 Φ60', uom: 'kg', type: 'goods' });

    const suppliers = await pullAll(src, 'supplier', null);
    expect(suppliers.rows.map((r) => r.data.code)).toEqual(expect.arrayContaining(['SUP-001', 'SUP-002']));

    const boms = await pullAll(src, 'bom', null);
    expect(boms.rows).toHaveLength(1);
    expect(boms.rows[0]!.data).toEqual({
      code: 'BOM-SH-100',
      name: 'BOM-SH-100',
      output_code: 'SH-100',
      inputs: [
        { material_code: 'RM-45-D60', material_name: '45#圆钢 Φ60', quantity: '2.5', uom: 'kg' },
        { material_code: 'BRG-6205', material_name: '深沟球轴承 6205', quantity: '2', uom: 'u' },
      ],
      outputs: [{ material_code: 'SH-100', material_name: '输出轴 SH-100', quantity: '1', uom: 'u' }],
    });

    const wos = await pullAll(src, 'work_order', null);
    expect(wos.rows).toHaveLength(2);
    expect(wos.rows[0]!.data).toMatchObject({ state: 'draft', product_code: 'SH-100', quantity: '10', uom: 'u', planned_start_date: '2026-12-01', planned_date: '2026-12-03', bom_code: 'BOM-SH-100' });

    const pos = await pullAll(src, 'purchase_order', null);
    expect(pos.rows).toHaveLength(1);
    const po = pos.rows[0]!.data as { state: string; supplier_code: string; total_amount: string; lines: Array<Record<string, unknown>> };
    expect(po).toMatchObject({ state: 'quotation', supplier_code: 'SUP-001', currency: 'CNY', total_amount: '5735.00' });
    expect(po.lines).toEqual([
      { line_no: 1, material_code: 'RM-45-D60', material_name: '45#圆钢 Φ60', quantity: '500', unit: 'kg', unit_price: '6.3500', delivery_date: expect.any(String) },
      { line_no: 2, material_code: 'BRG-6205', material_name: '深沟球轴承 6205', quantity: '200', unit: 'u', unit_price: '12.80', delivery_date: null },
    ]);
  });

  it('pulls incrementally: nothing again, then only the record that changed (also through its template), paging without gaps', async () => {
    const first = await pullAll(src, 'material', null, 1);
    expect(first.rows).toHaveLength(3);
    expect(first.pages).toBeGreaterThanOrEqual(3);
    expect(new Set(first.rows.map((r) => r.key)).size).toBe(3);
    const none = await pullAll(src, 'material', first.watermark);
    expect(none.rows).toHaveLength(0);

    const [tpl] = await tryton.client.searchRead('product.product', [['id', '=', seed.products['BRG-6205']]], 0, 1, null, ['template']);
    await tryton.client.model('product.template', 'write', [[tpl!.template], { name: '深沟球轴承 6205-2RS' }]);
    const changed = await pullAll(src, 'material', none.watermark);
    expect(changed.rows.map((r) => r.data)).toEqual([{ code: 'BRG-6205', name: '深沟球轴承 6205-2RS', uom: 'u', type: 'goods' }]);
    expect((await pullAll(src, 'material', changed.watermark)).rows).toHaveLength(0);

    // a new supplier comes once, a changed one comes once
    const s0 = await pullAll(src, 'supplier', null);
    await tryton.client.model('party.party', 'create', [[{ name: '苏州密封件厂', code: 'SUP-003' }]]);
    await tryton.client.model('party.party', 'write', [[seed.suppliers['SUP-002']], { name: '瓦房店轴承集团有限责任公司' }]);
    const s1 = await pullAll(src, 'supplier', s0.watermark);
    expect(s1.rows.map((r) => r.data.code).sort()).toEqual(['SUP-002', 'SUP-003']);
  });

  it('creates, writes and presses buttons as write-backs', async () => {
    const created = await dest.send(
      delivery({
        model: 'production',
        method: 'create',
        values: {
          product: { $ref: { model: 'product.product', domain: [['code', '=', 'SH-100']] } },
          bom: { $ref: { model: 'production.bom', domain: [['name', '=', 'BOM-SH-100']] } },
          quantity: '7',
          uom: seed.uom.unit,
          planned_start_date: '2026-12-10',
          planned_date: '2026-12-12',
          warehouse: seed.warehouseId,
          location: seed.productionLocationId,
          company: seed.companyId,
          reference: 'ECN-2026-0007',
        },
      }),
    );
    expect(created).toMatchObject({ ok: true, externalRef: expect.stringMatching(/^production,\d+$/) });
    const id = Number((created as { externalRef: string }).externalRef.split(',')[1]);
    const [row] = await tryton.client.model<Array<Record<string, unknown>>>('production', 'read', [[id], ['quantity', 'reference', 'state', 'planned_date']]);
    expect(row).toMatchObject({ quantity: 7, state: 'draft', planned_date: '2026-12-12', reference: expect.stringMatching(/^ECN-2026-0007 \[trellis:key-/) });

    const wrote = await dest.send(delivery({ model: 'production', method: 'write', search: [['id', '=', id]], values: { quantity: '9' } }));
    expect(wrote, JSON.stringify(wrote)).toMatchObject({ ok: true });
    const pressed = await dest.send(delivery({ model: 'production', method: 'button', button: 'wait', ids: [id] }));
    expect(pressed).toMatchObject({ ok: true });
    const [after] = await tryton.client.model<Array<Record<string, unknown>>>('production', 'read', [[id], ['quantity', 'state']]);
    expect(after).toMatchObject({ quantity: 9, state: 'waiting' });

    // a quality note on the work order (ir.note), exact decimal text kept
    const note = await dest.send(
      delivery({ model: 'ir.note', method: 'create', values: { resource: { $ref: { model: 'production', domain: [['id', '=', id]], reference: true } }, message: '首件检验合格，尺寸 Φ59.98' } }),
    );
    expect(note).toMatchObject({ ok: true });
    const notes = await tryton.client.searchRead('ir.note', [['resource', '=', `production,${id}`]], 0, 10, null, ['message']);
    expect(notes).toHaveLength(1);
    expect(notes[0]!.message).toMatch(/^首件检验合格，尺寸 Φ59.98 \[trellis:/);
  });

  it('never creates a document twice for one idempotency key (retry after a lost answer), and lookup finds it', async () => {
    const payload = {
      model: 'production',
      method: 'create',
      values: { product: seed.products['SH-100'], quantity: 3, uom: seed.uom.unit, planned_start_date: '2026-12-20', planned_date: '2026-12-21', warehouse: seed.warehouseId, location: seed.productionLocationId, company: seed.companyId },
    };
    const req = delivery(payload, 'idem-7f3a-0001');
    expect(await dest.lookup!(req)).toEqual({ exists: false });
    const a = await dest.send(req);
    const b = await dest.send({ ...req, attempt: 2 }); // the engine retries: the first answer was lost
    const c = await dest.send({ ...req, attempt: 3 });
    expect(a.ok && b.ok && c.ok).toBe(true);
    expect((b as { externalRef: string }).externalRef).toBe((a as { externalRef: string }).externalRef);
    const count = await tryton.client.model<number>('production', 'search_count', [[['reference', 'like', '%[trellis:idem-7f3a-0001]%']]]);
    expect(count).toBe(1);
    expect(await dest.lookup!(req)).toEqual({ exists: true, externalRef: (a as { externalRef: string }).externalRef });
  });

  it('classifies permanent errors: bad payload, unknown field, Tryton UserError text surfaced', async () => {
    const bad = await dest.send(delivery({ model: 'production', method: 'explode' }));
    expect(bad).toMatchObject({ ok: false, retryable: false, error: expect.stringContaining('create|write|button|call') });
    const unknownField = await dest.send(delivery({ model: 'production', method: 'write', ids: [seed.productionIds[0]], values: { colour: 'red' } }));
    expect(unknownField).toMatchObject({ ok: false, retryable: false, error: expect.stringContaining('no field "colour"') });
    const userError = await dest.send(delivery({ model: 'purchase.purchase', method: 'create', values: { purchase_date: '2026-12-01' } }));
    expect(userError).toMatchObject({ ok: false, retryable: false });
    expect((userError as { error: string }).error).toMatch(/^Tryton refused model\.purchase\.purchase\.create: A value is required for field "Party"/);
    const missing = await dest.send(delivery({ model: 'production', method: 'button', button: 'wait', search: [['number', '=', 'NO-SUCH']] }));
    expect(missing).toMatchObject({ ok: false, retryable: false, error: expect.stringContaining('No production') });
    await expect(src.pull({ object: 'spaceship', since: null, limit: 10 })).rejects.toMatchObject({ retryable: false });
  });

  it('reports retryable errors while Tryton is stopped, then succeeds after it restarts, still without duplicates', async () => {
    const payload = {
      model: 'production',
      method: 'create',
      values: { product: seed.products['SH-100'], quantity: 4, uom: seed.uom.unit, planned_start_date: '2026-12-22', planned_date: '2026-12-23', warehouse: seed.warehouseId, location: seed.productionLocationId, company: seed.companyId },
    };
    const req = delivery(payload, 'idem-restart-0001');
    expect((await dest.send(req)).ok).toBe(true);
    await tryton.stop();
    const down = await dest.send({ ...req, attempt: 2 });
    expect(down).toMatchObject({ ok: false, retryable: true, error: expect.stringContaining('unreachable') });
    const pullErr = await src.pull({ object: 'material', since: null, limit: 10 }).catch((e: unknown) => e);
    expect(pullErr).toBeInstanceOf(TrytonError);
    expect((pullErr as TrytonError).retryable).toBe(true);
    expect((await dest.test()).ok).toBe(false);
    await tryton.start();
    const up = await dest.send({ ...req, attempt: 3 });
    expect(up.ok).toBe(true);
    const other = await dest.send(delivery({ model: 'production', method: 'button', button: 'wait', ids: [seed.productionIds[1]] }));
    expect(other.ok).toBe(true);
    const count = await tryton.client.model<number>('production', 'search_count', [[['reference', 'like', '%[trellis:idem-restart-0001]%']]]);
    expect(count).toBe(1);
    expect((await pullAll(src, 'material', null)).rows).toHaveLength(3);
  });

  it('fills the master-data cache from Tryton with the same pull jobs as the sample ERP', async () => {
    const t = await createTestDatabase();
    try {
      await migrate(t.db, masterDataMigrations);
      const ctx: AppContext = { config: loadConfig({ TRELLIS_LOG_LEVEL: 'silent' }), db: t.db, log: pino({ level: 'silent' }), clock: systemClock };
      setMasterDataSourceOpener(async (c, id) => driver.openSource!(driver.configSchema.parse(config()), { password: TRYTON_PASSWORD }, { ctx: c, connectorId: id, connectorName: 'tryton' }));
      const runOnce = async (object: string) => {
        await t.db.query(
          `insert into md_pull_jobs (id, connector_id, object, cron, timezone, due_at) values (gen_random_uuid(), 'tryton-main', $1, '*/5 * * * *', 'Asia/Shanghai', now()) on conflict (connector_id, object) do nothing`,
          [object],
        );
        const id = (await t.db.query<{ id: string }>(`select id from md_pull_jobs where connector_id = 'tryton-main' and object = $1`, [object])).rows[0]!.id;
        const job = (await claimJob(t.db, id, new Date(), 'w', 60_000))!;
        return runJob(ctx, job, { workerId: 'w', leaseMs: 60_000, trigger: 'manual' });
      };
      expect(await runOnce('bom')).toMatchObject({ status: 'succeeded', inserted: 1 });
      const bom = await getCached(t.db, 'bom', 'BOM-SH-100');
      expect(bom?.lines?.map((l) => [l.direction, l.material_code, l.quantity])).toEqual([
        ['input', 'RM-45-D60', '2.5'],
        ['input', 'BRG-6205', '2'],
        ['output', 'SH-100', '1'],
      ]);
      expect(await runOnce('purchase_order')).toMatchObject({ status: 'succeeded', inserted: 1 });
      expect((await getCached(t.db, 'purchase_order', String(seed.purchaseId)))?.lines?.[0]).toMatchObject({ material_code: 'RM-45-D60', unit_price: '6.3500' });
      const first = await runOnce('material');
      expect(first).toMatchObject({ status: 'succeeded', inserted: 3 });
      const again = await runOnce('material');
      expect(again).toMatchObject({ status: 'succeeded', rows_seen: 0 });
    } finally {
      await t.drop();
    }
  });
});
