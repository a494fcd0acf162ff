// The physical layout of a published app: which table, columns, indexes and foreign keys each
// entity has. Everything here is a pure function of the (validated) definition, so a publish is
// "compare the layout of the old definition with the layout of the new one" and a dry run can
// say exactly what a publish would do without touching the database.
import { entityTable, type AppDef, type EntityDef, type FieldDef } from '../../shared/definition.ts';

/** Column type of a field, or null when the field has no column (child tables). */
export function columnSqlType(field: FieldDef): string | null {
  switch (field.type) {
    case 'text':
    case 'long_text':
    case 'select':
    case 'qr_code':
    case 'auto_number':
    case 'erp_link':
      return 'text';
    case 'integer':
    case 'duration':
      return 'bigint';
    case 'decimal':
    case 'percent':
      return field.scale !== undefined ? `numeric(30,${field.scale})` : 'numeric';
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
    case 'formula':
      return formulaColumnType(field);
    case 'child_table':
      return null;
  }
}

function formulaColumnType(field: FieldDef): string {
  switch (field.resultType ?? 'text') {
    case 'integer':
      return 'bigint';
    case 'decimal':
      return field.scale !== undefined ? `numeric(30,${field.scale})` : 'numeric';
    case 'money':
      return 'numeric(20,2)';
    case 'boolean':
      return 'boolean';
    case 'date':
      return 'date';
    case 'datetime':
      return 'timestamptz';
    default:
      return 'text';
  }
}

export interface ColumnSpec {
  name: string;
  sqlType: string;
  /** SQL after the type: `not null default ...` (system columns only). */
  extra: string;
  /** The field behind the column; undefined for system columns. */
  field?: FieldDef;
}

export interface IndexSpec {
  /** Canonical identity: `method|u|col1,col2` (u when unique). */
  key: string;
  columns: string[];
  unique: boolean;
  method: 'btree' | 'gin';
  /** Operator class for every column (trigram search). */
  opclass?: string;
}

export interface FkSpec {
  /** Canonical identity: `column>table:action`. */
  key: string;
  column: string;
  refTable: string;
  onDelete: 'restrict' | 'cascade';
}

export interface TableSpec {
  entity: string;
  table: string;
  child: boolean;
  columns: ColumnSpec[];
  indexes: IndexSpec[];
  fks: FkSpec[];
}

/** System columns, in table order. Field names may not reuse any of these (SYSTEM_COLUMNS). */
export const SYSTEM_COLUMN_SPECS: ReadonlyArray<Omit<ColumnSpec, 'field'>> = [
  { name: 'id', sqlType: 'uuid', extra: 'primary key default gen_random_uuid()' },
  { name: 'name', sqlType: 'text', extra: '' },
  { name: 'status', sqlType: 'text', extra: `not null default 'draft'` },
  { name: 'version', sqlType: 'integer', extra: 'not null default 1' },
  { name: 'created_by', sqlType: 'uuid', extra: '' },
  { name: 'created_at', sqlType: 'timestamptz', extra: 'not null default now()' },
  { name: 'updated_by', sqlType: 'uuid', extra: '' },
  { name: 'updated_at', sqlType: 'timestamptz', extra: 'not null default now()' },
  { name: 'owner_department_id', sqlType: 'uuid', extra: '' },
  { name: 'amended_from', sqlType: 'uuid', extra: '' },
  { name: 'submitted_at', sqlType: 'timestamptz', extra: '' },
  { name: 'cancelled_at', sqlType: 'timestamptz', extra: '' },
  { name: 'search_text', sqlType: 'text', extra: '' },
];

export const CHILD_COLUMN_SPECS: ReadonlyArray<Omit<ColumnSpec, 'field'>> = [
  { name: 'parent_id', sqlType: 'uuid', extra: 'not null' },
  { name: 'parent_field', sqlType: 'text', extra: '' },
  { name: 'idx', sqlType: 'integer', extra: 'not null default 0' },
];

const INDEXED_TYPES = new Set(['link', 'user', 'department', 'erp_link']);
/** Column types a unique or btree index makes sense on. */
const NOT_INDEXABLE = new Set(['jsonb']);

export function index(columns: string[], unique = false, method: 'btree' | 'gin' = 'btree', opclass?: string): IndexSpec {
  return { key: `${method}|${unique ? 'u' : ''}|${columns.join(',')}${opclass ? `|${opclass}` : ''}`, columns, unique, method, ...(opclass ? { opclass } : {}) };
}

export interface LayoutOptions {
  /** pg_trgm is installed: index search_text for substring search. */
  trgm: boolean;
}

/** Entities that hold each child entity in a child_table field: child → parent entity names. */
export function childParents(app: AppDef): Map<string, Set<string>> {
  const parents = new Map<string, Set<string>>();
  for (const e of app.entities) {
    for (const f of e.fields) {
      if (f.type !== 'child_table' || !f.target) continue;
      let set = parents.get(f.target);
      if (!set) parents.set(f.target, (set = new Set()));
      set.add(e.name);
    }
  }
  return parents;
}

export function tableSpec(app: AppDef, entity: EntityDef, opts: LayoutOptions, parents = childParents(app)): TableSpec {
  const table = entityTable(app.name, entity.name);
  const child = entity.child === true;
  const columns: ColumnSpec[] = [...SYSTEM_COLUMN_SPECS.map((c) => ({ ...c })), ...(child ? CHILD_COLUMN_SPECS.map((c) => ({ ...c })) : [])];
  const indexes: IndexSpec[] = [
    index(['name'], true),
    index(['owner_department_id']),
    index(['created_by']),
    index(['created_at', 'id']),
    index(['status']),
  ];
  if (opts.trgm) indexes.push(index(['search_text'], false, 'gin', 'gin_trgm_ops'));
  const fks: FkSpec[] = [];
  if (child) {
    indexes.push(index(['parent_id', 'idx']));
    const ps = [...(parents.get(entity.name) ?? [])];
    // One parent: rows die with their parent. Several parents: parent_field says which; no FK.
    if (ps.length === 1) fks.push(fk('parent_id', entityTable(app.name, ps[0]!), 'cascade'));
  }
  for (const f of entity.fields) {
    const sqlType = columnSqlType(f);
    if (sqlType === null) continue;
    columns.push({ name: f.name, sqlType, extra: '', field: f });
    const indexable = !NOT_INDEXABLE.has(sqlType);
    if (f.unique && indexable) indexes.push(index([f.name], true));
    else if (f.type === 'auto_number') indexes.push(index([f.name], true));
    else if (indexable && (INDEXED_TYPES.has(f.type) || f.filterable)) indexes.push(index([f.name], false, sqlType === 'text[]' ? 'gin' : 'btree'));
    if (f.type === 'link' && f.target) fks.push(fk(f.name, entityTable(app.name, f.target), 'restrict'));
    if (f.type === 'user') fks.push(fk(f.name, 'users', 'restrict'));
    if (f.type === 'department') fks.push(fk(f.name, 'departments', 'restrict'));
  }
  return { entity: entity.name, table, child, columns, indexes: dedupe(indexes), fks };
}

function fk(column: string, refTable: string, onDelete: FkSpec['onDelete']): FkSpec {
  return { key: `${column}>${refTable}:${onDelete}`, column, refTable, onDelete };
}

function dedupe(list: IndexSpec[]): IndexSpec[] {
  const seen = new Set<string>();
  return list.filter((i) => (seen.has(i.key) ? false : (seen.add(i.key), true)));
}

export function appLayout(app: AppDef, opts: LayoutOptions): Map<string, TableSpec> {
  const parents = childParents(app);
  return new Map(app.entities.map((e) => [e.name, tableSpec(app, e, opts, parents)]));
}

/** The columns a published entity has, in table order: what the records engine reads and writes. */
export function physicalColumns(app: AppDef, entity: EntityDef): ColumnSpec[] {
  return tableSpec(app, entity, { trgm: false }).columns;
}
