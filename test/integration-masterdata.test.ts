// The master-data cache: scheduled pulls from the sample ERP into md_* tables with change
// detection, deletions, windows, leases, the run log, and the routes erp_link fields use.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { migrate } from '../src/server/db/index.ts';
import { loadConfig } from '../src/server/config.ts';
import { engines } from '../src/server/engines.ts';
import { buildApp, type Api } from '../src/server/http/app.ts';
import { getDriver } from '../src/server/integration/drivers/index.ts';
import {
  claimJob,
  nextDue,
  runDueJobs,
  type PullJob,
} from '../src/server/integration/masterdata/index.ts';
import { claimDueJobs } from '../src/server/integration/masterdata/jobs.ts';
import { DEMO_PASSWORD } from '../src/server/platform/org/index.ts';
import type { AppContext, Clock } from '../src/server/platform/context.ts';
import { createTestDatabase, testTarget, type TestDatabase } from './helpers/db.ts';
import { loginAs, TEST_ADMIN_PASSWORD, type TestSession } from './helpers/trellis.ts';

describe(`master-data cache (${testTarget})`, () => {
  let t: TestDatabase;
  let ctx: AppContext;
  let app: Api;
  let admin: TestSession;
  let now = new Date('2026-03-02T01:00:00Z'); // 09:00 in Shanghai
  const clock: Clock = { now: () => now };

  beforeAll(async () => {
    t = await createTestDatabase();
    const config = loadConfig({ TRELLIS_ADMIN_PASSWORD: TEST_ADMIN_PASSWORD, TRELLIS_LOG_LEVEL: 'silent', TRELLIS_DATA_DIR: '/nonexistent-test-data-dir', TRELLIS_TIMEZONE: 'Asia/Shanghai' });
    ctx = { config, db: t.db, log: pino({ level: 'silent' }), clock };
    await migrate(t.db, engines.flatMap((e) => e.migrations ?? []));
    for (const e of engines) await e.bootstrap?.(ctx, { seedDemo: true, announce: () => {} });
    app = await buildApp(ctx, { routes: engines.flatMap((e) => (e.routes ? [e.routes] : [])), readiness: async () => null });
    admin = await loginAs({ app });
  }, 120_000);
  afterAll(async () => {
    await app?.close();
    await t?.drop();
  });

  const jobs = async () => (await t.db.query<PullJob>(`select * from md_pull_jobs order by object`)).rows;
  const jobFor = async (object: string) => (await jobs()).find((j) => j.object === object)!;

  it('with the demo plant, schedules sample-ERP pulls that fill the cache on first start', async () => {
    expect((await jobs()).map((j) => `${j.connector_id}/${j.object}/${j.mode}`)).toEqual([
      'sample-erp/bom/full',
      'sample-erp/equipment/full',
      'sample-erp/material/incremental',
      'sample-erp/purchase_order/incremental',
      'sample-erp/supplier/incremental',
      'sample-erp/work_order/incremental',
    ]);
    const runs = await runDueJobs(ctx, 'w1');
    expect(runs.map((r) => [r.object, r.status, r.rows_seen, r.inserted, r.updated, r.unchanged]).sort()).toEqual([
      ['bom', 'succeeded', 18, 18, 0, 0],
      ['equipment', 'succeeded', 237, 237, 0, 0],
      ['material', 'succeeded', 60, 60, 0, 0],
      ['purchase_order', 'succeeded', 30, 30, 0, 0],
      ['supplier', 'succeeded', 12, 12, 0, 0],
      ['work_order', 'succeeded', 40, 40, 0, 0],
    ]);
    const c = await t.db.query<{ n: number; lines: number; bl: number }>(
      `select (select count(*)::int from md_equipment) as n, (select count(*)::int from md_purchase_order_lines) as lines, (select count(*)::int from md_bom_lines) as bl`,
    );
    expect(c.rows[0]!.n).toBe(237);
    expect(c.rows[0]!.lines).toBeGreaterThanOrEqual(30);
    expect(c.rows[0]!.bl).toBeGreaterThan(40);
    // nothing is due again right away; the nightly jobs wait for their window (02:00 Shanghai = 18:00Z)
    expect(await runDueJobs(ctx, 'w1')).toHaveLength(0);
    expect(new Date((await jobFor('equipment')).due_at).toISOString()).toBe('2026-03-02T18:30:00.000Z');
    expect(new Date((await jobFor('bom')).due_at).toISOString()).toBe('2026-03-02T18:00:00.000Z');
  });

  it('detects changes: only the changed work order is updated, a full pull counts unchanged rows and marks deletions', async () => {
    const dest = await getDriver('sample_erp')!.openDestination!({}, undefined, { ctx, connectorId: 'sample-erp', connectorName: 's' });
    const wrote = await dest.send({
      deliveryId: 'd1',
      idempotencyKey: 'k1',
      partitionKey: null,
      attempt: 1,
      event: { specversion: '1.0', id: 'e1', source: '/t', type: 't', time: now.toISOString(), datacontenttype: 'application/json', data: {} },
      payload: { model: 'production', method: 'button', button: 'run', search: [['number', '=', 'WO-2026-0002']] },
    });
    expect(wrote.ok).toBe(true);
    const wo = await jobFor('work_order');
    const r = await admin.inject({ method: 'POST', url: `/api/v1/masterdata/jobs/${wo.id}/run` });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toMatchObject({ status: 'succeeded', trigger: 'manual', rowsSeen: 1, inserted: 0, updated: 1, unchanged: 0 });
    const cached = await admin.inject(`/api/v1/masterdata/work_order/WO-2026-0002`);
    expect(cached.json()).toMatchObject({ code: 'WO-2026-0002', data: { state: 'running' }, deleted: false });

    // full pull of equipment: one machine scrapped in the ERP, one re-rated
    await t.db.query(`delete from erp_sample_equipment where code = 'EQ-BL-003'`);
    await t.db.query(`update erp_sample_equipment set data = data || '{"runtime_hours": "99999.9"}', change_seq = nextval('erp_sample_change_seq') where code = 'EQ-AC-001'`);
    const eq = await jobFor('equipment');
    const full = (await admin.inject({ method: 'POST', url: `/api/v1/masterdata/jobs/${eq.id}/run` })).json();
    expect(full).toMatchObject({ status: 'succeeded', rowsSeen: 236, inserted: 0, updated: 1, unchanged: 235, deleted: 1 });
    expect((await admin.inject(`/api/v1/masterdata/equipment/EQ-BL-003`)).json()).toMatchObject({ deleted: true });
    expect((await admin.inject(`/api/v1/masterdata/equipment?q=EQ-BL`)).json().items.map((x: { code: string }) => x.code)).toEqual(['EQ-BL-001', 'EQ-BL-002']);
    const ac = (await admin.inject(`/api/v1/masterdata/equipment/EQ-AC-001`)).json();
    expect(ac.data.runtime_hours).toBe('99999.9');
    const hist = (await admin.inject(`/api/v1/masterdata/runs?jobId=${eq.id}`)).json();
    expect(hist.items.map((x: { trigger: string }) => x.trigger)).toEqual(['manual', 'schedule']);
  });

  it('serves pick lists with search and keyset paging, and resolves erp_link values with their lines', async () => {
    const who = await loginAs({ app }, 'wang.operator', DEMO_PASSWORD); // any signed-in person may read the cache
    const p1 = (await who.inject(`/api/v1/masterdata/material?q=轴承&limit=5`)).json();
    expect(p1.items).toHaveLength(5);
    expect(p1.items.every((x: { name: string }) => x.name.includes('轴承'))).toBe(true);
    const p2 = (await who.inject(`/api/v1/masterdata/material?q=轴承&limit=5&cursor=${encodeURIComponent(p1.nextCursor)}`)).json();
    expect(p2.items.length).toBe(4); // 8 bearings and the bearing-seat casting
    expect(p2.nextCursor).toBeNull();
    expect(new Set([...p1.items, ...p2.items].map((x: { code: string }) => x.code)).size).toBe(9);

    const bom = (await who.inject(`/api/v1/masterdata/bom/BOM-GRD-ZQ250-40`)).json();
    expect(bom.lines.filter((l: { direction: string }) => l.direction === 'input').map((l: { material_code: string }) => l.material_code)).toContain('AS-GEARSET-ZQ250');
    const oil = bom.lines.find((l: { material_code: string }) => l.material_code === 'OIL-L-CKC220');
    expect(oil.quantity).toBe('6.5'); // numeric stays an exact string
    const po = (await who.inject(`/api/v1/masterdata/purchase_order/PO-2026-0001`)).json();
    expect(po.lines.length).toBeGreaterThan(0);
    expect(po.lines[0]).toMatchObject({ line_no: 1, material_code: expect.any(String), unit_price: expect.stringMatching(/^\d+\.\d+$/) });
    // by the source system's key as well
    const first = p1.items[0] as { code: string; sourceKey: string };
    expect((await who.inject(`/api/v1/masterdata/material/${first.sourceKey}`)).json()).toMatchObject({ code: first.code, sourceKey: first.sourceKey });

    const missing = await who.inject(`/api/v1/masterdata/material/NO-SUCH-CODE`);
    expect(missing.statusCode).toBe(404);
    expect(missing.json().detail).toContain('NO-SUCH-CODE');
    const badKind = await who.inject(`/api/v1/masterdata/spaceship`);
    expect(badKind.statusCode).toBe(400);
    expect((await app.inject(`/api/v1/masterdata/material`)).statusCode).toBe(401);
  });

  it('validates and audits pull schedules; only IT admins change them', async () => {
    const bad = await admin.inject({ method: 'POST', url: '/api/v1/masterdata/jobs', payload: { connectorId: 'erp', object: 'material', cron: 'every day at two' } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().detail).toMatch(/cron/);
    const never = await admin.inject({ method: 'POST', url: '/api/v1/masterdata/jobs', payload: { connectorId: 'erp', object: 'material', cron: '0 12 * * *', window: { start: '02:00', end: '04:00' } } });
    expect(never.statusCode).toBe(400);
    expect(never.json().detail).toContain('never fires inside the window');
    const ok = await admin.inject({
      method: 'POST',
      url: '/api/v1/masterdata/jobs',
      payload: { connectorId: 'tryton-main', object: 'work_order', cron: '*/15 * * * *', window: { start: '22:00', end: '02:00' }, mode: 'incremental' },
    });
    expect(ok.statusCode).toBe(201);
    // 09:00 Shanghai → next slot inside 22:00–02:00 is 22:00 Shanghai = 14:00Z
    expect(ok.json()).toMatchObject({ connectorId: 'tryton-main', timezone: 'Asia/Shanghai', dueAt: '2026-03-02T14:00:00.000Z', window: { start: '22:00', end: '02:00' } });
    const dup = await admin.inject({ method: 'POST', url: '/api/v1/masterdata/jobs', payload: { connectorId: 'tryton-main', object: 'work_order', cron: '*/15 * * * *' } });
    expect(dup.statusCode).toBe(409);
    const patched = await admin.inject({ method: 'PATCH', url: `/api/v1/masterdata/jobs/${ok.json().id}`, payload: { window: null, cron: '0 * * * *' } });
    expect(patched.json()).toMatchObject({ window: null, dueAt: '2026-03-02T02:00:00.000Z' });
    const audit = await t.db.query<{ action: string }>(`select action from audit_log where action like 'masterdata.%' order by seq`);
    expect(audit.rows.map((r) => r.action)).toEqual(['masterdata.job.run', 'masterdata.job.run', 'masterdata.job.create', 'masterdata.job.update']);

    const operator = await loginAs({ app }, 'wang.operator', DEMO_PASSWORD);
    const denied = await operator.inject({ method: 'POST', url: `/api/v1/masterdata/jobs/${ok.json().id}/run` });
    expect(denied.statusCode).toBe(403);

    // the new job's connector is not configured: the run fails permanently with a message, and is logged
    now = new Date('2026-03-02T02:00:00Z');
    const runs = await runDueJobs(ctx, 'w2');
    const failed = runs.find((r) => r.connector_id === 'tryton-main')!;
    expect(failed).toMatchObject({ status: 'failed', retryable: false });
    expect(failed.error).toContain('tryton-main');
    const job = (await jobs()).find((j) => j.connector_id === 'tryton-main')!;
    expect(job).toMatchObject({ last_status: 'failed', lease_until: null });
    expect(new Date(job.due_at).toISOString()).toBe('2026-03-02T03:00:00.000Z');
  });

  it('hands a due job to one worker only and refuses a manual run while it is leased', async () => {
    await t.db.query(`update md_pull_jobs set due_at = $1 where connector_id = 'sample-erp'`, [now]);
    const [a, b] = await Promise.all([claimDueJobs(t.db, now, 'wa', 60_000, 3), claimDueJobs(t.db, now, 'wb', 60_000, 3)]);
    const ids = [...a, ...b].map((j) => j.id);
    expect(new Set(ids).size).toBe(ids.length);
    const leased = a[0] ?? b[0]!;
    expect(await claimJob(t.db, leased.id, now, 'wc', 60_000)).toBeNull();
    const r = await admin.inject({ method: 'POST', url: `/api/v1/masterdata/jobs/${leased.id}/run` });
    expect(r.statusCode).toBe(409);
    // the lease runs out (the worker died): another worker takes the job and finishes it
    now = new Date(now.getTime() + 61_000);
    const runs = await runDueJobs(ctx, 'wd');
    expect(runs.find((x) => x.job_id === leased.id)).toMatchObject({ status: 'succeeded' });
  });

  it('computes windows in plant time, also across midnight', () => {
    const s = { cron: '*/15 * * * *', timezone: 'Asia/Shanghai', window_start: '02:00', window_end: '04:00' };
    expect(nextDue(s, new Date('2026-03-02T02:00:00Z'))!.toISOString()).toBe('2026-03-02T18:00:00.000Z');
    expect(nextDue(s, new Date('2026-03-02T18:50:00Z'))!.toISOString()).toBe('2026-03-02T19:00:00.000Z');
    expect(nextDue(s, new Date('2026-03-02T19:50:00Z'))!.toISOString()).toBe('2026-03-03T18:00:00.000Z');
  });
});
