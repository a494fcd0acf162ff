// The schema diff: compares the physical layout of the published definition with the layout of
// the new one (entities and fields matched by name, or by `renamedFrom`), looks at the data where
// a change could lose or contradict it, and produces (1) a list of changes a person can read and
// (2) the steps that apply them. Nothing here writes: the caller runs the steps in its
// transaction, or only shows the list (dry run).
import { ContextRef, type AppDef, type EntityDef, type FieldDef } from '../../shared/definition.ts';
import { ident, type Sql } from '../db/index.ts';
import { appLayout, index as indexSpec, type ColumnSpec, type FkSpec, type IndexSpec, type TableSpec } from './physical.ts';

export type ChangeKind =
  | 'add_entity'
  | 'drop_entity'
  | 'rename_entity'
  | 'change_entity'
  | 'add_field'
  | 'drop_field'
  | 'rename_field'
  | 'change_type'
  | 'change_field'
  | 'set_required'
  | 'add_unique'
  | 'add_index'
  | 'drop_index'
  | 'add_foreign_key'
  | 'drop_foreign_key'
  | 'add_column'
  | 'drop_column';

export interface SchemaChange {
  kind: ChangeKind;
  entity: string;
  field?: string;
  /** Where in the definition: `entities.ecn.fields.qty`. */
  path: string;
  from?: string;
  to?: string;
  /** Loses or invalidates data: applied only with `confirmDestructive`. */
  destructive: boolean;
  /** Cannot be applied even with confirmation until the data is fixed (e.g. duplicates for unique). */
  blocked?: boolean;
  message: string;
}

export interface Step {
  phase: number;
  change: SchemaChange;
  run: (sql: Sql) => Promise<void>;
}

export interface Plan {
  changes: SchemaChange[];
  steps: Step[];
}

export interface PlanOptions {
  trgm: boolean;
  timezone: string;
}

// Phases, in execution order.
const P_RENAME_TABLE = 1;
const P_RENAME_COLUMN = 2;
const P_DROP_FK = 3;
const P_DROP_INDEX = 4;
const P_DROP_COLUMN = 5;
const P_DROP_TABLE = 6;
const P_CREATE = 7;
const P_ALTER = 8;
const P_INDEX = 9;
const P_FK = 10;

const q = ident;

/** `'text'` with quotes doubled: only ever used for validated literal defaults. */
function quoteLiteral(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}

/** A field default as an SQL literal for filling existing rows; null when it depends on who/when. */
export function defaultLiteral(f: FieldDef, sqlType: string): string | null {
  const v = f.default;
  if (v === undefined || v === null || ContextRef.safeParse(v).success) return null;
  if (Array.isArray(v)) return `ARRAY[${v.map((x) => quoteLiteral(String(x))).join(', ')}]::text[]`;
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'number' || typeof v === 'string') return `${quoteLiteral(String(v))}::${sqlType}`;
  return null;
}

// ---------------------------------------------------------------------------------------------
// type changes

interface Conversion {
  /** Converts in place with this USING expression ($ = the column); null = drop and re-add. */
  using: string | null;
  destructive: boolean;
  note: string;
}

function numericParts(t: string): { p: number; s: number } | 'any' | null {
  if (t === 'numeric') return 'any';
  const m = /^numeric\((\d+),(\d+)\)$/.exec(t);
  return m ? { p: Number(m[1]), s: Number(m[2]) } : null;
}

export function conversion(from: string, to: string, timezone: string): Conversion {
  const c = '$';
  const safe = (using: string, note = 'values are kept'): Conversion => ({ using, destructive: false, note });
  const lossy = (using: string, note: string): Conversion => ({ using, destructive: true, note });
  const replace: Conversion = { using: null, destructive: true, note: 'values cannot be converted and are deleted' };
  const nf = numericParts(from);
  const nt = numericParts(to);
  if (to === 'text') {
    if (from === 'text[]') return lossy(`array_to_string(${c}, ', ')`, 'lists are joined into one text');
    if (from === 'jsonb') return lossy(`${c}::text`, 'files/locations become their JSON text');
    return safe(`${c}::text`);
  }
  if (from === 'text') {
    if (to === 'text[]') return safe(`case when ${c} is null or ${c} = '' then null else array[${c}] end`, 'each value becomes a one-element list');
    if (to === 'jsonb') return lossy(`to_jsonb(${c})`, 'texts become JSON strings');
    return lossy(`nullif(btrim(${c}), '')::${to}`, `texts that are not valid ${to} values make the publish fail; empty texts become empty values`);
  }
  if (from === 'bigint' && nt) return safe(`${c}::${to}`);
  if (from === 'integer' && (to === 'bigint' || nt)) return safe(`${c}::${to}`);
  if (nf && nt) {
    if (nt === 'any') return safe(`${c}::numeric`);
    if (nf === 'any') return lossy(`${c}::${to}`, `values are rounded to ${nt.s} digits after the point`);
    if (nt.s >= nf.s && nt.p - nt.s >= nf.p - nf.s) return safe(`${c}::${to}`);
    if (nt.s < nf.s) return lossy(`${c}::${to}`, `values are rounded to ${nt.s} digits after the point`);
    return lossy(`${c}::${to}`, `values with more than ${nt.p - nt.s} digits before the point make the publish fail`);
  }
  if (nf && to === 'bigint') return lossy(`round(${c})::bigint`, 'values are rounded to whole numbers');
  if (from === 'date' && to === 'timestamptz') return safe(`(${c}::timestamp at time zone ${quoteLiteral(timezone)})`, 'dates become midnight in the plant time zone');
  if (from === 'timestamptz' && to === 'date') return lossy(`(${c} at time zone ${quoteLiteral(timezone)})::date`, 'the time of day is dropped');
  if (from === 'boolean' && to === 'bigint') return lossy(`${c}::int::bigint`, 'true becomes 1, false 0');
  if (from === 'bigint' && to === 'boolean') return lossy(`${c} <> 0`, '0 becomes false, anything else true');
  if (from === 'text[]' && to === 'jsonb') return safe(`to_jsonb(${c})`);
  return replace;
}

// ---------------------------------------------------------------------------------------------
// catalog look-ups (execution time: names of indexes and constraints we did not name ourselves)

async function findIndex(sql: Sql, table: string, spec: IndexSpec): Promise<string | null> {
  const r = await sql.query<{ name: string; cols: string[]; uniq: boolean; am: string }>(
    `select i.relname as name, ix.indisunique as uniq, am.amname as am,
            array(select a.attname::text from unnest(ix.indkey::int2[]) with ordinality k(attnum, ord)
                  join pg_attribute a on a.attrelid = t.oid and a.attnum = k.attnum order by k.ord) as cols
       from pg_index ix
       join pg_class t on t.oid = ix.indrelid
       join pg_class i on i.oid = ix.indexrelid
       join pg_am am on am.oid = i.relam
       join pg_namespace n on n.oid = t.relnamespace
      where n.nspname = current_schema() and t.relname = $1 and not ix.indisprimary`,
    [table],
  );
  const hit = r.rows.find((x) => x.uniq === spec.unique && x.am === spec.method && x.cols.join(',') === spec.columns.join(','));
  return hit?.name ?? null;
}

async function findFk(sql: Sql, table: string, spec: FkSpec): Promise<string | null> {
  const r = await sql.query<{ name: string }>(
    `select c.conname as name
       from pg_constraint c
       join pg_class t on t.oid = c.conrelid
       join pg_class rt on rt.oid = c.confrelid
       join pg_namespace n on n.oid = t.relnamespace
       join pg_attribute a on a.attrelid = t.oid and a.attnum = c.conkey[1]
      where n.nspname = current_schema() and c.contype = 'f' and t.relname = $1 and rt.relname = $2
        and a.attname = $3 and array_length(c.conkey, 1) = 1`,
    [table, spec.refTable, spec.column],
  );
  return r.rows[0]?.name ?? null;
}

// ---------------------------------------------------------------------------------------------
// the plan

/** JSON with sorted keys: definitions come back from jsonb with their keys reordered. */
function stable(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v ?? null);
  if (Array.isArray(v)) return `[${v.map(stable).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o).filter((k) => o[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${stable(o[k])}`).join(',')}}`;
}

function sameMeta(a: unknown, b: unknown): boolean {
  return stable(a) === stable(b);
}

function fieldMeta(f: FieldDef): unknown {
  const { renamedFrom: _r, name: _n, ...rest } = f;
  return rest;
}

function entityMeta(e: EntityDef): unknown {
  const { renamedFrom: _r, name: _n, fields: _f, ...rest } = e;
  return rest;
}

/** Matches new items to old ones: same name first, else `renamedFrom`. */
function matchByName<T extends { name: string; renamedFrom?: string }>(oldItems: readonly T[], newItems: readonly T[]): Map<string, string> {
  const oldNames = new Set(oldItems.map((x) => x.name));
  const newNames = new Set(newItems.map((x) => x.name));
  const m = new Map<string, string>(); // new name → old name
  const taken = new Set<string>();
  for (const n of newItems) {
    if (!oldNames.has(n.name)) continue;
    m.set(n.name, n.name);
    taken.add(n.name);
  }
  for (const n of newItems) {
    if (m.has(n.name) || !n.renamedFrom) continue;
    if (oldNames.has(n.renamedFrom) && !taken.has(n.renamedFrom) && !newNames.has(n.renamedFrom)) {
      m.set(n.name, n.renamedFrom);
      taken.add(n.renamedFrom);
    }
  }
  return m;
}

const describe = (f: FieldDef | undefined, col: ColumnSpec) => (f ? `${f.type}${f.type === 'formula' ? `→${f.resultType ?? 'text'}` : ''} (${col.sqlType})` : col.sqlType);

export async function planChanges(sql: Sql, oldApp: AppDef | null, newApp: AppDef, opts: PlanOptions): Promise<Plan> {
  const changes: SchemaChange[] = [];
  const steps: Step[] = [];
  const add = (change: SchemaChange, phase?: number, run?: (s: Sql) => Promise<void>) => {
    changes.push(change);
    if (phase !== undefined && run) steps.push({ phase, change, run });
  };
  const addStep = (change: SchemaChange, phase: number, run: (s: Sql) => Promise<void>) => steps.push({ phase, change, run });
  const exec = (text: string) => async (s: Sql) => void (await s.query(text));

  const oldLayout = oldApp ? appLayout(oldApp, opts) : new Map<string, TableSpec>();
  const newLayout = appLayout(newApp, opts);
  const oldEntities = oldApp?.entities ?? [];
  const entityMatch = matchByName(oldEntities, newApp.entities); // new → old
  const oldTableOf = new Map<string, string>(); // old table name → its table name after renames
  for (const [n, o] of entityMatch) oldTableOf.set(oldLayout.get(o)!.table, newLayout.get(n)!.table);
  const mapTable = (t: string) => oldTableOf.get(t) ?? t;

  const rowCount = async (table: string): Promise<number> => {
    const r = await sql.query<{ n: number }>(`select count(*)::int as n from ${q(table)}`);
    return r.rows[0]?.n ?? 0;
  };

  // Removed entities.
  const matchedOld = new Set(entityMatch.values());
  for (const oe of oldEntities) {
    if (matchedOld.has(oe.name)) continue;
    const t = oldLayout.get(oe.name)!;
    const n = await rowCount(t.table);
    add(
      {
        kind: 'drop_entity',
        entity: oe.name,
        path: `entities.${oe.name}`,
        destructive: true,
        message: `entity "${oe.name}" is removed: its table ${t.table} and its ${n} record(s) are deleted`,
      },
      P_DROP_TABLE,
      exec(`drop table if exists ${q(t.table)} cascade`),
    );
  }

  for (const ne of newApp.entities) {
    const nt = newLayout.get(ne.name)!;
    const oldName = entityMatch.get(ne.name);
    const base = `entities.${ne.name}`;
    if (oldName === undefined) {
      const change: SchemaChange = { kind: 'add_entity', entity: ne.name, path: base, destructive: false, message: `new entity "${ne.name}" (table ${nt.table})` };
      const cols = nt.columns.map((c) => `  ${q(c.name)} ${c.sqlType}${c.extra ? ` ${c.extra}` : ''}`).join(',\n');
      add(change, P_CREATE, exec(`create table ${q(nt.table)} (\n${cols}\n)`));
      for (const ix of nt.indexes) addStep(change, P_INDEX, createIndex(nt.table, ix));
      for (const fk of nt.fks) addStep(change, P_FK, addFk(nt.table, fk));
      continue;
    }
    const oe = oldEntities.find((e) => e.name === oldName)!;
    const ot = oldLayout.get(oldName)!;
    if (oldName !== ne.name) {
      add(
        { kind: 'rename_entity', entity: ne.name, path: base, from: oldName, to: ne.name, destructive: false, message: `entity "${oldName}" is renamed to "${ne.name}" (table ${ot.table} → ${nt.table}, records kept)` },
        P_RENAME_TABLE,
        exec(`alter table ${q(ot.table)} rename to ${q(nt.table)}`),
      );
    }
    if (!sameMeta(entityMeta(oe), entityMeta(ne))) {
      add({ kind: 'change_entity', entity: ne.name, path: base, destructive: false, message: `entity "${ne.name}": settings changed (label, permissions, naming, views or layout)` });
    }

    // Columns: match fields (renames), then system columns by name.
    const fieldMatch = matchByName(oe.fields, ne.fields);
    const oldColByNew = new Map<string, ColumnSpec>(); // new column name → old column
    for (const c of nt.columns) {
      if (c.field) {
        const on = fieldMatch.get(c.name);
        const oc = on !== undefined ? ot.columns.find((x) => x.field && x.name === on) : undefined;
        if (oc) oldColByNew.set(c.name, oc);
      } else {
        const oc = ot.columns.find((x) => !x.field && x.name === c.name);
        if (oc) oldColByNew.set(c.name, oc);
      }
    }
    const renameCol = new Map<string, string>(); // old column name → new column name
    for (const [n, o] of oldColByNew) renameCol.set(o.name, n);
    /** Columns whose old indexes/FKs vanish (dropped or re-created). */
    const goneCols = new Set<string>();
    const freshCols = new Set<string>();
    const tableRows = await rowCount(ot.table);

    // Field-level meta and renames (including fields without a column).
    for (const nf of ne.fields) {
      const on = fieldMatch.get(nf.name);
      const of = on !== undefined ? oe.fields.find((f) => f.name === on) : undefined;
      const fb = `${base}.fields.${nf.name}`;
      if (of && on !== nf.name) {
        const oc = ot.columns.find((x) => x.name === on && x.field);
        const change: SchemaChange = { kind: 'rename_field', entity: ne.name, field: nf.name, path: fb, from: on, to: nf.name, destructive: false, message: `field "${ne.name}.${on}" is renamed to "${nf.name}" (values kept)` };
        if (oc && nt.columns.some((c) => c.name === nf.name)) add(change, P_RENAME_COLUMN, exec(`alter table ${q(nt.table)} rename column ${q(on!)} to ${q(nf.name)}`));
        else add(change);
      }
      if (of && of.type !== nf.type && columnTypeOf(nt, nf.name) === columnTypeOf(ot, of.name)) {
        add({ kind: 'change_field', entity: ne.name, field: nf.name, path: `${fb}.type`, from: of.type, to: nf.type, destructive: false, message: `field "${ne.name}.${nf.name}" changes from ${of.type} to ${nf.type} (same column type, values kept)` });
      } else if (of && of.type === nf.type && !sameMeta(fieldMeta(of), fieldMeta(nf))) {
        add({ kind: 'change_field', entity: ne.name, field: nf.name, path: fb, destructive: false, message: `field "${ne.name}.${nf.name}": settings changed` });
      }
      if (!of && nf.type === 'child_table') {
        add({ kind: 'add_field', entity: ne.name, field: nf.name, path: fb, destructive: false, message: `new child table "${ne.name}.${nf.name}" (rows in ${newLayout.get(nf.target!)?.table ?? nf.target})` });
      }
    }
    for (const of of oe.fields) {
      if ([...fieldMatch.values()].includes(of.name)) continue;
      if (of.type === 'child_table') {
        add({ kind: 'drop_field', entity: ne.name, field: of.name, path: `${base}.fields.${of.name}`, destructive: true, message: `child table "${ne.name}.${of.name}" is removed: its rows are no longer shown with their parent` });
      }
    }

    // Dropped columns.
    for (const oc of ot.columns) {
      if (renameCol.has(oc.name)) continue;
      goneCols.add(oc.name);
      const r = await sql.query<{ n: number }>(`select count(*)::int as n from ${q(ot.table)} where ${q(oc.name)} is not null`);
      const n = r.rows[0]?.n ?? 0;
      const isField = Boolean(oc.field);
      add(
        {
          kind: isField ? 'drop_field' : 'drop_column',
          entity: ne.name,
          ...(isField ? { field: oc.name } : {}),
          path: isField ? `${base}.fields.${oc.name}` : `${base}.child`,
          destructive: true,
          message: isField
            ? `field "${ne.name}.${oc.name}" is removed: ${n} record(s) have a value that will be deleted`
            : `entity "${ne.name}" is no longer a child entity: column ${oc.name} is dropped (${n} value(s))`,
        },
        P_DROP_COLUMN,
        exec(`alter table ${q(nt.table)} drop column if exists ${q(oc.name)}`),
      );
    }

    // New columns, type changes, required.
    for (const nc of nt.columns) {
      const oc = oldColByNew.get(nc.name);
      const nf = nc.field;
      const fb = nf ? `${base}.fields.${nc.name}` : `${base}.child`;
      if (!oc) {
        freshCols.add(nc.name);
        const fill = nf && !nf.unique && nf.type !== 'auto_number' ? defaultLiteral(nf, nc.sqlType) : null;
        if (!nf) {
          // A system column appears: the entity became a child entity.
          const change: SchemaChange = { kind: 'add_column', entity: ne.name, path: fb, destructive: false, message: `entity "${ne.name}" becomes a child entity: column ${nc.name} is added` };
          if (nc.extra.includes('not null') && !nc.extra.includes('default') && tableRows > 0) {
            change.blocked = true;
            change.destructive = true;
            change.message = `entity "${ne.name}" cannot become a child entity: its ${tableRows} existing record(s) have no parent; create a new child entity instead`;
          }
          add(change, P_ALTER, exec(`alter table ${q(nt.table)} add column ${q(nc.name)} ${nc.sqlType}${nc.extra ? ` ${nc.extra}` : ''}`));
          continue;
        }
        const change: SchemaChange = { kind: 'add_field', entity: ne.name, field: nc.name, path: fb, destructive: false, message: `new field "${ne.name}.${nc.name}" (${describe(nf, nc)})${fill && tableRows ? `; existing records get the default ${String(JSON.stringify(nf.default))}` : ''}` };
        add(change, P_ALTER, async (s) => {
          if (fill && tableRows) {
            await s.query(`alter table ${q(nt.table)} add column ${q(nc.name)} ${nc.sqlType} default ${fill}`);
            await s.query(`alter table ${q(nt.table)} alter column ${q(nc.name)} drop default`);
          } else {
            await s.query(`alter table ${q(nt.table)} add column ${q(nc.name)} ${nc.sqlType}`);
          }
        });
        if (isRequired(nf) && tableRows > 0 && !fill) {
          add({
            kind: 'set_required',
            entity: ne.name,
            field: nc.name,
            path: `${fb}.required`,
            destructive: true,
            message: `new required field "${ne.name}.${nc.name}" has no default: the ${tableRows} existing record(s) will have no value and must be completed when next edited (or give the field a default)`,
          });
        }
        continue;
      }
      if (oc.sqlType !== nc.sqlType) {
        const conv = conversion(oc.sqlType, nc.sqlType, opts.timezone);
        const from = describe(oc.field, oc);
        const to = describe(nf, nc);
        const nonNull = tableRows ? ((await sql.query<{ n: number }>(`select count(*)::int as n from ${q(ot.table)} where ${q(oc.name)} is not null`)).rows[0]?.n ?? 0) : 0;
        const change: SchemaChange = {
          kind: 'change_type',
          entity: ne.name,
          ...(nf ? { field: nc.name } : {}),
          path: `${fb}.type`,
          from,
          to,
          destructive: conv.destructive && nonNull > 0,
          message: `field "${ne.name}.${nc.name}" changes from ${from} to ${to}: ${conv.destructive ? (nonNull > 0 ? `${conv.note} (${nonNull} record(s) have a value)` : 'no record has a value yet') : conv.note}`,
        };
        if (conv.using === null) {
          goneCols.add(nc.name);
          freshCols.add(nc.name);
          add(change, P_ALTER, async (s) => {
            await s.query(`alter table ${q(nt.table)} drop column ${q(nc.name)}`);
            await s.query(`alter table ${q(nt.table)} add column ${q(nc.name)} ${nc.sqlType}`);
          });
        } else {
          const using = conv.using.replaceAll('$', q(nc.name));
          add(change, P_ALTER, exec(`alter table ${q(nt.table)} alter column ${q(nc.name)} type ${nc.sqlType} using ${using}`));
        }
      }
      const of = oc.field;
      if (nf && isRequired(nf) && (!of || !isRequired(of)) && tableRows > 0) {
        const r = await sql.query<{ n: number }>(`select count(*)::int as n from ${q(ot.table)} where ${q(oc.name)} is null`);
        const n = r.rows[0]?.n ?? 0;
        if (n > 0) {
          add({
            kind: 'set_required',
            entity: ne.name,
            field: nc.name,
            path: `${fb}.required`,
            destructive: true,
            message: `field "${ne.name}.${nc.name}" becomes required but ${n} record(s) have no value: they must be completed when next edited (or fill them first)`,
          });
        }
      }
    }

    // Indexes: old ones translated to the new column names; those on dropped columns are gone anyway.
    const oldIdx = new Map<string, IndexSpec>();
    for (const ix of ot.indexes) {
      if (ix.columns.some((c) => goneCols.has(c))) continue;
      const mapped = indexSpec(ix.columns.map((c) => renameCol.get(c) ?? c), ix.unique, ix.method, ix.opclass);
      oldIdx.set(mapped.key, mapped);
    }
    for (const [key, ix] of oldIdx) {
      if (newIdxKeys(nt).has(key)) continue;
      add({ kind: 'drop_index', entity: ne.name, path: base, destructive: false, message: `index on ${nt.table}(${ix.columns.join(', ')}) is dropped${ix.unique ? ' (values no longer need to be unique)' : ''}` }, P_DROP_INDEX, async (s) => {
        const name = await findIndex(s, nt.table, ix);
        if (name) await s.query(`drop index ${q(name)}`);
      });
    }
    for (const ix of nt.indexes) {
      if (oldIdx.has(ix.key)) continue;
      const colName = ix.columns[0]!;
      const field = ne.fields.find((f) => f.name === colName);
      const change: SchemaChange = {
        kind: ix.unique && field ? 'add_unique' : 'add_index',
        entity: ne.name,
        ...(field ? { field: colName } : {}),
        path: field ? `${base}.fields.${colName}${ix.unique ? '.unique' : ''}` : base,
        destructive: false,
        message: `${ix.unique ? 'unique ' : ''}index on ${nt.table}(${ix.columns.join(', ')})`,
      };
      if (ix.unique && !ix.columns.some((c) => freshCols.has(c)) && tableRows > 1) {
        const oldCols = ix.columns.map((c) => oldColByNew.get(c)?.name ?? c);
        const r = await sql.query<{ v: string; n: number }>(
          `select ${oldCols.map((c) => `${q(c)}::text`).join(" || ' / ' || ")} as v, count(*)::int as n from ${q(ot.table)}
            where ${oldCols.map((c) => `${q(c)} is not null`).join(' and ')}
            group by ${oldCols.map((c) => q(c)).join(', ')} having count(*) > 1 order by 2 desc limit 5`,
        );
        if (r.rows.length) {
          change.blocked = true;
          change.destructive = true;
          change.message = `field "${ne.name}.${colName}" cannot become unique: values repeat (${r.rows.map((x) => `"${x.v}" ×${x.n}`).join(', ')}${r.rows.length === 5 ? ', …' : ''}); make them distinct first`;
        }
      }
      add(change, P_INDEX, createIndex(nt.table, ix));
    }

    // Foreign keys, same way.
    const oldFk = new Map<string, FkSpec>();
    for (const fk of ot.fks) {
      if (goneCols.has(fk.column)) continue;
      const column = renameCol.get(fk.column) ?? fk.column;
      const refTable = mapTable(fk.refTable);
      const mapped: FkSpec = { column, refTable, onDelete: fk.onDelete, key: `${column}>${refTable}:${fk.onDelete}` };
      oldFk.set(mapped.key, mapped);
    }
    const newFkKeys = new Set(nt.fks.map((f) => f.key));
    for (const [key, fk] of oldFk) {
      if (newFkKeys.has(key)) continue;
      add({ kind: 'drop_foreign_key', entity: ne.name, path: base, destructive: false, message: `${nt.table}.${fk.column} no longer references ${fk.refTable}` }, P_DROP_FK, async (s) => {
        const name = await findFk(s, nt.table, fk);
        if (name) await s.query(`alter table ${q(nt.table)} drop constraint ${q(name)}`);
      });
    }
    for (const fk of nt.fks) {
      if (oldFk.has(fk.key)) continue;
      const change: SchemaChange = {
        kind: 'add_foreign_key',
        entity: ne.name,
        ...(ne.fields.some((f) => f.name === fk.column) ? { field: fk.column } : {}),
        path: ne.fields.some((f) => f.name === fk.column) ? `${base}.fields.${fk.column}.target` : base,
        destructive: false,
        message: `${nt.table}.${fk.column} references ${fk.refTable}`,
      };
      let clear = false;
      if (!freshCols.has(fk.column) && tableRows > 0) {
        const oc = oldColByNew.get(fk.column)!;
        // The referenced table as it is named before this publish; absent when it is new.
        const refOld = fk.refTable.startsWith('x_') ? [...oldTableOf.entries()].find(([, n]) => n === fk.refTable)?.[0] : fk.refTable;
        const r = refOld
          ? await sql.query<{ n: number }>(`select count(*)::int as n from ${q(ot.table)} x where x.${q(oc.name)} is not null and not exists (select 1 from ${q(refOld)} r where r.id::text = x.${q(oc.name)}::text)`)
          : await sql.query<{ n: number }>(`select count(*)::int as n from ${q(ot.table)} where ${q(oc.name)} is not null`);
        const n = r.rows[0]?.n ?? 0;
        if (n > 0) {
          clear = true;
          change.destructive = true;
          change.message = `${n} record(s) of "${ne.name}" have a "${fk.column}" that does not exist in ${fk.refTable}: these values are cleared`;
        }
      }
      add(change, P_FK, async (s) => {
        if (clear) {
          await s.query(`update ${q(nt.table)} x set ${q(fk.column)} = null where x.${q(fk.column)} is not null and not exists (select 1 from ${q(fk.refTable)} r where r.id = x.${q(fk.column)})`);
        }
        await addFk(nt.table, fk)(s);
      });
    }
  }

  steps.sort((a, b) => a.phase - b.phase);
  return { changes, steps };
}

function isRequired(f: FieldDef): boolean {
  return f.required === true && !f.requiredIf && f.type !== 'formula' && f.type !== 'auto_number' && f.type !== 'child_table';
}

function columnTypeOf(t: TableSpec, name: string): string | undefined {
  return t.columns.find((c) => c.name === name)?.sqlType;
}

function newIdxKeys(t: TableSpec): Set<string> {
  return new Set(t.indexes.map((i) => i.key));
}

function createIndex(table: string, ix: IndexSpec) {
  const cols = ix.columns.map((c) => `${q(c)}${ix.opclass ? ` ${ix.opclass}` : ''}`).join(', ');
  return async (s: Sql) => void (await s.query(`create ${ix.unique ? 'unique ' : ''}index on ${q(table)} using ${ix.method} (${cols})`));
}

function addFk(table: string, fk: FkSpec) {
  return async (s: Sql) =>
    void (await s.query(`alter table ${q(table)} add foreign key (${q(fk.column)}) references ${q(fk.refTable)} (id) on delete ${fk.onDelete}`));
}
