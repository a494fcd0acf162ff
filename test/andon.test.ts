// The Andon app (catalog/production-exception) end to end through the public HTTP API, on the demo
// plant: the routing table is edited as ordinary records; an operator reports an exception; it goes
// to the supervisor of its process category; an urgent one escalates after 15 minutes (its SLA
// comes from the severity) team lead → workshop director → plant manager; each stage is done by
// its own role with its field rights (wrong person 403, read-only field 422, hidden fields not
// shown); closing writes exactly one note, with the delivery's idempotency key, onto the sample
// ERP's work order, and "preventive action effective" a second one.
// Each stage stamps its time on the document, and the Andon board averages them per stage.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeliveryWorker, relayOnce } from '../src/server/integration/index.ts';
import { DEMO_PASSWORD } from '../src/server/platform/org/index.ts';
import { TimerWorker } from '../src/server/workflow/index.ts';
import { createTestTrellis, loginAs, type TestSession, type TestTrellis } from './helpers/trellis.ts';
import { ManualClock } from './workflow-helpers.ts';

let t: TestTrellis;
let clock: ManualClock;
let timers: TimerWorker;
const s: Record<string, TestSession> = {};
const ids = new Map<string, string>();
const people = ['admin', 'wang.operator', 'lin.operator', 'li.teamlead', 'liu.teamlead', 'ma.teamlead', 'zhao.director', 'chen.plant', 'deng.equipment', 'tang.quality', 'zhou.quality'];
const routing: Record<string, string> = {};
const REC = '/api/v1/apps/andon/entities/exception/records';

async function session(username: string): Promise<TestSession> {
  s[username] ??= username === 'admin' ? await loginAs(t) : await loginAs(t, username, DEMO_PASSWORD);
  return s[username];
}

async function deptId(code: string): Promise<string> {
  return (await t.ctx.db.query<{ id: string }>('select id from departments where code = $1', [code])).rows[0]!.id;
}

/** The pending tasks of an instance as their holders see them in their inbox. */
async function holders(instanceId: string): Promise<string[]> {
  const r = await t.ctx.db.query<{ username: string }>(
    `select u.username from wf_tasks k join users u on u.id = k.assignee_id where k.instance_id = $1 and k.status = 'pending' order by u.username`,
    [instanceId],
  );
  return r.rows.map((x) => x.username);
}

async function todoTask(username: string, instanceId: string): Promise<{ id: string; nodeId: string }> {
  const r = await (await session(username)).inject({ url: '/api/v1/workflow/inbox/todo' });
  expect(r.statusCode).toBe(200);
  const items = (r.json() as { items: Array<{ id: string; instanceId: string; nodeId: string }> }).items.filter((x) => x.instanceId === instanceId);
  expect(items, `${username} should have one task on ${instanceId}`).toHaveLength(1);
  return items[0]!;
}

async function act(username: string, taskId: string, body: Record<string, unknown>) {
  return (await session(username)).inject({ method: 'POST', url: `/api/v1/workflow/tasks/${taskId}/actions`, payload: body });
}

async function report(username: string, values: Record<string, unknown>): Promise<{ recordId: string; instanceId: string }> {
  const me = await session(username);
  const c = await me.inject({ method: 'POST', url: REC, payload: { values } });
  expect(c.statusCode, c.body).toBe(201);
  const recordId = (c.json() as { id: string }).id;
  const sub = await me.inject({ method: 'POST', url: `${REC}/${recordId}/submit` });
  expect(sub.statusCode, sub.body).toBe(202);
  const instanceId = (sub.json() as { intercepted: { workflow: { instanceId: string } } }).intercepted.workflow.instanceId;
  return { recordId, instanceId };
}

/** Relays the outbox and sends what is due until nothing is pending or in flight (sends are async). */
async function deliver(): Promise<void> {
  await relayOnce(t.ctx.db);
  const w = new DeliveryWorker(t.ctx, { workerId: 'andon-test' });
  for (let i = 0; i < 200; i++) {
    await w.runOnce();
    const open = await t.ctx.db.query<{ n: number }>(`select count(*)::int as n from integration_deliveries where state in ('pending', 'in_flight')`);
    if (open.rows[0]!.n === 0) return;
    await new Promise((r) => setTimeout(r, 25));
  }
}

beforeAll(async () => {
  clock = new ManualClock('2026-03-10T01:00:00.000Z');
  t = await createTestTrellis({ seedDemo: true, clock });
  timers = new TimerWorker(t.ctx.db, clock, { workerId: 'andon-test' });
  const u = await t.ctx.db.query<{ id: string; username: string }>('select id, username from users');
  for (const x of u.rows) ids.set(x.username, x.id);
  for (const p of people) await session(p);
});
afterAll(async () => {
  await t?.destroy();
});

describe('Andon: production exception loop', () => {
  it('is installed from the catalog package: app, workflow and its two ERP flows', async () => {
    const app = await s.admin!.inject({ url: '/api/v1/apps/andon' });
    expect(app.statusCode, app.body).toBe(200);
    const flows = await s.admin!.inject({ url: '/api/v1/integration/flows' });
    const names = (flows.json() as { items: Array<{ name: string; eventTypes: string[] }> }).items.map((f) => f.name);
    expect(names).toEqual(expect.arrayContaining(['andon-closed-to-erp', 'andon-effective-to-erp']));
  });

  it('the routing table is edited as ordinary records by a workshop director, not by an operator', async () => {
    const rows: Array<[string, string, string]> = [
      ['车削', 'machining_t1', 'li.teamlead'],
      ['装配', 'assembly_t1', 'liu.teamlead'],
      ['铣削', 'machining_t2', 'ma.teamlead'],
    ];
    for (const [category, team, supervisor] of rows) {
      const r = await s['zhao.director']!.inject({
        method: 'POST',
        url: '/api/v1/apps/andon/entities/routing/records',
        payload: { values: { category, team: await deptId(team), supervisor: ids.get(supervisor) } },
      });
      expect(r.statusCode, r.body).toBe(201);
      routing[category] = (r.json() as { id: string }).id;
    }
    const refused = await s['wang.operator']!.inject({
      method: 'POST',
      url: '/api/v1/apps/andon/entities/routing/records',
      payload: { values: { category: '磨削', team: await deptId('machining_t2'), supervisor: ids.get('ma.teamlead') } },
    });
    expect(refused.statusCode).toBe(403);
  });

  it('routes by process category to the supervisor of the routing row, and follows edits of that row', async () => {
    const turning = await report('wang.operator', { title: '主轴异响', line: 'L1', process_category: routing['车削'], work_order: 'WO-2026-0001', severity: 'normal', description: '主轴高速运转异响' });
    expect(await holders(turning.instanceId)).toEqual(['li.teamlead']);
    const assembly = await report('lin.operator', { title: '换型超时', line: 'A1', process_category: routing['装配'], work_order: 'WO-2026-0002', severity: 'normal', description: '换型耗时 95 分钟' });
    expect(await holders(assembly.instanceId)).toEqual(['liu.teamlead']);
    // the director hands milling to another supervisor: the next report goes there, no republish
    const get = await s['zhao.director']!.inject({ url: `/api/v1/apps/andon/entities/routing/records/${routing['铣削']}` });
    const patch = await s['zhao.director']!.inject({
      method: 'PATCH',
      url: `/api/v1/apps/andon/entities/routing/records/${routing['铣削']}`,
      headers: { 'if-match': get.headers.etag as string },
      payload: { values: { supervisor: ids.get('li.teamlead') } },
    });
    expect(patch.statusCode, patch.body).toBe(200);
    const milling = await report('wang.operator', { title: '刀具崩刃', line: 'L2', process_category: routing['铣削'], work_order: 'WO-2026-0004', severity: 'major', description: '精铣时刀片连续崩刃' });
    expect(await holders(milling.instanceId)).toEqual(['li.teamlead']);
  });

  it('runs the five stages by their roles, escalates on timeout by severity, and closes the loop with the ERP', async () => {
    const { recordId, instanceId } = await report('wang.operator', {
      title: '尺寸超差',
      line: 'L1',
      process_category: routing['车削'],
      work_order: 'WO-2026-0003',
      equipment: 'EQ-CL-007',
      severity: 'urgent',
      line_stopped: true,
      description: '法兰盘内孔 Φ52H7 实测 Φ52.035，超上差',
      photos: [{ url: '/files/demo/bore.jpg', name: '内孔测量.jpg' }],
    });
    const first = await todoTask('li.teamlead', instanceId);
    expect(first.nodeId).toBe('team');

    // hidden fields are not shown to the supervisor; the report's own fields are
    const view = await s['li.teamlead']!.inject({ url: `/api/v1/workflow/tasks/${first.id}` });
    const seen = view.json() as { record: Record<string, unknown>; fields: Record<string, string> };
    expect(seen.fields.root_cause).toBe('hidden');
    expect(seen.record).not.toHaveProperty('root_cause');
    expect(seen.record).not.toHaveProperty('preventive_action');
    expect(seen.record.title).toBe('尺寸超差');
    expect(seen.record.response_minutes).toBe(15);

    // the operator cannot act on the supervisor's task
    expect((await act('wang.operator', first.id, { action: 'approve' })).statusCode).toBe(403);

    // urgent: 15 minutes to respond, then the workshop director, then the plant manager
    clock.advanceMinutes(14);
    await timers.runOnce();
    expect(await holders(instanceId)).toEqual(['li.teamlead']);
    clock.advanceMinutes(1);
    await timers.runOnce();
    expect(await holders(instanceId)).toEqual(['zhao.director']);
    clock.advanceMinutes(15);
    await timers.runOnce();
    expect(await holders(instanceId)).toEqual(['chen.plant']);
    clock.advanceMinutes(120);
    await timers.runOnce();
    expect(await holders(instanceId)).toEqual(['chen.plant']); // maxLevels 2: no further
    expect((await act('li.teamlead', first.id, { action: 'approve' })).statusCode).toBe(409);

    // stage 2 by the plant manager now holding it: read-only fields refused, the stage's fields taken
    const team = await todoTask('chen.plant', instanceId);
    const ro = await act('chen.plant', team.id, { action: 'approve', changes: { title: '改标题' } });
    expect(ro.statusCode).toBe(422);
    const later = await act('chen.plant', team.id, { action: 'approve', changes: { root_cause: '越权填写' } });
    expect(later.statusCode).toBe(422);
    const ok2 = await act('chen.plant', team.id, { action: 'approve', changes: { responsible_team: await deptId('machining_t1'), action_owner: ids.get('deng.equipment') } });
    expect(ok2.statusCode, ok2.body).toBe(200);

    // stage 3: the action owner chosen at stage 2
    const contain = await todoTask('deng.equipment', instanceId);
    expect(contain.nodeId).toBe('contain');
    expect((await act('chen.plant', contain.id, { action: 'approve' })).statusCode).toBe(403);
    clock.advanceMinutes(40);
    expect((await act('deng.equipment', contain.id, { action: 'approve', changes: { temporary_action: '全检本批并隔离 8 件', downtime_minutes: 45 } })).statusCode).toBe(200);

    // stage 4: a quality engineer (any one of them)
    expect((await holders(instanceId)).sort()).toEqual(['tang.quality', 'zhou.quality']);
    const cause = await todoTask('tang.quality', instanceId);
    clock.advanceMinutes(180);
    expect((await act('tang.quality', cause.id, { action: 'approve', changes: { root_cause_category: 'measurement', root_cause: '量仪零点漂移，未按班校准' } })).statusCode).toBe(200);
    expect(await holders(instanceId)).toEqual(['zhao.director']);

    // stage 5: the workshop director (head of the department above the reporter's team)
    const prevent = await todoTask('zhao.director', instanceId);
    expect(prevent.nodeId).toBe('prevent');
    const pv = await s['zhao.director']!.inject({ url: `/api/v1/workflow/tasks/${prevent.id}` });
    expect((pv.json() as { record: Record<string, unknown> }).record.root_cause).toBe('量仪零点漂移，未按班校准');
    expect((await act('zhao.director', prevent.id, { action: 'approve', changes: { preventive_action: '量仪每班校准；内孔尺寸纳入 SPC', preventive_due: '2026-03-20' } })).statusCode).toBe(200);

    // nothing reached the ERP yet
    await deliver();
    const notesBefore = await erpNotes('WO-2026-0003');
    expect(notesBefore).toHaveLength(0);

    // verification: effective → the exception closes
    const verify = await todoTask('zhou.quality', instanceId);
    expect((await act('zhou.quality', verify.id, { action: 'approve', changes: { preventive_effective: true, verification_note: '两周未再发生' } })).statusCode).toBe(200);
    const rec = await s['wang.operator']!.inject({ url: `${REC}/${recordId}` });
    const closed = rec.json() as { status: string; values: Record<string, unknown> };
    expect(closed.status).toBe('submitted');
    expect(closed.values.root_cause).toBe('量仪零点漂移，未按班校准');

    // each stage stamped its finish time (set_fields nodes): reported at T, responded T+150 min
    // (after two escalations), contained +40, cause found +180, prevention and verification at once
    const at = (f: string) => (new Date(closed.values[f] as string).getTime() - new Date(closed.values.occurred_at as string).getTime()) / 60_000;
    expect(['responded_at', 'contained_at', 'cause_found_at', 'prevented_at', 'closed_at'].map(at)).toEqual([150, 190, 370, 370, 370]);
    // the Andon board on the app's home page averages them per stage (hours) for this work order
    const board = await s.admin!.inject({ url: `/api/v1/apps/andon/dashboards/andon/widgets/handling_time/data?filter=${encodeURIComponent(JSON.stringify({ field: 'work_order', op: 'eq', value: 'WO-2026-0003' }))}` });
    expect(board.statusCode, board.body).toBe(200);
    expect((board.json() as { rows: Array<{ values: Record<string, string> }> }).rows[0]!.values).toEqual({
      respond: '2.50',
      contain: '0.67',
      cause: '3.00',
      prevent: '0.00',
      verify: '0.00',
      overall: '6.17',
    });
    const open = await s['wang.operator']!.inject({ url: `/api/v1/apps/andon/dashboards/andon/widgets/open_by_line/data?filter=${encodeURIComponent(JSON.stringify({ field: 'work_order', op: 'eq', value: 'WO-2026-0003' }))}` });
    expect(open.statusCode, open.body).toBe(200);
    expect((open.json() as { rows: unknown[] }).rows).toEqual([]); // closed: no longer open

    // the ERP work order gets exactly one closing note and one "effective" note, keyed by delivery
    await deliver();
    await deliver();
    const d = await s.admin!.inject({ url: `/api/v1/integration/deliveries?flow=andon-closed-to-erp` });
    const closing = (d.json() as { items: Array<{ state: string; idempotencyKey: string; subject?: string }> }).items;
    expect(closing).toHaveLength(1);
    expect(closing[0]!.state).toBe('succeeded');
    const e = await s.admin!.inject({ url: `/api/v1/integration/deliveries?flow=andon-effective-to-erp` });
    const effective = (e.json() as { items: Array<{ state: string; idempotencyKey: string }> }).items;
    expect(effective).toHaveLength(1);
    expect(effective[0]!.state).toBe('succeeded');
    const notes = await erpNotes('WO-2026-0003');
    expect(notes).toHaveLength(2);
    const closeNote = notes.find((n) => n.message.includes('生产异常已关闭'))!;
    expect(closeNote.message).toContain(`[trellis:${closing[0]!.idempotencyKey}]`);
    expect(closeNote.message).toContain('量仪零点漂移');
    expect(notes.find((n) => n.message.includes('预防措施有效'))!.message).toContain(`[trellis:${effective[0]!.idempotencyKey}]`);

    // a manual re-send of the closing delivery does not write a second note
    const retry = await s.admin!.inject({ method: 'POST', url: `/api/v1/integration/deliveries/${(d.json() as { items: Array<{ id: string }> }).items[0]!.id}/retry` });
    expect([200, 409]).toContain(retry.statusCode);
    await deliver();
    expect(await erpNotes('WO-2026-0003')).toHaveLength(2);
  });

  it('a major exception waits 30 minutes before escalating; a normal one 60', async () => {
    const major = await report('wang.operator', { title: '漏油', line: 'L1', process_category: routing['车削'], work_order: 'WO-2026-0005', severity: 'major', description: '液压站接头漏油' });
    const normal = await report('wang.operator', { title: '冷却液浓度低', line: 'L1', process_category: routing['车削'], work_order: 'WO-2026-0006', severity: 'normal', description: '浓度 3%' });
    clock.advanceMinutes(29);
    await timers.runOnce();
    expect(await holders(major.instanceId)).toEqual(['li.teamlead']);
    clock.advanceMinutes(1);
    await timers.runOnce();
    expect(await holders(major.instanceId)).toEqual(['zhao.director']);
    expect(await holders(normal.instanceId)).toEqual(['li.teamlead']);
    clock.advanceMinutes(30);
    await timers.runOnce();
    expect(await holders(normal.instanceId)).toEqual(['zhao.director']);
  });
});

async function erpNotes(workOrder: string): Promise<Array<{ message: string }>> {
  // the sample ERP's own tables (示例 ERP): the notes attached to the production order
  const r = await t.ctx.db.query<{ message: string }>(
    `select n.data->>'message' as message from erp_sample_notes n join erp_sample_productions p on n.data->>'resource' = 'production,' || p.id
      where p.code = $1 order by n.id`,
    [workOrder],
  );
  return r.rows;
}
