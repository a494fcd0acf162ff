// Approver sources, modes, empty/initiator rules, condition and parallel branches, CC, delay,
// action and end nodes, on the demo plant (wang.operator → li.teamlead → zhao.director → chen.plant).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { registerWorkflowAction, workflowService as svc } from '../src/server/workflow/index.ts';
import { approver, flow, users, workflowFixture, type Fixture } from './workflow-helpers.ts';

let f: Fixture;
beforeAll(async () => {
  f = await workflowFixture();
});
afterAll(async () => {
  await f?.destroy();
});

async function pendingUsers(id: string): Promise<string[]> {
  return (await f.pending(id)).map((p) => p.user).sort();
}

describe('approver sources', () => {
  it('named users', async () => {
    const id = await f.start('wang.operator', flow('named', approver('a', users('zhou.quality', 'guo.purchase'))));
    expect(await pendingUsers(id)).toEqual(['guo.purchase', 'zhou.quality']);
  });

  it('role, everywhere and within the initiator department (exact and subtree)', async () => {
    const everywhere = await f.start('wang.operator', flow('role_all', approver('a', [{ kind: 'role', role: 'team_lead' }])));
    expect(await pendingUsers(everywhere)).toEqual(['li.teamlead', 'liu.teamlead', 'ma.teamlead']);
    const own = await f.start('wang.operator', flow('role_dept', approver('a', [{ kind: 'role', role: 'team_lead', scope: 'initiator_department' }])));
    expect(await pendingUsers(own)).toEqual(['li.teamlead']);
    // zhao.director's department is the machining workshop: its subtree holds both machining team leads
    const tree = await f.start('zhao.director', flow('role_tree', approver('a', [{ kind: 'role', role: 'team_lead', scope: 'initiator_department_tree' }])));
    expect(await pendingUsers(tree)).toEqual(['li.teamlead', 'ma.teamlead']);
  });

  it('department head N levels up', async () => {
    const expectations: Array<[number, string]> = [
      [0, 'li.teamlead'],
      [1, 'zhao.director'],
      [2, 'chen.plant'],
    ];
    for (const [levelsUp, who] of expectations) {
      const id = await f.start('wang.operator', flow(`head_${levelsUp}`, approver('a', [{ kind: 'department_head', levelsUp }])));
      expect(await pendingUsers(id)).toEqual([who]);
    }
  });

  it('manager chain up to a level, and up to a title, signing in order', async () => {
    const byLevel = await f.start('wang.operator', flow('chain2', approver('a', [{ kind: 'manager_chain', toLevel: 2 }], { mode: 'sequential' })));
    expect(await pendingUsers(byLevel)).toEqual(['li.teamlead']);
    await f.act('li.teamlead', await f.taskOf(byLevel, 'li.teamlead'), { action: 'approve' });
    expect(await pendingUsers(byLevel)).toEqual(['zhao.director']);
    await f.act('zhao.director', await f.taskOf(byLevel, 'zhao.director'), { action: 'approve' });
    expect(await f.status(byLevel)).toBe('approved');

    const byTitle = await f.start('wang.operator', flow('chain_title', approver('a', [{ kind: 'manager_chain', toTitle: '厂长' }], { mode: 'sequential' })));
    const order: string[] = [];
    for (let i = 0; i < 5 && (await f.status(byTitle)) === 'running'; i++) {
      const [p] = await f.pending(byTitle);
      order.push(p!.user);
      await f.act(p!.user, p!.id, { action: 'approve' });
    }
    expect(order).toEqual(['li.teamlead', 'zhao.director', 'chen.plant']);
    expect(await f.status(byTitle)).toBe('approved');
  });

  it('user field and department field of the document', async () => {
    const byUser = await f.start('wang.operator', flow('field_user', approver('a', [{ kind: 'field', field: 'inspector' }])), { inspector: f.id('luo.inspector') });
    expect(await pendingUsers(byUser)).toEqual(['luo.inspector']);
    const dept = (await f.t.ctx.db.query<{ id: string }>(`select id from departments where code = 'quality'`)).rows[0]!.id;
    const byDept = await f.start('wang.operator', flow('field_dept', approver('a', [{ kind: 'field', field: 'owner_dept' }])), { owner_dept: dept });
    expect(await pendingUsers(byDept)).toEqual(['zhou.quality']);
  });

  it('chosen by the initiator when submitting, and the initiator self', async () => {
    const picked = await f.start('wang.operator', flow('pick', approver('a', [{ kind: 'initiator_pick', multiple: true }])), {}, { a: ['tang.quality', 'song.inspector'] });
    expect(await pendingUsers(picked)).toEqual(['song.inspector', 'tang.quality']);
    const self = await f.start('wang.operator', flow('self', { id: 'confirm', type: 'handler', approvers: [{ kind: 'initiator' }] }));
    expect(await pendingUsers(self)).toEqual(['wang.operator']);
    await f.act('wang.operator', await f.taskOf(self, 'wang.operator'), { action: 'approve' });
    expect(await f.status(self)).toBe('approved');
  });

  it('refuses picks for a node that does not let the initiator choose', async () => {
    await expect(f.start('wang.operator', flow('pick_bad', approver('a', users('li.teamlead'))), {}, { a: ['tang.quality'] })).rejects.toMatchObject({ status: 422 });
  });
});

describe('modes', () => {
  it('any one (或签): the first approval decides and closes the others', async () => {
    const id = await f.start('wang.operator', flow('any', approver('a', users('li.teamlead', 'ma.teamlead'), { mode: 'any' })));
    await f.act('ma.teamlead', await f.taskOf(id, 'ma.teamlead'), { action: 'approve' });
    expect(await f.status(id)).toBe('approved');
    const other = await f.t.ctx.db.query<{ status: string }>(`select status from wf_tasks where instance_id = $1 and assignee_id = $2`, [id, f.id('li.teamlead')]);
    expect(other.rows[0]!.status).toBe('cancelled');
  });

  it('all (会签): everyone must approve; one rejection rejects', async () => {
    const id = await f.start('wang.operator', flow('all', approver('a', users('li.teamlead', 'ma.teamlead', 'liu.teamlead'), { mode: 'all' })));
    await f.act('li.teamlead', await f.taskOf(id, 'li.teamlead'), { action: 'approve' });
    await f.act('ma.teamlead', await f.taskOf(id, 'ma.teamlead'), { action: 'approve' });
    expect(await f.status(id)).toBe('running');
    await f.act('liu.teamlead', await f.taskOf(id, 'liu.teamlead'), { action: 'approve' });
    expect(await f.status(id)).toBe('approved');

    const rej = await f.start('wang.operator', flow('all_rej', approver('a', users('li.teamlead', 'ma.teamlead'), { mode: 'all' })));
    await f.act('ma.teamlead', await f.taskOf(rej, 'ma.teamlead'), { action: 'reject', comment: '金额不对' });
    expect(await f.status(rej)).toBe('rejected');
    expect(await f.pending(rej)).toEqual([]);
  });

  it('sequential (依次): one after the other in the listed order', async () => {
    const id = await f.start('wang.operator', flow('seq', approver('a', users('ma.teamlead', 'li.teamlead'), { mode: 'sequential' })));
    expect(await pendingUsers(id)).toEqual(['ma.teamlead']);
    await f.act('ma.teamlead', await f.taskOf(id, 'ma.teamlead'), { action: 'approve' });
    expect(await pendingUsers(id)).toEqual(['li.teamlead']);
    await f.act('li.teamlead', await f.taskOf(id, 'li.teamlead'), { action: 'approve' });
    expect(await f.status(id)).toBe('approved');
  });

  it('every answer names the tasks it gave someone to act on, exactly the pending ones in the table', async () => {
    const actor = await f.actor('wang.operator');
    const started = await svc.start(f.t.ctx, actor, {
      app: 'demo',
      appVersion: 1,
      workflow: flow('answers', approver('a', users('ma.teamlead', 'li.teamlead'), { mode: 'sequential' }), approver('b', users('zhou.quality', 'guo.purchase'))),
      recordId: randomUUID(),
      record: {},
    });
    const asTable = async () => (await f.pending(started.instanceId)).map((p) => ({ taskId: p.id, assigneeId: f.id(p.user), nodeId: p.node }));
    expect(started.pendingTasks).toEqual(await asTable());
    expect(started.pendingTasks.map((p) => f.name(p.assigneeId))).toEqual(['ma.teamlead']);
    const first = await f.act('ma.teamlead', started.pendingTasks[0]!.taskId, { action: 'approve' });
    expect(first.pendingTasks).toEqual(await asTable());
    const second = await f.act('li.teamlead', first.pendingTasks[0]!.taskId, { action: 'approve' });
    expect(second.pendingTasks.map((p) => f.name(p.assigneeId)).sort()).toEqual(['guo.purchase', 'zhou.quality']);
    expect([...second.pendingTasks].sort((a, b) => a.taskId.localeCompare(b.taskId))).toEqual((await asTable()).sort((a, b) => a.taskId.localeCompare(b.taskId)));
    // the deciding approval of an any-one step: nobody else has anything to do
    const last = await f.act('guo.purchase', second.pendingTasks.find((p) => f.name(p.assigneeId) === 'guo.purchase')!.taskId, { action: 'approve' });
    expect(last.instanceStatus).toBe('approved');
    expect(last.pendingTasks).toEqual([]);
  });

  it('by ratio: passes at the percentage, fails once it cannot be reached', async () => {
    const four = users('li.teamlead', 'ma.teamlead', 'liu.teamlead', 'zhao.director');
    const id = await f.start('wang.operator', flow('ratio', approver('a', four, { mode: 'ratio', ratio: 50 })));
    await f.act('li.teamlead', await f.taskOf(id, 'li.teamlead'), { action: 'approve' });
    expect(await f.status(id)).toBe('running');
    await f.act('ma.teamlead', await f.taskOf(id, 'ma.teamlead'), { action: 'approve' });
    expect(await f.status(id)).toBe('approved');

    const fail = await f.start('wang.operator', flow('ratio_fail', approver('a', four, { mode: 'ratio', ratio: 75 })));
    await f.act('li.teamlead', await f.taskOf(fail, 'li.teamlead'), { action: 'reject' });
    expect(await f.status(fail)).toBe('running'); // 3 of 4 can still reach 75 %
    await f.act('ma.teamlead', await f.taskOf(fail, 'ma.teamlead'), { action: 'reject' });
    expect(await f.status(fail)).toBe('rejected');
  });
});

describe('no approver found', () => {
  const nobody = [{ kind: 'role' as const, role: 'no_such_role' }];
  it('auto-approve, auto-reject, named user, admin', async () => {
    const a = await f.start('wang.operator', flow('empty_ok', approver('a', nobody, { onEmpty: { action: 'auto_approve' } })));
    expect(await f.status(a)).toBe('approved');
    expect(await f.events(a)).toContain('auto_approved');
    const r = await f.start('wang.operator', flow('empty_rej', approver('a', nobody, { onEmpty: { action: 'auto_reject' } })));
    expect(await f.status(r)).toBe('rejected');
    const u = await f.start('wang.operator', flow('empty_user', approver('a', nobody, { onEmpty: { action: 'user', user: 'zheng.it' } })));
    expect(await pendingUsers(u)).toEqual(['zheng.it']);
    const ad = await f.start('wang.operator', flow('empty_admin', approver('a', nobody, { onEmpty: { action: 'admin' } })));
    expect(await pendingUsers(ad)).toEqual(['admin']);
  });
});

describe('initiator is also an approver', () => {
  const who = users('li.teamlead', 'ma.teamlead');
  it('approve automatically (counts as their approval)', async () => {
    const id = await f.start('li.teamlead', flow('init_auto', approver('a', who, { mode: 'all', onInitiator: 'auto_approve' })));
    expect(await pendingUsers(id)).toEqual(['ma.teamlead']);
    const auto = await f.t.ctx.db.query<{ status: string; auto: boolean }>(`select status, auto from wf_tasks where instance_id = $1 and assignee_id = $2`, [id, f.id('li.teamlead')]);
    expect(auto.rows[0]).toEqual({ status: 'approved', auto: true });
    await f.act('ma.teamlead', await f.taskOf(id, 'ma.teamlead'), { action: 'approve' });
    expect(await f.status(id)).toBe('approved');
  });
  it('skip: removed from the approvers; a node with nobody else is passed', async () => {
    const id = await f.start('li.teamlead', flow('init_skip', approver('a', who, { mode: 'all', onInitiator: 'skip' })));
    expect(await pendingUsers(id)).toEqual(['ma.teamlead']);
    const alone = await f.start('li.teamlead', flow('init_skip_alone', approver('a', users('li.teamlead'), { onInitiator: 'skip' }), approver('b', users('zhou.quality'))));
    expect(await pendingUsers(alone)).toEqual(['zhou.quality']);
  });
  it('to manager: the initiator is replaced by their manager', async () => {
    const id = await f.start('li.teamlead', flow('init_mgr', approver('a', users('li.teamlead'), { onInitiator: 'to_manager' })));
    expect(await pendingUsers(id)).toEqual(['zhao.director']);
  });
});

describe('branches', () => {
  const expense = flow(
    'expense',
    approver('lead', [{ kind: 'department_head', levelsUp: 0 }]),
    {
      id: 'amount',
      type: 'condition',
      branches: [
        { id: 'big', name: { zh: '大于5万' }, when: { field: 'amount', op: 'gt', value: '50000' }, next: approver('cfo', [{ kind: 'role', role: 'cfo' }]) },
        { id: 'normal', default: true },
      ],
      next: { id: 'notify_finance', type: 'cc', approvers: [{ kind: 'role', role: 'finance' }] },
    },
  );

  it('amount > 50,000 goes to the CFO; exactly 50,000.00 and below skip the CFO', async () => {
    const big = await f.start('wang.operator', expense, { amount: '50000.01' });
    await f.act('li.teamlead', await f.taskOf(big, 'li.teamlead'), { action: 'approve' });
    expect(await pendingUsers(big)).toEqual(['wu.cfo']);
    await f.act('wu.cfo', await f.taskOf(big, 'wu.cfo'), { action: 'approve' });
    expect(await f.status(big)).toBe('approved');

    const edge = await f.start('wang.operator', expense, { amount: '50000.00' });
    await f.act('li.teamlead', await f.taskOf(edge, 'li.teamlead'), { action: 'approve' });
    expect(await f.status(edge)).toBe('approved');
    const branch = await f.t.ctx.db.query<{ detail: { branch: string } }>(`select detail from wf_events where instance_id = $1 and node_id = 'amount' and type = 'branch_chosen'`, [edge]);
    expect(branch.rows.map((r) => r.detail.branch)).toEqual(['normal']);
    // a node that is over as it starts leaves its trail event, no run
    expect((await f.t.ctx.db.query(`select 1 from wf_node_runs where instance_id = $1 and node_type in ('initiator', 'condition', 'cc')`, [edge])).rowCount).toBe(0);
    // the CC after the condition reached finance in both cases
    const ccd = await f.t.ctx.db.query<{ n: number }>(`select count(*)::int as n from wf_cc where instance_id = any($1::uuid[])`, [[big, edge]]);
    expect(ccd.rows[0]!.n).toBe(4); // feng.finance and cao.finance, twice
  });

  it('parallel branches all run and join before continuing', async () => {
    const wf = flow('par', {
      id: 'both',
      type: 'parallel',
      branches: [
        { id: 'q', next: approver('quality', users('zhou.quality')) },
        { id: 'p', next: approver('purchase', users('guo.purchase')) },
      ],
      next: approver('final', users('chen.plant')),
    });
    const id = await f.start('wang.operator', wf);
    expect(await pendingUsers(id)).toEqual(['guo.purchase', 'zhou.quality']);
    await f.act('guo.purchase', await f.taskOf(id, 'guo.purchase'), { action: 'approve' });
    expect(await pendingUsers(id)).toEqual(['zhou.quality']);
    await f.act('zhou.quality', await f.taskOf(id, 'zhou.quality'), { action: 'approve' });
    expect(await pendingUsers(id)).toEqual(['chen.plant']);
    await f.act('chen.plant', await f.taskOf(id, 'chen.plant'), { action: 'approve' });
    expect(await f.status(id)).toBe('approved');
  });

  it('a rejection in one parallel branch rejects the whole approval', async () => {
    const wf = flow('par_rej', {
      id: 'both',
      type: 'parallel',
      branches: [
        { id: 'q', next: approver('quality', users('zhou.quality')) },
        { id: 'p', next: approver('purchase', users('guo.purchase')) },
      ],
    });
    const id = await f.start('wang.operator', wf);
    await f.act('zhou.quality', await f.taskOf(id, 'zhou.quality'), { action: 'reject' });
    expect(await f.status(id)).toBe('rejected');
    expect(await f.pending(id)).toEqual([]);
  });

  it('an end node inside a branch ends the approval', async () => {
    const wf = flow('ends', {
      id: 'c',
      type: 'condition',
      branches: [
        { id: 'small', when: { field: 'amount', op: 'lt', value: 100 }, next: { id: 'done', type: 'end' } },
        { id: 'other', default: true },
      ],
      next: approver('a', users('li.teamlead')),
    });
    expect(await f.status(await f.start('wang.operator', wf, { amount: 99 }))).toBe('approved');
    expect(await f.status(await f.start('wang.operator', wf, { amount: 100 }))).toBe('running');
  });
});

describe('other nodes', () => {
  it('handler nodes are marked done, without a verdict', async () => {
    const id = await f.start('wang.operator', flow('handle', { id: 'h', type: 'handler', approvers: users('hu.warehouse') }));
    const task = await f.taskOf(id, 'hu.warehouse');
    await expect(f.act('hu.warehouse', task, { action: 'reject' })).rejects.toMatchObject({ status: 422 });
    await f.act('hu.warehouse', task, { action: 'approve' });
    const row = await f.t.ctx.db.query<{ status: string }>('select status from wf_tasks where id = $1', [task]);
    expect(row.rows[0]!.status).toBe('done');
    expect(await f.status(id)).toBe('approved');
  });

  it('action nodes run a registered typed action in the same transaction', async () => {
    const calls: string[] = [];
    const off = registerWorkflowAction('test.stamp', async (_tx, e) => {
      calls.push(`${e.nodeId}:${String(e.params.label)}`);
      return { changes: { stamped: true } };
    });
    try {
      const id = await f.start('wang.operator', flow('act', approver('a', users('li.teamlead')), { id: 'stamp', type: 'action', action: 'test.stamp', params: { label: 'x' } }));
      expect(calls).toEqual([]);
      await f.act('li.teamlead', await f.taskOf(id, 'li.teamlead'), { action: 'approve' });
      expect(calls).toEqual(['stamp:x']);
      const rec = await f.t.ctx.db.query<{ record: Record<string, unknown> }>('select record from wf_instances where id = $1', [id]);
      expect(rec.rows[0]!.record.stamped).toBe(true);
    } finally {
      off();
    }
  });

  it('an unknown action refuses the decision and leaves nothing half-done', async () => {
    const id = await f.start('wang.operator', flow('act_bad', approver('a', users('li.teamlead')), { id: 'x', type: 'action', action: 'no.such.action' }));
    const task = await f.taskOf(id, 'li.teamlead');
    await expect(f.act('li.teamlead', task, { action: 'approve' })).rejects.toMatchObject({ status: 422 });
    expect(await f.taskOf(id, 'li.teamlead')).toBe(task); // still pending: rolled back
  });

  it('field permissions: editable fields change the document, others are refused', async () => {
    const id = await f.start('wang.operator', flow('fields', approver('a', users('li.teamlead'), { fields: { amount: 'editable', reason: 'read_only', secret: 'hidden' } })), {
      amount: '100.00',
      reason: 'tools',
      secret: 's',
    });
    const task = await f.taskOf(id, 'li.teamlead');
    const view = await (await import('../src/server/workflow/service.ts')).taskView(f.t.ctx, await f.actor('li.teamlead'), task);
    expect(view.record).toEqual({ amount: '100.00', reason: 'tools' });
    expect(view.fields).toMatchObject({ amount: 'editable', secret: 'hidden' });
    await expect(f.act('li.teamlead', task, { action: 'approve', changes: { reason: 'other' } })).rejects.toMatchObject({ status: 422 });
    await f.act('li.teamlead', task, { action: 'approve', changes: { amount: '90.00' } });
    const rec = await f.t.ctx.db.query<{ record: Record<string, unknown> }>('select record from wf_instances where id = $1', [id]);
    expect(rec.rows[0]!.record).toMatchObject({ amount: '90.00', reason: 'tools' });
  });
});
