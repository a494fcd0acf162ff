// Reading and writing entity rows: column lists, row → JSON, child rows, referenced-id checks,
// search text, and the translation of database constraint errors into problems naming the field.
import { randomUUID } from 'node:crypto';
import { entityTable, type FieldDef } from '../../shared/definition.ts';
import { ident, type Sql, type Tx } from '../db/index.ts';
import { AppError, validationFailed } from '../platform/index.ts';
import type { EntitySchema } from './schema.ts';
import type { ChildRow, RefCheck } from './prepare.ts';
import type { RecordJson, RecordStatus } from './types.ts';
import { fromColumn, toParam, valueType, type Issue } from './values.ts';

export const SYSTEM_OUT = [
  'id',
  'name',
  'status',
  'version',
  'created_by',
  'created_at',
  'updated_by',
  'updated_at',
  'owner_department_id',
  'amended_from',
  'submitted_at',
  'cancelled_at',
] as const;

function iso(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  return v instanceof Date ? v.toISOString() : new Date(String(v)).toISOString();
}

/** Fields that have a column (everything but child tables). */
export function columnFields(schema: EntitySchema): FieldDef[] {
  return schema.entity.fields.filter((f) => f.type !== 'child_table');
}

/** A database row in its API form. `readable` (when given) drops hidden fields from `values`. */
export function rowToRecord(schema: EntitySchema, row: Record<string, unknown>, readable?: ReadonlySet<string>, only?: ReadonlySet<string>): RecordJson {
  const values: Record<string, unknown> = {};
  for (const f of schema.entity.fields) {
    if (readable && !readable.has(f.name)) continue;
    if (only && !only.has(f.name)) continue;
    if (f.type === 'child_table') continue;
    values[f.name] = fromColumn(f, row[f.name]);
  }
  return {
    id: String(row.id),
    name: (row.name as string | null) ?? null,
    status: (row.status as RecordStatus) ?? 'draft',
    version: Number(row.version),
    created_by: (row.created_by as string | null) ?? null,
    created_at: iso(row.created_at)!,
    updated_by: (row.updated_by as string | null) ?? null,
    updated_at: iso(row.updated_at)!,
    owner_department_id: (row.owner_department_id as string | null) ?? null,
    amended_from: (row.amended_from as string | null) ?? null,
    submitted_at: iso(row.submitted_at),
    cancelled_at: iso(row.cancelled_at),
    values,
  };
}

/** Child rows of one record, per child_table field, in order, as `{id, ...fields}`. */
export async function loadChildren(sql: Sql, schema: EntitySchema, parentId: string, readable?: ReadonlySet<string>): Promise<Record<string, Array<Record<string, unknown>>>> {
  const out: Record<string, Array<Record<string, unknown>>> = {};
  for (const [fieldName, child] of schema.children) {
    if (readable && !readable.has(fieldName)) continue;
    const r = await sql.query(
      `select * from ${ident(child.table)} where parent_id = $1 and parent_field = $2 order by idx, id`,
      [parentId, fieldName],
    );
    out[fieldName] = r.rows.map((row) => {
      const o: Record<string, unknown> = { id: String(row.id) };
      for (const f of columnFields(child)) o[f.name] = fromColumn(f, row[f.name]);
      return o;
    });
  }
  return out;
}

/** Replaces the rows of one child-table field (replace-set): keeps given ids that belonged to it. */
export async function replaceChildren(
  tx: Tx,
  schema: EntitySchema,
  parentId: string,
  fieldName: string,
  rows: ChildRow[],
  actorId: string,
  at: Date,
  isNew: boolean,
): Promise<Array<Record<string, unknown>>> {
  const child = schema.children.get(fieldName)!;
  const issues: Issue[] = [];
  if (!isNew) {
    const existing = await tx.query<{ id: string }>(
      `delete from ${ident(child.table)} where parent_id = $1 and parent_field = $2 returning id`,
      [parentId, fieldName],
    );
    const had = new Set(existing.rows.map((r) => String(r.id)));
    rows.forEach((r, i) => {
      if (r.id && !had.has(r.id)) issues.push({ path: `values.${fieldName}.${i}.id`, message: 'is not a row of this record: leave "id" out for a new row' });
    });
  } else {
    rows.forEach((r, i) => {
      if (r.id) issues.push({ path: `values.${fieldName}.${i}.id`, message: 'a new record has no rows yet: leave "id" out' });
    });
  }
  if (issues.length) throw validationFailed(`The rows of "${fieldName}" are not valid.`, issues);
  const cols = columnFields(child);
  const out: Array<Record<string, unknown>> = [];
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]!;
    const id = r.id ?? randomUUID();
    const names = ['id', 'parent_id', 'parent_field', 'idx', 'created_by', 'created_at', 'updated_by', 'updated_at', ...cols.map((f) => f.name)];
    const params: unknown[] = [id, parentId, fieldName, i, actorId, at, actorId, at, ...cols.map((f) => toParam(f, r.values[f.name] ?? null))];
    await tx.query(
      `insert into ${ident(child.table)} (${names.map(ident).join(', ')}) values (${params.map((_, j) => `$${j + 1}`).join(', ')})`,
      params,
    ).catch((err: unknown) => {
      throw dbError(err, child, `values.${fieldName}.${i}.`);
    });
    const o: Record<string, unknown> = { id };
    for (const f of cols) o[f.name] = r.values[f.name] ?? null;
    out.push(o);
  }
  return out;
}

/** Deletes every child row of a record. */
export async function deleteChildren(tx: Tx, schema: EntitySchema, parentId: string): Promise<void> {
  for (const [fieldName, child] of schema.children) {
    await tx.query(`delete from ${ident(child.table)} where parent_id = $1 and parent_field = $2`, [parentId, fieldName]);
  }
}

/** Checks that every referenced user, department and linked record exists; returns issues. */
export async function checkRefs(sql: Sql, schema: EntitySchema, refs: RefCheck[]): Promise<Issue[]> {
  if (!refs.length) return [];
  const groups = new Map<string, RefCheck[]>();
  for (const r of refs) {
    const t = r.field.type;
    const table = t === 'user' ? 'users' : t === 'department' ? 'departments' : entityTable(schema.app.name, r.field.target ?? '');
    let g = groups.get(table);
    if (!g) groups.set(table, (g = []));
    g.push(r);
  }
  const issues: Issue[] = [];
  for (const [table, list] of groups) {
    const ids = [...new Set(list.map((r) => r.id))];
    const targetName = list[0]!.field.type === 'link' ? list[0]!.field.target : null;
    if (targetName !== null && (!targetName || !schema.app.entities.some((e) => e.name === targetName))) {
      for (const r of list) issues.push({ path: r.path, message: `links to "${targetName}", which is not an entity of this app` });
      continue;
    }
    const found = await sql.query<{ id: string }>(`select id from ${ident(table)} where id = any($1::uuid[])`, [ids]);
    const have = new Set(found.rows.map((x) => String(x.id)));
    for (const r of list) {
      if (have.has(r.id)) continue;
      const what = r.field.type === 'user' ? 'user' : r.field.type === 'department' ? 'department' : `${targetName} record`;
      issues.push({ path: r.path, message: `there is no ${what} with the id ${r.id}` });
    }
  }
  return issues;
}

/** Text searched by `q`: the name plus the searchable fields (all text fields when none is marked). */
export function searchText(schema: EntitySchema, name: string | null, values: Record<string, unknown>): string {
  const fields = schema.entity.fields;
  const marked = fields.filter((f) => f.searchable);
  const use = marked.length ? marked : fields.filter((f) => ['text', 'long_text', 'qr_code', 'erp_link', 'select', 'auto_number'].includes(valueType(f)));
  const parts: string[] = name ? [name] : [];
  for (const f of use) {
    const v = values[f.name];
    if (v === null || v === undefined || f.type === 'child_table') continue;
    if (Array.isArray(v)) parts.push(v.join(' '));
    else if (typeof v === 'object') continue;
    else {
      parts.push(String(v));
      if (f.type === 'select') {
        const o = f.options?.find((x) => x.value === v);
        if (o) parts.push(o.label.zh, o.label.en ?? '');
      }
    }
  }
  return parts.join(' ').slice(0, 10_000);
}

interface PgError {
  code?: string;
  detail?: string;
  constraint?: string;
  column?: string;
  message?: string;
}

/**
 * Translates constraint errors into problems naming the field: a unique violation is a 409, a
 * missing referenced row a 400, a value out of the column's range a 400. Others pass through.
 */
export function dbError(err: unknown, schema: EntitySchema, prefix = 'values.'): unknown {
  if (err instanceof AppError) return err;
  const e = err as PgError;
  const col = /Key \(([a-z0-9_]+)\)=/.exec(e.detail ?? '')?.[1];
  const label = (c: string | undefined) => {
    const f = c ? schema.fields.get(c) : undefined;
    return f ? `${f.label.zh}${f.label.en ? ` (${f.label.en})` : ''}` : c ?? 'a field';
  };
  const path = col === 'name' ? 'name' : col ? `${prefix}${col}` : prefix.slice(0, -1);
  switch (e.code) {
    case '23505':
      return new AppError(409, 'unique-violation', 'Already exists', `Another record already has this ${col === 'name' ? 'name' : `value in ${label(col)}`}: it must be unique.`, {
        errors: [{ path, message: 'must be unique: another record already has this value' }],
        extra: { field: col ?? null },
      });
    case '23503':
      if (/is still referenced/.test(e.detail ?? '')) {
        return new AppError(409, 'still-referenced', 'Still referenced', 'Other records link to this one; remove those links first.', { extra: { detail: e.detail } });
      }
      return validationFailed(`${label(col)} refers to a record that does not exist.`, [{ path, message: 'refers to a record that does not exist' }]);
    case '22003':
      return validationFailed('A number is too large for its field.', [{ path, message: `a value is out of range: ${e.message ?? ''}` }]);
    case '22P02':
    case '22P05':
    case '22021':
    case '22007':
    case '22008':
    case '54000':
      return validationFailed('A value has the wrong format for its field.', [{ path, message: e.message ?? 'invalid value' }]);
    default:
      return err;
  }
}
