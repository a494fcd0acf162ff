// Where approval trees come from and where their outcomes go.
//  - The tree: `workflows` of the published app version (modeling); the instance keeps a copy,
//    so a later publish never disturbs it.
//  - Start: submitting a document whose entity has an approval tree is intercepted by the
//    records engine's before-submit hook; the instance starts in that same transaction and the
//    document stays a draft "in approval".
//  - Outcome: the final approval submits the document (records, skipHooks) in the transaction of
//    the decision, and every outcome becomes an outbox event `trellis.workflow.<outcome>`.
import { deferWrite, type Sql, type Tx } from '../db/index.ts';
import { getPublishedApp, getPublishedVersion, type PublishedApp } from '../modeling/index.ts';
import { getRecordInTx, recordHooks, submitRecordInTx, updateRecordInTx, type RecordJson } from '../records/index.ts';
import { outboxStatement } from '../platform/events/index.ts';
import { systemActor, type Actor, type AppContext } from '../platform/context.ts';
import { conflict, notFound, unprocessable, validationFailed } from '../platform/errors.ts';
import { checkWorkflow, type WorkflowDef } from '../../shared/workflow-definition.ts';
import type { AppDef } from '../../shared/definition.ts';
import { onRecordChange, onWorkflowOutcome, setDocumentLoader, setPinnedLoader } from './hooks.ts';
import { startInstance, type StartResult } from './runtime.ts';

// checked trees per published app (an immutable object per version): validated once, not per submit
const checkedTrees = new WeakMap<PublishedApp, Map<string, ReturnType<typeof checkWorkflow> | null>>();

function checkedTree(app: PublishedApp, entity: string): ReturnType<typeof checkWorkflow> | null {
  let perEntity = checkedTrees.get(app);
  if (!perEntity) checkedTrees.set(app, (perEntity = new Map()));
  let checked = perEntity.get(entity);
  if (checked === undefined) {
    const raw = (app.def.workflows ?? []).find((w) => (w as { entity?: unknown })?.entity === entity);
    checked = raw === undefined ? null : checkWorkflow(raw, app.entities.get(entity));
    perEntity.set(entity, checked);
  }
  return checked;
}

/** The approval tree of an entity in a published app, validated; null when it has none. */
export function workflowOf(app: PublishedApp, entity: string): WorkflowDef | null {
  const checked = checkedTree(app, entity);
  if (checked) {
    const { workflow, problems } = checked;
    if (!workflow || problems.length) {
      throw validationFailed(
        `The approval flow of ${app.name}.${entity} (version ${app.version}) is not valid, so the document cannot be submitted: ${problems
          .slice(0, 3)
          .map((p) => `${p.path}: ${p.message}`)
          .join('; ')}`,
        problems,
      );
    }
    return workflow;
  }
  return null;
}

// condition scopes per published app version and time zone: one object, not one per instance
const scopes = new WeakMap<PublishedApp, { timezone: string; scope: { app: AppDef; timezone: string } }>();

/** The app's entities and the plant's time zone: branch conditions evaluate like list filters. */
function scopeOf(app: PublishedApp, timezone: string): { app: AppDef; timezone: string } {
  const hit = scopes.get(app);
  if (hit && hit.timezone === timezone) return hit.scope;
  const scope = { app: { name: app.def.name, label: app.def.label, entities: app.def.entities }, timezone };
  scopes.set(app, { timezone, scope });
  return scope;
}

/** What the approval sees of a document: its field values plus name, owner department and creator. */
export function documentSnapshot(r: RecordJson): Record<string, unknown> {
  return { ...r.values, name: r.name, owner_department_id: r.owner_department_id, created_by: r.created_by };
}

/**
 * The instance's title, as inboxes and messages show it: the entity, the document number and —
 * so a supervisor sees what happened without opening it — the document's title field
 * (`titleField`, else a text field named `title`), shortened.
 */
export function titleOf(app: PublishedApp, entity: string, r: RecordJson): string {
  const def = app.entities.get(entity);
  const label = def?.label.zh ?? entity;
  const head = `${label} ${r.name ?? r.id.slice(0, 8)}`;
  const field = def?.titleField ?? (def?.fields.some((f) => f.name === 'title' && f.type === 'text') ? 'title' : undefined);
  const value = field ? r.values[field] : undefined;
  if (typeof value !== 'string' || !value.trim() || field === 'name') return head;
  const text = value.trim().replace(/\s+/g, ' ');
  return `${head} · ${text.length > 40 ? `${text.slice(0, 39)}…` : text}`;
}

// Picks chosen by the initiator travel from POST /workflow/start to the submit hook within one transaction.
const picksOf = new WeakMap<Tx, Record<string, string[]>>();
// Documents whose own submit is running in this transaction (an instance approved at once lets it proceed).
const submitting = new WeakMap<Tx, Set<string>>();
const key = (app: string, entity: string, id: string) => `${app}/${entity}/${id}`;

let linkedCtx: AppContext | null = null;

/** Connects the engine to modeling and records (once per process; the latest context wins). */
export function linkRecords(ctx: AppContext): void {
  const first = linkedCtx === null;
  linkedCtx = ctx;
  if (!first) return;

  recordHooks.onBeforeSubmit(async (tx, e) => {
    const app = await getPublishedApp(tx, e.app);
    const workflow = app && workflowOf(app, e.entity);
    if (!app || !workflow) return;
    const k = key(e.app, e.entity, e.record.id);
    const set = submitting.get(tx) ?? new Set<string>();
    submitting.set(tx, set);
    set.add(k);
    try {
      const r = await startInstance(tx, {
        app: e.app,
        appVersion: app.version,
        workflow,
        recordId: e.record.id,
        record: documentSnapshot(e.record),
        title: titleOf(app, e.entity, e.record),
        actor: e.actor,
        picks: picksOf.get(tx),
        scope: scopeOf(app, e.ctx.config.timezone),
        pinned: true, // the tree and scope are the published version's: the instance reads them from it
        now: e.ctx.clock.now(),
      });
      // approved at once (every step auto-approved): the submit goes ahead normally
      if (r.status === 'approved') return;
      return { intercept: { workflow: { instanceId: r.instanceId, status: r.status, pendingTasks: r.pendingTasks } } };
    } finally {
      set.delete(k);
    }
  });

  // While an approval is running the document belongs to the approvers: the initiator withdraws
  // it (or it is returned) before changing or deleting it. Approvers' edits go through the engine.
  recordHooks.onBeforeChange(async (tx, e) => {
    const live = await tx.query<{ id: string }>(
      `select id from wf_instances where app = $1 and entity = $2 and record_id = $3 and status = 'running' limit 1`,
      [e.app, e.entity, e.record.id],
    );
    if (live.rows.length) {
      throw conflict(
        e.action === 'delete'
          ? 'This document is in approval and cannot be deleted. Withdraw the approval first.'
          : 'This document is in approval and cannot be changed. Withdraw the approval first, or ask the current approver to make the change.',
        { instanceId: live.rows[0]!.id },
      );
    }
  });

  onWorkflowOutcome(async (tx, e) => {
    const c = linkedCtx!;
    const app = await getPublishedApp(tx, e.app);
    const known = Boolean(app?.entities.get(e.entity));
    // write-only: the event goes with the transaction's other rows right before commit
    const { statement } = outboxStatement(tx, {
      type: `trellis.workflow.${e.outcome}`,
      source: `/trellis/apps/${e.app}/${e.entity}`,
      subject: e.recordId,
      time: e.at,
      data: { instanceId: e.instanceId, app: e.app, appVersion: e.appVersion, workflow: e.workflow, entity: e.entity, recordId: e.recordId, outcome: e.outcome, by: e.actor.principal.username },
    });
    await deferWrite(tx, statement);
    // last: the submit takes the audit chain's lock, held until commit
    if (e.outcome === 'approved' && known && !submitting.get(tx)?.has(key(e.app, e.entity, e.recordId))) {
      await submitRecordInTx(tx, c, systemActor, e.app, e.entity, e.recordId, { skipHooks: true });
    }
  });

  onRecordChange(async (tx, e) => {
    const c = linkedCtx!;
    const app = await getPublishedApp(tx, e.app);
    if (!app?.entities.get(e.entity)) return;
    const current = await getRecordInTx(tx, c, systemActor, e.app, e.entity, e.recordId);
    const updated = await updateRecordInTx(tx, c, systemActor, e.app, e.entity, e.recordId, e.changes, { expectedVersion: current.version, allowSubmitted: true });
    return documentSnapshot(updated);
  });

  setPinnedLoader(async (sql: Sql, ref) => {
    const app = await getPublishedVersion(sql, ref.app, ref.version);
    if (!app?.entities.get(ref.entity)) return null;
    const definition = workflowOf(app, ref.entity);
    return definition ? { definition, scope: scopeOf(app, linkedCtx!.config.timezone) } : null;
  });

  setDocumentLoader(async (sql: Sql, ref) => {
    const c = linkedCtx!;
    const app = await getPublishedApp(sql, ref.app);
    if (!app?.entities.get(ref.entity)) return null;
    try {
      return documentSnapshot(await getRecordInTx(sql, c, systemActor, ref.app, ref.entity, ref.recordId));
    } catch {
      return null;
    }
  });
}

/**
 * POST /workflow/start: submits the document (which starts its approval) with the initiator's
 * choices for `initiator_pick` steps. One transaction.
 */
export async function startFromPublished(
  ctx: AppContext,
  actor: Actor,
  input: { app: string; entity: string; recordId: string; picks?: Record<string, string[]> },
): Promise<StartResult & { recordStatus: string }> {
  return ctx.db.tx(async (tx) => {
    const app = await getPublishedApp(tx, input.app);
    if (!app?.entities.get(input.entity)) throw notFound(`There is no published app "${input.app}" with an entity "${input.entity}".`);
    if (!workflowOf(app, input.entity)) throw unprocessable(`${input.app}.${input.entity} has no approval flow; submit the document directly.`);
    if (input.picks) picksOf.set(tx, input.picks);
    const r = await submitRecordInTx(tx, ctx, actor, input.app, input.entity, input.recordId);
    const started = (r.intercepted as { workflow?: StartResult } | undefined)?.workflow;
    if (started) return { ...started, recordStatus: r.record.status };
    // approved at once: the instance is the latest for this document
    const inst = await tx.query<{ id: string; status: StartResult['status'] }>(
      'select id, status from wf_instances where app = $1 and entity = $2 and record_id = $3 order by created_at desc limit 1',
      [input.app, input.entity, input.recordId],
    );
    return { instanceId: inst.rows[0]!.id, status: inst.rows[0]!.status, pendingTasks: [], recordStatus: r.record.status };
  });
}
