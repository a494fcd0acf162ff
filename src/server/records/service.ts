// The records service: create, read, update, delete, submit, cancel, amend, list and history of
// records of published entities. Each public function runs in ONE transaction; its `...InTx`
// twin runs in the caller's (the workflow engine composes them with its own writes).
//
// Every write, in one transaction: the row (and its child rows), a `record_history` entry with
// the field-level diff, one CloudEvents event in the outbox, and an audit entry. Nothing is
// written when anything is refused. Locks are taken in one order — naming counter, record row,
// audit chain last — so callers composing these functions should append their own audit
// entries after them, never before (the audit lock is held to commit).
//
// Status machine (submittable entities): draft → submitted → cancelled; a cancelled document can
// be amended into a new draft copy (`amended_from`, name suffix -1, -2 …). Drafts are edited and
// deleted freely; submitted documents are read-only to users and can only be cancelled. The
// workflow engine may still update a submitted document with `{ allowSubmitted: true }` (fields
// marked `readOnlyAfterSubmit` stay refused). Cancelled documents are read-only. Entities that
// are not submittable are always editable and deletable; submit/cancel/amend refuse them.
import type { Action } from '../../shared/definition.ts';
import type { EvalContext } from '../../shared/condition-eval.ts';
import { randomUUID } from 'node:crypto';
import { combineStatements, deferWrite, ident, type Sql, type Statement, type Tx } from '../db/index.ts';
import { forgetPublished } from '../modeling/index.ts';
import { auditStatement, outboxStatement } from '../platform/index.ts';
import type { Actor, AppContext } from '../platform/index.ts';
import { AppError, conflict, forbidden, notFound, validationFailed } from '../platform/index.ts';
import { accessFor, assertWritable, type Access } from './access.ts';
import { Params } from './query/index.ts';
import { queueFileRefs } from './file-refs.ts';
import { runAfterSubmit, runBeforeChange, runBeforeSubmit } from './hooks.ts';
import { nextInSeries, NamingPatternError, seriesSql } from './naming.ts';
import { childRowsFlat, prepareValues } from './prepare.ts';
import { loadEntity, type EntitySchema } from './schema.ts';
import { checkRefs, columnFields, dbError, deleteChildren, loadChildren, replaceChildren, rowToRecord, searchText, SYSTEM_OUT } from './store.ts';
import type { HistoryEntry, RecordJson, SubmitResult } from './types.ts';
import { JSON_TYPES, sameValue, toParam, type Issue } from './values.ts';

export type RecordAction = 'create' | 'update' | 'submit' | 'cancel' | 'delete' | 'amend';

const EVENT_TYPE: Record<RecordAction, string> = {
  create: 'trellis.record.created',
  update: 'trellis.record.updated',
  submit: 'trellis.record.submitted',
  cancel: 'trellis.record.cancelled',
  delete: 'trellis.record.deleted',
  amend: 'trellis.record.amended',
};

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface CreateOptions {
  /** Owning department (row scopes); default the actor's primary department. */
  ownerDepartmentId?: string | null;
  /** The create is the whole transaction (`createRecord`): its one statement may run as the transaction's final one. */
  wholeTransaction?: boolean;
}

export interface UpdateOptions {
  /** The version the caller last read (optimistic concurrency). Required. */
  expectedVersion: number;
  /** Workflow engine only: allow changing a submitted document. */
  allowSubmitted?: boolean;
}

export interface TransitionOptions {
  /** When given, the action fails with 409 if the record changed since. */
  expectedVersion?: number;
  /** Workflow engine only: skip the before/after-submit hooks (the approval is done). */
  skipHooks?: boolean;
  /**
   * The whole record as this transaction has just created it (its row is this transaction's
   * own, invisible to everyone else): used instead of locking and reading it again when the
   * action may touch every row — a row scope still reads it, so the scope is applied in SQL.
   */
  justCreated?: RecordJson;
}

export function evalContext(ctx: AppContext, actor: Actor): EvalContext {
  return {
    userId: actor.principal.userId,
    departmentIds: actor.principal.departmentIds,
    now: ctx.clock.now(),
    timezone: ctx.config.timezone,
  };
}

function checkId(id: string): void {
  if (!UUID_RE.test(id)) throw notFound(`There is no record with the id "${id.slice(0, 60)}": record ids are UUIDs.`);
}

function missing(schema: EntitySchema, id: string): AppError {
  return notFound(`There is no ${schema.entity.name} record ${id}, or you may not see it.`);
}

function failIfIssues(issues: Issue[], what: string): void {
  if (issues.length) {
    throw validationFailed(`The ${what} was not saved: ${issues.map((i) => `${i.path}: ${i.message}`).slice(0, 5).join('; ')}${issues.length > 5 ? ` (and ${issues.length - 5} more)` : ''}.`, issues);
  }
}

/** Locks and returns the row if it is within the actor's row scope for `access`. */
async function lockRow(tx: Tx, schema: EntitySchema, access: Access, id: string): Promise<Record<string, unknown>> {
  checkId(id);
  const params = new Params([id]);
  const scope = access.rowFilter(params, 't');
  const r = await tx.query(`${preparable(schema)}select ${rowColumns(schema, 't')} from ${ident(schema.table)} t where t.id = $1${scope ? ` and (${scope})` : ''} for update of t`, params.values);
  const row = r.rows[0];
  if (!row) throw missing(schema, id);
  return row;
}

async function fullRecord(sql: Sql, schema: EntitySchema, row: Record<string, unknown>, readable?: ReadonlySet<string>): Promise<RecordJson> {
  const rec = rowToRecord(schema, row, readable);
  if (schema.children.size) Object.assign(rec.values, await loadChildren(sql, schema, rec.id, readable));
  return rec;
}

/** Only what the reader may see: drops hidden fields from `values`. */
function visible(rec: RecordJson, readable: ReadonlySet<string>): RecordJson {
  const values: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(rec.values)) if (readable.has(k)) values[k] = v;
  return { ...rec, values };
}

function versionConflict(current: RecordJson, yourVersion: number, yours?: unknown): AppError {
  return new AppError(
    409,
    'version-conflict',
    'Changed by someone else',
    `This record was changed since you read it (you have version ${yourVersion}, it is now at version ${current.version}). Reload it, re-apply your change and save again.`,
    { extra: { currentVersion: current.version, yourVersion, current, ...(yours !== undefined ? { yours } : {}) }, headers: { etag: etagOf(current.version) } },
  );
}

export function etagOf(version: number): string {
  return `W/"${version}"`;
}

interface Trail {
  ctx: AppContext;
  actor: Actor;
  schema: EntitySchema;
  action: RecordAction;
  record: RecordJson;
  changes: Array<{ field: string; before: unknown; after: unknown }>;
  at: Date;
}

/**
 * History, outbox event and audit entry of one action, as three statements for the caller to run
 * in the action's transaction (they are write-only: nothing in the transaction reads them again).
 */
function trailStatements(tx: Tx, t: Trail): Statement[] {
  const { schema, record, actor } = t;
  const app = schema.app.name;
  const entity = schema.entity.name;
  const history: Statement = {
    text: `insert into record_history (app, entity, record_id, version, action, changed_by, changed_at, ip, user_agent, request_id, changes)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
    params: [app, entity, record.id, record.version, t.action, actor.principal.userId, t.at, actor.meta.ip, actor.meta.userAgent, actor.meta.requestId, JSON.stringify(t.changes)],
  };
  const changed = t.changes.map((c) => c.field);
  const { statement: event } = outboxStatement(tx, {
    type: EVENT_TYPE[t.action],
    source: `/trellis/apps/${app}/${entity}`,
    subject: record.id,
    time: t.at,
    data: { app, entity, action: t.action, id: record.id, name: record.name, status: record.status, version: record.version, actor: actor.principal.userId, changed, record },
  });
  const audit = auditStatement(
    tx,
    actor,
    { action: `record.${t.action}`, targetType: 'record', targetId: record.id, detail: { app, entity, name: record.name, version: record.version, changed } },
    t.at,
  );
  return [history, event, audit];
}

/**
 * Writes the trail of one action: ONE combined statement (three data-modifying CTEs), queued to
 * run right before commit together with the transaction's other write-only rows
 * (`Tx.beforeCommit`), so it usually costs no round trip of its own.
 */
async function writeTrail(tx: Tx, t: Trail): Promise<void> {
  const statements = trailStatements(tx, t);
  if (tx.beforeCommit) for (const s of statements) tx.beforeCommit(s);
  else await deferWrite(tx, combineStatements(statements));
}

function diff(schema: EntitySchema, before: Record<string, unknown> | null, after: Record<string, unknown>): Array<{ field: string; before: unknown; after: unknown }> {
  const out: Array<{ field: string; before: unknown; after: unknown }> = [];
  for (const f of schema.entity.fields) {
    const b = before ? (before[f.name] ?? null) : null;
    const a = after[f.name] ?? null;
    if (before === null && (a === null || (Array.isArray(a) && a.length === 0))) continue;
    if (!sameValue(b, a)) out.push({ field: f.name, before: b, after: a });
  }
  return out;
}

async function assignNumbers(tx: Tx, ctx: AppContext, schema: EntitySchema, at: Date, values: Record<string, unknown>): Promise<string | null> {
  const scope = `${schema.app.name}/${schema.entity.name}`;
  try {
    let name: string | null = null;
    if (schema.entity.namingSeries) name = (await nextInSeries(tx, `${scope}/name`, schema.entity.namingSeries, at, ctx.config.timezone)).name;
    for (const f of schema.entity.fields) {
      if (f.type !== 'auto_number') continue;
      values[f.name] = (await nextInSeries(tx, `${scope}/${f.name}`, f.autoNumber ?? `${f.name.toUpperCase()}-{#####}`, at, ctx.config.timezone)).name;
    }
    return name;
  } catch (err) {
    if (err instanceof NamingPatternError) throw new AppError(422, 'bad-definition', 'Definition problem', `${err.message} Fix the entity definition and publish again.`);
    throw err;
  }
}

/** Inserts a complete new record (shared by create and amend). */
async function insertRecord(
  tx: Tx,
  ctx: AppContext,
  actor: Actor,
  schema: EntitySchema,
  prepared: Awaited<ReturnType<typeof prepareValues>>,
  opts: { name?: string | null; amendedFrom?: string | null; ownerDepartmentId: string | null; at: Date },
): Promise<RecordJson> {
  const values = prepared.values;
  const generated = await assignNumbers(tx, ctx, schema, opts.at, values);
  const name = opts.name !== undefined ? opts.name : generated;
  const cols = columnFields(schema).filter((f) => values[f.name] !== null && values[f.name] !== undefined);
  const names = ['name', 'status', 'version', 'created_by', 'created_at', 'updated_by', 'updated_at', 'owner_department_id', 'amended_from', 'search_text', ...cols.map((f) => f.name)];
  const uid = actor.principal.userId;
  const params: unknown[] = [
    name,
    'draft',
    1,
    uid,
    opts.at,
    uid,
    opts.at,
    opts.ownerDepartmentId,
    opts.amendedFrom ?? null,
    searchText(schema, name, values),
    ...cols.map((f) => toParam(f, values[f.name])),
  ];
  let row: Record<string, unknown>;
  try {
    const r = await tx.query(
      `insert into ${ident(schema.table)} (${names.map(ident).join(', ')}) values (${params.map((_, i) => `$${i + 1}`).join(', ')}) returning *`,
      params,
    );
    row = r.rows[0]!;
  } catch (err) {
    throw dbError(err, schema);
  }
  const record = rowToRecord(schema, row);
  for (const [fieldName] of schema.children) {
    const rows = prepared.children.get(fieldName) ?? [];
    record.values[fieldName] = await replaceChildren(tx, schema, record.id, fieldName, rows, uid, opts.at, true);
  }
  return record;
}

/**
 * Entities whose record is one row of plain values (no child tables, no jsonb fields): the
 * record as written is known before the insert, exactly as it reads back.
 */
function plainRow(schema: EntitySchema): boolean {
  return schema.children.size === 0 && !schema.entity.fields.some((f) => JSON_TYPES.has(f.type));
}

/**
 * Create of a plain-row record: the row, its history, outbox event and audit entry in ONE
 * statement (the row with a client-side id, the trail built from the same normalised values),
 * so a create is begin, [naming counter], this statement, commit — or, as a whole transaction
 * without a naming series, this one statement alone (`Tx.finalQuery`).
 */
async function insertWithTrail(
  tx: Tx,
  ctx: AppContext,
  actor: Actor,
  schema: EntitySchema,
  prepared: Awaited<ReturnType<typeof prepareValues>>,
  owner: string | null,
  at: Date,
  last: boolean,
): Promise<RecordJson> {
  const values = prepared.values;
  // A naming series with no auto-number fields is taken inside the statement itself (its counter
  // row is then locked only for that statement when it runs alone); otherwise numbers first.
  const inSql = Boolean(schema.entity.namingSeries) && !schema.entity.fields.some((f) => f.type === 'auto_number');
  const series = inSql ? definitionProblem(() => seriesSql(`${schema.app.name}/${schema.entity.name}/name`, schema.entity.namingSeries!, at, ctx.config.timezone)) : null;
  const name = series ? null : await assignNumbers(tx, ctx, schema, at, values);
  const id = randomUUID();
  const uid = actor.principal.userId;
  const cols = columnFields(schema).filter((f) => values[f.name] !== null && values[f.name] !== undefined);
  const names = ['id', 'name', 'status', 'version', 'created_by', 'created_at', 'updated_by', 'updated_at', 'owner_department_id', 'amended_from', 'search_text', ...cols.map((f) => f.name)];
  const params: unknown[] = [id, name, 'draft', 1, uid, at, uid, at, owner, null, searchText(schema, name, values), ...cols.map((f) => toParam(f, values[f.name]))];
  const insertText = (returning: boolean) =>
    `insert into ${ident(schema.table)} (${names.map(ident).join(', ')}) values (${params.map((_, i) => `$${i + 1}`).join(', ')})${
      returning ? ` returning ${rowColumns(schema)}` : ''
    }`;
  const stamp = at.toISOString();
  const written: RecordJson = {
    id,
    name,
    status: 'draft',
    version: 1,
    created_by: uid,
    created_at: stamp,
    updated_by: uid,
    updated_at: stamp,
    owner_department_id: owner,
    amended_from: null,
    submitted_at: null,
    cancelled_at: null,
    values: Object.fromEntries(columnFields(schema).map((f) => [f.name, values[f.name] ?? null])),
  };
  const trail = trailStatements(tx, { ctx, actor, schema, action: 'create', record: written, changes: diff(schema, null, written.values), at });
  // tagged with this process's copy of the definition, and it names the columns it returns (a
  // column added by a publish does not change its row type): the PostgreSQL driver may prepare it
  const tag = preparable(schema);
  let all: Statement;
  if (series) {
    const combined = numberedCreate(series, { text: insertText(true), params }, trail);
    all = { text: `${tag}${combined.text}`, params: combined.params };
  } else {
    // Without a series the text depends only on the definition and on which columns have a value:
    // it is built once (the same string every time) and only the parameters are new per create.
    // Nothing is returned: the record as written is known (see plainRow), so the answer carries no
    // row to describe and parse.
    const key = `${tag}${schema.entity.name}:${cols.map((f) => f.name).join(',')}`;
    let text = createTexts.get(key);
    if (text === undefined) {
      text = `${tag}${combineStatements([{ text: insertText(false), params }, ...trail]).text}`;
      if (createTexts.size >= MAX_CREATE_TEXTS) createTexts.clear();
      createTexts.set(key, text);
    }
    // the parameters in the order combineStatements numbers them: the row's, then each trail statement's
    all = { text, params: params.concat(...trail.map((st) => st.params)) };
  }
  try {
    const r = last && tx.finalQuery ? await tx.finalQuery(all.text, all.params) : await tx.query(all.text, all.params);
    return series ? rowToRecord(schema, r.rows[0]!) : written;
  } catch (err) {
    throw dbError(err, schema);
  }
}

/** Texts of the one-statement create without a series, by definition tag, entity and columns given. */
const createTexts = new Map<string, string>();
const MAX_CREATE_TEXTS = 1000;

const definitionIds = new WeakMap<object, number>();
let nextDefinitionId = 0;

/**
 * `/* prepare:<app>#<n> *\/ `: marks a statement on entity tables as safe to prepare. `n` is
 * this process's number for the published definition it was built from (a new one after every
 * publish this process learns of), so a prepared statement is never run against another shape
 * of the table.
 */
function preparable(schema: EntitySchema): string {
  let id = definitionIds.get(schema.app);
  if (id === undefined) definitionIds.set(schema.app, (id = ++nextDefinitionId));
  return `/* prepare:${schema.app.name}#${id} */ `;
}

const rowColumnLists = new WeakMap<EntitySchema, Map<string, string>>();

/**
 * The record's columns named one by one (`t.id, t.name, …`) instead of `*`: a column another
 * process adds by a publish does not change the row type of a statement prepared before this
 * process learned of it.
 */
function rowColumns(schema: EntitySchema, alias = ''): string {
  let lists = rowColumnLists.get(schema);
  if (!lists) rowColumnLists.set(schema, (lists = new Map()));
  let list = lists.get(alias);
  if (list === undefined) {
    const prefix = alias ? `${alias}.` : '';
    list = [...SYSTEM_OUT, ...columnFields(schema).map((f) => f.name)].map((c) => `${prefix}${ident(c)}`).join(', ');
    lists.set(alias, list);
  }
  return list;
}

function definitionProblem<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof NamingPatternError) throw new AppError(422, 'bad-definition', 'Definition problem', `${err.message} Fix the entity definition and publish again.`);
    throw err;
  }
}

/** `$n` (not `$n0`…) of a statement, replaced by an expression. */
function replaceParam(text: string, n: number, expr: string): string {
  return text.replace(new RegExp(`\\$${n}(?!\\d)`, 'g'), expr);
}

/**
 * The create of a numbered record as ONE statement: the series counter (`s0`), the row with its
 * name formatted from the counter (`s1`), and the trail, whose name fields are filled from `s1`
 * (built with name null). Each statement keeps its own parameters (combineStatements renumbers).
 */
function numberedCreate(series: ReturnType<typeof seriesSql>, insert: Statement, trail: Statement[]): Statement {
  const [key, before, digits, after] = series.params;
  // The text depends only on the statements' texts (the JSON parameters that carry a name sit at
  // the same places for the same trail texts): built once per shape, not per create.
  const cacheKey = `${series.counter}\u0000${insert.text}\u0000${trail.map((t) => t.text).join('\u0000')}`;
  let text = numberedTexts.get(cacheKey);
  if (text === undefined) {
    text = numberedCreateText(series, insert, trail);
    if (numberedTexts.size >= MAX_CREATE_TEXTS) numberedTexts.clear();
    numberedTexts.set(cacheKey, text);
  }
  // in the order numberedCreateText combines them: the counter's, the row's (with the format's), the trail's
  return { text, params: [key, ...insert.params, before, digits, after, ...trail.flatMap((t) => t.params)] };
}

const numberedTexts = new Map<string, string>();

function numberedCreateText(series: ReturnType<typeof seriesSql>, insert: Statement, trail: Statement[]): string {
  const [key, before, digits, after] = series.params;
  const counter: Statement = { text: series.counter, params: [key] };
  // the row: name ($2) and search_text ($11) from the counter; the format's parameters appended
  const n = insert.params.length;
  const nameExpr = series.nameSql('s0.last').replace(/\$2\b/, `$${n + 1}`).replace(/\$3\b/, `$${n + 2}`).replace(/\$4\b/, `$${n + 3}`);
  // ($2 is null and $11 the search text without the name: both stay referenced)
  let text = replaceParam(insert.text, 2, `coalesce($2::text, (select ${nameExpr} from s0))`);
  text = replaceParam(text, 11, `(select left(${nameExpr} || case when $11::text = '' then '' else ' ' || $11::text end, 10000) from s0)`);
  const row: Statement = { text, params: [...insert.params, before, digits, after] };
  // the trail: fill `name` (and `record.name`) into the JSON parameters that carry them
  const named = trail.map((st) => {
    let t = st.text;
    st.params.forEach((p, i) => {
      if (typeof p !== 'string' || !p.startsWith('{') || !p.includes('"name":null')) return;
      const obj = JSON.parse(p) as Record<string, unknown>;
      if (!('name' in obj)) return;
      let expr = `jsonb_set($${i + 1}::jsonb, '{name}', to_jsonb((select name from s1)))`;
      const rec = obj.record as Record<string, unknown> | undefined;
      if (rec && typeof rec === 'object' && 'name' in rec) expr = `jsonb_set(${expr}, '{record,name}', to_jsonb((select name from s1)))`;
      t = replaceParam(t, i + 1, expr);
    });
    return { text: t, params: st.params };
  });
  return combineStatements([counter, row, ...named], 1).text;
}

async function accessOrThrow(ctx: AppContext, actor: Actor, schema: EntitySchema, action: Action): Promise<Access> {
  const access = accessFor(ctx, actor, schema, action);
  if (!access.allowed) throw forbidden(access.reason ?? `You may not ${action} ${schema.entity.name} records.`);
  return access;
}

// ---------------------------------------------------------------------------------------------
// create

export async function createRecordInTx(tx: Tx, ctx: AppContext, actor: Actor, app: string, entity: string, values: unknown, opts: CreateOptions = {}): Promise<RecordJson> {
  return (await createInTx(tx, ctx, actor, app, entity, values, opts)).out;
}

/** A create: the record as the actor may read it (`out`), and, for a plain row, the whole record as written. */
async function createInTx(
  tx: Tx,
  ctx: AppContext,
  actor: Actor,
  app: string,
  entity: string,
  values: unknown,
  opts: CreateOptions,
): Promise<{ out: RecordJson; written: RecordJson | null }> {
  const schema = await loadEntity(tx, app, entity);
  const access = await accessOrThrow(ctx, actor, schema, 'create');
  const prepared = await prepareValues({ schema, input: values, current: null, evalCtx: evalContext(ctx, actor), primaryDepartmentId: actor.principal.primaryDepartmentId });
  failIfIssues(prepared.issues, 'record');
  assertWritable(access, values as Record<string, unknown>);
  failIfIssues(await checkRefs(tx, schema, prepared.refs), 'record');
  const at = ctx.clock.now();
  const owner = opts.ownerDepartmentId !== undefined ? opts.ownerDepartmentId : actor.principal.primaryDepartmentId;
  const record = plainRow(schema)
    ? await insertWithTrail(tx, ctx, actor, schema, prepared, owner, at, opts.wholeTransaction === true)
    : await insertRecord(tx, ctx, actor, schema, prepared, { ownerDepartmentId: owner, at });
  if (!plainRow(schema)) {
    await writeTrail(tx, { ctx, actor, schema, action: 'create', record, changes: diff(schema, null, record.values), at });
    await queueFileRefs(tx, schema, record.id); // file fields are jsonb: never the one-statement path
  }
  const out = visible(record, access.readable);
  if (prepared.warnings.length) out.warnings = prepared.warnings;
  return { out, written: plainRow(schema) ? record : null };
}

export function createRecord(ctx: AppContext, actor: Actor, app: string, entity: string, values: unknown, opts: CreateOptions = {}): Promise<RecordJson> {
  return onFreshDefinition(app, () => ctx.db.tx((tx) => createRecordInTx(tx, ctx, actor, app, entity, values, { ...opts, wholeTransaction: true })));
}

/**
 * Runs a transaction that creates a record; should it fail because another process published a
 * new shape of the table while this one still built the statement from its cached definition
 * (trusted for STALE_MS) — the transaction was rolled back — it reads the definition in force and
 * runs once more.
 */
async function onFreshDefinition<T>(app: string, once: () => Promise<T>): Promise<T> {
  try {
    return await once();
  } catch (err) {
    if (!stalePlan(err)) throw err;
    forgetPublished(app);
    return once();
  }
}

/**
 * PostgreSQL refused a prepared statement whose result columns changed type under it
 * ("cached plan must not change result type"): the create statement of a definition this process
 * had not yet seen replaced, still prepared on the pooled connection.
 */
function stalePlan(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  return e?.code === '0A000' && /cached plan must not change result type/.test(String(e.message));
}

// ---------------------------------------------------------------------------------------------
// read

export async function getRecordInTx(sql: Sql, ctx: AppContext, actor: Actor, app: string, entity: string, id: string): Promise<RecordJson> {
  const schema = await loadEntity(sql, app, entity);
  const access = await accessOrThrow(ctx, actor, schema, 'read');
  checkId(id);
  const params = new Params([id]);
  const scope = access.rowFilter(params, 't');
  const r = await sql.query(`select t.* from ${ident(schema.table)} t where t.id = $1${scope ? ` and (${scope})` : ''}`, params.values);
  const row = r.rows[0];
  if (!row) throw missing(schema, id);
  return fullRecord(sql, schema, row, access.readable);
}

export function getRecord(ctx: AppContext, actor: Actor, app: string, entity: string, id: string): Promise<RecordJson> {
  return ctx.db.tx((tx) => getRecordInTx(tx, ctx, actor, app, entity, id));
}

// ---------------------------------------------------------------------------------------------
// update

export async function updateRecordInTx(tx: Tx, ctx: AppContext, actor: Actor, app: string, entity: string, id: string, values: unknown, opts: UpdateOptions): Promise<RecordJson> {
  const schema = await loadEntity(tx, app, entity);
  const access = await accessOrThrow(ctx, actor, schema, 'write');
  if (!Number.isInteger(opts.expectedVersion) || opts.expectedVersion < 1) {
    throw new AppError(428, 'precondition-required', 'Version required', 'Send the version you read: an If-Match: W/"<version>" header, or "version" in the body.');
  }
  const row = await lockRow(tx, schema, access, id);
  const current = await fullRecord(tx, schema, row);
  if (current.version !== opts.expectedVersion) throw versionConflict(visible(current, access.readable), opts.expectedVersion, values);
  const submittable = schema.entity.submittable === true;
  if (submittable && current.status === 'cancelled') {
    throw conflict('This document is cancelled and can no longer be changed. Amend it to make a corrected copy.', { status: current.status });
  }
  if (submittable && current.status === 'submitted' && !opts.allowSubmitted) {
    throw conflict('This document is submitted and can no longer be changed. Cancel it and amend it to make a corrected copy.', { status: current.status });
  }
  if (!opts.allowSubmitted) await runBeforeChange(tx, { ctx, actor, app, entity, record: current, action: 'update' });
  const prepared = await prepareValues({
    schema,
    input: values,
    current: current.values,
    evalCtx: evalContext(ctx, actor),
    submitted: submittable && current.status === 'submitted',
  });
  failIfIssues(prepared.issues, 'change');
  assertWritable(access, values as Record<string, unknown>);
  failIfIssues(await checkRefs(tx, schema, prepared.refs), 'change');
  const changes = diff(schema, current.values, prepared.values);
  if (!changes.length) {
    const out = visible(current, access.readable);
    if (prepared.warnings.length) out.warnings = prepared.warnings;
    return out; // nothing changed: no new version, no history, no event
  }
  const at = ctx.clock.now();
  const cols = columnFields(schema).filter((f) => prepared.columns.includes(f.name));
  const sets = cols.map((f, i) => `${ident(f.name)} = $${i + 1}`);
  const params: unknown[] = cols.map((f) => toParam(f, prepared.values[f.name]));
  params.push(actor.principal.userId, at, searchText(schema, current.name, prepared.values), id, opts.expectedVersion);
  const n = cols.length;
  let updated: Record<string, unknown>;
  try {
    const r = await tx.query(
      `update ${ident(schema.table)} set ${[...sets, `version = version + 1`, `updated_by = $${n + 1}`, `updated_at = $${n + 2}`, `search_text = $${n + 3}`].join(', ')}
       where id = $${n + 4} and version = $${n + 5} returning *`,
      params,
    );
    updated = r.rows[0]!;
  } catch (err) {
    throw dbError(err, schema);
  }
  const record = rowToRecord(schema, updated);
  for (const [fieldName] of schema.children) {
    const given = prepared.children.get(fieldName);
    record.values[fieldName] = given
      ? await replaceChildren(tx, schema, id, fieldName, given, actor.principal.userId, at, false)
      : childRowsFlat(current.values[fieldName]);
  }
  await writeTrail(tx, { ctx, actor, schema, action: 'update', record, changes, at });
  await queueFileRefs(tx, schema, id);
  const out = visible(record, access.readable);
  if (prepared.warnings.length) out.warnings = prepared.warnings;
  return out;
}

export function updateRecord(ctx: AppContext, actor: Actor, app: string, entity: string, id: string, values: unknown, opts: UpdateOptions): Promise<RecordJson> {
  return ctx.db.tx((tx) => updateRecordInTx(tx, ctx, actor, app, entity, id, values, opts));
}

// ---------------------------------------------------------------------------------------------
// delete

export async function deleteRecordInTx(tx: Tx, ctx: AppContext, actor: Actor, app: string, entity: string, id: string, opts: TransitionOptions = {}): Promise<void> {
  const schema = await loadEntity(tx, app, entity);
  const access = await accessOrThrow(ctx, actor, schema, 'delete');
  const row = await lockRow(tx, schema, access, id);
  const current = await fullRecord(tx, schema, row);
  if (opts.expectedVersion !== undefined && current.version !== opts.expectedVersion) {
    throw versionConflict(visible(current, access.readable), opts.expectedVersion);
  }
  if (schema.entity.submittable && current.status !== 'draft') {
    throw conflict(`Only drafts can be deleted; this document is ${current.status}.${current.status === 'submitted' ? ' Cancel it instead.' : ''}`, { status: current.status });
  }
  await runBeforeChange(tx, { ctx, actor, app, entity, record: current, action: 'delete' });
  try {
    await deleteChildren(tx, schema, id);
    await tx.query(`delete from ${ident(schema.table)} where id = $1`, [id]);
  } catch (err) {
    throw dbError(err, schema);
  }
  const at = ctx.clock.now();
  const changes = diff(schema, current.values, Object.fromEntries(schema.entity.fields.map((f) => [f.name, null])));
  await writeTrail(tx, { ctx, actor, schema, action: 'delete', record: current, changes, at });
  await queueFileRefs(tx, schema, id);
}

export function deleteRecord(ctx: AppContext, actor: Actor, app: string, entity: string, id: string, opts: TransitionOptions = {}): Promise<void> {
  return ctx.db.tx((tx) => deleteRecordInTx(tx, ctx, actor, app, entity, id, opts));
}

// ---------------------------------------------------------------------------------------------
// submit / cancel

async function transition(
  tx: Tx,
  ctx: AppContext,
  actor: Actor,
  schema: EntitySchema,
  access: Access,
  id: string,
  opts: TransitionOptions,
  from: 'draft' | 'submitted',
  to: 'submitted' | 'cancelled',
): Promise<{ current: RecordJson; record: RecordJson | null; intercepted?: unknown }> {
  if (!schema.entity.submittable) {
    throw conflict(`${schema.entity.name} records are not documents with a status: they cannot be submitted, cancelled or amended.`);
  }
  // No hook needs the record before the change and it has no child rows: the guarded update
  // alone (one statement); when it changes nothing, the general path below says why.
  if (schema.children.size === 0 && (to === 'cancelled' || opts.skipHooks)) {
    checkId(id);
    const at = ctx.clock.now();
    const stamp = to === 'submitted' ? 'submitted_at' : 'cancelled_at';
    const params = new Params([to, at, actor.principal.userId, id, from]);
    const version = opts.expectedVersion !== undefined ? ` and t.version = ${params.add(opts.expectedVersion)}` : '';
    const scope = access.rowFilter(params, 't');
    const r = await tx.query(
      `${preparable(schema)}update ${ident(schema.table)} t set status = $1, ${stamp} = $2, version = t.version + 1, updated_by = $3, updated_at = $2
        where t.id = $4 and t.status = $5${version}${scope ? ` and (${scope})` : ''} returning ${rowColumns(schema, 't')}`,
      params.values,
    );
    if (r.rows[0]) {
      const record = rowToRecord(schema, r.rows[0]);
      await writeTrail(tx, { ctx, actor, schema, action: to === 'submitted' ? 'submit' : 'cancel', record, changes: [{ field: 'status', before: from, after: to }], at });
      return { current: { ...record, status: from, version: record.version - 1 }, record };
    }
  }
  const known = opts.justCreated?.id === id && access.rowFilter(new Params([]), 't') === null ? opts.justCreated : null;
  const current = known ?? (await fullRecord(tx, schema, await lockRow(tx, schema, access, id)));
  if (opts.expectedVersion !== undefined && current.version !== opts.expectedVersion) {
    throw versionConflict(visible(current, access.readable), opts.expectedVersion);
  }
  if (current.status !== from) {
    const verb = to === 'submitted' ? 'submitted' : 'cancelled';
    throw conflict(`Only ${from === 'draft' ? 'drafts' : 'submitted documents'} can be ${verb}; this document is ${current.status}.`, { status: current.status });
  }
  const event = { ctx, actor, app: schema.app.name, entity: schema.entity.name, record: current };
  if (to === 'submitted' && !opts.skipHooks) {
    const r = await runBeforeSubmit(tx, event);
    if (r) return { current, record: null, intercepted: r.intercept };
  }
  const at = ctx.clock.now();
  const stamp = to === 'submitted' ? 'submitted_at' : 'cancelled_at';
  const r = await tx.query(
    `${preparable(schema)}update ${ident(schema.table)} set status = $1, ${stamp} = $2, version = version + 1, updated_by = $3, updated_at = $2 where id = $4 returning ${rowColumns(schema)}`,
    [to, at, actor.principal.userId, id],
  );
  const record = rowToRecord(schema, r.rows[0]!);
  for (const name of schema.children.keys()) record.values[name] = current.values[name];
  await writeTrail(tx, {
    ctx,
    actor,
    schema,
    action: to === 'submitted' ? 'submit' : 'cancel',
    record,
    changes: [{ field: 'status', before: from, after: to }],
    at,
  });
  if (to === 'submitted' && !opts.skipHooks) await runAfterSubmit(tx, { ...event, record });
  return { current, record };
}

export async function submitRecordInTx(tx: Tx, ctx: AppContext, actor: Actor, app: string, entity: string, id: string, opts: TransitionOptions = {}): Promise<SubmitResult> {
  const schema = await loadEntity(tx, app, entity);
  const access = await accessOrThrow(ctx, actor, schema, 'submit');
  const r = await transition(tx, ctx, actor, schema, access, id, opts, 'draft', 'submitted');
  if (!r.record) return { record: visible(r.current, access.readable), intercepted: r.intercepted };
  return { record: visible(r.record, access.readable) };
}

export function submitRecord(ctx: AppContext, actor: Actor, app: string, entity: string, id: string, opts: TransitionOptions = {}): Promise<SubmitResult> {
  return ctx.db.tx((tx) => submitRecordInTx(tx, ctx, actor, app, entity, id, opts));
}

/**
 * A new document submitted at once (the form's 提交 on a new record), in ONE transaction: should
 * the submit be refused (no submit permission, the approval cannot start…), nothing is kept —
 * no draft is left behind — and the caller gets the reason. Starts its approval like a submit.
 */
export function createAndSubmitRecord(ctx: AppContext, actor: Actor, app: string, entity: string, values: unknown, opts: CreateOptions = {}): Promise<SubmitResult> {
  return onFreshDefinition(app, () =>
    ctx.db.tx(async (tx) => {
      const created = await createInTx(tx, ctx, actor, app, entity, values, { ...opts, wholeTransaction: false });
      return submitRecordInTx(tx, ctx, actor, app, entity, created.out.id, { expectedVersion: created.out.version, justCreated: created.written ?? undefined });
    }),
  );
}

export async function cancelRecordInTx(tx: Tx, ctx: AppContext, actor: Actor, app: string, entity: string, id: string, opts: TransitionOptions = {}): Promise<RecordJson> {
  const schema = await loadEntity(tx, app, entity);
  const access = await accessOrThrow(ctx, actor, schema, 'cancel');
  const r = await transition(tx, ctx, actor, schema, access, id, opts, 'submitted', 'cancelled');
  return visible(r.record!, access.readable);
}

export function cancelRecord(ctx: AppContext, actor: Actor, app: string, entity: string, id: string, opts: TransitionOptions = {}): Promise<RecordJson> {
  return ctx.db.tx((tx) => cancelRecordInTx(tx, ctx, actor, app, entity, id, opts));
}

// ---------------------------------------------------------------------------------------------
// amend

/** `ECN-2026-0007` → `ECN-2026-0007-1`; `ECN-2026-0007-1` (itself an amendment) → `ECN-2026-0007-2`. */
export function amendedName(source: { name: string | null; amended_from: string | null }): string | null {
  if (!source.name) return null;
  if (source.amended_from) {
    const m = /^(.*)-(\d+)$/.exec(source.name);
    if (m) return `${m[1]}-${Number(m[2]) + 1}`;
  }
  return `${source.name}-1`;
}

export async function amendRecordInTx(tx: Tx, ctx: AppContext, actor: Actor, app: string, entity: string, id: string): Promise<RecordJson> {
  const schema = await loadEntity(tx, app, entity);
  if (!schema.entity.submittable) {
    throw conflict(`${schema.entity.name} records are not documents with a status: they cannot be amended.`);
  }
  const access = await accessOrThrow(ctx, actor, schema, 'create');
  const readAccess = await accessOrThrow(ctx, actor, schema, 'read');
  const row = await lockRow(tx, schema, readAccess, id);
  const source = await fullRecord(tx, schema, row);
  if (source.status !== 'cancelled') {
    throw conflict(`Only cancelled documents can be amended; this document is ${source.status}.${source.status === 'submitted' ? ' Cancel it first.' : ''}`, { status: source.status });
  }
  const existing = await tx.query<{ id: string; name: string | null }>(`select id, name from ${ident(schema.table)} where amended_from = $1 limit 1`, [id]);
  if (existing.rows[0]) {
    throw conflict(`This document was already amended by ${existing.rows[0].name ?? existing.rows[0].id}; amend that one instead.`, { amendedBy: String(existing.rows[0].id) });
  }
  // The copy: every writable value, child rows as new rows; formulas and auto numbers anew.
  const copy: Record<string, unknown> = {};
  for (const f of schema.entity.fields) {
    if (f.type === 'formula' || f.type === 'auto_number') continue;
    const v = source.values[f.name];
    if (f.type === 'child_table') {
      copy[f.name] = childRowsFlat(v).map(({ id: _id, ...rest }) => {
        const child = schema.children.get(f.name);
        return Object.fromEntries(Object.entries(rest).filter(([k]) => child?.fields.get(k)?.type !== 'formula' && child?.fields.get(k)?.type !== 'auto_number'));
      });
    } else if (v !== null && v !== undefined) copy[f.name] = v;
  }
  const prepared = await prepareValues({ schema, input: copy, current: null, evalCtx: evalContext(ctx, actor), primaryDepartmentId: actor.principal.primaryDepartmentId });
  failIfIssues(prepared.issues, 'amendment');
  const at = ctx.clock.now();
  const record = await insertRecord(tx, ctx, actor, schema, prepared, {
    name: amendedName(source),
    amendedFrom: id,
    ownerDepartmentId: source.owner_department_id,
    at,
  });
  const changes = [{ field: 'amended_from', before: null, after: id }, ...diff(schema, null, record.values)];
  await writeTrail(tx, { ctx, actor, schema, action: 'amend', record, changes, at });
  await queueFileRefs(tx, schema, record.id);
  const out = visible(record, access.readable);
  if (prepared.warnings.length) out.warnings = prepared.warnings;
  return out;
}

export function amendRecord(ctx: AppContext, actor: Actor, app: string, entity: string, id: string): Promise<RecordJson> {
  return ctx.db.tx((tx) => amendRecordInTx(tx, ctx, actor, app, entity, id));
}

// ---------------------------------------------------------------------------------------------
// history

export async function recordHistoryInTx(sql: Sql, ctx: AppContext, actor: Actor, app: string, entity: string, id: string, opts: { limit?: number; before?: number } = {}): Promise<{ items: HistoryEntry[] }> {
  const schema = await loadEntity(sql, app, entity);
  const access = await accessOrThrow(ctx, actor, schema, 'read');
  checkId(id);
  // The record must be visible to the reader, or (deleted) have been visible: a deleted record's
  // history is only shown to those who may read every row of the entity.
  const params = new Params([id]);
  const scope = access.rowFilter(params, 't');
  const exists = await sql.query(`select 1 from ${ident(schema.table)} t where t.id = $1${scope ? ` and (${scope})` : ''}`, params.values);
  if (!exists.rows[0] && scope !== null) throw missing(schema, id);
  const limit = Math.min(Math.max(opts.limit ?? 100, 1), 500);
  const r = await sql.query<{
    id: number;
    version: number;
    action: string;
    changed_by: string | null;
    changed_by_name: string | null;
    changed_at: Date | string;
    ip: string | null;
    user_agent: string | null;
    changes: HistoryEntry['changes'];
  }>(
    `select h.id, h.version, h.action, h.changed_by, u.display_name as changed_by_name, h.changed_at, h.ip, h.user_agent, h.changes
     from record_history h left join users u on u.id = h.changed_by
     where h.app = $1 and h.entity = $2 and h.record_id = $3 ${opts.before ? 'and h.id < $5' : ''}
     order by h.id desc limit $4`,
    opts.before ? [app, entity, id, limit, opts.before] : [app, entity, id, limit],
  );
  if (!r.rows.length && !exists.rows[0]) throw missing(schema, id);
  const system = new Set(['status', 'amended_from', 'name']);
  return {
    items: r.rows.map((h) => ({
      id: Number(h.id),
      version: h.version,
      action: h.action,
      changed_by: h.changed_by,
      changed_by_name: h.changed_by_name,
      changed_at: new Date(h.changed_at).toISOString(),
      ip: h.ip,
      user_agent: h.user_agent,
      changes: (h.changes ?? []).filter((c) => system.has(c.field) || access.readable.has(c.field)),
    })),
  };
}

export function recordHistory(ctx: AppContext, actor: Actor, app: string, entity: string, id: string, opts: { limit?: number; before?: number } = {}): Promise<{ items: HistoryEntry[] }> {
  return ctx.db.tx((tx) => recordHistoryInTx(tx, ctx, actor, app, entity, id, opts));
}
