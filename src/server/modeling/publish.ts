// Publishing: validate → diff against the current version → check the data → apply the DDL →
// record the version and the audit entry. All of it is ONE transaction (DDL is transactional in
// PostgreSQL and PGlite): a publish that fails anywhere leaves no table, column or version behind.
import type { AppDef } from '../../shared/definition.ts';
import type { Sql, Tx } from '../db/index.ts';
import { appendAudit } from '../platform/audit/index.ts';
import { systemActor, type Actor, type AppContext } from '../platform/context.ts';
import { AppError, conflict, notFound, validationFailed } from '../platform/errors.ts';
import { planChanges, type SchemaChange } from './diff.ts';
import { rememberPublished, toPublished } from './registry.ts';
import { validateApp } from './validate.ts';

export interface PublishOptions {
  /** Apply changes that lose or invalidate data (drops, narrowing types, required with empty values). */
  confirmDestructive?: boolean;
  /** Only compute the change list; nothing is written. */
  dryRun?: boolean;
}

export interface PublishResult {
  app: string;
  version: number;
  changes: SchemaChange[];
  applied: boolean;
}

const PUBLISH_LOCK = 74_201_010;

let trgmKnown: WeakMap<object, boolean> = new WeakMap();

async function hasTrgm(ctx: AppContext, sql: Sql): Promise<boolean> {
  const known = trgmKnown.get(ctx.db);
  if (known !== undefined) return known;
  const r = await sql.query(`select 1 from pg_extension where extname = 'pg_trgm'`);
  const has = r.rows.length > 0;
  trgmKnown.set(ctx.db, has);
  return has;
}

/** For tests that drop the extension. */
export function forgetExtensions(): void {
  trgmKnown = new WeakMap();
}

async function currentDefinition(sql: Sql, app: string, lock: boolean): Promise<{ version: number; def: AppDef } | null> {
  const r = await sql.query<{ current_version: number; definition: AppDef }>(
    `select a.current_version, v.definition from apps a
       join app_versions v on v.app_name = a.name and v.version = a.current_version
      where a.name = $1${lock ? ' for update of a' : ''}`,
    [app],
  );
  const row = r.rows[0];
  return row ? { version: row.current_version, def: row.definition } : null;
}

function destructiveProblem(app: string, list: SchemaChange[]): AppError {
  return new AppError(
    409,
    'destructive-change',
    'Destructive change needs confirmation',
    `Publishing "${app}" would lose or invalidate data: ${list.map((c) => c.message).join('; ')}. Review the changes and publish again with confirmDestructive to apply them.`,
    { errors: list.map((c) => ({ path: c.path, message: c.message })), extra: { changes: list } },
  );
}

function blockedProblem(app: string, list: SchemaChange[]): AppError {
  return new AppError(422, 'change-blocked', 'Change cannot be applied', `"${app}" cannot be published as is: ${list.map((c) => c.message).join('; ')}.`, {
    errors: list.map((c) => ({ path: c.path, message: c.message })),
    extra: { changes: list },
  });
}

/** A database error while applying a change: the data contradicts it (bad values for a new type, dangling ids). */
function ddlProblem(app: string, change: SchemaChange, err: unknown): AppError {
  const e = err as { message?: string; code?: string };
  return new AppError(
    422,
    'change-failed',
    'Change cannot be applied',
    `Publishing "${app}" failed at "${change.message}": the existing data does not allow it (${e.message ?? String(err)}). Nothing was changed.`,
    { errors: [{ path: change.path, message: `${change.message}: ${e.message ?? String(err)}` }], extra: { changes: [change], sqlState: e.code } },
  );
}

/** Runs inside the caller's transaction: plan, check, apply, record. */
/**
 * Checks other engines run before a publish (or a dry run) with the database at hand — what the
 * pure validateApp cannot know, e.g. that a business-hours calendar an approval tree names exists.
 */
export type PublishCheck = (tx: Tx, app: AppDef) => Promise<Array<{ path: string; message: string }>>;
const publishChecks: PublishCheck[] = [];
export function registerPublishCheck(fn: PublishCheck): void {
  publishChecks.push(fn);
}

/**
 * What the engines' checks (registerPublishCheck) find in a definition that is valid on its own,
 * e.g. an approval flow naming a calendar that does not exist: `validate` reports them like
 * publish refuses them.
 */
export async function publishProblems(tx: Tx, app: AppDef): Promise<Array<{ path: string; message: string }>> {
  return (await Promise.all(publishChecks.map((check) => check(tx, app)))).flat();
}

async function publishIn(tx: Tx, ctx: AppContext, actor: Actor, app: AppDef, opts: PublishOptions, extraAudit: Record<string, unknown>): Promise<PublishResult> {
  const problems = await publishProblems(tx, app);
  if (problems.length) throw validationFailed(`The app definition has ${problems.length} problem(s): ${problems.slice(0, 5).map((e) => `${e.path}: ${e.message}`).join('; ')}`, problems);
  await tx.query('select pg_advisory_xact_lock($1, hashtext($2))', [PUBLISH_LOCK, app.name]);
  const current = await currentDefinition(tx, app.name, true);
  const plan = await planChanges(tx, current?.def ?? null, app, { trgm: await hasTrgm(ctx, tx), timezone: ctx.config.timezone });
  const version = (current?.version ?? 0) + 1;
  if (opts.dryRun) return { app: app.name, version, changes: plan.changes, applied: false };

  const blocked = plan.changes.filter((c) => c.blocked);
  if (blocked.length) throw blockedProblem(app.name, blocked);
  const destructive = plan.changes.filter((c) => c.destructive);
  if (destructive.length && !opts.confirmDestructive) throw destructiveProblem(app.name, destructive);

  for (const step of plan.steps) {
    try {
      await step.run(tx);
    } catch (err) {
      // PostgreSQL aborted the transaction: report which change the data refused, roll back all.
      if (typeof (err as { code?: unknown }).code === 'string' && /^(22|23|42804)/.test((err as { code: string }).code)) throw ddlProblem(app.name, step.change, err);
      throw err;
    }
  }

  const now = ctx.clock.now();
  if (current) {
    await tx.query('update apps set label = $2, current_version = $3, updated_at = $4 where name = $1', [app.name, JSON.stringify(app.label), version, now]);
  } else {
    await tx.query(`insert into apps (name, label, current_version, status, created_at, updated_at) values ($1, $2, $3, 'published', $4, $4)`, [app.name, JSON.stringify(app.label), version, now]);
  }
  await tx.query('insert into app_versions (app_name, version, definition, published_at, published_by, changes) values ($1, $2, $3, $4, $5, $6)', [
    app.name,
    version,
    JSON.stringify(app),
    now,
    actor.principal.userId ?? null,
    JSON.stringify(plan.changes),
  ]);
  await appendAudit(
    tx,
    actor,
    {
      action: 'app.publish',
      targetType: 'app',
      targetId: app.name,
      detail: {
        version,
        previousVersion: current?.version ?? null,
        destructiveConfirmed: destructive.length > 0,
        changes: plan.changes.map((c) => ({ kind: c.kind, path: c.path, destructive: c.destructive })),
        ...extraAudit,
      },
    },
    now,
  );
  const published = toPublished(app.name, version, app);
  tx.afterCommit(() => rememberPublished(published));
  return { app: app.name, version, changes: plan.changes, applied: true };
}

/** Validates and publishes a definition as the app's next version. */
export async function publishApp(ctx: AppContext, actor: Actor, input: unknown, opts: PublishOptions = {}): Promise<PublishResult> {
  const v = validateApp(input);
  if (!v.ok) {
    throw validationFailed(`The app definition has ${v.errors.length} problem(s): ${v.errors.slice(0, 5).map((e) => `${e.path}: ${e.message}`).join('; ')}${v.errors.length > 5 ? '; …' : ''}`, v.errors);
  }
  return ctx.db.tx((tx) => publishIn(tx, ctx, actor, v.app, opts, {}));
}

/** The change list a publish would make, without writing anything. */
export async function diffApp(ctx: AppContext, input: unknown): Promise<PublishResult> {
  return publishApp(ctx, systemActor, input, { dryRun: true });
}

/** Republishes an earlier version's definition as a new version (through the same diff and checks). */
export async function rollbackApp(ctx: AppContext, actor: Actor, appName: string, toVersion: number, opts: PublishOptions = {}): Promise<PublishResult> {
  const r = await ctx.db.query<{ definition: AppDef }>('select definition from app_versions where app_name = $1 and version = $2', [appName, toVersion]);
  const def = r.rows[0]?.definition;
  if (!def) throw notFound(`App "${appName}" has no version ${toVersion}. GET /api/v1/apps/${appName}/versions lists them.`);
  const cur = await ctx.db.query<{ current_version: number }>('select current_version from apps where name = $1', [appName]);
  if (cur.rows[0]?.current_version === toVersion) throw conflict(`Version ${toVersion} is already the current version of "${appName}".`);
  // renamedFrom in an old definition describes the step into that version, not back out of it.
  // Renames made since then are replayed backwards so the data follows the names home.
  const later = await ctx.db.query<{ changes: SchemaChange[] }>('select changes from app_versions where app_name = $1 and version > $2 order by version', [appName, toVersion]);
  const entityNow = new Map(def.entities.map((e) => [e.name, e.name]));
  const fieldNow = new Map(def.entities.flatMap((e) => e.fields.map((f) => [`${e.name}.${f.name}`, f.name] as const)));
  for (const { changes } of later.rows) {
    for (const c of changes ?? []) {
      if (c.kind !== 'rename_entity') continue;
      for (const [k, v] of entityNow) if (v === c.from) entityNow.set(k, c.to!);
    }
    for (const c of changes ?? []) {
      if (c.kind !== 'rename_field') continue;
      for (const [k, v] of fieldNow) {
        const origEntity = k.slice(0, k.indexOf('.'));
        if (entityNow.get(origEntity) === c.entity && v === c.from) fieldNow.set(k, c.to!);
      }
    }
  }
  const stripped: AppDef = {
    ...def,
    entities: def.entities.map(({ renamedFrom: _r, ...e }) => {
      const eNow = entityNow.get(e.name)!;
      return {
        ...e,
        ...(eNow !== e.name ? { renamedFrom: eNow } : {}),
        fields: e.fields.map(({ renamedFrom: _f, ...f }) => {
          const fNow = fieldNow.get(`${e.name}.${f.name}`)!;
          return { ...f, ...(fNow !== f.name ? { renamedFrom: fNow } : {}) };
        }),
      };
    }),
  };
  const v = validateApp(stripped);
  if (!v.ok) throw validationFailed(`Version ${toVersion} of "${appName}" no longer validates.`, v.errors);
  return ctx.db.tx((tx) => publishIn(tx, ctx, actor, v.app, opts, { rollbackTo: toVersion }));
}
