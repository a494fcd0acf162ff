// SLA timers counted in business hours: the plant calendar an administrator keeps (working days,
// hours, holidays, 调休 make-up days) moves reminders, escalations and auto-decisions over
// nights, weekends and holidays. The clock is a ManualClock; timers fire through a real
// TimerWorker. Calendars over HTTP (admin only, zod-checked, refused without working time in their
// next year), a calendar without working time that reaches the engine anyway (wall-clock minutes,
// a warning) and definitions naming an unknown calendar (refused with the node's path) are covered too.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
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
const DAY = 86_400_000;
/** The civil date of an instant in Asia/Shanghai (en-CA writes YYYY-MM-DD). */
const shanghaiDay = (t: Date) => new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai' }).format(t);
/** The Monday-to-Friday dates from `first` (YYYY-MM-DD) for `days` days. */
function weekdayDates(first: string, days: number, isoWeekdays: readonly number[] = [1, 2, 3, 4, 5]): string[] {
  const out: string[] = [];
  for (let i = 0, t = Date.parse(`${first}T00:00:00Z`); i < days; i++, t += DAY) {
    if (isoWeekdays.includes(((new Date(t).getUTCDay() + 6) % 7) + 1)) out.push(new Date(t).toISOString().slice(0, 10));
  }
  return out;
}

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

  it('a calendar without working time that reaches the engine anyway: the approval starts, minutes count on the wall clock, a warning names the calendar', async () => {
    // Mondays only, every Monday a holiday until 2048: written straight into the table (stored
    // before saving required a working year), so the API's check never saw it
    const definition = { timeZone: 'Asia/Shanghai', weekdays: [1], hours: HOURS, holidays: weekdayDates('2026-10-26', 366 * 22, [1]), workdays: [] };
    await f.t.ctx.db.query('insert into wf_calendars (name, definition, updated_at) values ($1, $2, $3)', ['shut', JSON.stringify(definition), f.clock.now()]);
    const warn = vi.spyOn(f.t.ctx.log, 'warn');
    try {
      clockTo('2026-10-27T10:00:00+08:00'); // Tuesday
      const wf = flow('bh_shut', approver('a', users('li.teamlead'), { sla: { remind: { after: 120, every: 60 }, calendar: 'shut' } }));
      const id = await f.start('wang.operator', wf);
      expect(await f.status(id)).toBe('running');
      expect(await timers(id)).toEqual({ remind: iso('2026-10-27T12:00:00+08:00') });
      expect(warn).toHaveBeenCalledWith(expect.objectContaining({ calendar: 'shut', instanceId: id, nodeId: 'a', minutes: 120 }), expect.stringContaining('calendar "shut" has no working time'));

      // the reminder fires and its repeat (computed by the timer worker) is wall clock too
      clockTo('2026-10-27T12:00:00+08:00');
      await worker.runOnce();
      expect(await reminders('li.teamlead', id)).toBe(1);
      expect((await timers(id)).remind).toBe(iso('2026-10-27T13:00:00+08:00'));
      expect(warn).toHaveBeenLastCalledWith(expect.objectContaining({ calendar: 'shut', instanceId: id, minutes: 60 }), expect.any(String));

      // and the approver still decides
      await f.act('li.teamlead', await f.taskOf(id, 'li.teamlead'), { action: 'approve' });
      expect(await f.status(id)).toBe('approved');
    } finally {
      warn.mockRestore();
    }
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

  it('a calendar without working time in its next 366 days (app clock) is refused with a 422 that says why; nothing is stored', async () => {
    const now = f.clock.now();
    const today = shanghaiDay(now);
    const span = `${today} to ${shanghaiDay(new Date(now.getTime() + 366 * DAY))}`;
    // every working weekday from a week ago to 400 days ahead is a holiday
    const closed = { timeZone: 'Asia/Shanghai', hours: HOURS, holidays: weekdayDates(shanghaiDay(new Date(now.getTime() - 7 * DAY)), 407) };
    const refused = await admin.inject({ method: 'PUT', url: '/api/v1/workflow/calendars/closed', payload: closed });
    expect(refused.statusCode).toBe(422);
    expect(refused.headers['content-type']).toContain('application/problem+json');
    expect(refused.json().detail).toBe(
      `Calendar "closed" has no working time in the next 366 days (${span}): every working weekday in that time is a holiday. Remove some holidays, or add working weekdays or make-up working days, then save again.`,
    );
    expect((await admin.inject('/api/v1/workflow/calendars/closed')).statusCode).toBe(404);
    expect((await f.t.ctx.db.query('select 1 from wf_calendars where name = $1', ['closed'])).rows).toHaveLength(0);
    expect((await f.t.ctx.db.query(`select 1 from audit_log where action = 'workflow.calendar.save' and target_id = $1`, ['closed'])).rows).toHaveLength(0);

    // replacing a calendar with such a definition keeps the one stored
    const before = (await admin.inject('/api/v1/workflow/calendars/cn-2026')).json();
    const replace = await admin.inject({ method: 'PUT', url: '/api/v1/workflow/calendars/cn-2026', payload: closed });
    expect(replace.statusCode).toBe(422);
    expect(replace.json().detail).toContain('Calendar "cn-2026" has no working time in the next 366 days');
    expect((await admin.inject('/api/v1/workflow/calendars/cn-2026')).json()).toEqual(before);

    // the same holidays ending 300 days ahead leave working time within the year: saved
    const shorter = { ...closed, holidays: closed.holidays.filter((d) => d < shanghaiDay(new Date(now.getTime() + 300 * DAY))) };
    expect((await admin.inject({ method: 'PUT', url: '/api/v1/workflow/calendars/closed', payload: shorter })).statusCode).toBe(200);
    expect((await admin.inject({ method: 'DELETE', url: '/api/v1/workflow/calendars/closed' })).statusCode).toBe(204);
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
