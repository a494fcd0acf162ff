// The `set_fields` workflow action: an `action` node writes "$now" (the step's instant), "$actor"
// (who completed the step) or literals onto the document through the records service, in the
// transaction of the step that reaches it (history row, outbox event, instance copy); bad
// parameters and unknown fields fail the step with a message naming the node, and nothing of that
// step is kept.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishApp } from '../src/server/modeling/index.ts';
import { createRecord, submitRecord } from '../src/server/records/index.ts';
import { systemActor } from '../src/server/platform/context.ts';
import { SetFieldsParams } from '../src/server/workflow/actions.ts';
import { workflowAction } from '../src/server/workflow/hooks.ts';
import type { AppDef } from '../src/shared/definition.ts';
import type { WorkflowNode } from '../src/shared/workflow-definition.ts';
import { workflowFixture, type Fixture } from './workflow-helpers.ts';

const appWith = (name: string, params: Record<string, unknown>): AppDef => {
  const root: WorkflowNode = {
    id: 'start',
    type: 'initiator',
    next: {
      id: 'lead',
      type: 'handler',
      approvers: [{ kind: 'users', users: ['li.teamlead'] }],
      next: {
        id: 'stamp',
        type: 'action',
        action: 'set_fields',
        params,
        next: { id: 'director', type: 'handler', approvers: [{ kind: 'users', users: ['zhao.director'] }] },
      },
    } as WorkflowNode,
  };
  return {
    name,
    label: { zh: '打点' },
    entities: [
      {
        name: 'issue',
        label: { zh: '问题' },
        submittable: true,
        fields: [
          { name: 'subject', type: 'text', label: { zh: '主题' } },
          { name: 'done_at', type: 'datetime', label: { zh: '完成时间' } },
          { name: 'done_by', type: 'user', label: { zh: '完成人' } },
          { name: 'stage', type: 'text', label: { zh: '阶段' } },
          { name: 'score', type: 'integer', label: { zh: '分数' } },
        ],
        permissions: [{ role: '*', actions: ['read', 'create', 'write', 'submit'] }],
      },
    ],
    workflows: [{ name: 'flow', entity: 'issue', label: { zh: '处理' }, root }],
  };
};

let f: Fixture;
beforeAll(async () => {
  f = await workflowFixture();
  for (const [name, params] of [
    ['sfgood', { fields: { done_at: '$now', done_by: '$actor', stage: '班长已确认', score: 3 } }],
    ['sfparams', { fields: { done_at: '$nwo' } }],
    ['sffield', { fields: { nope_at: '$now' } }],
  ] as const) {
    await publishApp(f.t.ctx, systemActor, appWith(name, params));
  }
});
afterAll(async () => {
  await f?.destroy();
});

async function raise(app: string): Promise<{ recordId: string; instanceId: string }> {
  const actor = await f.actor('wang.operator');
  const rec = await createRecord(f.t.ctx, actor, app, 'issue', { subject: '主轴异响' });
  const sub = await submitRecord(f.t.ctx, actor, app, 'issue', rec.id);
  return { recordId: rec.id, instanceId: (sub.intercepted as { workflow: { instanceId: string } }).workflow.instanceId };
}

describe('set_fields action', () => {
  it('stamps the step time, the actor and literals on the document in the step\'s transaction', async () => {
    const { recordId, instanceId } = await raise('sfgood');
    f.clock.advanceMinutes(37);
    const stepAt = f.clock.now();
    await f.act('li.teamlead', await f.taskOf(instanceId, 'li.teamlead'), { action: 'approve' });
    expect((await f.pending(instanceId)).map((p) => p.user)).toEqual(['zhao.director']);

    const row = (await f.t.ctx.db.query<{ done_at: Date; done_by: string; stage: string; score: number }>(
      'select done_at, done_by, stage, score from x_sfgood__issue where id = $1',
      [recordId],
    )).rows[0]!;
    expect(new Date(row.done_at).toISOString()).toBe(stepAt.toISOString());
    expect(row.done_by).toBe(f.id('li.teamlead'));
    expect(row.stage).toBe('班长已确认');
    expect(Number(row.score)).toBe(3);

    // through the records service: a history row with the change, in the same transaction as
    // the step's workflow event (same xid)
    const hist = await f.t.ctx.db.query<{ changes: Array<{ field: string }>; xid: string; changed_at: Date }>(
      `select changes, xmin::text as xid, changed_at from record_history where app = 'sfgood' and record_id = $1 and changes @> '[{"field": "done_at"}]'::jsonb`,
      [recordId],
    );
    expect(hist.rows).toHaveLength(1);
    expect(hist.rows[0]!.changes.map((c) => c.field).sort()).toEqual(['done_at', 'done_by', 'score', 'stage']);
    // the record event for subscribers goes into the outbox with it
    const out = await f.t.ctx.db.query<{ xid: string }>(
      `select xmin::text as xid from outbox where subject = $1 and data->'changed' ? 'done_at'`,
      [recordId],
    );
    expect(out.rows.map((r) => r.xid)).toEqual([hist.rows[0]!.xid]);
    expect(new Date(hist.rows[0]!.changed_at).toISOString()).toBe(stepAt.toISOString());
    const ev = await f.t.ctx.db.query<{ type: string; xid: string }>(
      `select type, xmin::text as xid from wf_events where instance_id = $1 and type in ('action_run', 'approved') order by seq`,
      [instanceId],
    );
    expect(ev.rows.map((r) => r.type)).toContain('action_run');
    for (const r of ev.rows) expect(r.xid).toBe(hist.rows[0]!.xid);
    // and the instance keeps the stamped document (what later steps and conditions see)
    const inst = await f.t.ctx.db.query<{ record: Record<string, unknown> }>('select record from wf_instances where id = $1', [instanceId]);
    expect(inst.rows[0]!.record.stage).toBe('班长已确认');
    expect(new Date(inst.rows[0]!.record.done_at as string).toISOString()).toBe(stepAt.toISOString());
  });

  it('refuses bad parameters with a message naming the step; nothing of the step is kept', async () => {
    const { recordId, instanceId } = await raise('sfparams');
    const task = await f.taskOf(instanceId, 'li.teamlead');
    await expect(f.act('li.teamlead', task, { action: 'approve' })).rejects.toMatchObject({
      status: 422,
      message: expect.stringMatching(/step "stamp" \(set_fields\) is set up wrongly: params\.fields\.done_at/),
    });
    // rolled back with the step: the task is still pending, the document untouched
    expect((await f.pending(instanceId)).map((p) => p.user)).toEqual(['li.teamlead']);
    const row = (await f.t.ctx.db.query<{ done_at: Date | null }>('select done_at from x_sfparams__issue where id = $1', [recordId])).rows[0]!;
    expect(row.done_at).toBeNull();
  });

  it('a field the entity lacks fails the step with the records service\'s message', async () => {
    const { instanceId } = await raise('sffield');
    const task = await f.taskOf(instanceId, 'li.teamlead');
    const err = await f.act('li.teamlead', task, { action: 'approve' }).then(
      () => null,
      (e: unknown) => e as { status: number; message: string },
    );
    expect(err?.status).toBeGreaterThanOrEqual(400);
    expect(err?.status).toBeLessThan(500);
    expect(JSON.stringify(err)).toMatch(/nope_at/);
    expect((await f.pending(instanceId)).map((p) => p.user)).toEqual(['li.teamlead']);
  });

  it('validates its parameters: tokens, literals, field names', async () => {
    expect(SetFieldsParams.safeParse({ fields: { a_at: '$now', b: '$actor', c: 'x', d: 1.5, e: true, f: null } }).success).toBe(true);
    for (const bad of [{}, { fields: {} }, { fields: { Bad: 1 } }, { fields: { a: '$today' } }, { fields: { a: { $ctx: 'now' } } }, { fields: { a: 1 }, extra: 1 }]) {
      expect(SetFieldsParams.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
    }
    expect(workflowAction('set_fields')).toBeTypeOf('function');
  });
});
