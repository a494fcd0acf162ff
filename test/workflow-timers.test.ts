// SLA timers with a controllable clock: reminders, escalation level by level, auto-decisions,
// delay nodes; and the durability contract: a timer claimed by a worker that dies before the
// effect still fires exactly once, several workers never fire a timer twice.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerTimerKind, TimerWorker, workflowService as svc } from '../src/server/workflow/index.ts';
import { approver, flow, users, workflowFixture, type Fixture } from './workflow-helpers.ts';

let f: Fixture;
let worker: TimerWorker;
beforeAll(async () => {
  f = await workflowFixture();
  worker = new TimerWorker(f.t.ctx.db, f.clock, { workerId: 'main' });
});
afterAll(async () => {
  await f?.destroy();
});

async function notificationsOf(username: string, kind: string, instanceId: string): Promise<number> {
  const r = await f.t.ctx.db.query<{ n: number }>('select count(*)::int as n from wf_notifications where user_id = $1 and kind = $2 and instance_id = $3', [f.id(username), kind, instanceId]);
  return r.rows[0]!.n;
}

describe('SLA', () => {
  it('reminds after X and again every Y minutes while pending; stops once decided', async () => {
    const id = await f.start('wang.operator', flow('remind', approver('a', users('li.teamlead'), { sla: { remind: { after: 30, every: 60 } } })));
    f.clock.advanceMinutes(29);
    await worker.runOnce();
    expect(await notificationsOf('li.teamlead', 'reminder', id)).toBe(0);
    f.clock.advanceMinutes(1);
    await worker.runOnce();
    expect(await notificationsOf('li.teamlead', 'reminder', id)).toBe(1);
    f.clock.advanceMinutes(60);
    await worker.runOnce();
    expect(await notificationsOf('li.teamlead', 'reminder', id)).toBe(2);
    await f.act('li.teamlead', await f.taskOf(id, 'li.teamlead'), { action: 'approve' });
    f.clock.advanceMinutes(600);
    await worker.runOnce();
    expect(await notificationsOf('li.teamlead', 'reminder', id)).toBe(2);
    const left = await f.t.ctx.db.query('select 1 from wf_timers where instance_id = $1 and fired_at is null', [id]);
    expect(left.rows).toHaveLength(0);
  });

  it('escalates level by level up the manager chain, up to maxLevels', async () => {
    const id = await f.start('wang.operator', flow('escalate', approver('a', users('li.teamlead'), { sla: { escalate: { after: 60, repeat: true, maxLevels: 2 } } })));
    const holders: string[] = [];
    for (let i = 0; i < 4; i++) {
      holders.push((await f.pending(id)).map((p) => p.user).join(','));
      f.clock.advanceMinutes(60);
      await worker.runOnce();
    }
    expect(holders).toEqual(['li.teamlead', 'zhao.director', 'chen.plant', 'chen.plant']);
    const levels = await f.t.ctx.db.query<{ escalation_level: number; status: string }>('select escalation_level, status from wf_tasks where instance_id = $1 order by escalation_level', [id]);
    expect(levels.rows).toEqual([
      { escalation_level: 0, status: 'escalated' },
      { escalation_level: 1, status: 'escalated' },
      { escalation_level: 2, status: 'pending' },
    ]);
    expect(await notificationsOf('chen.plant', 'escalation', id)).toBe(1);
    // the escalated-away approver can no longer act; the top one can
    const old = (await f.t.ctx.db.query<{ id: string }>('select id from wf_tasks where instance_id = $1 and escalation_level = 0', [id])).rows[0]!.id;
    await expect(f.act('li.teamlead', old, { action: 'approve' })).rejects.toMatchObject({ status: 409 });
    await f.act('chen.plant', await f.taskOf(id, 'chen.plant'), { action: 'approve' });
    expect(await f.status(id)).toBe('approved');
  });

  it('without repeat, escalates once', async () => {
    const id = await f.start('wang.operator', flow('escalate_once', approver('a', users('li.teamlead'), { sla: { escalate: { after: 10 } } })));
    for (let i = 0; i < 3; i++) {
      f.clock.advanceMinutes(10);
      await worker.runOnce();
    }
    expect((await f.pending(id)).map((p) => p.user)).toEqual(['zhao.director']);
  });

  it('with nobody above to escalate to, the task stays and the trail names whose chain ended', async () => {
    const failed = async (id: string) =>
      (await f.t.ctx.db.query<{ detail: { reason: string; user: string } }>(`select detail from wf_events where instance_id = $1 and type = 'escalation_failed'`, [id])).rows.map((r) => r.detail);
    // chen.plant heads the plant: no manager
    const top = await f.start('wang.operator', flow('escalate_top', approver('a', users('chen.plant'), { sla: { escalate: { after: 10 } } })));
    f.clock.advanceMinutes(10);
    await worker.runOnce();
    expect((await f.pending(top)).map((p) => p.user)).toEqual(['chen.plant']);
    expect(await failed(top)).toEqual([{ reason: 'no_manager', user: f.id('chen.plant') }]);
    // delegated to zhao.director (who has a manager): the escalation follows chen.plant's chain, which ends
    const now = f.clock.now();
    const chen = await f.actor('chen.plant');
    const delegation = await svc.createDelegation(f.t.ctx, chen, { delegate: 'zhao.director', startsAt: now.toISOString(), endsAt: new Date(now.getTime() + 24 * 3600_000).toISOString() });
    const delegated = await f.start('wang.operator', flow('escalate_top_delegated', approver('a', users('chen.plant'), { sla: { escalate: { after: 10 } } })));
    expect((await f.pending(delegated)).map((p) => p.user)).toEqual(['zhao.director']);
    f.clock.advanceMinutes(10);
    await worker.runOnce();
    expect((await f.pending(delegated)).map((p) => p.user)).toEqual(['zhao.director']);
    expect(await failed(delegated)).toEqual([{ reason: 'no_manager', user: f.id('chen.plant') }]);
    await svc.revokeDelegation(f.t.ctx, chen, delegation.id);
  });

  it('auto-approves after Z minutes, and the flow moves on', async () => {
    const id = await f.start('wang.operator', flow('auto_ok', approver('a', users('li.teamlead', 'ma.teamlead'), { mode: 'all', sla: { auto: { after: 120, action: 'approve' } } }), approver('b', users('chen.plant'))));
    await f.act('li.teamlead', await f.taskOf(id, 'li.teamlead'), { action: 'approve' });
    f.clock.advanceMinutes(120);
    await worker.runOnce();
    expect((await f.pending(id)).map((p) => p.user)).toEqual(['chen.plant']);
    const auto = await f.t.ctx.db.query<{ auto: boolean; status: string }>('select auto, status from wf_tasks where instance_id = $1 and assignee_id = $2', [id, f.id('ma.teamlead')]);
    expect(auto.rows[0]).toEqual({ auto: true, status: 'approved' });
  });

  it('auto-rejects after Z minutes', async () => {
    const id = await f.start('wang.operator', flow('auto_rej', approver('a', users('li.teamlead'), { sla: { auto: { after: 5, action: 'reject' } } })));
    f.clock.advanceMinutes(5);
    await worker.runOnce();
    expect(await f.status(id)).toBe('rejected');
    expect(await notificationsOf('wang.operator', 'outcome', id)).toBe(1);
  });

  it('a delay node waits, then continues', async () => {
    const id = await f.start('wang.operator', flow('delay', { id: 'cool_off', type: 'delay', minutes: 45 }, approver('a', users('li.teamlead'))));
    f.clock.advanceMinutes(44);
    await worker.runOnce();
    expect(await f.pending(id)).toEqual([]);
    f.clock.advanceMinutes(1);
    await worker.runOnce();
    expect((await f.pending(id)).map((p) => p.user)).toEqual(['li.teamlead']);
  });
});

describe('durability', () => {
  it('a worker killed between claim and effect: the lease expires, another fires it exactly once', async () => {
    const id = await f.start('wang.operator', flow('killed', approver('a', users('li.teamlead'), { sla: { remind: { after: 10 } } })));
    f.clock.advanceMinutes(10);
    const doomed = new TimerWorker(f.t.ctx.db, f.clock, { workerId: 'doomed', leaseMs: 30_000 });
    const claimed = await doomed.claim();
    expect(claimed.map((t) => t.instance_id)).toContain(id);
    // ...the process dies here. While the lease holds, nobody else takes the timer:
    const other = new TimerWorker(f.t.ctx.db, f.clock, { workerId: 'survivor', leaseMs: 30_000 });
    expect(await other.runOnce()).toBe(0);
    expect(await notificationsOf('li.teamlead', 'reminder', id)).toBe(0);
    // after the lease: the survivor fires it
    f.clock.advanceMs(31_000);
    expect(await other.runOnce()).toBe(1);
    expect(await notificationsOf('li.teamlead', 'reminder', id)).toBe(1);
    // the zombie wakes up and tries its stale claim: nothing happens
    const mine = claimed.find((t) => t.instance_id === id)!;
    expect(await doomed.fire(mine)).toBe(false);
    expect(await notificationsOf('li.teamlead', 'reminder', id)).toBe(1);
    const row = await f.t.ctx.db.query<{ locked_by: string; attempts: number; fired_at: Date | null }>('select locked_by, attempts, fired_at from wf_timers where id = $1', [mine.id]);
    expect(row.rows[0]).toMatchObject({ locked_by: 'survivor', attempts: 2 });
    expect(row.rows[0]!.fired_at).not.toBeNull();
  });

  it('several workers at once fire every timer exactly once', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) ids.push(await f.start('wang.operator', flow(`multi${i}`, approver('a', users('ma.teamlead'), { sla: { remind: { after: 5 } } }))));
    f.clock.advanceMinutes(5);
    const workers = [1, 2, 3].map((n) => new TimerWorker(f.t.ctx.db, f.clock, { workerId: `p${n}`, batchSize: 4, concurrency: 2 }));
    const fired = await Promise.all(workers.map((w) => w.runOnce()));
    expect(fired.reduce((a, b) => a + b, 0)).toBe(30);
    const r = await f.t.ctx.db.query<{ n: number; d: number }>(
      `select count(*)::int as n, count(distinct instance_id)::int as d from wf_notifications where kind = 'reminder' and instance_id = any($1::uuid[])`,
      [ids],
    );
    expect(r.rows[0]).toEqual({ n: 30, d: 30 });
  });

  it('timers survive a restart: a new worker picks up what is due', async () => {
    const id = await f.start('wang.operator', flow('restart', approver('a', users('li.teamlead'), { sla: { auto: { after: 15, action: 'approve' } } })));
    // the process that created it is gone; a new one (fresh worker id) starts later
    f.clock.advanceMinutes(60);
    const fresh = new TimerWorker(f.t.ctx.db, f.clock, { workerId: 'after-restart' });
    await fresh.runOnce();
    expect(await f.status(id)).toBe('approved');
  });

  it('a failing effect is retried after a back-off and gives up after maxAttempts', async () => {
    // fails on its first two claims, works on the third
    registerTimerKind('test.flaky', async (_tx, timer) => {
      if (timer.attempts < 3) throw new Error('downstream not ready');
      return 'ok';
    });
    registerTimerKind('test.broken', async () => {
      throw new Error('always broken');
    });
    const now = f.clock.now();
    await f.t.ctx.db.query(`insert into wf_timers (due_at, kind, created_at) values ($1, 'test.flaky', $1), ($1, 'test.broken', $1)`, [now]);
    const w = new TimerWorker(f.t.ctx.db, f.clock, { workerId: 'retry', maxAttempts: 3 });
    for (let i = 0; i < 6; i++) {
      await w.runOnce();
      f.clock.advanceMinutes(10);
    }
    const rows = await f.t.ctx.db.query<{ kind: string; fired: boolean; failed: boolean; attempts: number; last_error: string | null }>(
      `select kind, fired_at is not null as fired, failed_at is not null as failed, attempts, last_error from wf_timers where kind like 'test.%' order by kind`,
    );
    expect(rows.rows).toEqual([
      { kind: 'test.broken', fired: false, failed: true, attempts: 3, last_error: 'always broken' },
      { kind: 'test.flaky', fired: true, failed: false, attempts: 3, last_error: 'downstream not ready' },
    ]);
  });
});
