// Checks a structured condition (visible-if, required-if, permission row filters) against the
// entity it is evaluated on: every field path must exist and every operator must make sense for
// the field's type, so a typo is caught when the app is published, not when a user opens a form.
import { ContextRef, type AppDef, type Condition, type ConditionOp, type EntityDef, type FieldDef, type FieldType } from '../../shared/definition.ts';

export type Push = (path: string, message: string) => void;

/** What a condition can be evaluated on: a field's type, or a system column's. */
interface Target {
  type: FieldType | 'uuid';
  field?: FieldDef;
  /** For link-like targets: the entity a further `.` segment resolves in. */
  entity?: EntityDef;
  options?: string[];
}

const SYSTEM_TARGETS: Record<string, Target> = {
  id: { type: 'uuid' },
  name: { type: 'text' },
  status: { type: 'select', options: ['draft', 'submitted', 'cancelled'] },
  version: { type: 'integer' },
  created_by: { type: 'user' },
  updated_by: { type: 'user' },
  created_at: { type: 'datetime' },
  updated_at: { type: 'datetime' },
  submitted_at: { type: 'datetime' },
  cancelled_at: { type: 'datetime' },
  owner_department_id: { type: 'department' },
  amended_from: { type: 'uuid' },
  search_text: { type: 'text' },
};
const CHILD_TARGETS: Record<string, Target> = { parent_id: { type: 'uuid' }, parent_field: { type: 'text' }, idx: { type: 'integer' } };

/** Columns of the users and departments tables a condition may follow into. */
export const USER_PATHS: Record<string, Target> = {
  id: { type: 'uuid' },
  username: { type: 'text' },
  display_name: { type: 'text' },
  email: { type: 'text' },
  phone: { type: 'text' },
  title: { type: 'text' },
  manager_id: { type: 'user' },
  active: { type: 'boolean' },
};
export const DEPARTMENT_PATHS: Record<string, Target> = {
  id: { type: 'uuid' },
  code: { type: 'text' },
  name: { type: 'text' },
  parent_id: { type: 'department' },
  head_user_id: { type: 'user' },
};

const NUMERIC: ReadonlySet<string> = new Set(['integer', 'decimal', 'money', 'percent', 'duration']);
const ORDERED_OPS: ConditionOp[] = ['eq', 'ne', 'lt', 'lte', 'gt', 'gte', 'between', 'in', 'nin', 'empty', 'not_empty'];
const TEXT_OPS: ConditionOp[] = ['eq', 'ne', 'like', 'in', 'nin', 'empty', 'not_empty'];
const CHOICE_OPS: ConditionOp[] = ['eq', 'ne', 'in', 'nin', 'empty', 'not_empty'];
const PRESENCE_OPS: ConditionOp[] = ['empty', 'not_empty'];

function effectiveType(t: Target): string {
  if (t.type === 'formula') return t.field?.resultType ?? 'text';
  return t.type;
}

export function opsFor(t: Target): ConditionOp[] {
  const type = effectiveType(t);
  if (NUMERIC.has(type) || type === 'date' || type === 'datetime') return ORDERED_OPS;
  switch (type) {
    case 'text':
    case 'long_text':
    case 'qr_code':
    case 'auto_number':
    case 'erp_link':
      return TEXT_OPS;
    case 'select':
    case 'user':
    case 'department':
    case 'link':
    case 'uuid':
      return CHOICE_OPS;
    case 'boolean':
      return ['eq', 'ne', 'empty', 'not_empty'];
    case 'multi_select':
      return ['in', 'nin', 'empty', 'not_empty'];
    default:
      return PRESENCE_OPS; // child_table, attachment, image, signature, geolocation
  }
}

const DATE_RE = /^\d{4}-\d{2}-\d{2}$/;
const DATETIME_RE = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/i;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const NUMBER_RE = /^-?\d+(\.\d+)?$/;

export function isValidDate(s: string): boolean {
  if (!DATE_RE.test(s)) return false;
  const d = new Date(`${s}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().startsWith(s);
}

/** Why a single literal does not fit the target, or null when it does. */
function literalProblem(t: Target, v: unknown): string | null {
  const ctx = ContextRef.safeParse(v);
  const type = effectiveType(t);
  if (ctx.success) {
    const want: Record<string, string[]> = {
      user: ['user', 'uuid'],
      user_departments: ['department'],
      now: ['datetime', 'date'],
      today: ['date', 'datetime'],
    };
    return want[ctx.data.$ctx]!.includes(type) ? null : `{"$ctx": "${ctx.data.$ctx}"} does not fit a ${type} field`;
  }
  if (v === null || typeof v === 'object') return `must be a single ${type} value, or {"$ctx": "user" | "user_departments" | "now" | "today"}`;
  if (NUMERIC.has(type)) return typeof v === 'number' ? (Number.isFinite(v) ? null : 'must be a finite number') : typeof v === 'string' && NUMBER_RE.test(v) ? null : 'must be a number (or a decimal string like "12.50")';
  if (type === 'boolean') return typeof v === 'boolean' ? null : 'must be true or false';
  if (type === 'date') return typeof v === 'string' && isValidDate(v) ? null : 'must be a date like "2026-03-31" or {"$ctx": "today"}';
  if (type === 'datetime') return typeof v === 'string' && DATETIME_RE.test(v) ? null : 'must be a date-time like "2026-03-31T08:00:00+08:00" or {"$ctx": "now"}';
  if (type === 'user' || type === 'department' || type === 'link' || type === 'uuid') return typeof v === 'string' && UUID_RE.test(v) ? null : 'must be an id (uuid)';
  if (t.options && typeof v === 'string' && !t.options.includes(v)) return `"${v}" is not one of the options: ${t.options.join(', ')}`;
  if (t.options && typeof v !== 'string') return `must be one of the options: ${t.options.join(', ')}`;
  return typeof v === 'string' || typeof v === 'number' ? null : 'must be a text value';
}

function fieldTarget(app: AppDef, f: FieldDef): Target {
  const entity = f.type === 'link' || f.type === 'child_table' ? app.entities.find((e) => e.name === f.target) : undefined;
  return { type: f.type, field: f, ...(entity ? { entity } : {}), ...(f.options ? { options: f.options.map((o) => o.value) } : {}) };
}

/** Resolves `a.b.c` from `entity`; pushes an error and returns null when it does not resolve. */
export function resolveFieldPath(app: AppDef, entity: EntityDef, fieldPath: string, path: string, push: Push): Target | null {
  const segs = fieldPath.split('.');
  let here: Target | null = null;
  let scope: EntityDef | null = entity;
  let where = `entity "${entity.name}"`;
  for (let i = 0; i < segs.length; i++) {
    const seg = segs[i]!;
    if (i > 0) {
      const prev: Target = here!;
      const t = effectiveType(prev);
      if (t === 'user') {
        here = USER_PATHS[seg] ?? null;
        if (!here) return push(path, `"${segs.slice(0, i + 1).join('.')}": a user has ${Object.keys(USER_PATHS).join(', ')}`), null;
        scope = null;
        continue;
      }
      if (t === 'department') {
        here = DEPARTMENT_PATHS[seg] ?? null;
        if (!here) return push(path, `"${segs.slice(0, i + 1).join('.')}": a department has ${Object.keys(DEPARTMENT_PATHS).join(', ')}`), null;
        scope = null;
        continue;
      }
      if (t === 'erp_link') {
        if (i !== segs.length - 1) return push(path, `"${fieldPath}": an ERP link can be followed one level only (e.g. "material.code")`), null;
        here = { type: 'text' };
        continue;
      }
      if (t !== 'link' || !prev.entity) {
        return push(path, `"${segs.slice(0, i).join('.')}" is a ${t} field: only link, user, department and ERP link fields can be followed with "."`), null;
      }
      scope = prev.entity;
      where = `entity "${scope.name}"`;
    }
    const f: FieldDef | undefined = scope?.fields.find((x) => x.name === seg);
    if (f) here = fieldTarget(app, f);
    else if (scope && (SYSTEM_TARGETS[seg] || (scope.child && CHILD_TARGETS[seg]))) here = SYSTEM_TARGETS[seg] ?? CHILD_TARGETS[seg]!;
    else {
      const names = scope ? scope.fields.map((x) => x.name) : [];
      return push(path, `"${seg}" is not a field of ${where}; its fields are: ${names.join(', ')}`), null;
    }
  }
  return here;
}

export function checkCondition(app: AppDef, entity: EntityDef, cond: Condition, path: string, push: Push, depth = 0): void {
  if (depth > 20) return push(path, 'conditions may be nested at most 20 levels deep');
  if ('and' in cond) return cond.and.forEach((c, i) => checkCondition(app, entity, c, `${path}.and.${i}`, push, depth + 1));
  if ('or' in cond) return cond.or.forEach((c, i) => checkCondition(app, entity, c, `${path}.or.${i}`, push, depth + 1));
  if ('not' in cond) return checkCondition(app, entity, cond.not, `${path}.not`, push, depth + 1);
  const target = resolveFieldPath(app, entity, cond.field, `${path}.field`, push);
  if (!target) return;
  const ops = opsFor(target);
  if (!ops.includes(cond.op)) {
    return push(`${path}.op`, `"${cond.op}" does not apply to "${cond.field}" (a ${effectiveType(target)} field); use one of: ${ops.join(', ')}`);
  }
  const v = cond.value;
  if (cond.op === 'empty' || cond.op === 'not_empty') return;
  if (v === undefined) return push(`${path}.value`, `"${cond.op}" needs a value`);
  if (cond.op === 'between') {
    if (!Array.isArray(v) || v.length !== 2) return push(`${path}.value`, '"between" needs a list of two values [low, high]');
    v.forEach((x, i) => {
      const p = literalProblem(target, x);
      if (p) push(`${path}.value.${i}`, p);
    });
    return;
  }
  if (cond.op === 'in' || cond.op === 'nin') {
    const ctxList = ContextRef.safeParse(v);
    if (ctxList.success && ctxList.data.$ctx === 'user_departments') {
      const p = literalProblem(target, v);
      if (p) push(`${path}.value`, p);
      return;
    }
    if (!Array.isArray(v) || v.length === 0 || v.length > 1000) return push(`${path}.value`, `"${cond.op}" needs a list of 1 to 1000 values`);
    const elem: Target = effectiveType(target) === 'multi_select' ? { type: 'select', ...(target.options ? { options: target.options } : {}) } : target;
    v.forEach((x, i) => {
      const p = literalProblem(elem, x);
      if (p) push(`${path}.value.${i}`, p);
    });
    return;
  }
  if (cond.op === 'like') {
    if (typeof v !== 'string') push(`${path}.value`, '"like" needs a text value to search for');
    return;
  }
  const p = literalProblem(target, v);
  if (p) push(`${path}.value`, p);
}

/** Checks a field default against the field's type. */
export function defaultProblem(f: FieldDef): string | null {
  const v = f.default;
  const opts = f.options?.map((o) => o.value) ?? [];
  const ctx = ContextRef.safeParse(v);
  switch (f.type) {
    case 'text':
    case 'long_text':
    case 'qr_code':
    case 'erp_link':
      if (typeof v !== 'string') return 'must be a text value';
      if (f.maxLength !== undefined && v.length > f.maxLength) return `is longer than maxLength (${f.maxLength})`;
      return null;
    case 'integer':
    case 'duration':
      return (typeof v === 'number' && Number.isSafeInteger(v)) || (typeof v === 'string' && /^-?\d{1,18}$/.test(v)) ? null : 'must be a whole number';
    case 'decimal':
    case 'money':
    case 'percent':
      return (typeof v === 'number' && Number.isFinite(v)) || (typeof v === 'string' && NUMBER_RE.test(v)) ? null : 'must be a number or a decimal string like "0.00"';
    case 'boolean':
      return typeof v === 'boolean' ? null : 'must be true or false';
    case 'date':
      if (ctx.success) return ctx.data.$ctx === 'today' ? null : 'a date default may be {"$ctx": "today"}';
      return typeof v === 'string' && isValidDate(v) ? null : 'must be a date like "2026-03-31" or {"$ctx": "today"}';
    case 'datetime':
      if (ctx.success) return ctx.data.$ctx === 'now' ? null : 'a date-time default may be {"$ctx": "now"}';
      return typeof v === 'string' && DATETIME_RE.test(v) ? null : 'must be an ISO date-time or {"$ctx": "now"}';
    case 'select':
      return typeof v === 'string' && opts.includes(v) ? null : `must be one of the options: ${opts.join(', ')}`;
    case 'multi_select':
      return Array.isArray(v) && v.every((x) => typeof x === 'string' && opts.includes(x)) ? null : `must be a list of options from: ${opts.join(', ')}`;
    case 'user':
      if (ctx.success) return ctx.data.$ctx === 'user' ? null : 'a user default may be {"$ctx": "user"} (the person filling in the form)';
      return typeof v === 'string' && UUID_RE.test(v) ? null : 'must be a user id or {"$ctx": "user"}';
    case 'department':
      if (ctx.success) return ctx.data.$ctx === 'user_departments' ? null : 'a department default may be {"$ctx": "user_departments"} (the user\'s primary department)';
      return typeof v === 'string' && UUID_RE.test(v) ? null : 'must be a department id or {"$ctx": "user_departments"}';
    case 'link':
      return typeof v === 'string' && UUID_RE.test(v) ? null : 'must be the id (uuid) of a record';
    default:
      return `a ${f.type} field cannot have a default`;
  }
}
