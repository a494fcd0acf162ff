// The approval runtime: instances walk their (snapshotted) tree; approver and handler nodes
// become tasks; actions on tasks move the instance on. Every function runs inside the
// caller's transaction and every mutation of an instance first locks its row, so two people
// acting at once on the same instance are serialised and the second sees the first's result.
import type { Tx } from '../db/index.ts';
import type { Actor } from '../platform/context.ts';
import { conflict, forbidden, notFound, unprocessable } from '../platform/errors.ts';
import {
  walkNodes,
  type ApproverNode,
  type FieldAccess,
  type HandlerNode,
  type WorkflowDef,
  type WorkflowNode,
} from '../../shared/workflow-definition.ts';
import { evaluate } from './condition.ts';
import { ConditionError, evaluateCondition } from '../../shared/condition-eval.ts';
import type { AppDef, Condition } from '../../shared/definition.ts';
import { runOutcomeHooks, runRecordChangeHooks, workflowAction, type Outcome } from './hooks.ts';
import { admins, managerOf, primaryDepartment, resolveApprovers, usersByName, type ResolveContext } from './resolve.ts';
import { Tree } from './tree.ts';

export interface InstanceRow {
  id: string;
  app: string;
  app_version: number;
  workflow: string;
  entity: string;
  record_id: string;
  title: string;
  definition: WorkflowDef;
  record: Record<string, unknown>;
  picks: Record<string, string[]>;
  scope: ConditionScope | null;
  status: 'running' | 'returned' | 'approved' | 'rejected' | 'withdrawn' | 'cancelled';
  round: number;
  initiator_id: string;
  initiator_department_id: string | null;
  created_at: Date;
  updated_at: Date;
  ended_at: Date | null;
}

/** What branch conditions are evaluated against when the instance belongs to a published app. */
export interface ConditionScope {
  app: AppDef;
  timezone: string;
}

export interface RunRow {
  id: string;
  instance_id: string;
  node_id: string;
  node_type: string;
  parent_run_id: string | null;
  round: number;
  status: string;
  state: Record<string, unknown>;
  started_at: Date;
  ended_at: Date | null;
}

export type TaskStatus = 'queued' | 'pending' | 'waiting' | 'approved' | 'rejected' | 'done' | 'returned' | 'transferred' | 'escalated' | 'cancelled';

export interface TaskRow {
  id: string;
  instance_id: string;
  run_id: string | null;
  node_id: string;
  kind: 'approve' | 'handle' | 'resubmit';
  assignee_id: string;
  on_behalf_of: string | null;
  origin: 'main' | 'added_before' | 'added_after';
  seq: number;
  blocks_task_id: string | null;
  status: TaskStatus;
  decision: string | null;
  comment: string | null;
  auto: boolean;
  escalation_level: number;
  created_at: Date;
  decided_at: Date | null;
  decided_by: string | null;
}

/** One instance being worked on inside one transaction. */
export interface Exec {
  tx: Tx;
  now: Date;
  actor: Actor;
  inst: InstanceRow;
  tree: Tree;
}

const LIVE_TASK = ['queued', 'pending', 'waiting'];
const DONE_OK = ['approved', 'done'];
const minutes = (d: Date, m: number) => new Date(d.getTime() + m * 60_000);

// ---------------------------------------------------------------------------------------------
// small helpers

export async function addEvent(
  x: Exec,
  type: string,
  e: {
    nodeId?: string | null;
    taskId?: string | null;
    comment?: string | null;
    attachments?: unknown[] | null;
    detail?: Record<string, unknown>;
    system?: boolean;
    onBehalfOf?: string | null;
  } = {},
): Promise<void> {
  const p = e.system ? null : x.actor.principal;
  const meta = e.system ? null : x.actor.meta;
  await x.tx.query(
    `insert into wf_events (instance_id, seq, at, type, node_id, task_id, actor_id, actor_name, on_behalf_of, comment, attachments, detail, ip, user_agent)
     values ($1, (select coalesce(max(seq), 0) + 1 from wf_events where instance_id = $1), $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
    [
      x.inst.id,
      x.now,
      type,
      e.nodeId ?? null,
      e.taskId ?? null,
      p && p.kind !== 'system' ? p.userId : null,
      p ? p.username : 'system',
      e.onBehalfOf ?? null,
      e.comment ?? null,
      e.attachments ? JSON.stringify(e.attachments) : null,
      JSON.stringify(e.detail ?? {}),
      meta?.ip ?? null,
      meta?.userAgent ?? null,
    ],
  );
}

export async function notify(x: Exec, userIds: string[], kind: 'task' | 'reminder' | 'escalation' | 'outcome' | 'cc' | 'returned', title: string, taskId?: string | null, body?: string): Promise<void> {
  if (userIds.length === 0) return;
  await x.tx.query(
    `insert into wf_notifications (user_id, kind, instance_id, task_id, title, body, created_at)
     select u, $2, $3, $4, $5, $6, $7 from unnest($1::uuid[]) as u`,
    [userIds, kind, x.inst.id, taskId ?? null, title, body ?? null, x.now],
  );
}

async function addTimer(x: Exec, kind: string, dueAt: Date, refs: { taskId?: string; runId?: string }, payload: Record<string, unknown> = {}): Promise<void> {
  await x.tx.query(
    `insert into wf_timers (due_at, kind, instance_id, task_id, run_id, payload, created_at) values ($1, $2, $3, $4, $5, $6, $7)`,
    [dueAt, kind, x.inst.id, refs.taskId ?? null, refs.runId ?? null, JSON.stringify(payload), x.now],
  );
}

async function dropTaskTimers(x: Exec, taskIds: string[]): Promise<void> {
  if (taskIds.length) await x.tx.query('delete from wf_timers where task_id = any($1::uuid[]) and fired_at is null', [taskIds]);
}

async function saveInstance(x: Exec): Promise<void> {
  await x.tx.query(
    `update wf_instances set status = $2, round = $3, record = $4, updated_at = $5, ended_at = $6 where id = $1`,
    [x.inst.id, x.inst.status, x.inst.round, JSON.stringify(x.inst.record), x.now, x.inst.ended_at],
  );
}

function outcomeEvent(x: Exec, outcome: Outcome) {
  return {
    instanceId: x.inst.id,
    app: x.inst.app,
    appVersion: x.inst.app_version,
    workflow: x.inst.workflow,
    entity: x.inst.entity,
    recordId: x.inst.record_id,
    outcome,
    record: x.inst.record,
    actor: x.actor,
    at: x.now,
  };
}

function nodeLabel(node: WorkflowNode): string {
  return node.name?.zh ?? node.id;
}

// ---------------------------------------------------------------------------------------------
// loading and locking

export async function lockInstance(tx: Tx, id: string, actor: Actor, now: Date): Promise<Exec> {
  const r = await tx.query<InstanceRow>('select * from wf_instances where id = $1 for update', [id]);
  const inst = r.rows[0];
  if (!inst) throw notFound(`There is no approval instance ${id}.`);
  return { tx, now, actor, inst, tree: new Tree(inst.definition) };
}

/** Loads a task, then locks its instance and reads the task again under that lock. */
export async function lockTask(tx: Tx, taskId: string, actor: Actor, now: Date): Promise<{ x: Exec; task: TaskRow }> {
  const first = await tx.query<{ instance_id: string }>('select instance_id from wf_tasks where id = $1', [taskId]);
  if (!first.rows[0]) throw notFound(`There is no approval task ${taskId}.`);
  const x = await lockInstance(tx, first.rows[0].instance_id, actor, now);
  const t = await tx.query<TaskRow>('select * from wf_tasks where id = $1', [taskId]);
  return { x, task: t.rows[0]! };
}

async function runOf(x: Exec, runId: string): Promise<RunRow> {
  const r = await x.tx.query<RunRow>('select * from wf_node_runs where id = $1', [runId]);
  return r.rows[0]!;
}

// ---------------------------------------------------------------------------------------------
// starting

export interface StartOptions {
  app: string;
  appVersion: number;
  workflow: WorkflowDef;
  recordId: string;
  record: Record<string, unknown>;
  title?: string;
  actor: Actor;
  /** People chosen by the initiator for `initiator_pick` nodes, by node id (user ids or usernames). */
  picks?: Record<string, string[]>;
  /** Published app entities and plant time zone: conditions then follow the filter language exactly. */
  scope?: ConditionScope;
  now: Date;
}

export interface StartResult {
  instanceId: string;
  status: InstanceRow['status'];
}

export async function startInstance(tx: Tx, o: StartOptions): Promise<StartResult> {
  const initiatorId = o.actor.principal.userId;
  const dept = o.actor.principal.primaryDepartmentId ?? (await primaryDepartment(tx, initiatorId));
  // picks may name people by username; store ids
  const picks: Record<string, string[]> = {};
  const pickNodes = new Set<string>();
  walkNodes(o.workflow.root, (n) => {
    if ('approvers' in n && n.approvers.some((s) => s.kind === 'initiator_pick')) pickNodes.add(n.id);
  });
  for (const [nodeId, people] of Object.entries(o.picks ?? {})) {
    if (!pickNodes.has(nodeId)) throw unprocessable(`picks.${nodeId}: the workflow has no node "${nodeId}" where the initiator chooses approvers.`);
    const ids: string[] = [];
    for (const p of people) {
      if (/^[0-9a-f-]{36}$/i.test(p)) ids.push(p);
      else {
        const found = await usersByName(tx, [p]);
        if (!found.length) throw unprocessable(`picks.${nodeId}: there is no active user "${p}".`);
        ids.push(found[0]!);
      }
    }
    picks[nodeId] = ids;
  }
  const existing = await tx.query<{ id: string }>(
    `select id from wf_instances where app = $1 and entity = $2 and record_id = $3 and status in ('running', 'returned')`,
    [o.app, o.workflow.entity, o.recordId],
  );
  if (existing.rows[0]) throw conflict(`This document already has an approval in progress (instance ${existing.rows[0].id}). Withdraw it first or wait for its outcome.`, { instanceId: existing.rows[0].id });
  const title = o.title ?? `${o.workflow.label.zh} · ${o.recordId}`;
  const ins = await tx.query<InstanceRow>(
    `insert into wf_instances (app, app_version, workflow, entity, record_id, title, definition, record, picks, scope, status, round, initiator_id, initiator_department_id, created_at, updated_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'running', 1, $11, $12, $13, $13) returning *`,
    [o.app, o.appVersion, o.workflow.name, o.workflow.entity, o.recordId, title, JSON.stringify(o.workflow), JSON.stringify(o.record), JSON.stringify(picks), o.scope ? JSON.stringify(o.scope) : null, initiatorId, dept, o.now],
  );
  const x: Exec = { tx, now: o.now, actor: o.actor, inst: ins.rows[0]!, tree: new Tree(o.workflow) };
  await addEvent(x, 'started', { nodeId: o.workflow.root.id, detail: { appVersion: o.appVersion, workflow: o.workflow.name } });
  await tx.query(
    `insert into wf_node_runs (instance_id, node_id, node_type, round, status, started_at, ended_at) values ($1, $2, 'initiator', 1, 'completed', $3, $3)`,
    [x.inst.id, o.workflow.root.id, o.now],
  );
  await continueAfter(x, o.workflow.root.id, null);
  await saveInstance(x);
  return { instanceId: x.inst.id, status: x.inst.status };
}

// ---------------------------------------------------------------------------------------------
// walking the tree

async function continueAfter(x: Exec, nodeId: string, parentRunId: string | null): Promise<void> {
  if (x.inst.status !== 'running') return;
  const next = x.tree.after(nodeId);
  if (next.kind === 'node') return enterNode(x, next.node, parentRunId);
  if (next.kind === 'finish') return finish(x, 'approved');
  if (next.container.type === 'condition') return continueAfter(x, next.container.id, parentRunId);
  // end of a parallel branch: record it on the parallel run; the last branch continues
  if (!parentRunId) throw new Error(`parallel join of ${next.container.id} without its run`);
  const run = await runOf(x, parentRunId);
  const done = new Set((run.state.done as string[] | undefined) ?? []);
  done.add(next.branch.id);
  if (done.size < next.container.branches.length) {
    await x.tx.query('update wf_node_runs set state = $2 where id = $1', [run.id, JSON.stringify({ ...run.state, done: [...done] })]);
    return;
  }
  await x.tx.query(`update wf_node_runs set state = $2, status = 'completed', ended_at = $3 where id = $1`, [run.id, JSON.stringify({ ...run.state, done: [...done] }), x.now]);
  await addEvent(x, 'joined', { nodeId: run.node_id, system: true });
  return continueAfter(x, run.node_id, run.parent_run_id);
}

async function insertRun(x: Exec, node: WorkflowNode, parentRunId: string | null, status: string, state: Record<string, unknown> = {}): Promise<RunRow> {
  const ended = ['active', 'waiting'].includes(status) ? null : x.now;
  const r = await x.tx.query<RunRow>(
    `insert into wf_node_runs (instance_id, node_id, node_type, parent_run_id, round, status, state, started_at, ended_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9) returning *`,
    [x.inst.id, node.id, node.type, parentRunId, x.inst.round, status, JSON.stringify(state), x.now, ended],
  );
  return r.rows[0]!;
}

async function enterNode(x: Exec, node: WorkflowNode, parentRunId: string | null): Promise<void> {
  if (x.inst.status !== 'running') return;
  switch (node.type) {
    case 'initiator':
      throw new Error('the initiator node is entered only at the start');
    case 'approver':
    case 'handler':
      return enterPeopleNode(x, node, parentRunId);
    case 'cc': {
      const ids = await resolveApprovers(x.tx, node.approvers, resolveCtx(x, node.id));
      await insertRun(x, node, parentRunId, 'completed', { users: ids });
      for (const u of ids) {
        await x.tx.query(`insert into wf_cc (instance_id, node_id, user_id, created_at) values ($1, $2, $3, $4) on conflict do nothing`, [x.inst.id, node.id, u, x.now]);
      }
      await notify(x, ids, 'cc', `${x.inst.title}`);
      await addEvent(x, 'cc', { nodeId: node.id, detail: { users: ids }, system: true });
      return continueAfter(x, node.id, parentRunId);
    }
    case 'condition': {
      const record = conditionRecord(x);
      const chosen = node.branches.find((b) => !b.default && b.when && branchMatches(x, node.id, b.id, b.when, record)) ?? node.branches.find((b) => b.default);
      if (!chosen) throw unprocessable(`No branch of "${nodeLabel(node)}" applies and it has no default branch.`);
      await insertRun(x, node, parentRunId, 'completed', { branch: chosen.id });
      await addEvent(x, 'branch_chosen', { nodeId: node.id, detail: { branch: chosen.id, label: chosen.name?.zh ?? null }, system: true });
      if (chosen.next) return enterNode(x, chosen.next, parentRunId);
      return continueAfter(x, node.id, parentRunId);
    }
    case 'parallel': {
      const run = await insertRun(x, node, parentRunId, 'waiting', { done: [] });
      await addEvent(x, 'parallel_started', { nodeId: node.id, detail: { branches: node.branches.map((b) => b.id) }, system: true });
      for (const b of node.branches) {
        if (x.inst.status !== 'running') return;
        if (b.next) await enterNode(x, b.next, run.id);
        else await joinEmptyBranch(x, node, b.id, run.id);
      }
      return;
    }
    case 'delay': {
      const run = await insertRun(x, node, parentRunId, 'active');
      await addTimer(x, 'delay', minutes(x.now, node.minutes), { runId: run.id });
      await addEvent(x, 'delay_started', { nodeId: node.id, detail: { minutes: node.minutes, until: minutes(x.now, node.minutes).toISOString() }, system: true });
      return;
    }
    case 'action': {
      const handler = workflowAction(node.action);
      if (!handler) throw unprocessable(`The approval flow runs the action "${node.action}", which this server does not provide.`);
      const result = await handler(x.tx, {
        instanceId: x.inst.id,
        app: x.inst.app,
        entity: x.inst.entity,
        recordId: x.inst.record_id,
        record: x.inst.record,
        nodeId: node.id,
        params: node.params ?? {},
        actor: x.actor,
        at: x.now,
      });
      if (result?.changes) x.inst.record = { ...x.inst.record, ...result.changes };
      await insertRun(x, node, parentRunId, 'completed', { action: node.action });
      await addEvent(x, 'action_run', { nodeId: node.id, detail: { action: node.action }, system: true });
      return continueAfter(x, node.id, parentRunId);
    }
    case 'end':
      await insertRun(x, node, parentRunId, 'completed');
      return finish(x, 'approved');
  }
}

async function joinEmptyBranch(x: Exec, container: WorkflowNode & { type: 'parallel' }, branchId: string, runId: string): Promise<void> {
  const run = await runOf(x, runId);
  const done = new Set((run.state.done as string[] | undefined) ?? []);
  done.add(branchId);
  if (done.size < container.branches.length) {
    await x.tx.query('update wf_node_runs set state = $2 where id = $1', [runId, JSON.stringify({ ...run.state, done: [...done] })]);
    return;
  }
  await x.tx.query(`update wf_node_runs set state = $2, status = 'completed', ended_at = $3 where id = $1`, [runId, JSON.stringify({ ...run.state, done: [...done] }), x.now]);
  return continueAfter(x, container.id, run.parent_run_id);
}

function resolveCtx(x: Exec, nodeId: string): ResolveContext {
  return {
    initiatorId: x.inst.initiator_id,
    initiatorDepartmentId: x.inst.initiator_department_id,
    record: x.inst.record,
    picks: x.inst.picks,
    nodeId,
  };
}

function conditionRecord(x: Exec): Record<string, unknown> {
  return {
    ...x.inst.record,
    initiator_id: x.inst.initiator_id,
    initiator_department_id: x.inst.initiator_department_id,
  };
}

/**
 * Instances of a published app evaluate with the shared filter-language evaluator (the same
 * semantics as list filters and SQL); instances started without an app schema use the engine's
 * own small evaluator (exact decimals, same operators).
 */
function branchMatches(x: Exec, nodeId: string, branchId: string, when: Condition, record: Record<string, unknown>): boolean {
  const sc = x.inst.scope;
  const entity = sc?.app.entities.find((e) => e.name === x.inst.entity);
  if (!sc || !entity) return evaluate(when, record);
  try {
    return evaluateCondition(when, record, {
      app: sc.app,
      entity,
      ctx: {
        userId: x.inst.initiator_id,
        departmentIds: x.inst.initiator_department_id ? [x.inst.initiator_department_id] : [],
        now: x.now,
        timezone: sc.timezone,
      },
    });
  } catch (err) {
    if (err instanceof ConditionError) {
      throw unprocessable(`The condition of branch "${branchId}" in step "${nodeId}" cannot be evaluated: ${err.message}`);
    }
    throw err;
  }
}

type PeopleNode = ApproverNode | HandlerNode;

function modeOf(node: PeopleNode): 'any' | 'all' | 'sequential' | 'ratio' {
  return node.mode ?? 'any';
}

async function enterPeopleNode(x: Exec, node: PeopleNode, parentRunId: string | null): Promise<void> {
  const run = await insertRun(x, node, parentRunId, 'active');
  const initiator = x.inst.initiator_id;
  let ids = await resolveApprovers(x.tx, node.approvers, resolveCtx(x, node.id));
  const foundAnyone = ids.length > 0;
  let autoInitiator = false;
  if (node.type === 'approver' && ids.includes(initiator)) {
    const rule = node.onInitiator ?? 'none';
    if (rule === 'skip') {
      ids = ids.filter((u) => u !== initiator);
      await addEvent(x, 'initiator_skipped', { nodeId: node.id, system: true });
    } else if (rule === 'to_manager') {
      const m = await managerOf(x.tx, initiator);
      ids = [...new Set(ids.flatMap((u) => (u === initiator ? (m ? [m] : []) : [u])))];
      await addEvent(x, 'initiator_to_manager', { nodeId: node.id, detail: { manager: m }, system: true });
    } else if (rule === 'auto_approve') autoInitiator = true;
  }
  if (ids.length === 0 && foundAnyone) {
    // everyone found was the initiator and skipped: the node has nothing to ask
    await x.tx.query(`update wf_node_runs set status = 'skipped', ended_at = $2 where id = $1`, [run.id, x.now]);
    return continueAfter(x, node.id, parentRunId);
  }
  if (ids.length === 0) {
    const rule = node.onEmpty ?? { action: 'admin' as const };
    if (rule.action === 'auto_approve') {
      await x.tx.query(`update wf_node_runs set status = 'approved', state = '{"auto":"no_approver"}', ended_at = $2 where id = $1`, [run.id, x.now]);
      await addEvent(x, 'auto_approved', { nodeId: node.id, detail: { reason: 'no_approver' }, system: true });
      return continueAfter(x, node.id, parentRunId);
    }
    if (rule.action === 'auto_reject') {
      await x.tx.query(`update wf_node_runs set status = 'rejected', state = '{"auto":"no_approver"}', ended_at = $2 where id = $1`, [run.id, x.now]);
      await addEvent(x, 'auto_rejected', { nodeId: node.id, detail: { reason: 'no_approver' }, system: true });
      return finish(x, 'rejected');
    }
    ids = rule.action === 'user' ? await usersByName(x.tx, [rule.user]) : [];
    if (ids.length === 0) ids = await admins(x.tx);
    if (ids.length === 0) {
      await x.tx.query(`update wf_node_runs set status = 'rejected', ended_at = $2 where id = $1`, [run.id, x.now]);
      await addEvent(x, 'auto_rejected', { nodeId: node.id, detail: { reason: 'no_approver_no_admin' }, system: true });
      return finish(x, 'rejected');
    }
    await addEvent(x, 'no_approver_fallback', { nodeId: node.id, detail: { rule: rule.action, users: ids }, system: true });
  }
  const kind = node.type === 'handler' ? 'handle' : 'approve';
  for (const [i, u] of ids.entries()) {
    if (autoInitiator && u === initiator) {
      const t = await insertTask(x, run, node, kind, u, { seq: i, status: 'approved' });
      await x.tx.query(`update wf_tasks set decision = 'approve', auto = true, decided_at = $2, decided_by = $3 where id = $1`, [t.id, x.now, u]);
      await addEvent(x, 'auto_approved', { nodeId: node.id, taskId: t.id, detail: { reason: 'initiator_is_approver' }, system: true });
    } else {
      await insertTask(x, run, node, kind, u, { seq: i, status: 'queued' });
    }
  }
  if (node.sla?.auto) await addTimer(x, 'auto', minutes(x.now, node.sla.auto.after), { runId: run.id }, { action: node.sla.auto.action });
  await evaluateNode(x, run.id);
}

interface TaskOpts {
  seq: number;
  status: TaskStatus;
  origin?: TaskRow['origin'];
  blocksTaskId?: string | null;
  escalationLevel?: number;
}

async function insertTask(x: Exec, run: RunRow | null, node: WorkflowNode, kind: TaskRow['kind'], assignee: string, o: TaskOpts): Promise<TaskRow> {
  const r = await x.tx.query<TaskRow>(
    `insert into wf_tasks (instance_id, run_id, node_id, kind, assignee_id, origin, seq, blocks_task_id, status, escalation_level, title, app, workflow, initiator_id, created_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) returning *`,
    [x.inst.id, run?.id ?? null, node.id, kind, assignee, o.origin ?? 'main', o.seq, o.blocksTaskId ?? null, o.status, o.escalationLevel ?? 0, x.inst.title, x.inst.app, x.inst.workflow, x.inst.initiator_id, x.now],
  );
  const task = r.rows[0]!;
  if (o.status === 'pending') await activate(x, task);
  return task;
}

/** Someone on leave has a standing delegation: their new tasks go to the delegate. */
async function delegateOf(x: Exec, userId: string): Promise<string | null> {
  const r = await x.tx.query<{ delegate_id: string }>(
    `select d.delegate_id from wf_delegations d join users u on u.id = d.delegate_id and u.active
      where d.user_id = $1 and d.revoked_at is null and d.starts_at <= $2 and d.ends_at > $2 and (d.app is null or d.app = $3)
      order by d.created_at desc limit 1`,
    [userId, x.now, x.inst.app],
  );
  return r.rows[0]?.delegate_id ?? null;
}

/** A task becomes actionable: delegation applies, the assignee is told, SLA timers start. */
async function activate(x: Exec, task: TaskRow): Promise<void> {
  let assignee = task.assignee_id;
  let onBehalf = task.on_behalf_of;
  if (!onBehalf && task.kind !== 'resubmit') {
    const d = await delegateOf(x, assignee);
    if (d) {
      onBehalf = assignee;
      assignee = d;
      await addEvent(x, 'delegated', { nodeId: task.node_id, taskId: task.id, detail: { from: onBehalf, to: d }, system: true });
    }
  }
  await x.tx.query(`update wf_tasks set status = 'pending', assignee_id = $2, on_behalf_of = $3, created_at = $4 where id = $1`, [task.id, assignee, onBehalf, x.now]);
  task.status = 'pending';
  task.assignee_id = assignee;
  task.on_behalf_of = onBehalf;
  await notify(x, [assignee], task.kind === 'resubmit' ? 'returned' : 'task', x.inst.title, task.id);
  const node = x.tree.has(task.node_id) ? x.tree.node(task.node_id) : null;
  const sla = node && (node.type === 'approver' || node.type === 'handler') ? node.sla : undefined;
  if (sla?.remind) await addTimer(x, 'remind', minutes(x.now, sla.remind.after), { taskId: task.id }, { every: sla.remind.every ?? null });
  if (sla?.escalate) {
    const max = sla.escalate.maxLevels ?? (sla.escalate.repeat ? 20 : 1);
    if (task.escalation_level < max) await addTimer(x, 'escalate', minutes(x.now, sla.escalate.after), { taskId: task.id }, { level: task.escalation_level });
  }
}

/** The node's verdict from its tasks; null while undecided. */
export function nodeOutcome(tasks: Pick<TaskRow, 'status' | 'origin'>[], mode: string, ratio = 100): 'approved' | 'rejected' | null {
  const live = tasks.filter((t) => !['transferred', 'escalated', 'cancelled', 'returned'].includes(t.status));
  const main = live.filter((t) => t.origin === 'main');
  const added = live.filter((t) => t.origin !== 'main');
  if (added.some((t) => t.status === 'rejected')) return 'rejected';
  const addedOk = added.every((t) => DONE_OK.includes(t.status));
  if (mode === 'ratio') {
    const total = main.length;
    const yes = main.filter((t) => DONE_OK.includes(t.status)).length;
    const no = main.filter((t) => t.status === 'rejected').length;
    if (yes * 100 >= ratio * total && addedOk) return 'approved';
    if ((total - no) * 100 < ratio * total) return 'rejected';
    return null;
  }
  if (main.some((t) => t.status === 'rejected')) return 'rejected';
  const mainOk = mode === 'any' ? main.some((t) => DONE_OK.includes(t.status)) : main.length > 0 && main.every((t) => DONE_OK.includes(t.status));
  return mainOk && addedOk ? 'approved' : null;
}

async function evaluateNode(x: Exec, runId: string): Promise<void> {
  const run = await runOf(x, runId);
  if (run.status !== 'active') return;
  const node = x.tree.node(run.node_id) as PeopleNode;
  const tasks = (await x.tx.query<TaskRow>('select * from wf_tasks where run_id = $1 order by seq, created_at', [runId])).rows;
  const mode = modeOf(node);
  const verdict = nodeOutcome(tasks, mode, node.type === 'approver' ? node.ratio : undefined);
  if (verdict) {
    const open = tasks.filter((t) => LIVE_TASK.includes(t.status)).map((t) => t.id);
    if (open.length) await x.tx.query(`update wf_tasks set status = 'cancelled' where id = any($1::uuid[])`, [open]);
    await dropTaskTimers(x, open);
    await x.tx.query(`delete from wf_timers where run_id = $1 and fired_at is null`, [runId]);
    await x.tx.query(`update wf_node_runs set status = $2, ended_at = $3 where id = $1`, [runId, verdict, x.now]);
    await addEvent(x, verdict === 'approved' ? 'node_approved' : 'node_rejected', { nodeId: node.id, system: true });
    if (verdict === 'approved') return continueAfter(x, node.id, run.parent_run_id);
    return finish(x, 'rejected');
  }
  // still undecided: make the next people actionable
  const queued = tasks.filter((t) => t.status === 'queued');
  if (queued.length === 0) return;
  if (mode === 'sequential') {
    if (tasks.some((t) => t.status === 'pending' || t.status === 'waiting')) return;
    await activate(x, queued[0]!);
  } else {
    for (const t of queued) await activate(x, t);
  }
}

/** Ends the instance: approved makes the document effective in this same transaction. */
async function finish(x: Exec, outcome: 'approved' | 'rejected'): Promise<void> {
  if (x.inst.status !== 'running') return;
  await cancelOpenWork(x);
  x.inst.status = outcome;
  x.inst.ended_at = x.now;
  await saveInstance(x);
  await addEvent(x, outcome, { system: true });
  await notify(x, [x.inst.initiator_id], 'outcome', x.inst.title, null, outcome);
  await runOutcomeHooks(x.tx, outcomeEvent(x, outcome));
}

/** Cancels every open task, active run and pending timer of the instance. */
async function cancelOpenWork(x: Exec, keepTaskId?: string): Promise<void> {
  await x.tx.query(
    `update wf_tasks set status = 'cancelled' where instance_id = $1 and status in ('queued', 'pending', 'waiting') and id is distinct from $2`,
    [x.inst.id, keepTaskId ?? null],
  );
  await x.tx.query(`update wf_node_runs set status = 'cancelled', ended_at = $2 where instance_id = $1 and status in ('active', 'waiting')`, [x.inst.id, x.now]);
  await x.tx.query(`delete from wf_timers where instance_id = $1 and fired_at is null`, [x.inst.id]);
}

// ---------------------------------------------------------------------------------------------
// actions on tasks

export interface DecisionInput {
  comment?: string | null;
  attachments?: unknown[] | null;
  /** Values of fields this node may edit. */
  changes?: Record<string, unknown>;
}

function assertActionable(x: Exec, task: TaskRow, userId: string): void {
  if (task.assignee_id !== userId) throw forbidden('This task is assigned to someone else; only its assignee can act on it.');
  if (task.status !== 'pending') {
    const what = task.status === 'cancelled' ? 'the step was already decided by someone else or the approval ended' : `it is ${task.status}`;
    throw conflict(`This task can no longer be acted on: ${what}. Refresh your inbox.`, { taskStatus: task.status, instanceStatus: x.inst.status });
  }
  if (x.inst.status !== 'running') throw conflict(`The approval is ${x.inst.status}; nothing more can be decided on it.`, { instanceStatus: x.inst.status });
}

export function fieldAccess(x: Exec, nodeId: string): Record<string, FieldAccess> {
  const node = x.tree.has(nodeId) ? x.tree.node(nodeId) : null;
  return (node && 'fields' in node && node.fields) || {};
}

async function applyChanges(x: Exec, task: TaskRow, changes: Record<string, unknown> | undefined): Promise<void> {
  if (!changes || Object.keys(changes).length === 0) return;
  const access = fieldAccess(x, task.node_id);
  const refused = Object.keys(changes).filter((f) => access[f] !== 'editable');
  if (refused.length) {
    throw unprocessable(`At this step you may not change: ${refused.join(', ')}.`, refused.map((f) => ({ path: `body.changes.${f}`, message: 'not editable at this step' })));
  }
  const stored = await runRecordChangeHooks(x.tx, { instanceId: x.inst.id, app: x.inst.app, entity: x.inst.entity, recordId: x.inst.record_id, changes, actor: x.actor, at: x.now });
  x.inst.record = stored ?? { ...x.inst.record, ...changes };
  await saveInstance(x);
}

/** approve / reject / handle ("done"): records the decision and moves the instance on. */
export async function decide(x: Exec, task: TaskRow, decision: 'approve' | 'reject', input: DecisionInput, opts: { auto?: boolean; onSigned?: (task: TaskRow) => Promise<void> } = {}): Promise<void> {
  if (!opts.auto) assertActionable(x, task, x.actor.principal.userId);
  if (task.kind === 'resubmit') throw unprocessable('This task asks you to resubmit the document; use resubmit or withdraw.');
  if (task.kind === 'handle' && decision === 'reject') throw unprocessable('A handling step has no verdict: mark it done, or return the document.');
  await applyChanges(x, task, input.changes);
  const status = decision === 'reject' ? 'rejected' : task.kind === 'handle' ? 'done' : 'approved';
  await x.tx.query(
    `update wf_tasks set status = $2, decision = $3, comment = $4, auto = $5, decided_at = $6, decided_by = $7 where id = $1`,
    [task.id, status, decision, input.comment ?? null, opts.auto ?? false, x.now, opts.auto ? null : x.actor.principal.userId],
  );
  task.status = status;
  await dropTaskTimers(x, [task.id]);
  await addEvent(x, task.kind === 'handle' ? 'handled' : decision === 'approve' ? 'approve' : 'reject', {
    nodeId: task.node_id,
    taskId: task.id,
    comment: input.comment,
    attachments: input.attachments,
    onBehalfOf: task.on_behalf_of,
    detail: { ...(input.changes ? { changes: input.changes } : {}), ...(opts.auto ? { auto: true } : {}) },
    system: opts.auto,
  });
  if (opts.onSigned) await opts.onSigned(task);
  // an added-before signer finished: the person who added them may decide again
  if (task.blocks_task_id && status !== 'rejected') {
    const others = await x.tx.query(`select 1 from wf_tasks where blocks_task_id = $1 and status in ('queued', 'pending', 'waiting')`, [task.blocks_task_id]);
    if (others.rows.length === 0) {
      const blocked = (await x.tx.query<TaskRow>(`select * from wf_tasks where id = $1 and status = 'waiting'`, [task.blocks_task_id])).rows[0];
      if (blocked) await activate(x, blocked);
    }
  }
  if (task.run_id) await evaluateNode(x, task.run_id);
}

export async function transfer(x: Exec, task: TaskRow, toUserId: string, comment?: string | null): Promise<string> {
  assertActionable(x, task, x.actor.principal.userId);
  if (toUserId === task.assignee_id) throw unprocessable('The task is already yours: choose someone else to transfer it to.');
  await assertPerson(x, toUserId);
  await x.tx.query(`update wf_tasks set status = 'transferred', decision = 'transfer', comment = $2, decided_at = $3, decided_by = $4 where id = $1`, [task.id, comment ?? null, x.now, x.actor.principal.userId]);
  await dropTaskTimers(x, [task.id]);
  const node = x.tree.node(task.node_id);
  const run = task.run_id ? await runOf(x, task.run_id) : null;
  const created = await insertTask(x, run, node, task.kind, toUserId, { seq: task.seq, status: 'pending', origin: task.origin, blocksTaskId: task.blocks_task_id, escalationLevel: task.escalation_level });
  // added-before signers waiting on the old task now block the new one
  await x.tx.query('update wf_tasks set blocks_task_id = $2 where blocks_task_id = $1', [task.id, created.id]);
  await addEvent(x, 'transferred', { nodeId: task.node_id, taskId: task.id, comment, detail: { to: toUserId, newTask: created.id } });
  return created.id;
}

async function assertPerson(x: Exec, userId: string): Promise<void> {
  const r = await x.tx.query(`select 1 from users where id = $1 and active and kind = 'person'`, [userId]);
  if (r.rows.length === 0) throw unprocessable(`There is no active user ${userId}.`);
}

/** 加签: someone else signs before this approver (who then decides), or after (this approver approves now). */
export async function addSigners(x: Exec, task: TaskRow, position: 'before' | 'after', userIds: string[], comment?: string | null): Promise<string[]> {
  assertActionable(x, task, x.actor.principal.userId);
  if (task.kind !== 'approve') throw unprocessable('Signers can be added on approval steps only.');
  const people = [...new Set(userIds)].filter((u) => u !== task.assignee_id);
  if (people.length === 0) throw unprocessable('Name at least one person other than yourself to add as a signer.');
  for (const u of people) await assertPerson(x, u);
  const node = x.tree.node(task.node_id);
  const run = await runOf(x, task.run_id!);
  const created: string[] = [];
  await addEvent(x, position === 'before' ? 'signer_added_before' : 'signer_added_after', { nodeId: task.node_id, taskId: task.id, comment, detail: { users: people } });
  if (position === 'before') {
    await x.tx.query(`update wf_tasks set status = 'waiting' where id = $1`, [task.id]);
    await dropTaskTimers(x, [task.id]);
    for (const u of people) created.push((await insertTask(x, run, node, 'approve', u, { seq: task.seq, status: 'pending', origin: 'added_before', blocksTaskId: task.id })).id);
    return created;
  }
  for (const u of people) created.push((await insertTask(x, run, node, 'approve', u, { seq: task.seq, status: 'pending', origin: 'added_after' })).id);
  await decide(x, task, 'approve', { comment });
  return created;
}

export interface ReturnTarget {
  nodeId: string;
  name: string;
}

/** Where this task may send the document back to: the initiator and earlier completed steps. */
export async function returnTargets(x: Exec, fromNodeId: string): Promise<ReturnTarget[]> {
  const order = new Map<string, number>();
  let i = 0;
  walkNodes(x.tree.def.root, (n) => order.set(n.id, i++));
  const here = order.get(fromNodeId) ?? Infinity;
  const runs = await x.tx.query<{ node_id: string }>(
    `select distinct node_id from wf_node_runs where instance_id = $1 and round = $2 and status = 'approved' and node_type in ('approver', 'handler')`,
    [x.inst.id, x.inst.round],
  );
  const targets = runs.rows
    .map((r) => r.node_id)
    .filter((id) => x.tree.has(id) && (order.get(id) ?? Infinity) < here && !x.tree.insideParallel(id))
    .sort((a, b) => order.get(a)! - order.get(b)!)
    .map((id) => ({ nodeId: id, name: nodeLabel(x.tree.node(id)) }));
  return [{ nodeId: x.tree.def.root.id, name: nodeLabel(x.tree.def.root) === x.tree.def.root.id ? '发起人' : nodeLabel(x.tree.def.root) }, ...targets];
}

/** 退回: to the initiator (who may resubmit), the previous step, or any earlier step. */
export async function returnTask(x: Exec, task: TaskRow, target: string, comment?: string | null): Promise<string> {
  assertActionable(x, task, x.actor.principal.userId);
  const targets = await returnTargets(x, task.node_id);
  const root = x.tree.def.root.id;
  let to: string;
  if (target === 'initiator') to = root;
  else if (target === 'previous') to = targets.at(-1)!.nodeId;
  else if (targets.some((t) => t.nodeId === target)) to = target;
  else {
    throw unprocessable(`You can return this document to: ${targets.map((t) => `${t.nodeId} (${t.name})`).join(', ')}; "${target}" is not one of them.`, undefined, { targets });
  }
  await x.tx.query(`update wf_tasks set status = 'returned', decision = 'return', comment = $2, decided_at = $3, decided_by = $4 where id = $1`, [task.id, comment ?? null, x.now, x.actor.principal.userId]);
  await cancelOpenWork(x);
  await addEvent(x, 'returned', { nodeId: task.node_id, taskId: task.id, comment, onBehalfOf: task.on_behalf_of, detail: { to } });
  if (to === root) {
    x.inst.status = 'returned';
    await saveInstance(x);
    await insertTask(x, null, x.tree.def.root, 'resubmit', x.inst.initiator_id, { seq: 0, status: 'pending' });
    await runOutcomeHooks(x.tx, outcomeEvent(x, 'returned'));
    return to;
  }
  await enterNode(x, x.tree.node(to), null);
  await saveInstance(x);
  return to;
}

function assertInitiator(x: Exec): void {
  if (x.actor.principal.userId !== x.inst.initiator_id) throw forbidden('Only the person who submitted the document can do this.');
}

/** 重新提交 after a return to the initiator: the flow starts again from the first step. */
export async function resubmit(x: Exec, input: DecisionInput): Promise<void> {
  assertInitiator(x);
  if (x.inst.status !== 'returned') throw conflict(`The approval is ${x.inst.status}, not returned to you; there is nothing to resubmit.`, { instanceStatus: x.inst.status });
  if (input.changes && Object.keys(input.changes).length) {
    const access = fieldAccess(x, x.tree.def.root.id);
    const refused = Object.keys(input.changes).filter((f) => access[f] === 'read_only' || access[f] === 'hidden');
    if (refused.length) throw unprocessable(`You may not change: ${refused.join(', ')}.`);
    const stored = await runRecordChangeHooks(x.tx, { instanceId: x.inst.id, app: x.inst.app, entity: x.inst.entity, recordId: x.inst.record_id, changes: input.changes, actor: x.actor, at: x.now });
    x.inst.record = stored ?? { ...x.inst.record, ...input.changes };
  }
  await x.tx.query(`update wf_tasks set status = 'done', decision = 'resubmit', decided_at = $2, decided_by = $3, comment = $4 where instance_id = $1 and kind = 'resubmit' and status = 'pending'`, [x.inst.id, x.now, x.actor.principal.userId, input.comment ?? null]);
  x.inst.status = 'running';
  x.inst.round += 1;
  await saveInstance(x);
  await addEvent(x, 'resubmitted', { nodeId: x.tree.def.root.id, comment: input.comment, attachments: input.attachments, detail: { round: x.inst.round, ...(input.changes ? { changes: input.changes } : {}) } });
  await x.tx.query(`insert into wf_node_runs (instance_id, node_id, node_type, round, status, started_at, ended_at) values ($1, $2, 'initiator', $3, 'completed', $4, $4)`, [x.inst.id, x.tree.def.root.id, x.inst.round, x.now]);
  await runOutcomeHooks(x.tx, outcomeEvent(x, 'resubmitted'));
  await continueAfter(x, x.tree.def.root.id, null);
  await saveInstance(x);
}

/** 撤回 by the initiator while the approval is in progress. */
export async function withdraw(x: Exec, comment?: string | null): Promise<void> {
  assertInitiator(x);
  if (x.inst.status !== 'running' && x.inst.status !== 'returned') throw conflict(`The approval is already ${x.inst.status}; it can no longer be withdrawn.`, { instanceStatus: x.inst.status });
  await cancelOpenWork(x);
  x.inst.status = 'withdrawn';
  x.inst.ended_at = x.now;
  await saveInstance(x);
  await addEvent(x, 'withdrawn', { comment });
  await runOutcomeHooks(x.tx, outcomeEvent(x, 'withdrawn'));
}

/** Anyone taking part may comment (with attachment references) without deciding. */
export async function comment(x: Exec, text: string, attachments?: unknown[] | null): Promise<void> {
  await addEvent(x, 'comment', { comment: text, attachments });
}

// ---------------------------------------------------------------------------------------------
// timer effects (called by the timer worker with the instance locked)

export async function fireTimerEffect(x: Exec, timer: { kind: string; task_id: string | null; run_id: string | null; payload: Record<string, unknown> }): Promise<string> {
  if (x.inst.status !== 'running') return 'instance_not_running';
  if (timer.kind === 'delay') {
    const run = await runOf(x, timer.run_id!);
    if (run.status !== 'active') return 'stale';
    await x.tx.query(`update wf_node_runs set status = 'completed', ended_at = $2 where id = $1`, [run.id, x.now]);
    await addEvent(x, 'delay_ended', { nodeId: run.node_id, system: true });
    await continueAfter(x, run.node_id, run.parent_run_id);
    await saveInstance(x);
    return 'resumed';
  }
  if (timer.kind === 'auto') {
    const run = await runOf(x, timer.run_id!);
    if (run.status !== 'active') return 'stale';
    const action = timer.payload.action === 'reject' ? 'reject' : 'approve';
    const open = (await x.tx.query<TaskRow>(`select * from wf_tasks where run_id = $1 and status in ('queued', 'pending', 'waiting') order by seq`, [run.id])).rows;
    await addEvent(x, action === 'approve' ? 'auto_approved' : 'auto_rejected', { nodeId: run.node_id, detail: { reason: 'timeout' }, system: true });
    for (const t of open) {
      const fresh = (await x.tx.query<TaskRow>('select * from wf_tasks where id = $1', [t.id])).rows[0]!;
      if (!LIVE_TASK.includes(fresh.status)) continue;
      await decide(x, fresh, fresh.kind === 'handle' ? 'approve' : action, { comment: null }, { auto: true });
      if (action === 'reject') break;
    }
    await saveInstance(x);
    return action;
  }
  const task = (await x.tx.query<TaskRow>('select * from wf_tasks where id = $1', [timer.task_id])).rows[0];
  if (!task || task.status !== 'pending') return 'stale';
  if (timer.kind === 'remind') {
    await notify(x, [task.assignee_id], 'reminder', x.inst.title, task.id);
    await addEvent(x, 'reminded', { nodeId: task.node_id, taskId: task.id, detail: { user: task.assignee_id }, system: true });
    const every = Number(timer.payload.every);
    if (every > 0) await addTimer(x, 'remind', minutes(x.now, every), { taskId: task.id }, { every });
    return 'reminded';
  }
  if (timer.kind === 'escalate') {
    const manager = await managerOf(x.tx, task.on_behalf_of ?? task.assignee_id);
    if (!manager) {
      await addEvent(x, 'escalation_failed', { nodeId: task.node_id, taskId: task.id, detail: { reason: 'no_manager', user: task.assignee_id }, system: true });
      return 'no_manager';
    }
    await x.tx.query(`update wf_tasks set status = 'escalated', decided_at = $2 where id = $1`, [task.id, x.now]);
    await dropTaskTimers(x, [task.id]);
    const run = task.run_id ? await runOf(x, task.run_id) : null;
    const created = await insertTask(x, run, x.tree.node(task.node_id), task.kind, manager, {
      seq: task.seq,
      status: 'pending',
      origin: task.origin,
      blocksTaskId: task.blocks_task_id,
      escalationLevel: task.escalation_level + 1,
    });
    await x.tx.query('update wf_tasks set blocks_task_id = $2 where blocks_task_id = $1', [task.id, created.id]);
    await notify(x, [manager], 'escalation', x.inst.title, created.id);
    await addEvent(x, 'escalated', { nodeId: task.node_id, taskId: task.id, detail: { from: task.assignee_id, to: manager, level: task.escalation_level + 1, newTask: created.id }, system: true });
    return 'escalated';
  }
  return 'unknown_kind';
}
