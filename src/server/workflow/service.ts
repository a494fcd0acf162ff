// The workflow engine's use cases: one function per user action, each one transaction.
// Routes and other engines call these; tests drive them directly or over HTTP.
import type { Sql } from '../db/index.ts';
import { verifyPassword, verifySigningPin } from '../platform/auth/index.ts';
import type { Actor, AppContext } from '../platform/context.ts';
import { badRequest, conflict, forbidden, notFound, unauthorized, unprocessable } from '../platform/errors.ts';
import type { WorkflowDef } from '../../shared/workflow-definition.ts';
import { getDocumentLoader } from './hooks.ts';
import {
  addSigners,
  comment,
  decide,
  fieldAccess,
  lockInstance,
  lockTask,
  resubmit,
  returnTargets,
  returnTask,
  startInstance,
  transfer,
  withdraw,
  type DecisionInput,
  type InstanceRow,
  pendingTasks,
  resolveInstance,
  type PendingTask,
  type StartResult,
  type TaskRow,
} from './runtime.ts';
import { storeSignature, verifySignature, type VerifyReport } from './signature.ts';
import { usersByName } from './resolve.ts';
import { Tree } from './tree.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface StartInput {
  app: string;
  appVersion: number;
  workflow: WorkflowDef;
  recordId: string;
  record: Record<string, unknown>;
  title?: string;
  picks?: Record<string, string[]>;
}

export function start(ctx: AppContext, actor: Actor, input: StartInput): Promise<StartResult> {
  return ctx.db.tx((tx) => startInstance(tx, { ...input, actor, now: ctx.clock.now() }));
}

export type TaskAction =
  | ({ action: 'approve' | 'reject'; password?: string; pin?: string } & DecisionInput)
  | { action: 'return'; target: string; comment?: string | null }
  | { action: 'transfer'; to: string; comment?: string | null }
  | { action: 'add_signer'; position: 'before' | 'after'; users: string[]; comment?: string | null };

export interface ActionResult {
  taskId: string;
  instanceId: string;
  instanceStatus: InstanceRow['status'];
  signatureId?: string;
  createdTasks?: string[];
  returnedTo?: string;
  /** Tasks this action gave someone to act on (the next step's approvers, a returned initiator…). */
  pendingTasks: PendingTask[];
}

/** User ids or usernames → ids (422 naming the unknown ones). */
export async function userIds(sql: Sql, people: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of people) {
    if (UUID.test(p)) out.push(p);
    else {
      const [id] = await usersByName(sql, [p]);
      if (!id) throw unprocessable(`There is no active user "${p}".`);
      out.push(id);
    }
  }
  return out;
}

/** Re-authentication for an e-signature: checked before the transaction (argon2 is slow on purpose). */
async function checkSigner(ctx: AppContext, actor: Actor, password?: string, pin?: string): Promise<'password' | 'pin'> {
  if (!password && !pin) throw unauthorized('This step must be signed: re-enter your password (or your signing PIN) to sign your decision.');
  const r = await ctx.db.query<{ password_hash: string | null; signing_pin_hash: string | null }>('select password_hash, signing_pin_hash from users where id = $1', [actor.principal.userId]);
  const row = r.rows[0];
  if (pin) {
    if (!row?.signing_pin_hash) throw unprocessable('You have no signing PIN; sign with your password, or set a PIN first (POST /api/v1/auth/signing-pin).');
    if (!(await verifySigningPin(ctx.db, actor.principal.userId, pin))) throw unauthorized('The signing PIN is wrong. Nothing was decided.');
    return 'pin';
  }
  if (!(await verifyPassword(row?.password_hash, password!))) throw unauthorized('The password is wrong. Nothing was decided.');
  return 'password';
}

export async function actOnTask(ctx: AppContext, actor: Actor, taskId: string, a: TaskAction): Promise<ActionResult> {
  if (!UUID.test(taskId)) throw notFound(`There is no approval task ${taskId}.`);
  // Re-authentication is checked before the transaction (argon2 is slow on purpose); whether this
  // step needs a signature is checked inside it, against the instance's own tree.
  let method: 'password' | 'pin' | null = null;
  if ((a.action === 'approve' || a.action === 'reject') && (a.password || a.pin)) method = await checkSigner(ctx, actor, a.password, a.pin);
  const people = a.action === 'transfer' ? await userIds(ctx.db, [a.to]) : a.action === 'add_signer' ? await userIds(ctx.db, a.users) : [];
  return ctx.db.tx(async (tx) => {
    // an approval or rejection leaves with the lock (checked after it; refused → rolled back)
    const early = a.action === 'approve' || a.action === 'reject' ? { decision: a.action, comment: a.comment ?? null } : undefined;
    const { x, task } = await lockTask(tx, taskId, actor, ctx.clock.now(), early);
    const result: ActionResult = { taskId, instanceId: x.inst.id, instanceStatus: x.inst.status, pendingTasks: [] };
    switch (a.action) {
      case 'approve':
      case 'reject': {
        const node = x.tree.has(task.node_id) ? x.tree.node(task.node_id) : null;
        if (node?.type === 'approver' && node.signature && !method && task.assignee_id === actor.principal.userId && task.status === 'pending') {
          throw unauthorized('This step must be signed: re-enter your password (or your signing PIN) to sign your decision.');
        }
        const onSigned = method
          ? async (t: TaskRow) => {
              result.signatureId = await storeSignature(tx, {
                instanceId: x.inst.id,
                taskId: t.id,
                actor,
                decision: a.action,
                comment: a.comment ?? null,
                method: method!,
                at: x.now,
                document: signedDocument(x.inst),
              });
              return { signatureId: result.signatureId }; // named in the decision's trail event
            }
          : undefined;
        await decide(x, task, a.action, { comment: a.comment, attachments: a.attachments, changes: a.changes }, { onSigned });
        break;
      }
      case 'return':
        result.returnedTo = await returnTask(x, task, a.target, a.comment);
        break;
      case 'transfer':
        result.createdTasks = [await transfer(x, task, people[0]!, a.comment)];
        break;
      case 'add_signer':
        result.createdTasks = await addSigners(x, task, a.position, people, a.comment);
        break;
    }
    result.instanceStatus = x.inst.status;
    result.pendingTasks = pendingTasks(x);
    return result;
  });
}

/** What the signer saw: the document plus where it lives. */
export function signedDocument(inst: Pick<InstanceRow, 'app' | 'entity' | 'record_id' | 'record'>): Record<string, unknown> {
  return { app: inst.app, entity: inst.entity, recordId: inst.record_id, data: inst.record };
}

export type InstanceAction =
  | { action: 'withdraw'; comment?: string | null }
  | { action: 'comment'; comment: string; attachments?: unknown[] | null }
  | ({ action: 'resubmit' } & DecisionInput);

export async function actOnInstance(ctx: AppContext, actor: Actor, instanceId: string, a: InstanceAction): Promise<{ instanceId: string; instanceStatus: InstanceRow['status']; pendingTasks: PendingTask[] }> {
  if (!UUID.test(instanceId)) throw notFound(`There is no approval instance ${instanceId}.`);
  return ctx.db.tx(async (tx) => {
    const x = await lockInstance(tx, instanceId, actor, ctx.clock.now());
    if (a.action === 'withdraw') await withdraw(x, a.comment);
    else if (a.action === 'resubmit') await resubmit(x, a);
    else {
      if (!(await canRead(tx, actor, x.inst))) throw forbidden('Only people taking part in this approval (or auditors) can comment on it.');
      if (!a.comment.trim()) throw badRequest('Write a comment.');
      await comment(x, a.comment, a.attachments);
    }
    return { instanceId, instanceStatus: x.inst.status, pendingTasks: pendingTasks(x) };
  });
}

export interface BulkResult {
  taskId: string;
  ok: boolean;
  status?: number;
  error?: string;
  instanceStatus?: string;
}

/**
 * Bulk approve: each task is its own user action and its own transaction, so one conflict
 * (already decided, needs a signature) does not undo the others; the answer lists each result.
 */
export async function bulkApprove(ctx: AppContext, actor: Actor, taskIds: string[], commentText?: string | null): Promise<BulkResult[]> {
  const out: BulkResult[] = [];
  for (const id of [...new Set(taskIds)]) {
    try {
      const r = await actOnTask(ctx, actor, id, { action: 'approve', comment: commentText ?? null });
      out.push({ taskId: id, ok: true, instanceStatus: r.instanceStatus });
    } catch (err) {
      const e = err as { status?: number; message?: string };
      if (!e.status) throw err;
      out.push({ taskId: id, ok: false, status: e.status, error: e.message });
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// reading

const READ_ROLES = ['auditor', 'admin'];

/** Initiator, anyone who had a task (or whose task was delegated), CC'd people, auditors. */
export async function canRead(sql: Sql, actor: Actor, inst: Pick<InstanceRow, 'id' | 'initiator_id'>): Promise<boolean> {
  const p = actor.principal;
  if (p.userId === inst.initiator_id || p.kind === 'system' || p.roles.some((r) => READ_ROLES.includes(r))) return true;
  const r = await sql.query(
    `select 1 from wf_tasks where instance_id = $1 and (assignee_id = $2 or on_behalf_of = $2)
     union all select 1 from wf_cc where instance_id = $1 and user_id = $2 limit 1`,
    [inst.id, p.userId],
  );
  return r.rows.length > 0;
}

/**
 * May the actor download the file because of an approval (files/access.ts): it is attached to a
 * comment or decision in a trail they may read, or it is held by a field of a document under
 * approval they take part in — a field not hidden at a step where they have (had) a task;
 * initiator, people copied and auditors see every field the trail shows.
 */
export async function canReadFileViaApprovals(sql: Sql, actor: Actor, fileId: string, refs: ReadonlyArray<{ app: string; entity: string; recordId: string; field: string }>): Promise<boolean> {
  const attached = await sql.query<{ id: string; initiator_id: string }>(
    `select distinct i.id, i.initiator_id from wf_events e join wf_instances i on i.id = e.instance_id
      where e.attachments @> $1::jsonb or e.attachments @> $2::jsonb`,
    [JSON.stringify([{ id: fileId }]), JSON.stringify([fileId])],
  );
  for (const inst of attached.rows) if (await canRead(sql, actor, inst)) return true;
  for (const ref of refs) {
    const field = ref.field.split('.')[0]!;
    const insts = await sql.query<{ id: string; initiator_id: string; definition: WorkflowDef | null; app: string; app_version: number; entity: string; pinned: boolean }>(
      'select id, initiator_id, definition, app, app_version, entity, pinned from wf_instances where app = $1 and entity = $2 and record_id = $3',
      [ref.app, ref.entity, ref.recordId],
    );
    for (const row of insts.rows) {
      const inst = await resolveInstance(sql, row);
      if (!(await canRead(sql, actor, inst))) continue;
      const tasks = await sql.query<{ node_id: string }>('select distinct node_id from wf_tasks where instance_id = $1 and (assignee_id = $2 or on_behalf_of = $2)', [
        inst.id,
        actor.principal.userId,
      ]);
      if (!tasks.rows.length) return true; // initiator, copied, auditor
      const tree = new Tree(inst.definition);
      for (const t of tasks.rows) {
        const node = tree.has(t.node_id) ? tree.node(t.node_id) : null;
        const access = (node && 'fields' in node && node.fields) || {};
        if (access[field] !== 'hidden') return true;
      }
    }
  }
  return false;
}

async function loadInstance(sql: Sql, id: string): Promise<InstanceRow> {
  if (!UUID.test(id)) throw notFound(`There is no approval instance ${id}.`);
  const r = await sql.query<InstanceRow>('select * from wf_instances where id = $1', [id]);
  if (!r.rows[0]) throw notFound(`There is no approval instance ${id}.`);
  return resolveInstance(sql, r.rows[0]);
}

/** Trail events that hand a task to someone (`detail.to`): the trail names that person. */
const HANDED_OVER = new Set(['escalated', 'transferred', 'delegated']);

export interface TrailEntry {
  seq: number;
  at: string;
  type: string;
  nodeId: string | null;
  nodeName: string | null;
  taskId: string | null;
  actor: { id: string | null; username: string | null; displayName: string | null };
  /** The person the task went to (escalated, transferred, delegated); null otherwise. */
  to: { id: string; username: string; displayName: string } | null;
  onBehalfOf: string | null;
  comment: string | null;
  attachments: unknown[] | null;
  detail: Record<string, unknown>;
  ip: string | null;
  userAgent: string | null;
}

export async function trail(sql: Sql, actor: Actor, instanceId: string): Promise<{ instance: ReturnType<typeof instanceView>; trail: TrailEntry[]; signatures: unknown[] }> {
  const inst = await loadInstance(sql, instanceId);
  if (!(await canRead(sql, actor, inst))) throw forbidden('Only the initiator, the approvers, people copied and auditors can read this approval.');
  const tree = new Tree(inst.definition);
  const ev = await sql.query<{
    seq: number;
    at: Date;
    type: string;
    node_id: string | null;
    task_id: string | null;
    actor_id: string | null;
    actor_name: string | null;
    display_name: string | null;
    on_behalf_of: string | null;
    comment: string | null;
    attachments: unknown[] | null;
    detail: Record<string, unknown>;
    ip: string | null;
    user_agent: string | null;
  }>(
    `select e.*, u.display_name from wf_events e left join users u on u.id = e.actor_id where e.instance_id = $1 order by e.seq`,
    [instanceId],
  );
  const sigs = await sql.query(
    `select id, task_id as "taskId", username, decision, method, signed_at as "signedAt", ip, user_agent as "userAgent", document_hash as "documentHash", hash
       from wf_signatures where instance_id = $1 order by signed_at`,
    [instanceId],
  );
  // who a task went to (escalated, transferred, delegated): named, so the trail says to whom
  const toIds = [...new Set(ev.rows.flatMap((e) => (HANDED_OVER.has(e.type) && typeof e.detail?.to === 'string' && UUID.test(e.detail.to) ? [e.detail.to] : [])))];
  const names = new Map(
    toIds.length ? (await sql.query<{ id: string; username: string; display_name: string }>('select id, username, display_name from users where id = any($1::uuid[])', [toIds])).rows.map((u) => [u.id, u]) : [],
  );
  const toOf = (e: { type: string; detail: Record<string, unknown> }) => {
    const u = HANDED_OVER.has(e.type) && typeof e.detail?.to === 'string' ? names.get(e.detail.to) : undefined;
    return u ? { id: u.id, username: u.username, displayName: u.display_name } : null;
  };
  return {
    instance: instanceView(inst),
    trail: ev.rows.map((e) => ({
      seq: e.seq,
      at: new Date(e.at).toISOString(),
      type: e.type,
      nodeId: e.node_id,
      nodeName: e.node_id && tree.has(e.node_id) ? (tree.node(e.node_id).name?.zh ?? null) : null,
      taskId: e.task_id,
      actor: { id: e.actor_id, username: e.actor_name, displayName: e.display_name },
      to: toOf(e),
      onBehalfOf: e.on_behalf_of,
      comment: e.comment,
      attachments: e.attachments,
      detail: e.detail,
      ip: e.ip,
      userAgent: e.user_agent,
    })),
    signatures: sigs.rows,
  };
}

export function instanceView(i: InstanceRow) {
  return {
    id: i.id,
    app: i.app,
    appVersion: i.app_version,
    workflow: i.workflow,
    entity: i.entity,
    recordId: i.record_id,
    title: i.title,
    status: i.status,
    round: i.round,
    initiatorId: i.initiator_id,
    createdAt: new Date(i.created_at).toISOString(),
    endedAt: i.ended_at ? new Date(i.ended_at).toISOString() : null,
  };
}

/** A task with the document as this step may see it (hidden fields removed) and what can be done. */
export async function taskView(ctx: AppContext, actor: Actor, taskId: string) {
  if (!UUID.test(taskId)) throw notFound(`There is no approval task ${taskId}.`);
  return ctx.db.tx(async (tx) => {
    const t = await tx.query<TaskRow>('select * from wf_tasks where id = $1', [taskId]);
    const task = t.rows[0];
    if (!task) throw notFound(`There is no approval task ${taskId}.`);
    const inst = await loadInstance(tx, task.instance_id);
    if (!(await canRead(tx, actor, inst))) throw forbidden('This task is not yours to see.');
    const x = { tx, now: ctx.clock.now(), actor, inst, tree: new Tree(inst.definition) };
    const access = fieldAccess(x, task.node_id);
    const record = Object.fromEntries(Object.entries(inst.record).filter(([k]) => access[k] !== 'hidden'));
    const node = x.tree.has(task.node_id) ? x.tree.node(task.node_id) : null;
    const mine = task.assignee_id === actor.principal.userId && task.status === 'pending' && inst.status === 'running';
    return {
      task: taskJson(task),
      instance: instanceView(inst),
      node: node ? { id: node.id, type: node.type, name: node.name ?? null, signature: node.type === 'approver' ? Boolean(node.signature) : false } : null,
      fields: access,
      record,
      actions: mine ? (task.kind === 'handle' ? ['approve', 'return', 'transfer'] : ['approve', 'reject', 'return', 'transfer', 'add_signer']) : [],
      returnTargets: mine ? await returnTargets(x, task.node_id) : [],
    };
  });
}

export function taskJson(t: TaskRow & { title?: string; app?: string; workflow?: string }) {
  return {
    id: t.id,
    instanceId: t.instance_id,
    nodeId: t.node_id,
    kind: t.kind,
    assigneeId: t.assignee_id,
    onBehalfOf: t.on_behalf_of,
    origin: t.origin,
    status: t.status,
    decision: t.decision,
    comment: t.comment,
    auto: t.auto,
    escalationLevel: t.escalation_level,
    title: t.title,
    app: t.app,
    workflow: t.workflow,
    createdAt: new Date(t.created_at).toISOString(),
    decidedAt: t.decided_at ? new Date(t.decided_at).toISOString() : null,
  };
}

export async function verify(ctx: AppContext, actor: Actor, signatureId: string): Promise<VerifyReport> {
  if (!UUID.test(signatureId)) throw notFound(`There is no signature ${signatureId}.`);
  const s = await ctx.db.query<{ instance_id: string }>('select instance_id from wf_signatures where id = $1', [signatureId]);
  if (!s.rows[0]) throw notFound(`There is no signature ${signatureId}.`);
  const inst = await loadInstance(ctx.db, s.rows[0].instance_id);
  if (!(await canRead(ctx.db, actor, inst))) throw forbidden('Only people taking part in this approval (or auditors) can verify its signatures.');
  const loader = getDocumentLoader();
  const live = loader ? await loader(ctx.db, { app: inst.app, entity: inst.entity, recordId: inst.record_id }) : null;
  const current = signedDocument({ ...inst, record: live ?? inst.record });
  return (await verifySignature(ctx.db, signatureId, current))!;
}

// ---------------------------------------------------------------------------------------------
// delegations

export interface DelegationInput {
  delegate: string;
  startsAt: string;
  endsAt: string;
  app?: string | null;
  reason?: string | null;
  /** Admins may set up a delegation for someone else. */
  user?: string;
}

export async function createDelegation(ctx: AppContext, actor: Actor, d: DelegationInput) {
  const [delegate] = await userIds(ctx.db, [d.delegate]);
  let user = actor.principal.userId;
  if (d.user) {
    const [u] = await userIds(ctx.db, [d.user]);
    if (u !== user && !actor.principal.roles.includes('admin')) throw forbidden('Only an administrator can set up a delegation for someone else.');
    user = u!;
  }
  const starts = new Date(d.startsAt);
  const ends = new Date(d.endsAt);
  if (Number.isNaN(starts.getTime()) || Number.isNaN(ends.getTime())) throw badRequest('startsAt and endsAt must be ISO date-times.');
  if (ends <= starts) throw unprocessable('The delegation must end after it starts.', [{ path: 'body.endsAt', message: 'must be after startsAt' }]);
  if (delegate === user) throw unprocessable('You cannot delegate to yourself.', [{ path: 'body.delegate', message: 'choose someone else' }]);
  return ctx.db.tx(async (tx) => {
    const overlap = await tx.query<{ id: string }>(
      `select id from wf_delegations where user_id = $1 and revoked_at is null and starts_at < $3 and ends_at > $2 and (app is not distinct from $4 or app is null or $4::text is null)`,
      [user, starts, ends, d.app ?? null],
    );
    if (overlap.rows[0]) throw conflict('Another delegation of yours overlaps this period; end or revoke it first.', { delegationId: overlap.rows[0].id });
    const r = await tx.query<{ id: string }>(
      `insert into wf_delegations (user_id, delegate_id, starts_at, ends_at, app, reason, created_at) values ($1, $2, $3, $4, $5, $6, $7) returning id`,
      [user, delegate, starts, ends, d.app ?? null, d.reason ?? null, ctx.clock.now()],
    );
    return { id: r.rows[0]!.id, userId: user, delegateId: delegate!, startsAt: starts.toISOString(), endsAt: ends.toISOString(), app: d.app ?? null };
  });
}

export async function listDelegations(ctx: AppContext, actor: Actor) {
  const r = await ctx.db.query(
    `select d.id, d.user_id as "userId", d.delegate_id as "delegateId", u.username as "delegate", d.starts_at as "startsAt", d.ends_at as "endsAt",
            d.app, d.reason, d.revoked_at as "revokedAt"
       from wf_delegations d join users u on u.id = d.delegate_id
      where d.user_id = $1 or d.delegate_id = $1 order by d.starts_at desc`,
    [actor.principal.userId],
  );
  return r.rows;
}

export async function revokeDelegation(ctx: AppContext, actor: Actor, id: string): Promise<void> {
  if (!UUID.test(id)) throw notFound(`There is no delegation ${id}.`);
  const r = await ctx.db.query(`update wf_delegations set revoked_at = $3 where id = $1 and (user_id = $2 or $4) and revoked_at is null`, [
    id,
    actor.principal.userId,
    ctx.clock.now(),
    actor.principal.roles.includes('admin'),
  ]);
  if (r.rowCount === 0) throw notFound(`There is no active delegation ${id} of yours.`);
}
