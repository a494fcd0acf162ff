// Actions on tasks and instances: return (initiator / previous / any earlier node) and resubmit,
// add signer before/after, transfer, standing delegations, withdraw, comment, concurrent
// approvers on an any-one node, and instances pinned to their definition version.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workflowService as svc } from '../src/server/workflow/index.ts';
import { approver, flow, users, workflowFixture, type Fixture } from './workflow-helpers.ts';

let f: Fixture;
beforeAll(async () => {
  f = await workflowFixture();
});
afterAll(async () => {
  await f?.destroy();
});

const threeSteps = flow(
  'three',
  approver('lead', users('li.teamlead'), { name: { zh: '班长' } }),
  approver('director', users('zhao.director'), { name: { zh: '车间主任' } }),
  approver('plant', users('chen.plant'), { name: { zh: '厂长' } }),
);

async function toPlant(): Promise<string> {
  const id = await f.start('wang.operator', threeSteps, { amount: '1200.00' });
  await f.act('li.teamlead', await f.taskOf(id, 'li.teamlead'), { action: 'approve' });
  await f.act('zhao.director', await f.taskOf(id, 'zhao.director'), { action: 'approve' });
  return id;
}

describe('return', () => {
  it('lists the initiator and earlier completed steps as targets', async () => {
    const id = await toPlant();
    const view = await svc.taskView(f.t.ctx, await f.actor('chen.plant'), await f.taskOf(id, 'chen.plant'));
    expect(view.returnTargets.map((t) => t.nodeId)).toEqual(['start', 'lead', 'director']);
  });

  it('to the previous step', async () => {
    const id = await toPlant();
    const r = await f.act('chen.plant', await f.taskOf(id, 'chen.plant'), { action: 'return', target: 'previous', comment: '请补充说明' });
    expect(r.returnedTo).toBe('director');
    expect((await f.pending(id)).map((p) => p.user)).toEqual(['zhao.director']);
    await f.act('zhao.director', await f.taskOf(id, 'zhao.director'), { action: 'approve' });
    await f.act('chen.plant', await f.taskOf(id, 'chen.plant'), { action: 'approve' });
    expect(await f.status(id)).toBe('approved');
  });

  it('to any earlier step chosen from the list', async () => {
    const id = await toPlant();
    await f.act('chen.plant', await f.taskOf(id, 'chen.plant'), { action: 'return', target: 'lead' });
    expect((await f.pending(id)).map((p) => p.user)).toEqual(['li.teamlead']);
    // a node that is not an earlier completed step is refused with the list of valid targets
    const again = await f.taskOf(id, 'li.teamlead');
    await expect(f.act('li.teamlead', again, { action: 'return', target: 'plant' })).rejects.toMatchObject({ status: 422 });
  });

  it('to the initiator, who resubmits (with changes) and the flow starts over', async () => {
    const id = await toPlant();
    await f.act('chen.plant', await f.taskOf(id, 'chen.plant'), { action: 'return', target: 'initiator', comment: '金额有误' });
    expect(await f.status(id)).toBe('returned');
    expect((await f.pending(id)).map((p) => p.user)).toEqual(['wang.operator']);
    // approvers can no longer act; withdrawing is still possible; resubmit restarts at the first step
    await svc.actOnInstance(f.t.ctx, await f.actor('wang.operator'), id, { action: 'resubmit', changes: { amount: '1100.00' }, comment: '已更正' });
    expect(await f.status(id)).toBe('running');
    expect((await f.pending(id)).map((p) => p.user)).toEqual(['li.teamlead']);
    const inst = await f.t.ctx.db.query<{ round: number; record: Record<string, unknown> }>('select round, record from wf_instances where id = $1', [id]);
    expect(inst.rows[0]).toMatchObject({ round: 2, record: { amount: '1100.00' } });
    // in round 2 the earlier steps of round 1 are not return targets until they are done again
    const view = await svc.taskView(f.t.ctx, await f.actor('li.teamlead'), await f.taskOf(id, 'li.teamlead'));
    expect(view.returnTargets.map((t) => t.nodeId)).toEqual(['start']);
  });

  it('only the initiator can resubmit, and only a returned approval', async () => {
    const id = await toPlant();
    await expect(svc.actOnInstance(f.t.ctx, await f.actor('wang.operator'), id, { action: 'resubmit' })).rejects.toMatchObject({ status: 409 });
    await f.act('chen.plant', await f.taskOf(id, 'chen.plant'), { action: 'return', target: 'initiator' });
    await expect(svc.actOnInstance(f.t.ctx, await f.actor('zhang.operator'), id, { action: 'resubmit' })).rejects.toMatchObject({ status: 403 });
  });
});

describe('add signer', () => {
  it('before: the added person signs first, then the task comes back', async () => {
    const id = await f.start('wang.operator', flow('before', approver('a', users('li.teamlead')), approver('b', users('chen.plant'))));
    const mine = await f.taskOf(id, 'li.teamlead');
    await f.act('li.teamlead', mine, { action: 'add_signer', position: 'before', users: ['tang.quality'], comment: '请质量先看' });
    expect((await f.pending(id)).map((p) => [p.user, p.origin])).toEqual([['tang.quality', 'added_before']]);
    await expect(f.act('li.teamlead', mine, { action: 'approve' })).rejects.toMatchObject({ status: 409 });
    await f.act('tang.quality', await f.taskOf(id, 'tang.quality'), { action: 'approve' });
    expect((await f.pending(id)).map((p) => p.user)).toEqual(['li.teamlead']);
    await f.act('li.teamlead', mine, { action: 'approve' });
    expect((await f.pending(id)).map((p) => p.user)).toEqual(['chen.plant']);
  });

  it('after: this approver approves now, the node waits for the added person', async () => {
    const id = await f.start('wang.operator', flow('after', approver('a', users('li.teamlead')), approver('b', users('chen.plant'))));
    await f.act('li.teamlead', await f.taskOf(id, 'li.teamlead'), { action: 'add_signer', position: 'after', users: ['zhou.quality'] });
    expect((await f.pending(id)).map((p) => [p.user, p.origin])).toEqual([['zhou.quality', 'added_after']]);
    await f.act('zhou.quality', await f.taskOf(id, 'zhou.quality'), { action: 'approve' });
    expect((await f.pending(id)).map((p) => p.user)).toEqual(['chen.plant']);
  });

  it('a rejection by an added signer rejects', async () => {
    const id = await f.start('wang.operator', flow('after_rej', approver('a', users('li.teamlead'))));
    await f.act('li.teamlead', await f.taskOf(id, 'li.teamlead'), { action: 'add_signer', position: 'after', users: ['zhou.quality'] });
    await f.act('zhou.quality', await f.taskOf(id, 'zhou.quality'), { action: 'reject' });
    expect(await f.status(id)).toBe('rejected');
  });
});

describe('transfer and delegation', () => {
  it('transfer hands the task to someone else', async () => {
    const id = await f.start('wang.operator', flow('transfer', approver('a', users('li.teamlead'))));
    const old = await f.taskOf(id, 'li.teamlead');
    await f.act('li.teamlead', old, { action: 'transfer', to: 'ma.teamlead', comment: '我休假' });
    await expect(f.act('li.teamlead', old, { action: 'approve' })).rejects.toMatchObject({ status: 409 });
    await f.act('ma.teamlead', await f.taskOf(id, 'ma.teamlead'), { action: 'approve' });
    expect(await f.status(id)).toBe('approved');
  });

  it('a standing delegation applies only inside its validity window', async () => {
    const now = f.clock.now();
    const day = 24 * 3600_000;
    await svc.createDelegation(f.t.ctx, await f.actor('zhao.director'), {
      delegate: 'huang.director',
      startsAt: new Date(now.getTime() + day).toISOString(),
      endsAt: new Date(now.getTime() + 3 * day).toISOString(),
      reason: '出差',
    });
    const wf = flow('deleg', approver('a', users('zhao.director')));
    // before the window: zhao gets the task
    const before = await f.start('wang.operator', wf);
    expect((await f.pending(before)).map((p) => p.user)).toEqual(['zhao.director']);
    // inside the window: huang gets it on behalf of zhao
    f.clock.advanceMs(day + 60_000);
    const inside = await f.start('wang.operator', wf);
    const [task] = await f.pending(inside);
    expect(task!.user).toBe('huang.director');
    const row = await f.t.ctx.db.query<{ on_behalf_of: string }>('select on_behalf_of from wf_tasks where id = $1', [task!.id]);
    expect(row.rows[0]!.on_behalf_of).toBe(f.id('zhao.director'));
    await f.act('huang.director', task!.id, { action: 'approve' });
    expect(await f.status(inside)).toBe('approved');
    // after the window: back to zhao
    f.clock.advanceMs(2 * day);
    const after = await f.start('wang.operator', wf);
    expect((await f.pending(after)).map((p) => p.user)).toEqual(['zhao.director']);
  });

  it('refuses overlapping or inverted delegations, and revoking ends one', async () => {
    const now = f.clock.now();
    const a = await f.actor('chen.plant');
    await expect(svc.createDelegation(f.t.ctx, a, { delegate: 'wu.cfo', startsAt: now.toISOString(), endsAt: now.toISOString() })).rejects.toMatchObject({ status: 422 });
    const d = await svc.createDelegation(f.t.ctx, a, { delegate: 'wu.cfo', startsAt: now.toISOString(), endsAt: new Date(now.getTime() + 3600_000).toISOString() });
    await expect(
      svc.createDelegation(f.t.ctx, a, { delegate: 'zhou.quality', startsAt: new Date(now.getTime() + 60_000).toISOString(), endsAt: new Date(now.getTime() + 7200_000).toISOString() }),
    ).rejects.toMatchObject({ status: 409 });
    await svc.revokeDelegation(f.t.ctx, a, d.id);
    const id = await f.start('wang.operator', flow('revoked', approver('a', users('chen.plant'))));
    expect((await f.pending(id)).map((p) => p.user)).toEqual(['chen.plant']);
  });
});

describe('withdraw and comment', () => {
  it('the initiator withdraws a running approval: tasks close, nobody can act', async () => {
    const id = await f.start('wang.operator', flow('withdraw', approver('a', users('li.teamlead'))));
    const task = await f.taskOf(id, 'li.teamlead');
    await expect(svc.actOnInstance(f.t.ctx, await f.actor('li.teamlead'), id, { action: 'withdraw' })).rejects.toMatchObject({ status: 403 });
    await svc.actOnInstance(f.t.ctx, await f.actor('wang.operator'), id, { action: 'withdraw', comment: '填错了' });
    expect(await f.status(id)).toBe('withdrawn');
    await expect(f.act('li.teamlead', task, { action: 'approve' })).rejects.toMatchObject({ status: 409 });
    await expect(svc.actOnInstance(f.t.ctx, await f.actor('wang.operator'), id, { action: 'withdraw' })).rejects.toMatchObject({ status: 409 });
  });

  it('participants comment with attachments; outsiders cannot', async () => {
    const id = await f.start('wang.operator', flow('comment', approver('a', users('li.teamlead'))));
    await svc.actOnInstance(f.t.ctx, await f.actor('li.teamlead'), id, { action: 'comment', comment: '附上照片', attachments: ['att-1'] });
    await expect(svc.actOnInstance(f.t.ctx, await f.actor('yang.operator'), id, { action: 'comment', comment: 'hi' })).rejects.toMatchObject({ status: 403 });
    const tr = await svc.trail(f.t.ctx.db, await f.actor('wang.operator'), id);
    const c = tr.trail.find((e) => e.type === 'comment')!;
    expect(c).toMatchObject({ comment: '附上照片', attachments: ['att-1'], actor: { username: 'li.teamlead' } });
  });
});

describe('concurrency', () => {
  it('two approvers acting at once on an any-one node: exactly one wins, the other gets 409', async () => {
    for (let round = 0; round < 3; round++) {
      const id = await f.start('wang.operator', flow(`race${round}`, approver('a', users('li.teamlead', 'ma.teamlead'), { mode: 'any' }), approver('b', users('chen.plant'))));
      const a = await f.taskOf(id, 'li.teamlead');
      const b = await f.taskOf(id, 'ma.teamlead');
      const results = await Promise.allSettled([f.act('li.teamlead', a, { action: 'approve' }), f.act('ma.teamlead', b, { action: 'reject' })]);
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(1);
      expect(lost[0]!.reason).toMatchObject({ status: 409 });
      expect(String(lost[0]!.reason.message)).toMatch(/no longer/);
      const decided = await f.t.ctx.db.query<{ n: number }>(`select count(*)::int as n from wf_tasks where instance_id = $1 and status in ('approved', 'rejected')`, [id]);
      expect(decided.rows[0]!.n).toBe(1);
      const winner = (won[0] as PromiseFulfilledResult<{ taskId: string }>).value.taskId;
      expect(await f.status(id)).toBe(winner === a ? 'running' : 'rejected');
      const nodeRuns = await f.t.ctx.db.query<{ n: number }>(`select count(*)::int as n from wf_node_runs where instance_id = $1 and node_id = 'b'`, [id]);
      expect(nodeRuns.rows[0]!.n).toBe(winner === a ? 1 : 0);
    }
  });

  it('only the assignee can act on a task', async () => {
    const id = await f.start('wang.operator', flow('not_mine', approver('a', users('li.teamlead'), { sla: { remind: { after: 30 } } })));
    const task = await f.taskOf(id, 'li.teamlead');
    await expect(f.act('ma.teamlead', task, { action: 'approve' })).rejects.toMatchObject({ status: 403 });
    // the decision sent with the lock (before the check) was rolled back: the task, its timer and the trail are as they were
    const row = await f.t.ctx.db.query<{ status: string; decision: string | null; timers: number; decisions: number }>(
      `select t.status, t.decision,
              (select count(*)::int from wf_timers where task_id = t.id and fired_at is null) as timers,
              (select count(*)::int from wf_events where instance_id = t.instance_id and type in ('approve', 'reject')) as decisions
         from wf_tasks t where t.id = $1`,
      [task],
    );
    expect(row.rows[0]).toEqual({ status: 'pending', decision: null, timers: 1, decisions: 0 });
    await f.act('li.teamlead', task, { action: 'approve', comment: '同意' });
    expect(await f.status(id)).toBe('approved');
    const decided = await f.t.ctx.db.query<{ status: string; decision: string; comment: string; decided_by: string }>('select status, decision, comment, decided_by from wf_tasks where id = $1', [task]);
    expect(decided.rows[0]).toEqual({ status: 'approved', decision: 'approve', comment: '同意', decided_by: f.id('li.teamlead') });
  });

  it('one live approval per document', async () => {
    const wf = flow('single', approver('a', users('li.teamlead')));
    const actor = await f.actor('wang.operator');
    const input = { app: 'demo', appVersion: 1, workflow: wf, recordId: 'doc-1', record: {} };
    const first = await svc.start(f.t.ctx, actor, input);
    // the second start's own writes (its tasks, trail, notifications) are rolled back with it
    await expect(svc.start(f.t.ctx, actor, input)).rejects.toMatchObject({ status: 409, extra: { instanceId: first.instanceId } });
    const left = await f.t.ctx.db.query<{ instances: number; tasks: number; events: number; notes: number }>(
      `select (select count(*)::int from wf_instances where record_id = 'doc-1') as instances,
              (select count(*)::int from wf_tasks t join wf_instances i on i.id = t.instance_id where i.record_id = 'doc-1') as tasks,
              (select count(*)::int from wf_events where instance_id <> $1 and instance_id not in (select id from wf_instances)) as events,
              (select count(*)::int from wf_notifications where instance_id is not null and instance_id not in (select id from wf_instances)) as notes`,
      [first.instanceId],
    );
    expect(left.rows[0]).toEqual({ instances: 1, tasks: 1, events: 0, notes: 0 });
  });
});

describe('versions', () => {
  it('a running instance keeps the tree it started with when a new version exists', async () => {
    const v1 = flow('versioned', approver('a', users('li.teamlead')), approver('b', users('zhao.director')));
    const v2 = flow('versioned', approver('a', users('li.teamlead')), approver('b2', users('wu.cfo')));
    const actor = await f.actor('wang.operator');
    const old = await svc.start(f.t.ctx, actor, { app: 'demo', appVersion: 1, workflow: v1, recordId: 'v-1', record: {} });
    const fresh = await svc.start(f.t.ctx, actor, { app: 'demo', appVersion: 2, workflow: v2, recordId: 'v-2', record: {} });
    await f.act('li.teamlead', await f.taskOf(old.instanceId, 'li.teamlead'), { action: 'approve' });
    await f.act('li.teamlead', await f.taskOf(fresh.instanceId, 'li.teamlead'), { action: 'approve' });
    expect((await f.pending(old.instanceId)).map((p) => p.user)).toEqual(['zhao.director']);
    expect((await f.pending(fresh.instanceId)).map((p) => p.user)).toEqual(['wu.cfo']);
    const pinned = await f.t.ctx.db.query<{ app_version: number }>('select app_version from wf_instances where id = $1', [old.instanceId]);
    expect(pinned.rows[0]!.app_version).toBe(1);
  });
});
