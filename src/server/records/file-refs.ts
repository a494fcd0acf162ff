// Which records point at which uploaded file: `file_refs(file_id, app, entity, record_id, field)`,
// kept by the records engine in the transaction of every write, so a download can be checked
// against the permissions of the records that reference the file (files/access.ts) without
// scanning entity tables.
//
// The refs of a record are recomputed FROM ITS ROWS (the record row and its child rows) by two
// write-only statements queued with `Tx.beforeCommit`: they run in the combined statement right
// before commit, see every earlier write of the transaction, and so cost no round trip of their
// own. A record written twice in one transaction is queued once. Entities without file fields
// (attachment / image / signature, also in child tables) queue nothing; those are also the only
// entities whose create is the single-statement path (jsonb fields never are), which is untouched.
import { combineStatements, deferWrite, ident, type Sql, type Statement, type Tx } from '../db/index.ts';
import type { Actor, AppContext } from '../platform/index.ts';
import { accessFor } from './access.ts';
import { Params } from './query/index.ts';
import { getPublishedApp } from '../modeling/index.ts';
import { loadEntity, type EntitySchema } from './schema.ts';

const FILE_TYPES: ReadonlySet<string> = new Set(['attachment', 'image', 'signature']);
const UUID_SQL = `'^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'`;

interface FileColumn {
  /** `photos`, or `items.photo` for a child-table field. */
  path: string;
  table: string;
  column: string;
  /** Child-table field of the parent, for child rows. */
  parentField?: string;
}

const columnsCache = new WeakMap<EntitySchema, FileColumn[]>();

/** The record's file-holding columns: its own and those of its child tables (one level). */
export function fileColumns(schema: EntitySchema): FileColumn[] {
  let hit = columnsCache.get(schema);
  if (hit) return hit;
  hit = [];
  for (const f of schema.entity.fields) {
    if (FILE_TYPES.has(f.type)) hit.push({ path: f.name, table: schema.table, column: f.name });
  }
  for (const [parentField, child] of schema.children) {
    for (const f of child.entity.fields) {
      if (FILE_TYPES.has(f.type)) hit.push({ path: `${parentField}.${f.name}`, table: child.table, column: f.name, parentField });
    }
  }
  columnsCache.set(schema, hit);
  return hit;
}

/**
 * `select file_id, field` of the file ids the record's rows hold now. Parameters: $3 the record
 * id, then one per column (its path) and child-table field, appended to `params`.
 */
function currentRefsSql(schema: EntitySchema, params: unknown[]): string {
  const parts = fileColumns(schema).map((c) => {
    params.push(c.path);
    const path = `$${params.length}::text`;
    // lax `$.id`: the id of an object, or of every object in an array; nothing for a string
    const ids = `jsonb_path_query(r.${ident(c.column)}, '$.id') x`;
    if (!c.parentField) return `select lower(x #>> '{}') as file_id, ${path} as field from ${ident(c.table)} r, ${ids} where r.id = $3`;
    params.push(c.parentField);
    return `select lower(x #>> '{}') as file_id, ${path} as field from ${ident(c.table)} r, ${ids} where r.parent_id = $3 and r.parent_field = $${params.length}::text`;
  });
  return `select distinct v.file_id, v.field from (${parts.join(' union all ')}) v where v.file_id ~ ${UUID_SQL}`;
}

/** The two statements that bring a record's refs in line with its rows (disjoint rows: one statement may hold both). */
export function fileRefsStatements(schema: EntitySchema, recordId: string): Statement[] {
  const delParams: unknown[] = [schema.app.name, schema.entity.name, recordId];
  const delCurrent = currentRefsSql(schema, delParams);
  const del: Statement = {
    text: `delete from file_refs f where f.app = $1 and f.entity = $2 and f.record_id = $3::uuid
            and not exists (select 1 from (${delCurrent}) c where c.file_id = f.file_id::text and c.field = f.field)`,
    params: delParams,
  };
  const insParams: unknown[] = [schema.app.name, schema.entity.name, recordId];
  const insCurrent = currentRefsSql(schema, insParams);
  const ins: Statement = {
    text: `insert into file_refs (file_id, app, entity, record_id, field)
           select c.file_id::uuid, $1, $2, $3::uuid, c.field from (${insCurrent}) c on conflict do nothing`,
    params: insParams,
  };
  return [del, ins];
}

const queued = new WeakMap<object, Set<string>>();

/**
 * After a write of a record (create, update, delete, amend): queue the refresh of its file refs
 * before commit. Nothing for entities without file fields.
 */
export async function queueFileRefs(tx: Tx, schema: EntitySchema, recordId: string): Promise<void> {
  if (!fileColumns(schema).length) return;
  if (!tx.beforeCommit) {
    // a savepoint view (Excel import row): run now, it is rolled back with the row
    await deferWrite(tx, combineStatements(fileRefsStatements(schema, recordId)));
    return;
  }
  let seen = queued.get(tx);
  if (!seen) queued.set(tx, (seen = new Set()));
  const key = `${schema.table}/${recordId}`;
  if (seen.has(key)) return; // the queued statements read the rows at commit: they cover this write too
  seen.add(key);
  for (const s of fileRefsStatements(schema, recordId)) tx.beforeCommit(s);
}

export interface FileRef {
  app: string;
  entity: string;
  recordId: string;
  field: string;
}

/** Records that reference a file now. */
export async function fileRefsOf(sql: Sql, fileId: string): Promise<FileRef[]> {
  const r = await sql.query<{ app: string; entity: string; record_id: string; field: string }>(
    'select app, entity, record_id, field from file_refs where file_id = $1 order by app, entity, record_id, field',
    [fileId],
  );
  return r.rows.map((x) => ({ app: x.app, entity: x.entity, recordId: String(x.record_id), field: x.field }));
}

/**
 * May the actor read the field of the record that holds the file: read rights on the entity,
 * the record within their row scope, and read rights on the field (for a child row: on the
 * child-table field of the parent).
 */
export async function canReadRecordField(sql: Sql, ctx: AppContext, actor: Actor, ref: FileRef): Promise<boolean> {
  let schema: EntitySchema;
  try {
    schema = await loadEntity(sql, ref.app, ref.entity);
  } catch {
    return false; // app unpublished or entity gone
  }
  const access = accessFor(ctx, actor, schema, 'read');
  if (!access.allowed || !access.readable.has(ref.field.split('.')[0]!)) return false;
  const params = new Params([ref.recordId]);
  const scope = access.rowFilter(params, 't');
  const r = await sql.query(`select 1 from ${ident(schema.table)} t where t.id = $1${scope ? ` and (${scope})` : ''}`, params.values);
  return r.rows.length > 0;
}

/** Fills `file_refs` from the rows of every published entity with file fields (the migration that adds the table). */
export async function backfillFileRefs(tx: Tx): Promise<void> {
  // a database without the modeling engine's tables (records alone) has no published apps to scan
  const known = await tx.query<{ t: string | null }>(`select to_regclass('apps')::text as t`);
  if (!known.rows[0]?.t) return;
  const apps = await tx.query<{ name: string }>('select name from apps order by name');
  for (const { name } of apps.rows) {
    const pub = await getPublishedApp(tx, name);
    if (!pub) continue;
    for (const entity of pub.entities.values()) {
      if (entity.child) continue;
      const schema = await loadEntity(tx, name, entity.name);
      for (const c of fileColumns(schema)) {
        const params: unknown[] = [name, entity.name, c.path];
        const record = c.parentField ? 'r.parent_id' : 'r.id';
        let where = `(x #>> '{}') ~ ${UUID_SQL}`;
        if (c.parentField) {
          params.push(c.parentField);
          where += ' and r.parent_field = $4::text';
        }
        await tx.query(
          `insert into file_refs (file_id, app, entity, record_id, field)
           select distinct (x #>> '{}')::uuid, $1::text, $2::text, ${record}, $3::text from ${ident(c.table)} r, jsonb_path_query(r.${ident(c.column)}, '$.id') x
            where ${where} on conflict do nothing`,
          params,
        );
      }
    }
  }
}
