// The approval runtime: instances walk their (snapshotted) tree; approver and handler nodes
// become tasks; actions on tasks move the instance on. Every function runs inside the
// caller's transaction and every mutation of an instance first locks its row, so two people
// acting at once on the same instance are serialised and the second sees the first's result.
import { randomUUID } from 'node:crypto';
import { combineStatements, deferWrite, sendWrite, type Sql, type Statement, type Tx } from '../db/index.ts';
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
import { getPinnedLoader, runOutcomeHooks, runRecordChangeHooks, workflowAction, type Outcome } from './hooks.ts';
import { admins, managerOf, primaryDepartment, resolveApprovers, slaMinutes, usersByName, type ResolveContext } from './resolve.ts';
import { Tree } from './tree.ts';
import { slaDue } from './calendar-store.ts';
import { sendNotification } from '../notify/index.ts';

export interface InstanceRow {
  id: string;
  app: string;
  app_version: number;
  workflow: string;
  entity: string;
  record_id: string;
  title: string;
  /** The tree; stored only for an instance that is not pinned (filled from the version on load). */
  definition: WorkflowDef;
  record: Record<string, unknown>;
  picks: Record<string, string[]>;
  scope: ConditionScope | null;
  /** Runs on the tree and entities of its published app version (`app`, `app_version`), not on a copy. */
  pinned: boolean;
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
  /** The instance's state as last written (saveInstance skips a write that changes nothing). */
  saved?: string;
  /** Tasks that became actionable in this transaction (the answer names who has to act next). */
  asked?: PendingTask[];
  /** A decision sent with the task's lock, read by `decide` (see lockTask). */
  early?: EarlyDecision & { taskId: string; decided: Promise<DecidedRun> };
}

/** A task someone now has to act on, as an action's answer names it. */
export interface PendingTask {
  taskId: string;
  assigneeId: string;
  nodeId: string;
}

function markAsked(x: Exec, t: Pick<TaskRow, 'id' | 'assignee_id' | 'node_id'>): void {
  (x.asked ??= []).push({ taskId: t.id, assigneeId: t.assignee_id, nodeId: t.node_id });
}

/** The tasks asked in this transaction, none once the instance ended (its tasks are cancelled). */
export function pendingTasks(x: Exec): PendingTask[] {
  return x.inst.status === 'running' || x.inst.status === 'returned' ? (x.asked ?? []) : [];
}

const LIVE_TASK = ['queued', 'pending', 'waiting'];
const DONE_OK = ['approved', 'done'];
const minutes = (d: Date, m: number) => new Date(d.getTime() + m * 60_000);

// ---------------------------------------------------------------------------------------------
// small helpers

interface EventRow {
  instance_id: string;
  k: number;
  at: Date;
  type: string;
  node_id: string | null;
  task_id: string | null;
  actor_id: string | null;
  actor_name: string;
  on_behalf_of: string | null;
  comment: string | null;
  attachments: unknown[] | null;
  detail: Record<string, unknown>;
  ip: string | null;
  user_agent: string | null;
}

/**
 * Trail events and notifications of a transaction are written by ONE insert each, right before
 * commit (`Tx.beforeCommit`): nothing reads them inside the transaction. An event's `seq` is
 * computed in that insert as the instance's max(seq) + its position among the transaction's
 * events of that instance; the insert runs while the transaction still holds the instance lock,
 * so the max it reads is the latest, and several executions on one instance in one
 * transaction (a chunk of timers) continue one counter.
 */
interface Buffers {
  events: EventRow[];
  perInstance: Map<string, number>;
  notifications: Array<{ user_id: string; kind: string; instance_id: string; task_id: string | null; title: string; body: string | null; created_at: Date }>;
}
const buffers = new WeakMap<Tx, Buffers>();

function buffersOf(tx: Tx): Buffers | null {
  if (!tx.beforeCommit) return null;
  let b = buffers.get(tx);
  if (!b) {
    const fresh: Buffers = { events: [], perInstance: new Map(), notifications: [] };
    buffers.set(tx, (b = fresh));
    tx.beforeCommit(() => {
      buffers.delete(tx);
      return fresh.events.length ? eventsStatement(fresh.events) : null;
    });
    tx.beforeCommit(() => (fresh.notifications.length ? notificationsStatement(fresh.notifications) : null));
  }
  return b;
}

function eventsStatement(rows: EventRow[]): Statement {
  return {
    text: `insert into wf_events (instance_id, seq, at, type, node_id, task_id, actor_id, actor_name, on_behalf_of, comment, attachments, detail, ip, user_agent)
     select e.instance_id, coalesce((select max(w.seq) from wf_events w where w.instance_id = e.instance_id), 0) + e.k, e.at, e.type, e.node_id, e.task_id,
            e.actor_id, e.actor_name, e.on_behalf_of, e.comment, e.attachments, coalesce(e.detail, '{}'::jsonb), e.ip, e.user_agent
       from jsonb_to_recordset($1::jsonb) as e(o int, instance_id uuid, k int, at timestamptz, type text, node_id text, task_id uuid, actor_id uuid,
            actor_name text, on_behalf_of uuid, comment text, attachments jsonb, detail jsonb, ip text, user_agent text)
      order by e.o`,
    params: [JSON.stringify(rows.map((r, o) => ({ o, ...r })))],
  };
}

function notificationsStatement(rows: Buffers['notifications']): Statement {
  return {
    text: `insert into wf_notifications (user_id, kind, instance_id, task_id, title, body, created_at)
     select n.user_id, n.kind, n.instance_id, n.task_id, n.title, n.body, n.created_at
       from jsonb_to_recordset($1::jsonb) as n(o int, user_id uuid, kind text, instance_id uuid, task_id uuid, title text, body text, created_at timestamptz)
      order by n.o`,
    params: [JSON.stringify(rows.map((r, o) => ({ o, ...r })))],
  };
}

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
  const row: EventRow = {
    instance_id: x.inst.id,
    k: 1,
    at: x.now,
    type,
    node_id: e.nodeId ?? null,
    task_id: e.taskId ?? null,
    actor_id: p && p.kind !== 'system' ? p.userId : null,
    actor_name: p ? p.username : 'system',
    on_behalf_of: e.onBehalfOf ?? null,
    comment: e.comment ?? null,
    attachments: e.attachments ?? null,
    detail: e.detail ?? {},
    ip: meta?.ip ?? null,
    user_agent: meta?.userAgent ?? null,
  };
  const b = buffersOf(x.tx);
  if (b) {
    row.k = (b.perInstance.get(x.inst.id) ?? 0) + 1;
    b.perInstance.set(x.inst.id, row.k);
    b.events.push(row);
    return;
  }
  await sendWrite(x.tx, eventsStatement([row]));
}

export async function notify(x: Exec, userIds: string[], kind: 'task' | 'reminder' | 'escalation' | 'outcome' | 'cc' | 'returned', title: string, taskId?: string | null, body?: string): Promise<void> {
  if (userIds.length === 0) return;
  // external channels (WeCom/DingTalk/Feishu/email): one queued outbox event, fanned out after commit; in-app stays below
  await sendNotification(x.tx, { kind, userIds, title, body, taskId, instanceId: x.inst.id, app: x.inst.app, entity: x.inst.entity, recordId: x.inst.record_id, fromUserId: x.inst.initiator_id, at: x.now, inApp: false });
  const rows = userIds.map((u) => ({ user_id: u, kind, instance_id: x.inst.id, task_id: taskId ?? null, title, body: body ?? null, created_at: x.now }));
  const b = buffersOf(x.tx);
  if (b) {
    b.notifications.push(...rows);
    return;
  }
  await sendWrite(x.tx, notificationsStatement(rows));
}

function timerStatement(x: Exec, kind: string, dueAt: Date, refs: { taskId?: string; runId?: string }, payload: Record<string, unknown> = {}): Statement {
  return {
    text: `insert into wf_timers (due_at, kind, instance_id, task_id, run_id, payload, created_at) values ($1, $2, $3, $4, $5, $6, $7)`,
    params: [dueAt, kind, x.inst.id, refs.taskId ?? null, refs.runId ?? null, JSON.stringify(payload), x.now],
  };
}

async function addTimer(x: Exec, kind: string, dueAt: Date, refs: { taskId?: string; runId?: string }, payload: Record<string, unknown> = {}): Promise<void> {
  await sendWrite(x.tx, timerStatement(x, kind, dueAt, refs, payload));
}

/**
 * Runs statements on different rows as one statement: the first one's `returning` rows, if it
 * has any; without, nobody waits for the answer (`sendWrite`: it leaves with the next statement).
 */
async function runAll<R = Record<string, unknown>>(x: Exec, statements: Statement[]): Promise<R[]> {
  const returning = /\breturning\b/i.test(statements[0]!.text);
  const all = combineStatements(statements, returning ? 0 : undefined);
  if (!returning) {
    await sendWrite(x.tx, all);
    return [];
  }
  return (await x.tx.query<R>(all.text, all.params)).rows;
}

function dropTimersStatement(taskIds: string[]): Statement {
  return { text: 'delete from wf_timers where task_id = any($1::uuid[]) and fired_at is null', params: [taskIds] };
}

async function dropTaskTimers(x: Exec, taskIds: string[]): Promise<void> {
  if (taskIds.length) await sendWrite(x.tx, dropTimersStatement(taskIds));
}

function instanceState(inst: InstanceRow): string {
  return JSON.stringify([inst.status, inst.round, inst.record, inst.ended_at]);
}

/** The instance row's update, or null when nothing changed since it was read or last written. */
function instanceStatement(x: Exec): Statement | null {
  const state = instanceState(x.inst);
  if (x.saved === state) return null;
  x.saved = state;
  return {
    text: `update wf_instances set status = $2, round = $3, record = $4, updated_at = $5, ended_at = $6 where id = $1`,
    params: [x.inst.id, x.inst.status, x.inst.round, JSON.stringify(x.inst.record), x.now, x.inst.ended_at],
  };
}

async function saveInstance(x: Exec): Promise<void> {
  const s = instanceStatement(x);
  if (s) await sendWrite(x.tx, s);
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

// Trees by their definition object: a pinned version's tree is built once, not per action.
const trees = new WeakMap<WorkflowDef, Tree>();

function treeOf(inst: InstanceRow): Tree {
  let tree = trees.get(inst.definition);
  if (!tree) trees.set(inst.definition, (tree = new Tree(inst.definition)));
  return tree;
}

/**
 * Fills the tree and condition scope of a pinned instance from its app version (read once per
 * process and version). Every reader of an instance row calls it before using either.
 */
export async function resolveInstance<T extends Pick<InstanceRow, 'app' | 'app_version' | 'entity' | 'pinned'> & { definition: WorkflowDef | null; scope?: ConditionScope | null }>(
  sql: Sql,
  inst: T,
): Promise<T & { definition: WorkflowDef }> {
  if (inst.pinned) {
    const loader = getPinnedLoader();
    const found = loader ? await loader(sql, { app: inst.app, version: inst.app_version, entity: inst.entity }) : null;
    if (!found) throw new Error(`the approval tree of ${inst.app} version ${inst.app_version} (${inst.entity}) is not available`);
    inst.definition = found.definition;
    if ('scope' in inst) inst.scope = found.scope;
  }
  return inst as T & { definition: WorkflowDef };
}

export async function lockInstance(tx: Tx, id: string, actor: Actor, now: Date): Promise<Exec> {
  const r = await tx.query<InstanceRow>('select * from wf_instances where id = $1 for update', [id]);
  const inst = r.rows[0];
  if (!inst) throw notFound(`There is no approval instance ${id}.`);
  await resolveInstance(tx, inst);
  return { tx, now, actor, inst, tree: treeOf(inst), saved: instanceState(inst) };
}

const TASK_COLUMNS = [
  'id', 'instance_id', 'run_id', 'node_id', 'kind', 'assignee_id', 'on_behalf_of', 'origin', 'seq', 'blocks_task_id', 'status', 'decision', 'comment', 'auto',
  'escalation_level', 'created_at', 'decided_at', 'decided_by', 'title', 'app', 'workflow', 'initiator_id',
] as const;

/**
 * Locks a task's instance and reads the task, in ONE statement: `for update of i, t` locks the
 * instance row first (the OF list's order), then the task row. A second approver who waited for
 * the instance lock gets both rows as the first approver committed them (PostgreSQL re-reads
 * every locked row after the wait), so "exactly one wins" holds: the loser sees its task
 * cancelled. Every writer of wf_tasks holds the instance lock first, so the task lock never
 * waits for someone who waits for us.
 */
const TASK_KEYS = TASK_COLUMNS.map((c) => `t.${c}`);
const LOCK_TASK_SQL = `select i.*, ${TASK_COLUMNS.map((c) => `t.${c} as "t.${c}"`).join(', ')}
       from wf_tasks t join wf_instances i on i.id = t.instance_id
      where t.id = $1
      for update of i, t`;

/** A decision sent right behind the lock, before the task is checked (see `lockTask`). */
export interface EarlyDecision {
  decision: 'approve' | 'reject';
  comment: string | null;
}

/** What `decide` reads with its update: the node's run and all its tasks (none without a run). */
type DecidedRun = (RunRow & { tasks: TaskRow[] }) | undefined;

/** Built on first use, then the same string (prepared-statement names are looked up by text). */
let earlyDecisionSql: string | undefined;

/**
 * The decision's update, written so that it can leave before the task has been checked: the
 * status follows the task's kind in SQL, and the update touches the task only when it is the
 * actor's and pending. Should the checks after the lock refuse the action, they throw and the
 * transaction — this update with it — is rolled back.
 */
function earlyDecisionStatement(taskId: string, d: EarlyDecision, userId: string, now: Date): Statement {
  return {
    text: (earlyDecisionSql ??= `with s0 as (update wf_tasks set status = case when $2::text = 'reject' then 'rejected' when kind = 'handle' then 'done' else 'approved' end,
                decision = $2::text, comment = $3, auto = false, decided_at = $4, decided_by = $5
              where id = $1 and status = 'pending' and assignee_id = $5),
          s1 as (delete from wf_timers where task_id = $1 and fired_at is null)
     ${runWithTasksSql('(select run_id from wf_tasks where id = $1)')}`),
    params: [taskId, d.decision, d.comment, now, userId],
  };
}

/**
 * Locks the task (see LOCK_TASK_SQL). With `early`, where the driver pipelines, the approval's
 * decision leaves in the same write as the lock and runs right after it: `decide` then reads
 * its answer instead of sending its own update — one round trip less per approval.
 */
export async function lockTask(tx: Tx, taskId: string, actor: Actor, now: Date, early?: EarlyDecision): Promise<{ x: Exec; task: TaskRow }> {
  const locking = tx.query<Record<string, unknown>>(LOCK_TASK_SQL, [taskId]);
  let decided: Promise<DecidedRun> | undefined;
  if (early && tx.send && actor.principal.kind !== 'system') {
    const st = earlyDecisionStatement(taskId, early, actor.principal.userId, now);
    decided = tx.query<RunRow & { tasks: TaskRow[] }>(st.text, st.params).then((r) => r.rows[0]);
    decided.catch(() => {}); // read by decide; the lock's own error comes first
  }
  const r = await locking;
  const row = r.rows[0];
  if (!row) throw notFound(`There is no approval task ${taskId}.`);
  // split the joined row (new objects: deleting keys from it would turn it into a slow dictionary)
  const task: Record<string, unknown> = {};
  for (let i = 0; i < TASK_COLUMNS.length; i++) task[TASK_COLUMNS[i]!] = row[TASK_KEYS[i]!];
  const instRow: Record<string, unknown> = {};
  for (const key in row) if (!key.startsWith('t.')) instRow[key] = row[key];
  const inst = instRow as unknown as InstanceRow;
  await resolveInstance(tx, inst);
  return { x: { tx, now, actor, inst, tree: treeOf(inst), saved: instanceState(inst), early: decided && early ? { ...early, taskId, decided } : undefined }, task: task as unknown as TaskRow };
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
  /**
   * `workflow` and `scope` are those of the published version `appVersion` of `app`: the instance
   * keeps no copy of them and reads them from that (immutable) version when it is worked on.
   */
  pinned?: boolean;
  now: Date;
}

export interface StartResult {
  instanceId: string;
  status: InstanceRow['status'];
  /** Who has to act now. */
  pendingTasks: PendingTask[];
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
  const title = o.title ?? `${o.workflow.label.zh} · ${o.recordId}`;
  const instanceId = randomUUID();
  // At most one live instance per document (unique index wf_instances_live): the insert says so.
  // Where the driver pipelines, its answer is read only at the end: the approval's first
  // statements follow it on the connection at once (they run after it; a conflict rolls them
  // back with everything else), which spares a round trip on every submit.
  const inserting = tx.query<{ id: string }>(
    `insert into wf_instances (id, app, app_version, workflow, entity, record_id, title, definition, record, picks, scope, pinned, status, round, initiator_id, initiator_department_id, created_at, updated_at)
     values ($15, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'running', 1, $12, $13, $14, $14)
     on conflict (app, entity, record_id) where status in ('running', 'returned') do nothing
     returning id`,
    [
      o.app,
      o.appVersion,
      o.workflow.name,
      o.workflow.entity,
      o.recordId,
      title,
      o.pinned ? null : JSON.stringify(o.workflow),
      JSON.stringify(o.record),
      JSON.stringify(picks),
      o.scope && !o.pinned ? JSON.stringify(o.scope) : null,
      o.pinned === true,
      initiatorId,
      dept,
      o.now,
      instanceId,
    ],
  );
  inserting.catch(() => {}); // its failure is reported by `inserted` below
  const inserted = async (): Promise<void> => {
    if ((await inserting).rows[0]) return;
    const existing = await tx.query<{ id: string }>(
      `select id from wf_instances where app = $1 and entity = $2 and record_id = $3 and status in ('running', 'returned')`,
      [o.app, o.workflow.entity, o.recordId],
    );
    const id = existing.rows[0]?.id ?? null;
    throw conflict(`This document already has an approval in progress (instance ${id}). Withdraw it first or wait for its outcome.`, { instanceId: id });
  };
  if (!tx.send) await inserted();
  // the row as written
  const inst: InstanceRow = {
    id: instanceId,
    round: 1,
    created_at: o.now,
    updated_at: o.now,
    app: o.app,
    app_version: o.appVersion,
    workflow: o.workflow.name,
    entity: o.workflow.entity,
    record_id: o.recordId,
    title,
    definition: o.workflow,
    record: o.record,
    picks,
    scope: o.scope ?? null,
    pinned: o.pinned === true,
    status: 'running',
    initiator_id: initiatorId,
    initiator_department_id: dept,
    ended_at: null,
  };
  const x: Exec = { tx, now: o.now, actor: o.actor, inst, tree: treeOf(inst) };
  x.saved = instanceState(x.inst);
  try {
    await addEvent(x, 'started', { nodeId: o.workflow.root.id, detail: { appVersion: o.appVersion, workflow: o.workflow.name } });
    await continueAfter(x, o.workflow.root.id, null);
    await saveInstance(x);
  } catch (err) {
    await inserted(); // a live instance already there (or the insert's own failure) is the cause
    throw err;
  }
  await inserted();
  return { instanceId: x.inst.id, status: x.inst.status, pendingTasks: pendingTasks(x) };
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
    await sendWrite(x.tx, { text: 'update wf_node_runs set state = $2 where id = $1', params: [run.id, JSON.stringify({ ...run.state, done: [...done] })] });
    return;
  }
  await sendWrite(x.tx, { text: `update wf_node_runs set state = $2, status = 'completed', ended_at = $3 where id = $1`, params: [run.id, JSON.stringify({ ...run.state, done: [...done] }), x.now] });
  await addEvent(x, 'joined', { nodeId: run.node_id, system: true });
  return continueAfter(x, run.node_id, run.parent_run_id);
}

type NewRun = Pick<RunRow, 'id' | 'node_id' | 'node_type' | 'parent_run_id' | 'round' | 'status' | 'state'>;

function runStatement(x: Exec, run: NewRun): Statement {
  const ended = ['active', 'waiting'].includes(run.status) ? null : x.now;
  return {
    text: `insert into wf_node_runs (id, instance_id, node_id, node_type, parent_run_id, round, status, state, started_at, ended_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
    params: [run.id, x.inst.id, run.node_id, run.node_type, run.parent_run_id, run.round, run.status, JSON.stringify(run.state), x.now, ended],
  };
}

function newRun(x: Exec, node: WorkflowNode, parentRunId: string | null, status: string, state: Record<string, unknown> = {}): RunRow {
  const ended = ['active', 'waiting'].includes(status) ? null : x.now;
  return { id: randomUUID(), instance_id: x.inst.id, node_id: node.id, node_type: node.type, parent_run_id: parentRunId, round: x.inst.round, status, state, started_at: x.now, ended_at: ended };
}

/**
 * Writes the run of a node that takes time (people, parallel, delay). A node that is over as it
 * starts (initiator, condition, cc, action, end) has no run: nothing ever reads one (returns look
 * for approved people runs, joins for parallel runs, timers for active ones), and its trail event
 * (`started`, `branch_chosen`, `cc`, `action_run`, the outcome) already says what it did.
 */
async function insertRun(x: Exec, node: WorkflowNode, parentRunId: string | null, status: 'active' | 'waiting', state: Record<string, unknown> = {}): Promise<RunRow> {
  const run = newRun(x, node, parentRunId, status, state);
  await sendWrite(x.tx, runStatement(x, run));
  return run;
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
      if (ids.length) {
        await deferWrite(x.tx, {
          text: `insert into wf_cc (instance_id, node_id, user_id, created_at) select $1::uuid, $2::text, u, $4::timestamptz from unnest($3::uuid[]) with ordinality as c(u, o) order by o on conflict do nothing`,
          params: [x.inst.id, node.id, ids, x.now],
        });
      }
      await notify(x, ids, 'cc', `${x.inst.title}`);
      await addEvent(x, 'cc', { nodeId: node.id, detail: { users: ids }, system: true });
      return continueAfter(x, node.id, parentRunId);
    }
    case 'condition': {
      const record = conditionRecord(x);
      const chosen = node.branches.find((b) => !b.default && b.when && branchMatches(x, node.id, b.id, b.when, record)) ?? node.branches.find((b) => b.default);
      if (!chosen) throw unprocessable(`No branch of "${nodeLabel(node)}" applies and it has no default branch.`);
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
      const run = newRun(x, node, parentRunId, 'active');
      await runAll(x, [runStatement(x, run), timerStatement(x, 'delay', minutes(x.now, node.minutes), { runId: run.id })]);
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
      await addEvent(x, 'action_run', { nodeId: node.id, detail: { action: node.action }, system: true });
      return continueAfter(x, node.id, parentRunId);
    }
    case 'end':
      return finish(x, 'approved');
  }
}

async function joinEmptyBranch(x: Exec, container: WorkflowNode & { type: 'parallel' }, branchId: string, runId: string): Promise<void> {
  const run = await runOf(x, runId);
  const done = new Set((run.state.done as string[] | undefined) ?? []);
  done.add(branchId);
  if (done.size < container.branches.length) {
    await sendWrite(x.tx, { text: 'update wf_node_runs set state = $2 where id = $1', params: [runId, JSON.stringify({ ...run.state, done: [...done] })] });
    return;
  }
  await sendWrite(x.tx, { text: `update wf_node_runs set state = $2, status = 'completed', ended_at = $3 where id = $1`, params: [runId, JSON.stringify({ ...run.state, done: [...done] }), x.now] });
  return continueAfter(x, container.id, run.parent_run_id);
}

function resolveCtx(x: Exec, nodeId: string): ResolveContext {
  return {
    initiatorId: x.inst.initiator_id,
    initiatorDepartmentId: x.inst.initiator_department_id,
    record: x.inst.record,
    picks: x.inst.picks,
    nodeId,
    app: x.inst.app,
    entity: x.inst.entity,
    entities: x.inst.scope?.app.entities,
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
  // the run is written with its tasks (or with its final status) below: one statement
  const run = newRun(x, node, parentRunId, 'active');
  const settle = async (status: string, state?: Record<string, unknown>) => {
    await sendWrite(x.tx, runStatement(x, { ...run, status, state: state ?? run.state }));
  };
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
    await settle('skipped');
    return continueAfter(x, node.id, parentRunId);
  }
  if (ids.length === 0) {
    const rule = node.onEmpty ?? { action: 'admin' as const };
    if (rule.action === 'auto_approve') {
      await settle('approved', { auto: 'no_approver' });
      await addEvent(x, 'auto_approved', { nodeId: node.id, detail: { reason: 'no_approver' }, system: true });
      return continueAfter(x, node.id, parentRunId);
    }
    if (rule.action === 'auto_reject') {
      await settle('rejected', { auto: 'no_approver' });
      await addEvent(x, 'auto_rejected', { nodeId: node.id, detail: { reason: 'no_approver' }, system: true });
      return finish(x, 'rejected');
    }
    ids = rule.action === 'user' ? await usersByName(x.tx, [rule.user]) : [];
    if (ids.length === 0) ids = await admins(x.tx);
    if (ids.length === 0) {
      await settle('rejected');
      await addEvent(x, 'auto_rejected', { nodeId: node.id, detail: { reason: 'no_approver_no_admin' }, system: true });
      return finish(x, 'rejected');
    }
    await addEvent(x, 'no_approver_fallback', { nodeId: node.id, detail: { rule: rule.action, users: ids }, system: true });
  }
  const kind = node.type === 'handler' ? 'handle' : 'approve';
  // the run, all its tasks, their SLA timers and the node's auto-decision timer: one statement
  const rows = ids.map((u, i) => {
    const auto = autoInitiator && u === initiator;
    return { id: randomUUID(), assignee: u, seq: i, status: (auto ? 'approved' : 'queued') as TaskStatus, auto };
  });
  // Undecided (the usual case): the people asked now (everyone, or the first in sequential mode)
  // are inserted as pending straight away, a standing delegation applied in the insert — exactly
  // what evaluateNode + activate would do to the queued tasks.
  const mode = modeOf(node);
  const undecided = nodeOutcome(rows.map((r) => ({ status: r.status, origin: 'main' as const })), mode, node.type === 'approver' ? node.ratio : undefined) === null;
  const asked = undecided ? rows.filter((r) => r.status === 'queued').slice(0, mode === 'sequential' ? 1 : undefined) : [];
  for (const r of asked) r.status = 'pending';
  const statements: Statement[] = [
    {
      text: `insert into wf_tasks (id, instance_id, run_id, node_id, kind, assignee_id, on_behalf_of, origin, seq, status, decision, auto, decided_at, decided_by, title, app, workflow, initiator_id, created_at)
       select r.id, $1::uuid, $2::uuid, $3::text, $4::text, coalesce(d.delegate_id, r.assignee), case when d.delegate_id is not null then r.assignee end, 'main', r.seq, r.status,
              case when r.auto then 'approve' end, r.auto, case when r.auto then $5::timestamptz end, case when r.auto then r.assignee end, $6::text, $7::text, $8::text, $9::uuid, $5::timestamptz
         from jsonb_to_recordset($10::jsonb) as r(id uuid, assignee uuid, seq int, status text, auto boolean)
         left join lateral (
           select dl.delegate_id from wf_delegations dl join users u on u.id = dl.delegate_id and u.active
            where r.status = 'pending' and dl.user_id = r.assignee and dl.revoked_at is null and dl.starts_at <= $5::timestamptz and dl.ends_at > $5::timestamptz
              and (dl.app is null or dl.app = $7::text)
            order by dl.created_at desc limit 1) d on true
        order by r.seq
       returning *`,
      params: [x.inst.id, run.id, node.id, kind, x.now, x.inst.title, x.inst.app, x.inst.workflow, x.inst.initiator_id, JSON.stringify(rows)],
    },
    runStatement(x, run),
  ];
  if (node.sla?.auto) statements.push(timerStatement(x, 'auto', await slaDue(x, await slaMinutes(x.tx, node.sla.auto, resolveCtx(x, node.id)), node.id), { runId: run.id }, { action: node.sla.auto.action }));
  for (const r of asked) statements.push(...(await slaTimers(x, { id: r.id, node_id: node.id, escalation_level: 0 })));
  const inserted = await runAll<TaskRow>(x, statements);
  const byId = new Map(inserted.map((t) => [t.id, t]));
  const tasks = rows.map((r) => byId.get(r.id)!);
  for (const t of tasks) {
    if (t.auto) await addEvent(x, 'auto_approved', { nodeId: node.id, taskId: t.id, detail: { reason: 'initiator_is_approver' }, system: true });
  }
  if (!undecided) return evaluateNode(x, run.id, { run, tasks });
  for (const r of asked) {
    const t = byId.get(r.id)!;
    if (t.on_behalf_of) await addEvent(x, 'delegated', { nodeId: node.id, taskId: t.id, detail: { from: t.on_behalf_of, to: t.assignee_id }, system: true });
    markAsked(x, t);
    await notify(x, [t.assignee_id], 'task', x.inst.title, t.id);
  }
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

/**
 * A task becomes actionable: a standing delegation applies (someone on leave: the task goes to
 * the delegate), the assignee is told, SLA timers start. The delegation lookup, the task's update
 * and its timers are one statement.
 */
async function activate(x: Exec, task: TaskRow): Promise<void> {
  const delegable = !task.on_behalf_of && task.kind !== 'resubmit';
  const statements: Statement[] = [
    {
      text: `update wf_tasks t set status = 'pending', created_at = $2,
              assignee_id = coalesce(d.delegate_id, t.assignee_id),
              on_behalf_of = case when d.delegate_id is null then t.on_behalf_of else t.assignee_id end
         from (select (select dl.delegate_id from wf_delegations dl join users u on u.id = dl.delegate_id and u.active
                        where dl.user_id = $3::uuid and dl.revoked_at is null and dl.starts_at <= $2 and dl.ends_at > $2 and (dl.app is null or dl.app = $4::text)
                        order by dl.created_at desc limit 1) as delegate_id) d
        where t.id = $1
        returning t.assignee_id, t.on_behalf_of`,
      params: [task.id, x.now, delegable ? task.assignee_id : null, x.inst.app],
    },
  ];
  statements.push(...(await slaTimers(x, task)));
  const [row] = await runAll<{ assignee_id: string; on_behalf_of: string | null }>(x, statements);
  const delegatedFrom = delegable && row!.on_behalf_of ? row!.on_behalf_of : null;
  task.status = 'pending';
  task.assignee_id = row!.assignee_id;
  task.on_behalf_of = row!.on_behalf_of;
  if (delegatedFrom) await addEvent(x, 'delegated', { nodeId: task.node_id, taskId: task.id, detail: { from: delegatedFrom, to: task.assignee_id }, system: true });
  markAsked(x, task);
  await notify(x, [task.assignee_id], task.kind === 'resubmit' ? 'returned' : 'task', x.inst.title, task.id);
}

/** The SLA timers (remind, escalate) a task starts when it becomes actionable, as statements. */
async function slaTimers(x: Exec, task: Pick<TaskRow, 'id' | 'node_id' | 'escalation_level'>): Promise<Statement[]> {
  const node = x.tree.has(task.node_id) ? x.tree.node(task.node_id) : null;
  const sla = node && (node.type === 'approver' || node.type === 'handler') ? node.sla : undefined;
  const out: Statement[] = [];
  if (sla?.remind) out.push(timerStatement(x, 'remind', await slaDue(x, await slaMinutes(x.tx, sla.remind, resolveCtx(x, task.node_id)), task.node_id), { taskId: task.id }, { every: sla.remind.every ?? null }));
  if (sla?.escalate) {
    const max = sla.escalate.maxLevels ?? (sla.escalate.repeat ? 20 : 1);
    if (task.escalation_level < max) out.push(timerStatement(x, 'escalate', await slaDue(x, await slaMinutes(x.tx, sla.escalate, resolveCtx(x, task.node_id)), task.node_id), { taskId: task.id }, { level: task.escalation_level }));
  }
  return out;
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

/** A people node's run and its tasks (in seq order), read in one statement. */
/** A node's run with all its tasks (json), for the run `runRef` names (an SQL expression). */
const runWithTasksSql = (runRef: string) =>
  `select r.*, coalesce((select json_agg(t order by t.seq, t.created_at) from wf_tasks t where t.run_id = r.id), '[]'::json) as tasks
       from wf_node_runs r where r.id = ${runRef}`;

function runWithTasksStatement(runId: string): Statement {
  return { text: runWithTasksSql('$1'), params: [runId] };
}

async function runWithTasks(x: Exec, runId: string): Promise<{ run: RunRow; tasks: TaskRow[] }> {
  const s = runWithTasksStatement(runId);
  const r = await x.tx.query<RunRow & { tasks: TaskRow[] }>(s.text, s.params);
  const { tasks, ...run } = r.rows[0]!;
  return { run, tasks };
}

/** Decides a people node when its tasks allow it, else makes the next people actionable. */
async function evaluateNode(x: Exec, runId: string, known?: { run: RunRow; tasks: TaskRow[] }): Promise<void> {
  const { run, tasks } = known ?? (await runWithTasks(x, runId));
  if (run.status !== 'active') return;
  const node = x.tree.node(run.node_id) as PeopleNode;
  const mode = modeOf(node);
  const verdict = nodeOutcome(tasks, mode, node.type === 'approver' ? node.ratio : undefined);
  if (verdict) {
    const open = tasks.filter((t) => LIVE_TASK.includes(t.status)).map((t) => t.id);
    await runAll(x, [
      { text: `update wf_node_runs set status = $2, ended_at = $3 where id = $1`, params: [runId, verdict, x.now] },
      ...(open.length ? [{ text: `update wf_tasks set status = 'cancelled' where id = any($1::uuid[])`, params: [open] }] : []),
      { text: `delete from wf_timers where fired_at is null and (run_id = $1 or task_id = any($2::uuid[]))`, params: [runId, open] },
    ]);
    run.status = verdict;
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
  x.inst.status = outcome;
  x.inst.ended_at = x.now;
  await cancelOpenWork(x, undefined, instanceStatement(x));
  await addEvent(x, outcome, { system: true });
  await notify(x, [x.inst.initiator_id], 'outcome', x.inst.title, null, outcome);
  await runOutcomeHooks(x.tx, outcomeEvent(x, outcome));
}

/** Cancels every open task, active run and pending timer of the instance (with `also`: one statement). */
async function cancelOpenWork(x: Exec, keepTaskId?: string, also?: Statement | null): Promise<void> {
  await runAll(x, [
    {
      text: `update wf_tasks set status = 'cancelled' where instance_id = $1 and status in ('queued', 'pending', 'waiting') and id is distinct from $2`,
      params: [x.inst.id, keepTaskId ?? null],
    },
    { text: `update wf_node_runs set status = 'cancelled', ended_at = $2 where instance_id = $1 and status in ('active', 'waiting')`, params: [x.inst.id, x.now] },
    { text: `delete from wf_timers where instance_id = $1 and fired_at is null`, params: [x.inst.id] },
    ...(also ? [also] : []),
  ]);
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
export async function decide(
  x: Exec,
  task: TaskRow,
  decision: 'approve' | 'reject',
  input: DecisionInput,
  opts: { auto?: boolean; onSigned?: (task: TaskRow) => Promise<void | Record<string, unknown>> } = {},
): Promise<void> {
  if (!opts.auto) assertActionable(x, task, x.actor.principal.userId);
  if (task.kind === 'resubmit') throw unprocessable('This task asks you to resubmit the document; use resubmit or withdraw.');
  if (task.kind === 'handle' && decision === 'reject') throw unprocessable('A handling step has no verdict: mark it done, or return the document.');
  await applyChanges(x, task, input.changes);
  const status = decision === 'reject' ? 'rejected' : task.kind === 'handle' ? 'done' : 'approved';
  // With the update, the node's run and tasks are read (as before it: the decided task is patched
  // below); we hold the instance lock, so nobody else changes them. Not when an added-before
  // signer finishes: that activates another task of the run first.
  const prefetch = Boolean(task.run_id) && !task.blocks_task_id;
  // the update sent with the lock, when it is exactly this decision (see lockTask)
  const early = x.early;
  x.early = undefined;
  let fetched: DecidedRun;
  if (early && !opts.auto && early.taskId === task.id && early.decision === decision && early.comment === (input.comment ?? null)) {
    fetched = await early.decided;
  } else {
    const all = combineStatements(
      [
        {
          text: `update wf_tasks set status = $2, decision = $3, comment = $4, auto = $5, decided_at = $6, decided_by = $7 where id = $1`,
          params: [task.id, status, decision, input.comment ?? null, opts.auto ?? false, x.now, opts.auto ? null : x.actor.principal.userId],
        },
        dropTimersStatement([task.id]),
        ...(prefetch ? [runWithTasksStatement(task.run_id!)] : []),
      ],
      prefetch ? 2 : undefined,
    );
    fetched = (await x.tx.query<RunRow & { tasks: TaskRow[] }>(all.text, all.params)).rows[0];
  }
  task.status = status;
  let known: { run: RunRow; tasks: TaskRow[] } | undefined;
  if (prefetch && fetched) {
    const { tasks, ...run } = fetched;
    for (const t of tasks) if (t.id === task.id) t.status = status;
    known = { run, tasks };
  }
  // the signature (if any) is stored first so that the decision's trail event names it
  const signed = opts.onSigned ? await opts.onSigned(task) : undefined;
  await addEvent(x, task.kind === 'handle' ? 'handled' : decision === 'approve' ? 'approve' : 'reject', {
    nodeId: task.node_id,
    taskId: task.id,
    comment: input.comment,
    attachments: input.attachments,
    onBehalfOf: task.on_behalf_of,
    detail: { ...(input.changes ? { changes: input.changes } : {}), ...(opts.auto ? { auto: true } : {}), ...(signed ?? {}) },
    system: opts.auto,
  });
  // an added-before signer finished: the person who added them may decide again
  if (task.blocks_task_id && status !== 'rejected') {
    const others = await x.tx.query(`select 1 from wf_tasks where blocks_task_id = $1 and status in ('queued', 'pending', 'waiting')`, [task.blocks_task_id]);
    if (others.rows.length === 0) {
      const blocked = (await x.tx.query<TaskRow>(`select * from wf_tasks where id = $1 and status = 'waiting'`, [task.blocks_task_id])).rows[0];
      if (blocked) await activate(x, blocked);
    }
  }
  if (task.run_id) await evaluateNode(x, task.run_id, known);
}

export async function transfer(x: Exec, task: TaskRow, toUserId: string, comment?: string | null): Promise<string> {
  assertActionable(x, task, x.actor.principal.userId);
  if (toUserId === task.assignee_id) throw unprocessable('The task is already yours: choose someone else to transfer it to.');
  await assertPerson(x, toUserId);
  await sendWrite(x.tx, { text: `update wf_tasks set status = 'transferred', decision = 'transfer', comment = $2, decided_at = $3, decided_by = $4 where id = $1`, params: [task.id, comment ?? null, x.now, x.actor.principal.userId] });
  await dropTaskTimers(x, [task.id]);
  const node = x.tree.node(task.node_id);
  const run = task.run_id ? await runOf(x, task.run_id) : null;
  const created = await insertTask(x, run, node, task.kind, toUserId, { seq: task.seq, status: 'pending', origin: task.origin, blocksTaskId: task.blocks_task_id, escalationLevel: task.escalation_level });
  // added-before signers waiting on the old task now block the new one
  await sendWrite(x.tx, { text: 'update wf_tasks set blocks_task_id = $2 where blocks_task_id = $1', params: [task.id, created.id] });
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
    await sendWrite(x.tx, { text: `update wf_tasks set status = 'waiting' where id = $1`, params: [task.id] });
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
  await sendWrite(x.tx, { text: `update wf_tasks set status = 'returned', decision = 'return', comment = $2, decided_at = $3, decided_by = $4 where id = $1`, params: [task.id, comment ?? null, x.now, x.actor.principal.userId] });
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
  await sendWrite(x.tx, { text: `update wf_tasks set status = 'done', decision = 'resubmit', decided_at = $2, decided_by = $3, comment = $4 where instance_id = $1 and kind = 'resubmit' and status = 'pending'`, params: [x.inst.id, x.now, x.actor.principal.userId, input.comment ?? null] });
  x.inst.status = 'running';
  x.inst.round += 1;
  await saveInstance(x);
  await addEvent(x, 'resubmitted', { nodeId: x.tree.def.root.id, comment: input.comment, attachments: input.attachments, detail: { round: x.inst.round, ...(input.changes ? { changes: input.changes } : {}) } });
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
    await sendWrite(x.tx, { text: `update wf_node_runs set status = 'completed', ended_at = $2 where id = $1`, params: [run.id, x.now] });
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
    if (every > 0) await addTimer(x, 'remind', await slaDue(x, every, task.node_id), { taskId: task.id }, { every });
    return 'reminded';
  }
  if (timer.kind === 'escalate') {
    // a delegated task escalates along the chain of the person it was delegated from
    const owner = task.on_behalf_of ?? task.assignee_id;
    const manager = await managerOf(x.tx, owner);
    if (!manager) {
      await addEvent(x, 'escalation_failed', { nodeId: task.node_id, taskId: task.id, detail: { reason: 'no_manager', user: owner }, system: true });
      return 'no_manager';
    }
    await sendWrite(x.tx, { text: `update wf_tasks set status = 'escalated', decided_at = $2 where id = $1`, params: [task.id, x.now] });
    await dropTaskTimers(x, [task.id]);
    const run = task.run_id ? await runOf(x, task.run_id) : null;
    const created = await insertTask(x, run, x.tree.node(task.node_id), task.kind, manager, {
      seq: task.seq,
      status: 'pending',
      origin: task.origin,
      blocksTaskId: task.blocks_task_id,
      escalationLevel: task.escalation_level + 1,
    });
    await sendWrite(x.tx, { text: 'update wf_tasks set blocks_task_id = $2 where blocks_task_id = $1', params: [task.id, created.id] });
    await notify(x, [manager], 'escalation', x.inst.title, created.id);
    await addEvent(x, 'escalated', { nodeId: task.node_id, taskId: task.id, detail: { from: task.assignee_id, to: manager, level: task.escalation_level + 1, newTask: created.id }, system: true });
    return 'escalated';
  }
  return 'unknown_kind';
}
