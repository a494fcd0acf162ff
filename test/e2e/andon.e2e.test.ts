// The Andon loop (issue 7) end to end, as a plant would run it: the demo plant with the 生产异常闭环
// app from the catalog; an admin wires it, through the public API only, to a real Tryton ERP (its
// two write-back flows and a work-order pull) and to the plant's WeCom and DingTalk group robots
// and mail server (local stand-ins that check keys, signatures and STARTTLS sign-in like the real
// services). An operator reports an exception on a 390×844 phone in Chromium; it goes to the
// supervisor of its process category's routing row; not confirmed in time it escalates; each stage
// is done by its own role (others get 403); closing writes exactly one note on the Tryton
// production order (a re-send adds none) and "preventive action effective" its own; the robots and
// the mailbox got the notifications, and refused nothing.
//
// Why an in-process server (createTrellis + listen) and not the child-process server of helpers.ts:
// escalation is a timeout, and the only honest way to pass 15 minutes in a test is a clock the test
// moves (ManualClock, the same Clock the product takes in createTrellis). A hidden clock switch in
// the product is not acceptable, so the server runs in this process on a real port, serving the
// built web app to Chromium as `trellis start` does (from a snapshot of src/web/dist, so another
// test run rebuilding it cannot pull files away mid-test). Its background workers are not
// started: the test runs the same workers' single steps (TimerWorker.runOnce, relayOnce,
// DeliveryWorker.runOnce) and the demo loader that the catalog engine's start runs, so every step
// is deterministic instead of waiting on poll intervals. PGlite by default, a fresh PostgreSQL
// database when TRELLIS_E2E_DATABASE_URL is set (like every e2e test).
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeliveryWorker, relayOnce } from '../../src/server/integration/index.ts';
import { date } from '../../src/server/integration/drivers/tryton-rpc.ts';
import type { Trellis } from '../../src/server/main.ts';
import type { TimerWorker } from '../../src/server/workflow/index.ts';
import { startMailServer, startRobots, type MailServer, type Robots } from '../helpers/robots.ts';
import { TRYTON_DB, TRYTON_PASSWORD, TRYTON_USER, seedTryton, startTryton, type TestTryton } from '../helpers/tryton.ts';
import type { ManualClock } from '../workflow-helpers.ts';
import { ADMIN_PASSWORD, approvalPeople, DEMO_PASSWORD,  horizontalOverflow, launchBrowser, newContext, PHONE, screenshot, signInUi, unlabelledInputs, startPlantInProcess, type ApiSession, type PlantInProcess } from './helpers.ts';

const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=', 'base64');
const TITLE = '法兰盘内孔超差 Φ52H7';
const REC = '/apps/andon/entities/exception/records';
/** Everyone who could hold an Andon task in this story. */
const PEOPLE = ['li.teamlead', 'ma.teamlead', 'liu.teamlead', 'he.equipment', 'zhao.director', 'chen.plant', 'deng.equipment', 'tang.quality', 'zhou.quality'];

const poll = <T,>(fn: () => T | Promise<T>) => expect.poll(fn, { timeout: 15_000, interval: 150 });

let trellis: Trellis;
let plant: PlantInProcess;
let url = '';
let clock: ManualClock;
let timers: TimerWorker;
let tryton: TestTryton;
let workOrder = ''; // the Tryton production order's number
let productionId = 0;
let robots: Robots;
let mail: MailServer;
let browser: Browser;
let admin: ApiSession;
let recordId = '';
let probes = 0; // robot requests made by the connection tests
let recordName = '';
let instanceId = '';

// the people of the story, each signed in through the API on first use
const people = approvalPeople(() => ({ url }), { admin: ADMIN_PASSWORD, others: DEMO_PASSWORD });
const as = people.as;
const userId = people.userId;
const act = people.act;
/** Who has this exception in their to-do list (asked as each of them, through the inbox API). */
const holders = () => people.holders(PEOPLE, instanceId);
const taskOf = (username: string) => people.taskOf(username, instanceId, 'the exception');

/**
 * Relays the outbox and runs the delivery worker until nothing is waiting: notification fan-out is
 * itself a delivery (a subscriber) whose messages are new outbox events, so this loops.
 */
async function drain(): Promise<void> {
  const db = trellis.ctx.db;
  const worker = new DeliveryWorker(trellis.ctx, { workerId: 'andon-e2e' });
  let open = '';
  for (let i = 0; i < 600; i++) {
    const relayed = await relayOnce(db);
    await worker.runOnce();
    const r = await db.query<{ state: string; n: number }>(
      `select state, count(*)::int as n from integration_deliveries where state in ('pending', 'in_flight') group by state`,
    );
    const o = await db.query<{ n: number }>('select count(*)::int as n from outbox where relayed_at is null');
    if (relayed === 0 && r.rows.length === 0 && o.rows[0]!.n === 0) return;
    open = JSON.stringify({ deliveries: r.rows, outbox: o.rows[0]!.n });
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error(`deliveries did not settle: ${open}`);
}

async function trytonNotes(): Promise<Array<{ id: number; message: string }>> {
  const rows = await tryton.client.searchRead('ir.note', [['resource', '=', `production,${productionId}`]], 0, null, [['id', 'ASC']], ['message']);
  return rows.map((r) => ({ id: r.id as number, message: String(r.message) }));
}

const mentions = (text: string) => text.includes(TITLE) || (recordName !== '' && text.includes(recordName));

beforeAll(async () => {
  // the address people open Trellis at: links in robot messages and mails point there
  const startTrellis = () =>
    startPlantInProcess({ tag: 'andon', env: { TRELLIS_SECRET_KEY: 'andon-e2e-secret-key' }, beforeStart: (address: string) => void (process.env.TRELLIS_PUBLIC_URL = address) });
  const startErp = async () => {
    const t = await startTryton();
    const seed = await seedTryton(t.client);
    // this plant numbers its production orders MO-0001…: set the sequence like an ERP admin would
    const [conf] = await t.client.model<Array<{ production_sequence: number }>>('production.configuration', 'read', [[1], ['production_sequence']]);
    await t.client.model('ir.sequence', 'write', [[conf!.production_sequence], { prefix: 'MO-', padding: 4 }]);
    const [id] = await t.client.model<number[]>('production', 'create', [
      [{ product: seed.products['SH-100'], bom: seed.bomId, quantity: 40, uom: seed.uom.unit, planned_start_date: date('2026-12-07'), planned_date: date('2026-12-09'), warehouse: seed.warehouseId, location: seed.productionLocationId, company: seed.companyId }],
    ]);
    const [row] = await t.client.model<Array<{ number: string }>>('production', 'read', [[id], ['number']]);
    return { t, id: id!, number: row!.number };
  };
  const [p, erp, r, m, b] = await Promise.all([startTrellis(), startErp(), startRobots(), startMailServer(), launchBrowser()]);
  plant = p;
  ({ trellis, url, clock, timers } = p);
  tryton = erp.t;
  productionId = erp.id;
  workOrder = erp.number;
  robots = r;
  mail = m;
  browser = b;
  admin = await as('admin');
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await plant?.close();
  await tryton?.destroy();
  await robots?.close();
  await mail?.close();
  delete process.env.TRELLIS_PUBLIC_URL;
});

describe('Andon: the whole production exception loop (phone, routing, escalation, stages, Tryton, robots, mail)', () => {
  it('the demo plant runs the Andon app; what the demo left queued is sent before the admin rewires it', async () => {
    expect(trellis.ctx.db.kind).toBe(process.env.TRELLIS_E2E_DATABASE_URL ? 'postgres' : 'pglite');
    const app = await admin.call<{ name: string }>('GET', '/apps/andon');
    expect(app.status).toBe(200);
    const routing = await admin.call<{ items: Array<{ values: { category: string } }> }>('GET', '/apps/andon/entities/routing/records?limit=50');
    expect(routing.body.items.map((x) => x.values.category)).toEqual(expect.arrayContaining(['车削', '铣削', '装配']));
    // four weeks of demo exceptions went through the real services; their deliveries (to the
    // sample ERP) and due timers are worked off first, so what follows is this story's alone
    await timers.runOnce();
    await drain();
  });

  it('an admin points the Andon ERP flows at Tryton and pulls its production orders, through the API', async () => {
    const c = await admin.call<{ id: string }>('POST', '/integration/connectors', {
      name: 'tryton',
      kind: 'tryton',
      description: 'Tryton ERP（生产）',
      config: { url: tryton.url, database: TRYTON_DB, username: TRYTON_USER, timeoutMs: 10_000 },
      secrets: { password: TRYTON_PASSWORD },
    });
    expect(c.status, JSON.stringify(c.body)).toBe(201);
    const test = await admin.call<{ ok: boolean }>('POST', '/integration/connectors/tryton/test', {});
    expect(test.body, JSON.stringify(test.body)).toMatchObject({ ok: true });
    for (const flow of ['andon-closed-to-erp', 'andon-effective-to-erp']) {
      const p = await admin.call<{ connectorId: string }>('PATCH', `/integration/flows/${flow}`, { connector: 'tryton' });
      expect(p.status, JSON.stringify(p.body)).toBe(200);
      expect(p.body.connectorId).toBe(c.body.id);
    }
    // the erp_link picker reads the master-data cache: pull Tryton's production orders into it
    const job = await admin.call<{ id: string }>('POST', '/masterdata/jobs', { connectorId: c.body.id, object: 'work_order', cron: '*/15 * * * *' });
    expect(job.status, JSON.stringify(job.body)).toBe(201);
    const run = await admin.call<{ status: string }>('POST', `/masterdata/jobs/${job.body.id}/run`, {});
    expect(run.status, JSON.stringify(run.body)).toBe(200);
    expect(run.body.status, JSON.stringify(run.body)).toBe('succeeded');
    const cached = await admin.call<{ items: Array<{ code: string }> }>('GET', `/masterdata/work_order?q=${encodeURIComponent(workOrder)}`);
    expect(cached.body.items.map((x) => x.code)).toContain(workOrder);
  });

  it("an admin sends the Andon notifications to the line's WeCom robot, the managers' DingTalk robot and by email", async () => {
    const connectors: Array<[string, string, Record<string, unknown>, Record<string, unknown>]> = [
      ['wecom-line1', 'wecom', { baseUrl: robots.url, timeoutMs: 5000 }, { key: robots.wecom.key }],
      ['ding-managers', 'dingtalk', { baseUrl: robots.url, timeoutMs: 5000 }, robots.dingtalk],
      ['plant-mail', 'smtp', { host: '127.0.0.1', port: mail.port, security: 'starttls', from: 'trellis@hdjj.example.com', fromName: 'Trellis', rejectUnauthorized: false, timeoutMs: 5000 }, { user: mail.user, password: mail.password }],
    ];
    for (const [name, kind, config, secrets] of connectors) {
      const r = await admin.call('POST', '/integration/connectors', { name, kind, config, secrets });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      // the connection test reaches the robot with an empty message (refused as empty, which
      // proves key and signature without posting anything) and signs in to the mail server
      const test = await admin.call<{ ok: boolean }>('POST', `/integration/connectors/${name}/test`, {});
      expect(test.body, `${name}: ${JSON.stringify(test.body)}`).toMatchObject({ ok: true });
    }
    probes = robots.requests.length;
    expect(probes).toBe(2);
    // the catalog's workflow notifies through the workflow's kinds (task, reminder, escalation,
    // outcome, cc); the channels pick the Andon app's ones (default robot rate limits kept)
    const channels = [
      { name: 'andon-line1', connector: 'wecom-line1', kinds: ['task', 'escalation'], app: 'andon' },
      { name: 'andon-escalations', connector: 'ding-managers', kinds: ['escalation'], app: 'andon' },
      { name: 'andon-mail', connector: 'plant-mail', audience: 'recipients', kinds: ['*'], app: 'andon' },
    ];
    for (const ch of channels) {
      const r = await admin.call('POST', '/notify/channels', ch);
      expect(r.status, JSON.stringify(r.body)).toBe(201);
    }
    expect(robots.messages).toHaveLength(0);
    expect(mail.mails).toHaveLength(0);
  });

  it('an operator reports the exception on a 390×844 phone: line, process category, Tryton work order, equipment, severity, photo', async () => {
    const context: BrowserContext = await newContext(browser, { url }, PHONE);
    try {
      const page: Page = await context.newPage();
      await signInUi(page, 'wang.operator', DEMO_PASSWORD);
      await page.goto('/a/andon/exception/new');
      await page.getByLabel('异常现象', { exact: true }).waitFor();
      expect(await unlabelledInputs(page)).toEqual([]);
      // what later stages fill is not on the reporter's form: the report step hides it
      expect(await page.getByLabel('根本原因', { exact: true }).count()).toBe(0);
      expect(await page.getByLabel('临时对策', { exact: true }).count()).toBe(0);
      expect(await page.getByLabel('异常现象', { exact: true }).isEditable()).toBe(true);

      await page.getByLabel('异常现象', { exact: true }).fill(TITLE);
      await pick(page, '产线', '数控车削线');
      await page.getByLabel('工序类别', { exact: true }).click();
      await page.getByLabel('工序类别', { exact: true }).fill('车削');
      await pickVisible(page, '车削');
      await page.getByLabel('生产工单', { exact: true }).fill(workOrder.slice(0, 4));
      await pickVisible(page, workOrder);
      await page.getByLabel('设备', { exact: true }).fill('EQ-CL-007');
      await pick(page, '严重度', '紧急');
      await page.getByLabel('是否停线', { exact: true }).click();
      await page.getByLabel('问题描述', { exact: true }).fill('法兰盘内孔 Φ52H7 实测 Φ52.035，超上差；本批已加工 8 件');
      await page.getByLabel('现场照片: 拍照/选择图片').setInputFiles({ name: 'bore.png', mimeType: 'image/png', buffer: PNG });
      await page.locator('img.file-thumb').waitFor();
      expect((await horizontalOverflow(page)).scrollWidth).toBeLessThanOrEqual(390);
      await screenshot(page, 'andon-report-phone-full');
      await page.evaluate(() => window.scrollTo(0, 0));
      await screenshot(page, 'andon-report-phone', { fullPage: false });

      await page.getByTestId('record-submit').click();
      await page.waitForURL(/\/a\/andon\/exception\/[0-9a-f-]{36}$/);
      await page.getByText('已提交审批').first().waitFor();
      recordId = new URL(page.url()).pathname.split('/').pop()!;
      await poll(() => page.getByTestId('record-title').textContent()).toMatch(/^AD-\d{6}-\d{4}$/);
      recordName = (await page.getByTestId('record-title').textContent())!;
      await screenshot(page, 'andon-reported-phone', { fullPage: false });
    } finally {
      await context.close();
    }

    const rec = await admin.call<{ values: Record<string, unknown> }>('GET', `${REC}/${recordId}`);
    expect(rec.body.values).toMatchObject({ title: TITLE, line: 'L1', work_order: workOrder, equipment: 'EQ-CL-007', severity: 'urgent', line_stopped: true, response_minutes: 15 });
    expect(rec.body.values.photos).toHaveLength(1);
    const inst = await admin.call<{ items: Array<{ id: string; status: string }> }>('GET', `/workflow/instances?app=andon&entity=exception&recordId=${recordId}`);
    expect(inst.body.items).toHaveLength(1);
    expect(inst.body.items[0]!.status).toBe('running');
    instanceId = inst.body.items[0]!.id;
  });

  it("routes to the supervisor named in the routing row of its process category (车削 → li.teamlead)", async () => {
    expect(instanceId).not.toBe('');
    const routing = await admin.call<{ items: Array<{ values: { category: string; supervisor: string } }> }>('GET', `/apps/andon/entities/routing/records?q=${encodeURIComponent('车削')}`);
    const row = routing.body.items.find((x) => x.values.category === '车削')!;
    expect(row.values.supervisor).toBe(await userId('li.teamlead'));
    expect(await holders()).toEqual(['li.teamlead']);
    const task = await taskOf('li.teamlead');
    expect(task.nodeId).toBe('team');
    // the line's WeCom group hears of it at once, with a link to the supervisor's task
    await drain();
    expect(robots.of('wecom').filter((m) => m.text.includes(`${url}/tasks/${task.id}`)).map((m) => m.title)).toEqual([`【待办】生产异常 ${recordName} · ${TITLE}`]);
  });

  it('not confirmed within the urgent SLA (15 min) it escalates to the workshop director; the old holder and others cannot act', async () => {
    const first = await taskOf('li.teamlead');
    clock.advanceMinutes(14);
    await timers.runOnce();
    expect(await holders()).toEqual(['li.teamlead']);
    clock.advanceMinutes(1);
    await timers.runOnce();
    expect(await holders()).toEqual(['zhao.director']);
    expect(await act('li.teamlead', first.id, { action: 'approve' })).toBe(409);
    const team = await taskOf('zhao.director');
    expect(team.nodeId).toBe('team');
    expect(await act('wang.operator', team.id, { action: 'approve' })).toBe(403);
    expect(await act('ma.teamlead', team.id, { action: 'approve' })).toBe(403);
    // the managers' DingTalk group gets the escalation (signed), and its link opens the task on a phone
    await drain();
    const escalation = robots.of('dingtalk').find((m) => m.text.includes(`${url}/tasks/${team.id}`));
    expect(escalation?.title).toBe(`【超时升级】生产异常 ${recordName} · ${TITLE}`);
    const link = /\((http[^)\s]+)\)|(http\S+)/.exec(escalation!.text);
    const context = await newContext(browser, { url }, PHONE);
    try {
      const page = await context.newPage();
      await signInUi(page, 'zhao.director', DEMO_PASSWORD);
      await page.goto(link![1] ?? link![2]!);
      await page.getByText(TITLE).first().waitFor();
      await page.getByTestId('task-approve').waitFor();
      // the routing link reads as its row ("车削"), the work order as Tryton's number
      await poll(() => page.getByTestId('task-field-process_category').locator('.ant-form-item-control').textContent()).toBe('车削');
      expect(await page.getByTestId('task-field-work_order').locator('.ant-form-item-control').textContent()).toBe(workOrder);
      await screenshot(page, 'andon-escalated-task-phone', { fullPage: false });
    } finally {
      await context.close();
    }
  });

  it('each stage is completed by its own role; the wrong role gets 403', async () => {
    const depts = await admin.call<{ items: Array<{ id: string; code: string; children: unknown[] }> }>('GET', '/org/departments');
    const find = (nodes: Array<{ id: string; code: string; children: unknown[] }>, code: string): string | null => {
      for (const n of nodes) {
        if (n.code === code) return n.id;
        const c = find(n.children as typeof nodes, code);
        if (c) return c;
      }
      return null;
    };
    const machiningT1 = find(depts.body.items, 'machining_t1');
    expect(machiningT1).toBeTruthy();

    // 责任班组确认 — by the director now holding it (escalated)
    const team = await taskOf('zhao.director');
    expect(await act('zhao.director', team.id, { action: 'approve', changes: { responsible_team: machiningT1, action_owner: await userId('deng.equipment') } })).toBe(200);
    // 临时对策 — the action owner chosen above
    expect(await holders()).toEqual(['deng.equipment']);
    const contain = await taskOf('deng.equipment');
    expect(contain.nodeId).toBe('contain');
    expect(await act('tang.quality', contain.id, { action: 'approve' })).toBe(403);
    clock.advanceMinutes(30);
    expect(await act('deng.equipment', contain.id, { action: 'approve', changes: { temporary_action: '全检本批并隔离 8 件；换新刀片', downtime_minutes: 35 } })).toBe(200);
    // 根本原因分析 — any quality engineer
    expect(await holders()).toEqual(['tang.quality', 'zhou.quality']);
    const cause = await taskOf('tang.quality');
    expect(cause.nodeId).toBe('cause');
    expect(await act('deng.equipment', cause.id, { action: 'approve' })).toBe(403);
    expect(await act('tang.quality', cause.id, { action: 'approve', changes: { root_cause_category: 'measurement', root_cause: '内径千分尺零点漂移，未按班校准' } })).toBe(200);
    // 预防措施 — the workshop director (head above the reporter's team)
    expect(await holders()).toEqual(['zhao.director']);
    const prevent = await taskOf('zhao.director');
    expect(prevent.nodeId).toBe('prevent');
    expect(await act('tang.quality', prevent.id, { action: 'approve' })).toBe(403);
    expect(await act('zhao.director', prevent.id, { action: 'approve', changes: { preventive_action: '量具每班校准并记录；内孔尺寸纳入 SPC', preventive_due: '2026-12-20' } })).toBe(200);
    // nothing is closed yet: no note on the production order
    await drain();
    expect(await trytonNotes()).toEqual([]);
    // 效果验证 — a quality engineer; effective → closed
    const verify = await taskOf('zhou.quality');
    expect(verify.nodeId).toBe('verify');
    expect(await act('zhao.director', verify.id, { action: 'approve' })).toBe(403);
    expect(await act('zhou.quality', verify.id, { action: 'approve', changes: { preventive_effective: true, verification_note: '连续两周抽检合格' } })).toBe(200);
    expect(await holders()).toEqual([]);

    const rec = await (await as('wang.operator')).call<{ status: string; values: Record<string, unknown> }>('GET', `${REC}/${recordId}`);
    expect(rec.body.status).toBe('submitted');
    expect(rec.body.values.closed_at).toBeTruthy();
    expect(rec.body.values.root_cause).toBe('内径千分尺零点漂移，未按班校准');
  });

  it("closing reaches Tryton's production order exactly once, and 'preventive action effective' once more", async () => {
    await drain();
    const closing = await admin.call<{ items: Array<{ id: string; state: string; idempotencyKey: string }> }>('GET', '/integration/deliveries?flow=andon-closed-to-erp&connector=tryton');
    expect(closing.body.items).toHaveLength(1);
    expect(closing.body.items[0]!.state).toBe('succeeded');
    const effective = await admin.call<{ items: Array<{ state: string; idempotencyKey: string }> }>('GET', '/integration/deliveries?flow=andon-effective-to-erp&connector=tryton');
    expect(effective.body.items).toHaveLength(1);
    expect(effective.body.items[0]!.state).toBe('succeeded');

    const notes = await trytonNotes();
    expect(notes).toHaveLength(2);
    const closeNote = notes.find((n) => n.message.includes('生产异常已关闭'))!;
    expect(closeNote.message).toContain(recordName);
    expect(closeNote.message).toContain('内径千分尺零点漂移');
    expect(closeNote.message).toContain(`[trellis:${closing.body.items[0]!.idempotencyKey}]`);
    const effNote = notes.find((n) => n.message.includes('预防措施有效'))!;
    expect(effNote.message).toContain('连续两周抽检合格');
    expect(effNote.message).toContain(`[trellis:${effective.body.items[0]!.idempotencyKey}]`);

    // the workers again: nothing new is relayed or sent
    await drain();
    expect(await trytonNotes()).toEqual(notes);
    // a succeeded delivery cannot be re-sent by hand (that would write the document twice) …
    const closingId = closing.body.items[0]!.id;
    const refused = await admin.call<{ detail: string }>('POST', `/integration/deliveries/${closingId}/retry`, {});
    expect(refused.status).toBe(409);
    // … and when the answer was lost (fault: the note was written in Tryton but the delivery ended
    // up dead, e.g. a timeout after Tryton committed), the admin's retry sends it again under the
    // same idempotency key: the driver finds its note on the production order and adds none
    await trellis.ctx.db.query(`update integration_deliveries set state = 'dead', last_error = 'timeout (simulated)', dead_at = now() where id = $1`, [closingId]);
    const retry = await admin.call<{ state: string }>('POST', `/integration/deliveries/${closingId}/retry`, {});
    expect(retry.status, JSON.stringify(retry.body)).toBe(200);
    await drain();
    const again = await admin.call<{ items: Array<{ state: string; attempts: number }> }>('GET', '/integration/deliveries?flow=andon-closed-to-erp&connector=tryton');
    expect(again.body.items).toHaveLength(1);
    expect(again.body.items[0]!.state).toBe('succeeded');
    expect(again.body.items[0]!.attempts).toBe(2);
    expect(await trytonNotes()).toEqual(notes);
  });

  it('the WeCom and DingTalk robots and the mail server got the notifications, signed and accepted, and refused nothing', async () => {
    await drain();
    const wecom = robots.of('wecom').filter((m) => mentions(m.text));
    const ding = robots.of('dingtalk').filter((m) => mentions(m.title) || mentions(m.text));
    const mails = mail.mails.filter((m) => mentions(m.subject) || mentions(m.text));
    const n = recordName;
    // the line's WeCom group: every new task of the exception and the escalation (one message each)
    expect(wecom.map((m) => m.title).sort()).toEqual([...Array<string>(8).fill(`【待办】生产异常 ${n} · ${TITLE}`), `【超时升级】生产异常 ${n} · ${TITLE}`].sort());
    // the managers' DingTalk group: the escalation only
    expect(ding.map((m) => m.title)).toEqual([`【超时升级】生产异常 ${n} · ${TITLE}`]);
    // by email, each person what concerns them: tasks, the reminder at 10 minutes, the
    // escalation, the outcome to the reporter and the CC to the workshop director
    const mailbox = (u: string) => `${u}@hdjj.example.com`;
    expect(mails.map((m) => `${m.to.join(',')} ${m.subject}`).sort()).toEqual(
      [
        [mailbox('li.teamlead'), `【待办】生产异常 ${n} · ${TITLE}`],
        [mailbox('li.teamlead'), `【催办】生产异常 ${n} · ${TITLE}`],
        [mailbox('zhao.director'), `【超时升级】生产异常 ${n} · ${TITLE}`],
        [mailbox('zhao.director'), `【待办】生产异常 ${n} · ${TITLE}`],
        [mailbox('deng.equipment'), `【待办】生产异常 ${n} · ${TITLE}`],
        [mailbox('tang.quality'), `【待办】生产异常 ${n} · ${TITLE}`],
        [mailbox('zhou.quality'), `【待办】生产异常 ${n} · ${TITLE}`],
        [mailbox('zhao.director'), `【待办】生产异常 ${n} · ${TITLE}`],
        [mailbox('tang.quality'), `【待办】生产异常 ${n} · ${TITLE}`],
        [mailbox('zhou.quality'), `【待办】生产异常 ${n} · ${TITLE}`],
        [mailbox('wang.operator'), `【审批结果】生产异常 ${n} · ${TITLE}：已通过`],
        [mailbox('zhao.director'), `【抄送】生产异常 ${n} · ${TITLE}`],
      ]
        .map(([to, subject]) => `${to} ${subject}`)
        .sort(),
    );
    // every request to the robots was keyed and signed correctly (the receivers answer errcode 0
    // only then), and the mail server was signed in to over STARTTLS (it refuses mail otherwise)
    expect(robots.requests.slice(probes).filter((r) => r.status !== 200 || (r.answer as { errcode?: number }).errcode !== 0)).toEqual([]);
    expect(mail.authFailures).toBe(0);
    const dead = await admin.call<{ items: unknown[] }>('GET', '/integration/deliveries?state=dead');
    expect(dead.body.items).toEqual([]);
  });
});

async function pick(page: Page, fieldLabel: string, option: string): Promise<void> {
  await page.getByLabel(fieldLabel, { exact: true }).click();
  await pickVisible(page, option);
}

/** Clicks the option of the open drop-down whose text starts with `option`, and waits for it to close. */
async function pickVisible(page: Page, option: string): Promise<void> {
  const escaped = option.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  await page.locator('.ant-select-dropdown:visible .ant-select-item-option', { hasText: new RegExp(`^${escaped}`) }).first().click();
  await poll(() => page.locator('.ant-select-dropdown:visible').count()).toBe(0);
}
