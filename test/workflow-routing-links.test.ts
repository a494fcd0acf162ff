// Generic blocks added for table-driven routing: approver sources and SLA minutes read through
// link fields (`process_category.supervisor`, `process_category.sla_minutes`), validated at
// publish; the `emit_event` workflow action; catalog package folders (flows.yaml validated against
// the flow schema, installed once).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoInstant, installFlows } from '../src/server/catalog/index.ts';
import { publishApp, readCatalog, validateApp } from '../src/server/modeling/index.ts';
import { createRecord, submitRecord } from '../src/server/records/index.ts';
import { systemActor } from '../src/server/platform/context.ts';
import { TimerWorker } from '../src/server/workflow/index.ts';
import type { AppDef } from '../src/shared/definition.ts';
import type { WorkflowNode } from '../src/shared/workflow-definition.ts';
import { workflowFixture, type Fixture } from './workflow-helpers.ts';

const app = (team: Partial<Extract<WorkflowNode, { type: 'handler' }>>, extra: WorkflowNode[] = []): AppDef => {
  const root: WorkflowNode = { id: 'start', type: 'initiator' };
  const first = { id: 'team', type: 'handler', approvers: [{ kind: 'field', field: 'category.supervisor' }], ...team } as WorkflowNode;
  root.next = first;
  let cur: WorkflowNode = first;
  for (const n of extra) {
    cur.next = n;
    cur = n;
  }
  return {
    name: 'routed',
    label: { zh: '路由' },
    entities: [
      {
        name: 'rule',
        label: { zh: '路由规则' },
        titleField: 'code',
        fields: [
          { name: 'code', type: 'text', label: { zh: '类别' }, required: true, unique: true },
          { name: 'supervisor', type: 'user', label: { zh: '主管' } },
          { name: 'team', type: 'department', label: { zh: '班组' } },
          { name: 'sla_minutes', type: 'integer', label: { zh: '时限' } },
        ],
        permissions: [{ role: '*', actions: ['read', 'create', 'write'] }],
      },
      {
        name: 'issue',
        label: { zh: '问题' },
        submittable: true,
        fields: [
          { name: 'subject', type: 'text', label: { zh: '主题' } },
          { name: 'category', type: 'link', target: 'rule', label: { zh: '类别' } },
          { name: 'minutes', type: 'integer', label: { zh: '分钟' } },
        ],
        permissions: [{ role: '*', actions: ['read', 'create', 'write', 'submit'] }],
      },
    ],
    workflows: [{ name: 'issue_flow', entity: 'issue', label: { zh: '问题处理' }, root }],
  };
};

const problemsOf = (def: AppDef) => {
  const r = validateApp(def);
  return r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`);
};

describe('validation of link paths', () => {
  it('accepts a path to a user field and an SLA minutes field through a link', () => {
    expect(problemsOf(app({ sla: { escalate: { after: 60, afterField: 'category.sla_minutes' } } }))).toEqual([]);
    expect(problemsOf(app({ approvers: [{ kind: 'field', field: 'category.team' }], sla: { remind: { after: 5, afterField: 'minutes' } } }))).toEqual([]);
  });

  it('names what is wrong: a hop that is not a link, an unknown field, a field of the wrong type', () => {
    expect(problemsOf(app({ approvers: [{ kind: 'field', field: 'subject.supervisor' }] }))).toEqual([
      'workflows.issue_flow.nodes.team.approvers.0.field: "subject" is a text field, not a link, so "subject.supervisor" cannot follow it',
    ]);
    expect(problemsOf(app({ approvers: [{ kind: 'field', field: 'category.boss' }] }))).toEqual([
      'workflows.issue_flow.nodes.team.approvers.0.field: unknown field "boss" in "category": rule has no such field',
    ]);
    expect(problemsOf(app({ approvers: [{ kind: 'field', field: 'category.code' }] }))).toEqual([
      'workflows.issue_flow.nodes.team.approvers.0.field: field "category.code" is a text field; use a user or department field',
    ]);
    expect(problemsOf(app({ sla: { escalate: { after: 60, afterField: 'category.code' } } }))).toEqual([
      'workflows.issue_flow.nodes.team.sla.escalate.afterField: field "category.code" is a text field; the minutes come from an integer, decimal or numeric formula field',
    ]);
    expect(problemsOf(app({ approvers: [{ kind: 'field', field: 'Category.Supervisor' }] }))[0]).toMatch(/approvers\.0\.field: a field name, or a path over link fields/);
  });
});

describe('link paths at run time', () => {
  let f: Fixture;
  let worker: TimerWorker;
  const rule: Record<string, string> = {};
  beforeAll(async () => {
    f = await workflowFixture();
    worker = new TimerWorker(f.t.ctx.db, f.clock, { workerId: 'links' });
    await publishApp(
      f.t.ctx,
      systemActor,
      app({ sla: { escalate: { after: 120, afterField: 'category.sla_minutes', repeat: true, maxLevels: 1 } } }, [
        { id: 'tell', type: 'action', action: 'emit_event', params: { type: 'trellis.routed.handled', data: { source: 'test' } } },
        { id: 'head', type: 'handler', approvers: [{ kind: 'field', field: 'category.team' }] },
      ]),
    );
    const team1 = (await f.t.ctx.db.query<{ id: string }>(`select id from departments where code = 'machining_t2'`)).rows[0]!.id;
    for (const [code, sup, minutes] of [
      ['fast', 'li.teamlead', 10],
      ['none', 'liu.teamlead', null],
    ] as const) {
      const r = await createRecord(f.t.ctx, systemActor, 'routed', 'rule', { code, supervisor: f.id(sup), team: team1, sla_minutes: minutes });
      rule[code] = r.id;
    }
  });
  afterAll(async () => {
    await f?.destroy();
  });

  async function raise(category: string): Promise<string> {
    const actor = await f.actor('wang.operator');
    const rec = await createRecord(f.t.ctx, actor, 'routed', 'issue', { subject: 'x', category });
    const sub = await submitRecord(f.t.ctx, actor, 'routed', 'issue', rec.id);
    return (sub.intercepted as { workflow: { instanceId: string } }).workflow.instanceId;
  }

  it('assigns the supervisor of the linked row; escalates after the linked row\'s minutes, or `after` when it has none', async () => {
    const fast = await raise(rule.fast!);
    const slow = await raise(rule.none!);
    expect((await f.pending(fast)).map((p) => p.user)).toEqual(['li.teamlead']);
    expect((await f.pending(slow)).map((p) => p.user)).toEqual(['liu.teamlead']);
    f.clock.advanceMinutes(10);
    await worker.runOnce();
    expect((await f.pending(fast)).map((p) => p.user)).toEqual(['zhao.director']);
    expect((await f.pending(slow)).map((p) => p.user)).toEqual(['liu.teamlead']);
    f.clock.advanceMinutes(110);
    await worker.runOnce();
    expect((await f.pending(slow)).map((p) => p.user)).toEqual(['huang.director']);
  });

  it('a department reached through a link gives its head; emit_event writes a business event with the document', async () => {
    const id = await raise(rule.fast!);
    await f.act('li.teamlead', await f.taskOf(id, 'li.teamlead'), { action: 'approve' });
    expect((await f.pending(id)).map((p) => p.user)).toEqual(['ma.teamlead']); // head of machining_t2
    const ev = await f.t.ctx.db.query<{ data: { name: string | null; record: { values: Record<string, unknown> }; extra: unknown; nodeId: string } }>(
      `select data from outbox where type = 'trellis.routed.handled' and data->>'instanceId' = $1`,
      [id],
    );
    expect(ev.rows).toHaveLength(1);
    expect(ev.rows[0]!.data.record.values.category).toBe(rule.fast);
    expect(ev.rows[0]!.data.extra).toEqual({ source: 'test' });
    expect(ev.rows[0]!.data.nodeId).toBe('tell');
  });

  it('emit_event with a bad event type refuses the step with a message naming it', async () => {
    await publishApp(f.t.ctx, systemActor, app({}, [{ id: 'tell', type: 'action', action: 'emit_event', params: { type: 'Not An Event' } }]));
    const id = await raise(rule.fast!);
    await expect(f.act('li.teamlead', await f.taskOf(id, 'li.teamlead'), { action: 'approve' })).rejects.toMatchObject({
      status: 422,
      message: expect.stringContaining('The step "tell" (emit_event) is set up wrongly: params.type'),
    });
  });
});

describe('catalog package folders', () => {
  it('reads catalog/<folder>/app.yaml beside plain files', () => {
    const entries = readCatalog();
    const andon = entries.find((e) => e.name === 'andon');
    expect(andon?.packageDir).toMatch(/catalog\/production-exception$/);
    expect(entries.some((e) => e.name === 'visitor' && !e.packageDir)).toBe(true);
  });

  it('demo times count days back from the plant-local day', () => {
    const now = new Date('2026-03-10T20:00:00Z'); // 04:00 on the 11th in Shanghai
    expect(demoInstant('-1d 08:30', now, 'Asia/Shanghai').toISOString()).toBe('2026-03-10T00:30:00.000Z');
    expect(demoInstant('-0d 00:00', now, 'UTC').toISOString()).toBe('2026-03-10T00:00:00.000Z');
  });

  it('flows.yaml is validated with the flow schema, created once, and skipped without its connector', async () => {
    const f = await workflowFixture();
    try {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trellis-pkg-'));
      const file = path.join(dir, 'flows.yaml');
      fs.writeFileSync(file, 'flows:\n  - name: pkg-flow\n    connector: sample-erp\n    eventTypes: [trellis.record.submitted]\n    condition: { app: routed }\n  - name: pkg-other\n    connector: no-such-erp\n    eventTypes: [x.y]\n');
      expect(await installFlows(f.t.ctx, file)).toEqual(['pkg-flow']);
      expect(await installFlows(f.t.ctx, file)).toEqual([]);
      fs.writeFileSync(file, 'flows:\n  - name: bad flow\n    connector: sample-erp\n    eventTypes: []\n');
      await expect(installFlows(f.t.ctx, file)).rejects.toThrow(/flows\.0: name: letters, digits.*eventTypes: at least one event type pattern/s);
      fs.rmSync(dir, { recursive: true, force: true });
    } finally {
      await f.destroy();
    }
  });
});
