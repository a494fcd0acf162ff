// SLA timers counted in business hours: the plant calendar an administrator keeps (working days,
// hours, holidays, 调休 make-up days) moves reminders, escalations and auto-decisions over
// nights, weekends and holidays. The clock is a ManualClock; timers fire through a real
// TimerWorker. Calendars over HTTP (admin only, zod-checked) and definitions naming an unknown
// calendar (refused with the node's path) are covered too.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishApp } from '../src/server/modeling/index.ts';
import { systemActor } from '../src/server/platform/context.ts';
import { DEMO_PASSWORD } from '../src/server/platform/org/index.ts';
import { TimerWorker } from '../src/server/workflow/index.ts';
import { CalendarDef } from '../src/server/workflow/calendar.ts';
import { deleteCalendar, putCalendar } from '../src/server/workflow/calendar-store.ts';
import type { AppDef } from '../src/shared/definition.ts';
import type { WorkflowDef } from '../src/shared/workflow-definition.ts';
import { loginAs, type TestSession } from './helpers/trellis.ts';
import { approver, flow, users, workflowFixture, type Fixture } from './workflow-helpers.ts';

let f: Fixture;
let worker: TimerWorker;
let admin: TestSession;
let operator: TestSession;

const HOURS = [
  { from: '08:30', to: '12:00' },
  { from: '13:00', to: '17:30' },
];

/** Moves the manual clock forward to a plant-time instant. */
function clockTo(iso: string): void {
  const d = Date.parse(iso) - f.clock.now().getTime();
  if (d < 0) throw new Error(`the clock cannot go back to ${iso}`);
  f.clock.advanceMs(d);
}
const iso = (s: string) => new Date(s).toISOString();

async function timers(instanceId: string): Promise<Record<string, string>> {
  const r = await f.t.ctx.db.query<{ kind: string; due_at: Date }>('select kind, due_at from wf_timers where instance_id = $1 and fired_at is null order by id', [instanceId]);
  return Object.fromEntries(r.rows.map((t) => [t.kind, new Date(t.due_at).toISOString()]));
}
async function reminders(username: string, instanceId: string): Promise<number> {
  const r = await f.t.ctx.db.query<{ n: number }>(`select count(*)::int as n from wf_notifications where user_id = $1 and kind = 'reminder' and instance_id = $2`, [f.id(username), instanceId]);
  return r.rows[0]!.n;
}

beforeAll(async () => {
  f = await workflowFixture();
  worker = new TimerWorker(f.t.ctx.db, f.clock, { workerId: 'bh' });
  await putCalendar(f.t.ctx, await f.actor('admin'), 'default', CalendarDef.parse({ timeZone: 'Asia/Shanghai', hours: HOURS }));
});
afterAll(async () => {
  await f?.destroy();
});

describe('SLA minutes in business hours', () => {
  it('a reminder due in 2 business hours, submitted Friday 16:30, fires Monday 09:30 (and its repeat skips lunch)', async () => {
    clockTo('2026-03-06T16:30:00+08:00'); // Friday
    const id = await f.start('wang.operator', flow('bh_remind', approver('a', users('li.teamlead'), { sla: { remind: { after: 120, every: 240 }, escalate: { after: 240 }, businessHours: true } })));
    // remind: 60 min on Friday + 60 on Monday; escalate: 60 + 180 → Monday 11:30
    expect(await timers(id)).toEqual({ remind: iso('2026-03-09T09:30:00+08:00'), escalate: iso('2026-03-09T11:30:00+08:00') });

    clockTo('2026-03-07T10:00:00+08:00'); // Saturday: a wall-clock SLA would have fired long ago
    await worker.runOnce();
    expect(await reminders('li.teamlead', id)).toBe(0);
    clockTo('2026-03-09T09:29:00+08:00');
    await worker.runOnce();
    expect(await reminders('li.teamlead', id)).toBe(0);
    clockTo('2026-03-09T09:30:00+08:00');
    await worker.runOnce();
    expect(await reminders('li.teamlead', id)).toBe(1);
    // the repeat (every 240 working minutes) from 09:30: 150 until lunch, 90 after 13:00 → 14:30
    expect((await timers(id)).remind).toBe(iso('2026-03-09T14:30:00+08:00'));
  });

  it('the workflow names a calendar with National Day holidays and a make-up Saturday: the auto-decision lands on the 调休 day', async () => {
    await putCalendar(f.t.ctx, await f.actor('admin'), 'cn-2026', {
      timeZone: 'Asia/Shanghai',
      weekdays: [1, 2, 3, 4, 5],
      hours: HOURS,
      holidays: ['2026-10-01', '2026-10-02', '2026-10-05', '2026-10-06', '2026-10-07'],
      workdays: ['2026-09-27', '2026-10-10'],
    });
    clockTo('2026-09-30T16:30:00+08:00'); // Wednesday before the holiday
    const wf: WorkflowDef = { ...flow('bh_holiday', approver('a', users('li.teamlead'), { sla: { auto: { after: 120, action: 'approve' } } }), approver('b', users('zhao.director'), { sla: { auto: { after: 120, action: 'approve' } } })), calendar: 'cn-2026' };
    const id = await f.start('wang.operator', wf);
    // 60 minutes on 09-30, then the holiday week, then Thursday 10-08 from 08:30
    expect(await timers(id)).toEqual({ auto: iso('2026-10-08T09:30:00+08:00') });
    clockTo('2026-10-05T09:30:00+08:00');
    await worker.runOnce();
    expect(await f.status(id)).toBe('running');
    // Friday 10-09 16:30: node a is decided by hand, node b starts: 60 min Friday + 60 on the make-up Saturday
    clockTo('2026-10-09T16:30:00+08:00');
    await f.act('li.teamlead', await f.taskOf(id, 'li.teamlead'), { action: 'approve' });
    expect(await timers(id)).toEqual({ auto: iso('2026-10-10T09:30:00+08:00') });
    clockTo('2026-10-10T09:30:00+08:00');
    await worker.runOnce();
    expect(await f.status(id)).toBe('approved');
  });

  it('a node says businessHours: false: wall-clock minutes although the workflow counts business time', async () => {
    clockTo('2026-10-16T17:00:00+08:00'); // Friday
    const wf: WorkflowDef = { ...flow('bh_off', approver('a', users('li.teamlead'), { sla: { remind: { after: 120 }, businessHours: false } })), businessHours: true };
    const id = await f.start('wang.operator', wf);
    expect(await timers(id)).toEqual({ remind: iso('2026-10-16T19:00:00+08:00') });
    // and without any setting it stays wall clock, as before
    const plain = await f.start('wang.operator', flow('bh_plain', approver('a', users('li.teamlead'), { sla: { remind: { after: 120 } } })));
    expect(await timers(plain)).toEqual({ remind: iso('2026-10-16T19:00:00+08:00') });
  });

  it('a calendar deleted after the tree started: later timers count on the plant default', async () => {
    await putCalendar(f.t.ctx, await f.actor('admin'), 'six-days', { timeZone: 'Asia/Shanghai', weekdays: [1, 2, 3, 4, 5, 6], hours: HOURS, holidays: [], workdays: [] });
    clockTo('2026-10-23T16:30:00+08:00'); // Friday
    const id = await f.start('wang.operator', flow('bh_deleted', approver('a', users('li.teamlead'), { sla: { remind: { after: 120, every: 120 }, calendar: 'six-days' } })));
    expect(await timers(id)).toEqual({ remind: iso('2026-10-24T09:30:00+08:00') }); // Saturday works
    await deleteCalendar(f.t.ctx, await f.actor('admin'), 'six-days');
    clockTo('2026-10-24T09:30:00+08:00');
    await worker.runOnce();
    expect(await reminders('li.teamlead', id)).toBe(1);
    // the repeat from Saturday 09:30 on the default (Mon–Fri): Monday 08:30 + 120 → 10:30
    expect((await timers(id)).remind).toBe(iso('2026-10-26T10:30:00+08:00'));
  });
});

describe('calendars over HTTP', () => {
  // signed in after the SLA tests moved the clock by months (sessions expire on the same clock)
  beforeAll(async () => {
    admin = await loginAs(f.t);
    operator = await loginAs(f.t, 'wang.operator', DEMO_PASSWORD);
  });
  it('only an administrator saves one; the body is checked with paths; due answers when N working minutes end', async () => {
    const body = { timeZone: 'Europe/Berlin', hours: HOURS, holidays: ['2026-12-25'] };
    const denied = await operator.inject({ method: 'PUT', url: '/api/v1/workflow/calendars/berlin', payload: body });
    expect(denied.statusCode).toBe(403);
    expect(denied.json().detail).toContain('administrator');

    const bad = await admin.inject({ method: 'PUT', url: '/api/v1/workflow/calendars/berlin', payload: { ...body, hours: [{ from: '13:00', to: '12:00' }], holidays: ['2026-13-01'] } });
    expect(bad.statusCode).toBe(400);
    expect(bad.headers['content-type']).toContain('application/problem+json');
    expect(JSON.stringify(bad.json())).toContain('a date like 2026-10-01');

    const ok = await admin.inject({ method: 'PUT', url: '/api/v1/workflow/calendars/berlin', payload: body });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({ name: 'berlin', builtIn: false, definition: { timeZone: 'Europe/Berlin', weekdays: [1, 2, 3, 4, 5] } });

    const list = await operator.inject('/api/v1/workflow/calendars');
    expect(list.json().items.map((c: { name: string }) => c.name)).toEqual(expect.arrayContaining(['default', 'berlin', 'cn-2026']));

    // Friday before Christmas 2026 is 12-25 itself: Thursday 12-24 16:30 + 2h → Monday 12-28 09:30 (CET)
    const due = await operator.inject(`/api/v1/workflow/calendars/berlin/due?from=${encodeURIComponent('2026-12-24T16:30:00+01:00')}&minutes=120`);
    expect(due.statusCode).toBe(200);
    expect(due.json()).toMatchObject({ due: iso('2026-12-28T09:30:00+01:00') });

    expect((await admin.inject({ method: 'DELETE', url: '/api/v1/workflow/calendars/default' })).statusCode).toBe(409);
    expect((await admin.inject({ method: 'DELETE', url: '/api/v1/workflow/calendars/berlin' })).statusCode).toBe(204);
    expect((await operator.inject('/api/v1/workflow/calendars/berlin')).statusCode).toBe(404);
  });

  it('an unknown calendar is a problem at the node’s path: in the designer check and at publish', async () => {
    const wf = { ...flow('bh_unknown', approver('lead', users('li.teamlead'), { sla: { remind: { after: 60 }, calendar: 'nightshift' } })), calendar: 'plant-b' };
    const v = await admin.inject({ method: 'POST', url: '/api/v1/workflow/validate', payload: { workflow: wf } });
    expect(v.json().valid).toBe(false);
    expect(v.json().problems).toEqual(
      expect.arrayContaining([
        { path: 'workflows.bh_unknown.nodes.lead.sla.calendar', message: expect.stringContaining('unknown calendar "nightshift"') },
        { path: 'workflows.bh_unknown.calendar', message: expect.stringContaining('unknown calendar "plant-b"') },
      ]),
    );
    const app: AppDef = {
      name: 'bh_app',
      label: { zh: '工时', en: 'Business hours' },
      entities: [
        {
          name: 'expense',
          label: { zh: '费用报销' },
          submittable: true,
          fields: [{ name: 'amount', type: 'money', label: { zh: '金额' }, required: true }],
          permissions: [{ role: '*', actions: ['read', 'create', 'write', 'submit'] }],
        },
      ],
      workflows: [wf],
    } as AppDef;
    const err = await publishApp(f.t.ctx, systemActor, app).catch((e: unknown) => e as { status: number; errors: Array<{ path: string }> });
    expect(err).toMatchObject({ status: 400 });
    expect((err as { errors: Array<{ path: string }> }).errors.map((e) => e.path).sort()).toEqual(['workflows.bh_unknown.calendar', 'workflows.bh_unknown.nodes.lead.sla.calendar']);
    // nothing was published
    expect((await f.t.ctx.db.query('select 1 from apps where name = $1', ['bh_app'])).rows).toHaveLength(0);
    // with the calendars known (the plant default), it publishes
    const fixed = { ...app, workflows: [{ ...wf, calendar: 'default', root: flow('x', approver('lead', users('li.teamlead'), { sla: { remind: { after: 60 }, businessHours: true } })).root }] };
    await expect(publishApp(f.t.ctx, systemActor, fixed)).resolves.toMatchObject({ applied: true });
  });
});
