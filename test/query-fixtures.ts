// Test fixtures for the query layer: entity tables created with plain DDL following the layout the
// modeling engine publishes (x_<app>__<entity>, system columns + one typed column per field), and
// minimal users/departments/department_closure tables. Independent of the modeling engine on purpose.
import type { Database } from '../src/server/db/index.ts';
import { entityTable, type AppDef, type EntityDef, type FieldDef } from '../src/shared/definition.ts';
import type { EvalContext } from '../src/shared/condition-eval.ts';
import type { Principal } from '../src/server/platform/context.ts';

export function columnType(f: FieldDef): string | null {
  switch (f.type) {
    case 'integer':
    case 'duration':
      return 'bigint';
    case 'decimal':
    case 'percent':
      return 'numeric';
    case 'money':
      return 'numeric(20,2)';
    case 'date':
      return 'date';
    case 'datetime':
      return 'timestamptz';
    case 'boolean':
      return 'boolean';
    case 'multi_select':
      return 'text[]';
    case 'user':
    case 'department':
    case 'link':
      return 'uuid';
    case 'attachment':
    case 'image':
    case 'signature':
    case 'geolocation':
      return 'jsonb';
    case 'child_table':
      return null;
    default:
      return 'text';
  }
}

const SYSTEM_DDL = [
  'id uuid primary key default gen_random_uuid()',
  'name text',
  "status text not null default 'draft'",
  'version integer not null default 1',
  'created_by uuid',
  'created_at timestamptz not null default now()',
  'updated_by uuid',
  'updated_at timestamptz not null default now()',
  'owner_department_id uuid',
  'amended_from uuid',
  'submitted_at timestamptz',
  'cancelled_at timestamptz',
  'search_text text',
];

/**
 * A linguistic collation (ICU zh) when the server has one, else null. Text columns created with it
 * order and fold case differently from "C", which is what the filter semantics must not depend on.
 */
export async function linguisticCollation(db: Database): Promise<string | null> {
  const r = await db.query<{ collname: string }>(`select collname from pg_collation where collname in ('zh-x-icu', 'und-x-icu') order by collname desc limit 1`);
  return r.rows[0]?.collname ?? null;
}

export async function createEntityTable(db: Database, app: AppDef, entity: EntityDef, opts: { textCollation?: string | null } = {}): Promise<string> {
  const table = entityTable(app.name, entity.name);
  const coll = opts.textCollation ? ` collate "${opts.textCollation}"` : '';
  const cols = SYSTEM_DDL.map((c) => (c === 'name text' || c === 'search_text text' ? `${c}${coll}` : c));
  for (const f of entity.fields) {
    const t = columnType(f);
    if (t) cols.push(`"${f.name}" ${t}${t === 'text' ? coll : ''}`);
  }
  await db.exec(`create table "${table}" (\n  ${cols.join(',\n  ')}\n)`);
  return table;
}

export async function createOrgTables(db: Database): Promise<void> {
  await db.exec(`
    create table users (id uuid primary key, username text not null, display_name text not null);
    create table departments (id uuid primary key, code text not null, name text not null, parent_id uuid);
    create table department_closure (ancestor_id uuid not null, descendant_id uuid not null, depth int not null, primary key (ancestor_id, descendant_id));
  `);
}

/** Inserts a row; values are converted for the column types (jsonb as JSON text). Returns the id. */
export async function insertRow(db: Database, app: AppDef, entity: EntityDef, values: Record<string, unknown>): Promise<string> {
  const names: string[] = [];
  const ph: string[] = [];
  const params: unknown[] = [];
  for (const [k, v] of Object.entries(values)) {
    const f = entity.fields.find((x) => x.name === k);
    const t = f ? columnType(f) : null;
    names.push(`"${k}"`);
    params.push(t === 'jsonb' && v !== null ? JSON.stringify(v) : v);
    ph.push(`$${params.length}${t ? `::${t}` : ''}`);
  }
  const r = await db.query<{ id: string }>(
    `insert into "${entityTable(app.name, entity.name)}" (${names.join(', ')}) values (${ph.join(', ')}) returning id`,
    params,
  );
  return r.rows[0]!.id;
}

export function label(zh: string) {
  return { zh };
}

export function principal(over: Partial<Principal> & { userId: string }): Principal {
  return {
    kind: 'user',
    username: over.userId.slice(0, 8),
    displayName: over.userId.slice(0, 8),
    roles: [],
    departmentIds: [],
    primaryDepartmentId: null,
    scopes: null,
    ...over,
  };
}

export function ctxOf(p: Principal, now = new Date('2024-06-15T03:30:00Z'), timezone = 'Asia/Shanghai'): EvalContext {
  return { userId: p.userId, departmentIds: p.departmentIds, now, timezone };
}

/** Deterministic UUIDs for readable tests: uuid(1) = 00000000-0000-4000-8000-000000000001. */
export function uuid(n: number): string {
  return `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
}
