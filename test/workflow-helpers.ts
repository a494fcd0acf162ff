// Shared fixtures of the workflow tests: a Trellis with the demo plant, a clock the test moves,
// actors for demo people, and short-hands to start instances and act on tasks.
import { randomUUID } from 'node:crypto';
import { loadPrincipalData } from '../src/server/platform/org/index.ts';
import type { Actor, Clock } from '../src/server/platform/context.ts';
import { workflowService as svc } from '../src/server/workflow/index.ts';
import type { TaskAction } from '../src/server/workflow/service.ts';
import type { WorkflowDef, WorkflowNode } from '../src/shared/workflow-definition.ts';
import { createTestTrellis, type TestTrellis } from './helpers/trellis.ts';

export class ManualClock implements Clock {
  private t: number;
  constructor(start = '2026-03-02T01:00:00.000Z') {
    this.t = new Date(start).getTime();
  }
  now(): Date {
    return new Date(this.t);
  }
  advanceMinutes(m: number): void {
    this.t += m * 60_000;
  }
  advanceMs(ms: number): void {
    this.t += ms;
  }
}

export interface Fixture {
  t: TestTrellis;
  clock: ManualClock;
  id(username: string): string;
  name(userId: string): string;
  actor(username: string, meta?: Partial<Actor['meta']>): Promise<Actor>;
  start(username: string, workflow: WorkflowDef, record?: Record<string, unknown>, picks?: Record<string, string[]>): Promise<string>;
  act(username: string, taskId: string, a: TaskAction): ReturnType<typeof svc.actOnTask>;
  /** Pending tasks of an instance: [{id, assignee username, node}] in creation order. */
  pending(instanceId: string): Promise<Array<{ id: string; user: string; node: string; origin: string }>>;
  /** The single pending task of `username` on the instance (fails loudly otherwise). */
  taskOf(instanceId: string, username: string): Promise<string>;
  status(instanceId: string): Promise<string>;
  events(instanceId: string): Promise<string[]>;
  destroy(): Promise<void>;
}

export async function workflowFixture(): Promise<Fixture> {
  const clock = new ManualClock();
  const t = await createTestTrellis({ seedDemo: true, clock });
  const users = await t.ctx.db.query<{ id: string; username: string }>('select id, username from users');
  const ids = new Map(users.rows.map((u) => [u.username, u.id]));
  const names = new Map(users.rows.map((u) => [u.id, u.username]));
  const actors = new Map<string, Actor>();
  const f: Fixture = {
    t,
    clock,
    id(username) {
      const v = ids.get(username);
      if (!v) throw new Error(`no user ${username}`);
      return v;
    },
    name: (id) => names.get(id) ?? id,
    async actor(username, meta) {
      let a = actors.get(username);
      if (!a) {
        const row = (await t.ctx.db.query<{ id: string; display_name: string }>('select id, display_name from users where username = $1', [username])).rows[0]!;
        const pd = await loadPrincipalData(t.ctx.db, row.id);
        a = {
          principal: { kind: 'user', userId: row.id, username, displayName: row.display_name, roles: pd.roles, departmentIds: pd.departmentIds, primaryDepartmentId: pd.primaryDepartmentId, scopes: null },
          meta: { ip: '10.1.2.3', userAgent: 'vitest', requestId: null },
        };
        actors.set(username, a);
      }
      return meta ? { ...a, meta: { ...a.meta, ...meta } } : a;
    },
    async start(username, workflow, record = {}, picks) {
      const r = await svc.start(t.ctx, await f.actor(username), {
        app: 'demo',
        appVersion: 1,
        workflow,
        recordId: randomUUID(),
        record,
        picks,
      });
      return r.instanceId;
    },
    async act(username, taskId, a) {
      return svc.actOnTask(t.ctx, await f.actor(username), taskId, a);
    },
    async pending(instanceId) {
      const r = await t.ctx.db.query<{ id: string; assignee_id: string; node_id: string; origin: string }>(
        `select id, assignee_id, node_id, origin from wf_tasks where instance_id = $1 and status = 'pending' order by created_at, seq, id`,
        [instanceId],
      );
      return r.rows.map((x) => ({ id: x.id, user: f.name(x.assignee_id), node: x.node_id, origin: x.origin }));
    },
    async taskOf(instanceId, username) {
      const p = (await f.pending(instanceId)).filter((x) => x.user === username);
      if (p.length !== 1) throw new Error(`expected one pending task for ${username}, found ${p.length}: ${JSON.stringify(await f.pending(instanceId))}`);
      return p[0]!.id;
    },
    async status(instanceId) {
      return (await t.ctx.db.query<{ status: string }>('select status from wf_instances where id = $1', [instanceId])).rows[0]!.status;
    },
    async events(instanceId) {
      return (await t.ctx.db.query<{ type: string }>('select type from wf_events where instance_id = $1 order by seq', [instanceId])).rows.map((r) => r.type);
    },
    destroy: () => t.destroy(),
  };
  return f;
}

/** A workflow from a chain of nodes after the initiator. */
export function flow(name: string, ...chain: WorkflowNode[]): WorkflowDef {
  const root: WorkflowNode = { id: 'start', type: 'initiator' };
  let cur: WorkflowNode = root;
  for (const n of chain) {
    cur.next = n;
    cur = n;
  }
  return { name, entity: 'expense', label: { zh: '费用报销', en: 'Expense claim' }, root };
}

export function approver(id: string, approvers: Extract<WorkflowNode, { type: 'approver' }>['approvers'], extra: Partial<Extract<WorkflowNode, { type: 'approver' }>> = {}): WorkflowNode {
  return { id, type: 'approver', approvers, ...extra } as WorkflowNode;
}

export const users = (...names: string[]) => [{ kind: 'users' as const, users: names }];
