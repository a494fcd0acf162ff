// Turns the `values` of a create or update into the complete, checked record: unknown, system and
// computed fields refused, every value checked against its type and rules, defaults applied,
// formulas computed, required / required-if checked where the field is visible. Pure except for
// the clock; existence of referenced ids is checked afterwards against the database (refs).
import { SYSTEM_COLUMNS, type EntityDef, type FieldDef } from '../../shared/definition.ts';
import { evaluateCondition, type EvalContext } from '../../shared/condition-eval.ts';
import type { AppDef } from '../../shared/definition.ts';
import { computeFormulas } from './formula.ts';
import type { EntitySchema } from './schema.ts';
import { COMPUTED_TYPES, INVALID, REF_TYPES, coerceValue, type Issue } from './values.ts';

const SYSTEM = new Set<string>(SYSTEM_COLUMNS);
export const MAX_CHILD_ROWS = 1000;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A referenced id to check: `kind` users / departments / an entity table. */
export interface RefCheck {
  path: string;
  field: FieldDef;
  /** Entity whose field it is (the link target is in the same app). */
  id: string;
}

export interface ChildRow {
  id?: string;
  values: Record<string, unknown>;
  /** Fields whose given value was refused (no second "is required" for them). */
  failed?: Set<string>;
}

export interface Prepared {
  /** The full record after the write: every field (null when empty), child rows included. */
  values: Record<string, unknown>;
  /** Column fields whose value is written (create: all; update: the changed ones, formulas included). */
  columns: string[];
  /** child_table fields given in the input (their rows are replaced). */
  children: Map<string, ChildRow[]>;
  issues: Issue[];
  warnings: Issue[];
  refs: RefCheck[];
}

export interface PrepareInput {
  schema: EntitySchema;
  input: unknown;
  /** Current values (update) or null (create). */
  current: Record<string, unknown> | null;
  evalCtx: EvalContext;
  /** The actor's primary department (department defaults `{"$ctx": "user_departments"}`). */
  primaryDepartmentId?: string | null;
  /** True when the record is submitted: `readOnlyAfterSubmit` fields are refused. */
  submitted?: boolean;
  /** Where problems point, default `values.` (problem paths are `values.<field>`). */
  pathPrefix?: string;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function isEmpty(v: unknown): boolean {
  return v === null || v === undefined || v === '' || (Array.isArray(v) && v.length === 0);
}

function resolveDefault(field: FieldDef, ctx: EvalContext, primaryDepartmentId: string | null | undefined): unknown {
  const d = field.default;
  if (isPlainObject(d) && typeof d.$ctx === 'string') {
    switch (d.$ctx) {
      case 'user':
        return ctx.userId;
      case 'user_departments':
        return field.type === 'department' ? (primaryDepartmentId ?? ctx.departmentIds[0] ?? null) : ctx.departmentIds;
      case 'now':
        return field.type === 'date' ? plantDate(ctx) : ctx.now.toISOString();
      case 'today':
        return plantDate(ctx);
    }
  }
  return d;
}

export function plantDate(ctx: Pick<EvalContext, 'now' | 'timezone'>): string {
  return new Intl.DateTimeFormat('en-CA', { timeZone: ctx.timezone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(ctx.now);
}

function condHolds(cond: NonNullable<FieldDef['visibleIf']>, record: Record<string, unknown>, app: AppDef, entity: EntityDef, ctx: EvalContext, fallback: boolean): boolean {
  try {
    return evaluateCondition(cond, record, { app, entity, ctx });
  } catch {
    return fallback; // a path over links cannot be evaluated here: do not block the save
  }
}

interface Coerced {
  given: Map<string, unknown>;
  children: Map<string, ChildRow[]>;
  /** Keys whose value was refused. */
  failed: Set<string>;
}

/** Checks the keys and values given for one record (parent or child row). */
function coerceGiven(schema: EntitySchema, input: Record<string, unknown>, prefix: string, issues: Issue[], refs: RefCheck[], submitted: boolean, allowId: boolean): Coerced {
  const given = new Map<string, unknown>();
  const children = new Map<string, ChildRow[]>();
  const failed = new Set<string>();
  const unknown: string[] = [];
  for (const [key, raw] of Object.entries(input)) {
    const path = `${prefix}${key}`;
    if (allowId && key === 'id') continue;
    const field = schema.fields.get(key);
    if (field) failed.add(key); // dropped again below once the value is accepted
    if (!field) {
      if (SYSTEM.has(key)) issues.push({ path, message: `"${key}" is a system field: it is set by Trellis and cannot be written` });
      else unknown.push(key);
      continue;
    }
    if (COMPUTED_TYPES.has(field.type)) {
      issues.push({ path, message: `"${key}" is ${field.type === 'formula' ? 'a formula' : 'an auto number'}: it is computed and cannot be written` });
      continue;
    }
    if (submitted && field.readOnlyAfterSubmit) {
      issues.push({ path, message: `"${key}" cannot be changed after the document was submitted` });
      continue;
    }
    if (raw === null || raw === undefined) {
      given.set(key, field.type === 'child_table' ? [] : null);
      if (field.type === 'child_table') children.set(key, []);
      continue;
    }
    if (field.type === 'child_table') {
      const childSchema = schema.children.get(key);
      if (!childSchema) {
        issues.push({ path, message: `the child table "${field.target}" of "${key}" is not published` });
        continue;
      }
      const rows = coerceChildRows(childSchema, raw, `${path}.`, issues, refs, submitted);
      if (rows) {
        children.set(key, rows);
        given.set(key, rows);
      }
      continue;
    }
    const v = coerceValue(field, raw, path, issues);
    if (v === INVALID) continue;
    given.set(key, v);
    if (REF_TYPES.has(field.type)) refs.push({ path, field, id: v as string });
  }
  for (const key of given.keys()) failed.delete(key);
  if (unknown.length) {
    const known = [...schema.fields.values()].filter((f) => !COMPUTED_TYPES.has(f.type)).map((f) => f.name);
    for (const k of unknown) {
      issues.push({ path: `${prefix}${k}`, message: `unknown field "${k.slice(0, 60)}" in ${schema.entity.name}; its fields are: ${known.join(', ')}` });
    }
  }
  return { given, children, failed };
}

function coerceChildRows(schema: EntitySchema, raw: unknown, prefix: string, issues: Issue[], refs: RefCheck[], submitted: boolean): ChildRow[] | null {
  const path = prefix.slice(0, -1);
  if (!Array.isArray(raw)) {
    issues.push({ path, message: 'must be a list of rows, e.g. [{"qty": 1}]' });
    return null;
  }
  if (raw.length > MAX_CHILD_ROWS) {
    issues.push({ path, message: `has ${raw.length} rows; at most ${MAX_CHILD_ROWS} are allowed` });
    return null;
  }
  // Rows with refused values are still completed (to report every problem at once); the caller
  // fails the whole write anyway because `issues` is not empty.
  const rows: ChildRow[] = [];
  const seen = new Set<string>();
  raw.forEach((r, i) => {
    const rp = `${prefix}${i}.`;
    if (!isPlainObject(r)) {
      issues.push({ path: `${prefix}${i}`, message: 'must be an object of field values' });
      rows.push({ values: {}, failed: new Set(schema.fields.keys()) });
      return;
    }
    let id: string | undefined;
    if (r.id !== undefined && r.id !== null) {
      if (typeof r.id !== 'string' || !UUID_RE.test(r.id) || seen.has(r.id.toLowerCase())) {
        issues.push({ path: `${rp}id`, message: 'must be the id of an existing row of this table, once, or left out for a new row' });
      } else {
        id = r.id.toLowerCase();
        seen.add(id);
      }
    }
    const c = coerceGiven(schema, r, rp, issues, refs, submitted, true);
    for (const [k] of c.children) {
      issues.push({ path: `${rp}${k}`, message: 'child tables inside child tables are not supported' });
    }
    rows.push({ ...(id ? { id } : {}), values: Object.fromEntries(c.given), failed: c.failed });
  });
  return rows;
}

/** Fills defaults, computes formulas and checks required fields of one full record in place. */
async function complete(
  schema: EntitySchema,
  values: Record<string, unknown>,
  isNew: boolean,
  given: Set<string>,
  failed: ReadonlySet<string>,
  prefix: string,
  p: PrepareInput,
  issues: Issue[],
  warnings: Issue[],
): Promise<void> {
  const { entity, app } = schema;
  if (isNew) {
    for (const f of entity.fields) {
      if (given.has(f.name) || failed.has(f.name) || f.default === undefined || COMPUTED_TYPES.has(f.type) || f.type === 'child_table') continue;
      const d = resolveDefault(f, p.evalCtx, p.primaryDepartmentId);
      if (d === null || d === undefined) continue;
      const v = coerceValue(f, d, `${prefix}${f.name}`, issues);
      if (v !== INVALID) values[f.name] = v;
    }
  }
  for (const f of entity.fields) if (values[f.name] === undefined) values[f.name] = f.type === 'child_table' ? [] : null;
  // Child rows first: the parent's formulas may sum them.
  for (const [name, child] of schema.children) {
    const rows = values[name];
    if (!Array.isArray(rows)) continue;
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i] as ChildRow | Record<string, unknown>;
      // Rows coming from the input are ChildRow; rows already stored are plain `{id, ...values}`.
      const rv = 'values' in row && isPlainObject(row.values) ? (row.values as Record<string, unknown>) : null;
      if (!rv) continue;
      const rowGiven = new Set(Object.keys(rv));
      await complete(child, rv, true, rowGiven, (row as ChildRow).failed ?? new Set(), `${prefix}${name}.${i}.`, p, issues, warnings);
    }
  }
  const childFields = (f: FieldDef) => schema.children.get(f.name)?.entity.fields;
  const flat: Record<string, unknown> = { ...values };
  for (const name of schema.children.keys()) flat[name] = childRowsFlat(values[name]);
  await computeFormulas(entity.fields, flat, warnings, prefix, childFields);
  for (const f of entity.fields) if (f.type === 'formula') values[f.name] = flat[f.name];
  for (const f of entity.fields) {
    if (COMPUTED_TYPES.has(f.type) || failed.has(f.name)) continue;
    const visible = f.visibleIf ? condHolds(f.visibleIf, flat, app, entity, p.evalCtx, true) : true;
    if (!visible) continue;
    const required = f.required || (f.requiredIf ? condHolds(f.requiredIf, flat, app, entity, p.evalCtx, false) : false);
    if (required && isEmpty(values[f.name])) {
      issues.push({ path: `${prefix}${f.name}`, message: f.type === 'child_table' ? 'needs at least one row' : 'is required' });
    }
    if (f.type === 'child_table' && Array.isArray(values[f.name])) {
      const n = (values[f.name] as unknown[]).length;
      if (f.min !== undefined && n < Number(f.min)) issues.push({ path: `${prefix}${f.name}`, message: `needs at least ${f.min} rows` });
      if (f.max !== undefined && n > Number(f.max)) issues.push({ path: `${prefix}${f.name}`, message: `allows at most ${f.max} rows` });
    }
  }
}

/** Child rows as plain `{id, ...values}` objects (the JSON form). */
export function childRowsFlat(rows: unknown): Array<Record<string, unknown>> {
  if (!Array.isArray(rows)) return [];
  return rows.map((r) => {
    const row = r as ChildRow | Record<string, unknown>;
    if ('values' in row && isPlainObject(row.values)) return { ...(row.id ? { id: row.id } : {}), ...(row.values as Record<string, unknown>) };
    return row as Record<string, unknown>;
  });
}

/** Checks `input` and builds the record after the write. Throws nothing: see `issues`. */
export async function prepareValues(p: PrepareInput): Promise<Prepared> {
  const issues: Issue[] = [];
  const warnings: Issue[] = [];
  const refs: RefCheck[] = [];
  const prefix = p.pathPrefix ?? 'values.';
  if (!isPlainObject(p.input)) {
    issues.push({ path: prefix.slice(0, -1), message: 'must be an object of field values, e.g. {"qty": 1}' });
    return { values: {}, columns: [], children: new Map(), issues, warnings, refs };
  }
  const { given, children, failed } = coerceGiven(p.schema, p.input, prefix, issues, refs, p.submitted ?? false, false);
  const isNew = p.current === null;
  const values: Record<string, unknown> = isNew ? {} : { ...p.current };
  for (const [k, v] of given) values[k] = v;
  await complete(p.schema, values, isNew, new Set(given.keys()), failed, prefix, p, issues, warnings);
  // Rows from the input become flat JSON now that they are complete.
  for (const name of p.schema.children.keys()) {
    const rows = values[name];
    if (children.has(name)) {
      const full = (rows as ChildRow[]).map((r) => ({ ...(r.id ? { id: r.id } : {}), values: r.values }));
      children.set(name, full);
    }
    values[name] = childRowsFlat(rows);
  }
  const columns: string[] = [];
  for (const f of p.schema.entity.fields) {
    if (f.type === 'child_table' || f.type === 'auto_number') continue;
    if (isNew) {
      if (values[f.name] !== null) columns.push(f.name);
    } else if (JSON.stringify(values[f.name] ?? null) !== JSON.stringify(p.current![f.name] ?? null)) {
      columns.push(f.name);
    }
  }
  return { values, columns, children, issues, warnings, refs };
}
