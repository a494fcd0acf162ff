// End to end over HTTP with a published app: submit → approval → the document becomes effective
// in the decision's transaction; new versions do not disturb running instances; inbox, bulk
// approve, e-signature with tamper detection, trail permissions, concurrent approvers → 409.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clearAppCache, publishApp } from '../src/server/modeling/index.ts';
import { systemActor } from '../src/server/platform/context.ts';
import { DEMO_PASSWORD } from '../src/server/platform/org/index.ts';
import type { AppDef } from '../src/shared/definition.ts';
import type { WorkflowDef } from '../src/shared/workflow-definition.ts';
import { loginAs, type TestSession } from './helpers/trellis.ts';
import { workflowFixture, type Fixture } from './workflow-helpers.ts';

let f: Fixture;
const s: Record<string, TestSession> = {};
const who = ['wang.operator', 'li.teamlead', 'zhao.director', 'chen.plant', 'wu.cfo', 'qian.audit', 'yang.operator', 'ma.teamlead'];

const expenseWorkflow = (finalApprover: string): WorkflowDef => ({
  name: 'expense_approval',
  entity: 'expense',
  label: { zh: '费用审批', en: 'Expense approval' },
  root: {
    id: 'start',
    type: 'initiator',
    next: {
      id: 'lead',
      type: 'approver',
      name: { zh: '班长审批' },
      approvers: [{ kind: 'department_head', levelsUp: 0 }],
      fields: { amount: 'editable' },
      next: {
        id: 'by_amount',
        type: 'condition',
        branches: [
          { id: 'big', when: { field: 'amount', op: 'gt', value: '50000' }, next: { id: 'cfo', type: 'approver', approvers: [{ kind: 'role', role: 'cfo' }], signature: true } },
          { id: 'normal', default: true },
        ],
        next: { id: 'final', type: 'approver', name: { zh: '终审' }, approvers: [{ kind: 'users', users: [finalApprover] }] },
      },
    },
  },
});

const appDef = (finalApprover: string): AppDef => ({
  name: 'finance',
  label: { zh: '财务', en: 'Finance' },
  entities: [
    {
      name: 'expense',
      label: { zh: '费用报销' },
      submittable: true,
      namingSeries: 'EXP-{####}',
      fields: [
        { name: 'amount', type: 'money', label: { zh: '金额' }, required: true },
        { name: 'reason', type: 'text', label: { zh: '事由' } },
      ],
      permissions: [{ role: '*', actions: ['read', 'create', 'write', 'submit'] }],
    },
  ],
  workflows: [expenseWorkflow(finalApprover)],
});

const base = '/api/v1/apps/finance/entities/expense/records';

async function createAndSubmit(amount: string): Promise<{ recordId: string; instanceId: string }> {
  const c = await s['wang.operator']!.inject({ method: 'POST', url: base, payload: { values: { amount, reason: '刀具' } } });
  expect(c.statusCode).toBe(201);
  const recordId = c.json().id as string;
  const sub = await s['wang.operator']!.inject({ method: 'POST', url: `${base}/${recordId}/submit`, payload: {} });
  expect(sub.statusCode).toBe(202);
  expect(sub.json().status).toBe('draft');
  return { recordId, instanceId: sub.json().intercepted.workflow.instanceId };
}

async function todoOf(user: string) {
  const r = await s[user]!.inject('/api/v1/workflow/inbox/todo');
  expect(r.statusCode).toBe(200);
  return r.json().items as Array<{ id: string; instanceId: string; title: string }>;
}

async function taskFor(user: string, instanceId: string): Promise<string> {
  const t = (await todoOf(user)).find((x) => x.instanceId === instanceId);
  if (!t) throw new Error(`${user} has no task for ${instanceId}`);
  return t.id;
}

const act = (user: string, taskId: string, payload: Record<string, unknown>) => s[user]!.inject({ method: 'POST', url: `/api/v1/workflow/tasks/${taskId}/actions`, payload });
const recordStatus = async (id: string) => (await s['wang.operator']!.inject(`${base}/${id}`)).json().status as string;

beforeAll(async () => {
  f = await workflowFixture();
  await publishApp(f.t.ctx, systemActor, appDef('chen.plant'));
  for (const u of who) s[u] = await loginAs(f.t, u, DEMO_PASSWORD);
});
afterAll(async () => {
  await f?.destroy();
});

describe('submit → approve → effective', () => {
  it('final approval submits the document and emits the outbox event in the same transaction', async () => {
    const { recordId, instanceId } = await createAndSubmit('1200.00');
    expect(await recordStatus(recordId)).toBe('draft');
    expect((await act('li.teamlead', await taskFor('li.teamlead', instanceId), { action: 'approve', comment: '同意' })).statusCode).toBe(200);
    expect(await recordStatus(recordId)).toBe('draft');
    const last = await act('chen.plant', await taskFor('chen.plant', instanceId), { action: 'approve' });
    expect(last.json()).toMatchObject({ instanceStatus: 'approved' });
    expect(await recordStatus(recordId)).toBe('submitted');
    const ev = await f.t.ctx.db.query<{ type: string }>(`select type from outbox where subject = $1 order by id`, [recordId]);
    expect(ev.rows.map((r) => r.type)).toContain('trellis.workflow.approved');
  });

  it('a new document submitted in one request starts its approval; a refused submit keeps nothing', async () => {
    const r = await s['wang.operator']!.inject({ method: 'POST', url: base, payload: { values: { amount: '88.00', reason: '劳保' }, submit: true } });
    expect(r.statusCode).toBe(202);
    const body = r.json();
    expect(body.status).toBe('draft');
    expect(r.headers.location).toBe(`${base}/${body.id}`);
    expect(body.intercepted.workflow.pendingTasks.map((p: { assigneeId: string }) => f.name(p.assigneeId))).toEqual(['li.teamlead']);
    expect(await f.status(body.intercepted.workflow.instanceId)).toBe('running');
    // the approval's snapshot is the document as created (taken without reading the new row again)
    const snap = await f.t.ctx.db.query<{ record: Record<string, unknown> }>('select record from wf_instances where id = $1', [body.intercepted.workflow.instanceId]);
    expect(snap.rows[0]!.record).toMatchObject({ amount: '88.00', reason: '劳保' });
    // withdrawn again: the inbox test below counts li.teamlead's tasks
    const w = await s['wang.operator']!.inject({ method: 'POST', url: `/api/v1/workflow/instances/${body.intercepted.workflow.instanceId}/actions`, payload: { action: 'withdraw' } });
    expect(w.json()).toMatchObject({ instanceStatus: 'withdrawn', pendingTasks: [] });
    // an entity everyone may create but only team leads may submit: a refused submit leaves no draft behind
    await publishApp(f.t.ctx, systemActor, {
      name: 'memos',
      label: { zh: '备忘' },
      entities: [
        {
          name: 'memo',
          label: { zh: '备忘录' },
          submittable: true,
          fields: [{ name: 'text', type: 'text', label: { zh: '内容' }, required: true }],
          permissions: [
            { role: '*', actions: ['read', 'create', 'write'] },
            { role: 'team_lead', actions: ['read', 'create', 'write', 'submit'] },
          ],
        },
      ],
    });
    const memos = '/api/v1/apps/memos/entities/memo/records';
    const refused = await s['wang.operator']!.inject({ method: 'POST', url: memos, payload: { values: { text: '交接班' }, submit: true } });
    expect(refused.statusCode).toBe(403);
    expect(refused.json().detail).toMatch(/submit/);
    expect((await f.t.ctx.db.query('select id from x_memos__memo')).rows).toHaveLength(0);
    const bad = await s['li.teamlead']!.inject({ method: 'POST', url: memos, payload: { values: { text: '交接班' }, submit: 'yes' } });
    expect(bad.statusCode).toBe(400);
    const ok = await s['li.teamlead']!.inject({ method: 'POST', url: memos, payload: { values: { text: '交接班' }, submit: true } });
    expect(ok.statusCode).toBe(201);
    expect(ok.json()).toMatchObject({ status: 'submitted', version: 2, values: { text: '交接班' } });
    expect((await f.t.ctx.db.query<{ status: string }>('select status from x_memos__memo')).rows).toEqual([{ status: 'submitted' }]);
  });

  it('a failing effect rolls back the decision (one transaction)', async () => {
    const { recordId, instanceId } = await createAndSubmit('10.00');
    await act('li.teamlead', await taskFor('li.teamlead', instanceId), { action: 'approve' });
    // someone breaks the document table's submit: the final approval must not half-commit
    await f.t.ctx.db.exec(`alter table x_finance__expense add constraint no_submit check (status <> 'submitted') not valid`);
    try {
      const task = await taskFor('chen.plant', instanceId);
      const r = await act('chen.plant', task, { action: 'approve' });
      expect(r.statusCode).toBe(500);
      expect(await f.status(instanceId)).toBe('running');
      expect(await taskFor('chen.plant', instanceId)).toBe(task);
    } finally {
      await f.t.ctx.db.exec(`alter table x_finance__expense drop constraint no_submit`);
    }
    expect(await recordStatus(recordId)).toBe('draft');
  });

  it('an editable field changed by the approver reaches the document', async () => {
    const { recordId, instanceId } = await createAndSubmit('500.00');
    const r = await act('li.teamlead', await taskFor('li.teamlead', instanceId), { action: 'approve', changes: { amount: '450' } });
    expect(r.statusCode).toBe(200);
    const rec = (await s['wang.operator']!.inject(`${base}/${recordId}`)).json();
    expect(rec.values.amount).toBe('450.00');
    const refused = await act('chen.plant', await taskFor('chen.plant', instanceId), { action: 'approve', changes: { reason: 'x' } });
    expect(refused.statusCode).toBe(422);
  });

  it('a rejected approval leaves the document a draft; withdraw too', async () => {
    const a = await createAndSubmit('100.00');
    await act('li.teamlead', await taskFor('li.teamlead', a.instanceId), { action: 'reject', comment: '不需要' });
    expect(await f.status(a.instanceId)).toBe('rejected');
    expect(await recordStatus(a.recordId)).toBe('draft');
    const b = await createAndSubmit('100.00');
    const w = await s['wang.operator']!.inject({ method: 'POST', url: `/api/v1/workflow/instances/${b.instanceId}/actions`, payload: { action: 'withdraw' } });
    expect(w.json()).toMatchObject({ instanceStatus: 'withdrawn' });
    expect(await recordStatus(b.recordId)).toBe('draft');
  });

  it('a document in approval cannot be edited or deleted by the initiator until withdrawn', async () => {
    const { recordId, instanceId } = await createAndSubmit('150.00');
    const version = (await s['wang.operator']!.inject(`${base}/${recordId}`)).json().version as number;
    const edit = await s['wang.operator']!.inject({ method: 'PATCH', url: `${base}/${recordId}`, payload: { version, values: { reason: '改了' } } });
    expect(edit.statusCode).toBe(409);
    expect(edit.json().detail).toContain('in approval');
    expect((await s['wang.operator']!.inject(`${base}/${recordId}`)).json().values.reason).toBe('刀具');
    await s['wang.operator']!.inject({ method: 'POST', url: `/api/v1/workflow/instances/${instanceId}/actions`, payload: { action: 'withdraw' } });
    const after = await s['wang.operator']!.inject({ method: 'PATCH', url: `${base}/${recordId}`, payload: { version, values: { reason: '改了' } } });
    expect(after.statusCode).toBe(200);
  });

  it('instances keep running on their version after a new definition is published', async () => {
    const old = await createAndSubmit('300.00');
    const v2 = await publishApp(f.t.ctx, systemActor, appDef('zhao.director'));
    try {
      const fresh = await createAndSubmit('300.00');
      // pinned to the version: no copy of the tree or the entities in the instance row
      const row = (await f.t.ctx.db.query<{ pinned: boolean; definition: unknown; scope: unknown }>('select pinned, definition, scope from wf_instances where id = $1', [old.instanceId])).rows[0];
      expect(row).toEqual({ pinned: true, definition: null, scope: null });
      // a process that never saw the old version (cold cache) reads it from the version it is pinned to
      clearAppCache();
      await act('li.teamlead', await taskFor('li.teamlead', old.instanceId), { action: 'approve' });
      await act('li.teamlead', await taskFor('li.teamlead', fresh.instanceId), { action: 'approve' });
      expect((await f.pending(old.instanceId)).map((p) => p.user)).toEqual(['chen.plant']);
      expect((await f.pending(fresh.instanceId)).map((p) => p.user)).toEqual(['zhao.director']);
      await act('chen.plant', await taskFor('chen.plant', old.instanceId), { action: 'approve' });
      expect(await recordStatus(old.recordId)).toBe('submitted');
      const version = async (id: string) => (await f.t.ctx.db.query<{ app_version: number }>('select app_version from wf_instances where id = $1', [id])).rows[0]!.app_version;
      expect(await version(fresh.instanceId)).toBe(v2.version);
      expect(await version(old.instanceId)).toBe(v2.version - 1);
    } finally {
      await publishApp(f.t.ctx, systemActor, appDef('chen.plant')); // back for the other tests
    }
  });
});

describe('e-signature', () => {
  it('a signed step needs the password, stores a verifiable signature and detects tampering', async () => {
    const { recordId, instanceId } = await createAndSubmit('80000.00');
    await act('li.teamlead', await taskFor('li.teamlead', instanceId), { action: 'approve' });
    const task = await taskFor('wu.cfo', instanceId);
    const unsigned = await act('wu.cfo', task, { action: 'approve' });
    expect(unsigned.statusCode).toBe(401);
    expect(unsigned.json().detail).toMatch(/password/);
    expect((await act('wu.cfo', task, { action: 'approve', password: 'wrong-password-1' })).statusCode).toBe(401);
    expect(await taskFor('wu.cfo', instanceId)).toBe(task);
    const signed = await act('wu.cfo', task, { action: 'approve', password: DEMO_PASSWORD, comment: '同意，注意预算' });
    expect(signed.statusCode).toBe(200);
    const sigId = signed.json().signatureId as string;
    const sig = await f.t.ctx.db.query<{ ip: string; user_agent: string; decision: string; document: { data: { amount: string } } }>('select * from wf_signatures where id = $1', [sigId]);
    expect(sig.rows[0]).toMatchObject({ decision: 'approve', user_agent: 'lightMyRequest', document: { data: { amount: '80000.00' } } });
    expect(sig.rows[0]!.ip).toBeTruthy();

    const verify = async () => (await s['qian.audit']!.inject(`/api/v1/workflow/signatures/${sigId}/verify`)).json();
    expect(await verify()).toMatchObject({ valid: true, documentIntact: true, signatureIntact: true, matchesCurrentDocument: true });
    // tamper with the stored decision
    await f.t.ctx.db.query(`update wf_signatures set decision = 'reject' where id = $1`, [sigId]);
    expect(await verify()).toMatchObject({ valid: false, signatureIntact: false });
    await f.t.ctx.db.query(`update wf_signatures set decision = 'approve' where id = $1`, [sigId]);
    // tamper with the snapshot
    await f.t.ctx.db.query(`update wf_signatures set document = jsonb_set(document, '{data,amount}', '"8000.00"') where id = $1`, [sigId]);
    expect(await verify()).toMatchObject({ valid: false, documentIntact: false });
    await f.t.ctx.db.query(`update wf_signatures set document = jsonb_set(document, '{data,amount}', '"80000.00"') where id = $1`, [sigId]);
    expect((await verify()).valid).toBe(true);
    // change the document itself behind the approval's back
    await f.t.ctx.db.query(`update x_finance__expense set amount = 1 where id = $1`, [recordId]);
    expect(await verify()).toMatchObject({ valid: false, documentIntact: true, signatureIntact: true, matchesCurrentDocument: false });
    // outsiders cannot verify
    expect((await s['yang.operator']!.inject(`/api/v1/workflow/signatures/${sigId}/verify`)).statusCode).toBe(403);
  });
});

describe('e-signature with a signing PIN', () => {
  it('signs with the PIN instead of the password', async () => {
    const { instanceId } = await createAndSubmit('90000.00');
    await act('li.teamlead', await taskFor('li.teamlead', instanceId), { action: 'approve' });
    const task = await taskFor('wu.cfo', instanceId);
    expect((await act('wu.cfo', task, { action: 'approve', pin: '123456' })).statusCode).toBe(422); // no PIN set yet
    const set = await s['wu.cfo']!.inject({ method: 'POST', url: '/api/v1/auth/signing-pin', payload: { currentPassword: DEMO_PASSWORD, pin: '246810' } });
    expect(set.statusCode).toBe(204);
    expect((await act('wu.cfo', task, { action: 'approve', pin: '111111' })).statusCode).toBe(401);
    const ok = await act('wu.cfo', task, { action: 'approve', pin: '246810' });
    expect(ok.statusCode).toBe(200);
    const sig = await f.t.ctx.db.query<{ method: string }>('select method from wf_signatures where id = $1', [ok.json().signatureId]);
    expect(sig.rows[0]!.method).toBe('pin');
  });
});

describe('inbox', () => {
  it('to do, done, started, cc, counts and filters', async () => {
    const a = await createAndSubmit('20.00');
    f.clock.advanceMinutes(1);
    const b = await createAndSubmit('30.00');
    const counts = (await s['li.teamlead']!.inject('/api/v1/workflow/inbox/counts')).json();
    expect(counts.todo).toBeGreaterThanOrEqual(2);
    const page1 = await s['li.teamlead']!.inject('/api/v1/workflow/inbox/todo?limit=1');
    expect(page1.json().items).toHaveLength(1);
    expect(page1.json().items[0].instanceId).toBe(b.instanceId); // newest first
    const page2 = await s['li.teamlead']!.inject(`/api/v1/workflow/inbox/todo?limit=1&cursor=${page1.json().nextCursor}`);
    expect(page2.json().items[0].instanceId).toBe(a.instanceId);
    const filtered = await s['li.teamlead']!.inject('/api/v1/workflow/inbox/todo?app=nope');
    expect(filtered.json().items).toEqual([]);
    await act('li.teamlead', await taskFor('li.teamlead', a.instanceId), { action: 'approve' });
    const done = (await s['li.teamlead']!.inject('/api/v1/workflow/inbox/done')).json();
    expect(done.items[0]).toMatchObject({ instanceId: a.instanceId, decision: 'approve' });
    const started = (await s['wang.operator']!.inject('/api/v1/workflow/inbox/started?status=running')).json();
    expect(started.items.map((i: { id: string }) => i.id)).toEqual(expect.arrayContaining([a.instanceId, b.instanceId]));
    const notes = (await s['chen.plant']!.inject('/api/v1/workflow/notifications?unread=true')).json();
    expect(notes.items.some((n: { kind: string; instanceId: string }) => n.kind === 'task' && n.instanceId === a.instanceId)).toBe(true);
    expect((await s['chen.plant']!.inject({ method: 'POST', url: '/api/v1/workflow/notifications/read', payload: { ids: 'all' } })).json().marked).toBeGreaterThan(0);
    expect((await s['chen.plant']!.inject('/api/v1/workflow/inbox/counts')).json().notificationsUnread).toBe(0);
  });

  it('bulk approve reports each task', async () => {
    const a = await createAndSubmit('41.00');
    const b = await createAndSubmit('42.00');
    const ta = await taskFor('li.teamlead', a.instanceId);
    const tb = await taskFor('li.teamlead', b.instanceId);
    await act('li.teamlead', tb, { action: 'reject' }); // tb is no longer pending
    const r = await s['li.teamlead']!.inject({ method: 'POST', url: '/api/v1/workflow/inbox/bulk-approve', payload: { taskIds: [ta, tb] } });
    expect(r.json()).toMatchObject({ approved: 1, failed: 1 });
    expect(r.json().results.find((x: { taskId: string }) => x.taskId === tb)).toMatchObject({ ok: false, status: 409 });
    expect((await f.pending(a.instanceId)).map((p) => p.user)).toEqual(['chen.plant']);
  });

  it('two approvers at once over HTTP: one 200, one 409 with a clear message', async () => {
    await publishApp(f.t.ctx, systemActor, { ...appDef('chen.plant'), workflows: [{ ...expenseWorkflow('chen.plant'), root: { id: 'start', type: 'initiator', next: { id: 'leads', type: 'approver', mode: 'any', approvers: [{ kind: 'users', users: ['li.teamlead', 'ma.teamlead'] }] } } }] });
    try {
      const { instanceId } = await createAndSubmit('5.00');
      const ta = await taskFor('li.teamlead', instanceId);
      const tb = await taskFor('ma.teamlead', instanceId);
      const [r1, r2] = await Promise.all([act('li.teamlead', ta, { action: 'approve' }), act('ma.teamlead', tb, { action: 'approve' })]);
      expect([r1.statusCode, r2.statusCode].sort()).toEqual([200, 409]);
      const loser = r1.statusCode === 409 ? r1 : r2;
      expect(loser.headers['content-type']).toContain('application/problem+json');
      expect(loser.json().detail).toMatch(/no longer be acted on/);
    } finally {
      await publishApp(f.t.ctx, systemActor, appDef('chen.plant'));
    }
  });
});

describe('trail', () => {
  it('is ordered and readable by the initiator, the approvers and auditors only', async () => {
    const { instanceId } = await createAndSubmit('60.00');
    await act('li.teamlead', await taskFor('li.teamlead', instanceId), { action: 'approve', comment: '可以' });
    await s['wang.operator']!.inject({ method: 'POST', url: `/api/v1/workflow/instances/${instanceId}/actions`, payload: { action: 'comment', comment: '谢谢', attachments: ['file-1'] } });
    for (const u of ['wang.operator', 'li.teamlead', 'chen.plant', 'qian.audit']) {
      const r = await s[u]!.inject(`/api/v1/workflow/instances/${instanceId}`);
      expect(r.statusCode, u).toBe(200);
    }
    expect((await s['yang.operator']!.inject(`/api/v1/workflow/instances/${instanceId}`)).statusCode).toBe(403);
    const tr = (await s['qian.audit']!.inject(`/api/v1/workflow/instances/${instanceId}`)).json();
    const seqs = tr.trail.map((e: { seq: number }) => e.seq);
    expect(seqs).toEqual([...seqs].sort((x: number, y: number) => x - y));
    expect(tr.trail.map((e: { type: string }) => e.type)).toEqual(expect.arrayContaining(['started', 'approve', 'node_approved', 'comment']));
    const approve = tr.trail.find((e: { type: string }) => e.type === 'approve');
    expect(approve).toMatchObject({ comment: '可以', nodeName: '班长审批', actor: { username: 'li.teamlead' }, userAgent: 'lightMyRequest' });
    expect(approve.ip).toBeTruthy();
  });

  it('validate endpoint reports problems by node id', async () => {
    const r = await s['wang.operator']!.inject({ method: 'POST', url: '/api/v1/workflow/validate', payload: { workflow: { ...expenseWorkflow('x'), root: { id: 'start', type: 'initiator', next: { id: 'a', type: 'approver', approvers: [] } } } } });
    expect(r.json()).toMatchObject({ valid: false, problems: [{ path: 'workflows.expense_approval.nodes.a.approvers' }] });
  });

  it('refuses bad input with 4xx', async () => {
    expect((await s['li.teamlead']!.inject({ method: 'POST', url: '/api/v1/workflow/tasks/not-a-uuid/actions', payload: { action: 'approve' } })).statusCode).toBe(400);
    expect((await s['li.teamlead']!.inject({ method: 'POST', url: '/api/v1/workflow/tasks/00000000-0000-4000-8000-000000000000/actions', payload: { action: 'approve' } })).statusCode).toBe(404);
    expect((await s['li.teamlead']!.inject({ method: 'POST', url: '/api/v1/workflow/tasks/00000000-0000-4000-8000-000000000000/actions', payload: { action: 'explode' } })).statusCode).toBe(400);
    expect((await f.t.app.inject('/api/v1/workflow/inbox/todo')).statusCode).toBe(401);
  });
});
