// The Condition language: one analyser, two back ends. `analyzeCondition` checks a condition
// against an entity definition (fields, paths over links, op/type fit, value types, limits) and
// turns it into a normalised tree whose values are already typed and whose `$ctx` references are
// resolved. `evaluateCondition` (here, the reference) and the SQL compiler
// (src/server/records/query) both interpret that tree, so the two cannot drift apart in what
// they accept; a property test checks they agree on what they match.
//
// Browser-safe: no Node imports. Semantics are documented in src/server/records/query/index.ts
// and docs/decisions/0005-filter-language-and-permissions.md.
import { SYSTEM_COLUMNS, type AppDef, type Condition, type ConditionOp, type EntityDef, type FieldDef } from './definition.ts';

/** The situation a condition is evaluated in. */
export interface EvalContext {
  userId: string;
  departmentIds: string[];
  now: Date;
  /** IANA time zone of the plant, e.g. Asia/Shanghai (for `$ctx: today`). */
  timezone: string;
}

/** Where a condition is evaluated: the entity whose records it tests. QueryScope satisfies it. */
export interface EvalScope {
  app: AppDef;
  entity: EntityDef;
  ctx: EvalContext;
}

export type LinkTarget = { kind: 'entity'; entity: EntityDef } | { kind: 'users' } | { kind: 'departments' };
/** Looks up a linked record by id (null/undefined = no such record). Needed only for paths. */
export type LinkResolver = (target: LinkTarget, id: string) => Record<string, unknown> | null | undefined;

export interface ConditionProblem {
  path: string;
  message: string;
}

/** An invalid condition: every problem with its exact path (`filter.and.1.value`). */
export class ConditionError extends Error {
  readonly errors: ConditionProblem[];
  constructor(errors: ConditionProblem[]) {
    super(errors.map((e) => `${e.path}: ${e.message}`).join('; '));
    this.name = 'ConditionError';
    this.errors = errors;
  }
}

// ---------------------------------------------------------------------------------------------
// Column kinds

/** How a column compares. */
export type Kind = 'text' | 'integer' | 'decimal' | 'date' | 'datetime' | 'boolean' | 'uuid' | 'multi' | 'json';

/** PostgreSQL type used for casts of parameters compared with a column of this kind. */
export const SQL_TYPE: Record<Kind, string> = {
  text: 'text',
  integer: 'bigint',
  decimal: 'numeric',
  date: 'date',
  datetime: 'timestamptz',
  boolean: 'boolean',
  uuid: 'uuid',
  multi: 'text[]',
  json: 'jsonb',
};

export interface ColumnInfo {
  name: string;
  kind: Kind;
  /** For uuid columns that point at a record: where a path may continue. */
  target?: LinkTarget;
  /** Human label for messages. */
  label: string;
}

/** The comparison kind of a field's column; null when the field has no column (child_table). */
export function fieldKind(f: Pick<FieldDef, 'type' | 'resultType'>): Kind | null {
  switch (f.type) {
    case 'text':
    case 'long_text':
    case 'select':
    case 'qr_code':
    case 'auto_number':
    case 'erp_link':
      return 'text';
    case 'integer':
    case 'duration':
      return 'integer';
    case 'decimal':
    case 'money':
    case 'percent':
      return 'decimal';
    case 'date':
      return 'date';
    case 'datetime':
      return 'datetime';
    case 'boolean':
      return 'boolean';
    case 'user':
    case 'department':
    case 'link':
      return 'uuid';
    case 'multi_select':
      return 'multi';
    case 'attachment':
    case 'image':
    case 'signature':
    case 'geolocation':
      return 'json';
    case 'formula':
      switch (f.resultType ?? 'text') {
        case 'integer':
          return 'integer';
        case 'decimal':
        case 'money':
          return 'decimal';
        case 'boolean':
          return 'boolean';
        case 'date':
          return 'date';
        case 'datetime':
          return 'datetime';
        default:
          return 'text';
      }
    case 'child_table':
      return null;
  }
}

const SYSTEM_KIND: Record<(typeof SYSTEM_COLUMNS)[number], Kind> = {
  id: 'uuid',
  name: 'text',
  status: 'text',
  version: 'integer',
  created_by: 'uuid',
  created_at: 'datetime',
  updated_by: 'uuid',
  updated_at: 'datetime',
  owner_department_id: 'uuid',
  amended_from: 'uuid',
  submitted_at: 'datetime',
  cancelled_at: 'datetime',
  parent_id: 'uuid',
  parent_field: 'text',
  idx: 'integer',
  search_text: 'text',
};

const USERS_COLUMNS: Record<string, Kind> = { id: 'uuid', username: 'text', display_name: 'text' };
const DEPARTMENTS_COLUMNS: Record<string, Kind> = { id: 'uuid', name: 'text', code: 'text' };

export function targetLabel(t: LinkTarget): string {
  if (t.kind === 'users') return 'users';
  if (t.kind === 'departments') return 'departments';
  return `${t.entity.label.zh} (${t.entity.name})`;
}

/** A column of `target` by name: entity fields and system columns, or the readable columns of users/departments. */
export function lookupColumn(app: AppDef, target: LinkTarget, name: string): ColumnInfo | null {
  if (target.kind === 'users' || target.kind === 'departments') {
    const cols = target.kind === 'users' ? USERS_COLUMNS : DEPARTMENTS_COLUMNS;
    return Object.hasOwn(cols, name) ? { name, kind: cols[name]!, label: `${target.kind}.${name}` } : null;
  }
  const entity = target.entity;
  if (Object.hasOwn(SYSTEM_KIND, name)) {
    const kind = SYSTEM_KIND[name as keyof typeof SYSTEM_KIND];
    const col: ColumnInfo = { name, kind, label: name };
    if (name === 'created_by' || name === 'updated_by') col.target = { kind: 'users' };
    if (name === 'owner_department_id') col.target = { kind: 'departments' };
    if (name === 'amended_from') col.target = { kind: 'entity', entity };
    return col;
  }
  const f = entity.fields.find((x) => x.name === name);
  if (!f) return null;
  const kind = fieldKind(f);
  if (!kind) return null;
  const col: ColumnInfo = { name, kind, label: `${f.label.zh} (${f.name})` };
  if (f.type === 'user') col.target = { kind: 'users' };
  if (f.type === 'department') col.target = { kind: 'departments' };
  if (f.type === 'link') {
    const te = app.entities.find((e) => e.name === f.target);
    if (te) col.target = { kind: 'entity', entity: te };
  }
  return col;
}

function knownColumns(target: LinkTarget): string[] {
  if (target.kind === 'users') return Object.keys(USERS_COLUMNS);
  if (target.kind === 'departments') return Object.keys(DEPARTMENTS_COLUMNS);
  return [...target.entity.fields.filter((f) => fieldKind(f) !== null).map((f) => f.name), ...SYSTEM_COLUMNS.filter((c) => c !== 'search_text')];
}

// ---------------------------------------------------------------------------------------------
// Normalised tree

/** A typed literal: text/date/uuid/decimal(canonical) → string, integer → bigint, datetime → epoch ms, boolean. */
export type Lit = string | bigint | number | boolean;

export type NormCond =
  | { t: 'and' | 'or'; items: NormCond[] }
  | { t: 'not'; item: NormCond }
  /** Holds when the record linked through `via` exists (and may be read) and `inner` holds on it. */
  | { t: 'path'; via: ColumnInfo; target: LinkTarget; inner: NormCond }
  | { t: 'leaf'; col: ColumnInfo; op: ConditionOp; value: NormValue };

/**
 * eq/ne: a literal or null (multi_select: a list, "contains any"); lt/lte/gt/gte/like: a literal;
 * in/nin: a list; between: [low, high]; empty/not_empty: undefined.
 */
export type NormValue = Lit | null | Lit[] | undefined;

export const OPS_BY_KIND: Record<Kind, readonly ConditionOp[]> = {
  text: ['eq', 'ne', 'lt', 'lte', 'gt', 'gte', 'like', 'in', 'nin', 'between', 'empty', 'not_empty'],
  integer: ['eq', 'ne', 'lt', 'lte', 'gt', 'gte', 'in', 'nin', 'between', 'empty', 'not_empty'],
  decimal: ['eq', 'ne', 'lt', 'lte', 'gt', 'gte', 'in', 'nin', 'between', 'empty', 'not_empty'],
  date: ['eq', 'ne', 'lt', 'lte', 'gt', 'gte', 'in', 'nin', 'between', 'empty', 'not_empty'],
  datetime: ['eq', 'ne', 'lt', 'lte', 'gt', 'gte', 'in', 'nin', 'between', 'empty', 'not_empty'],
  boolean: ['eq', 'ne', 'in', 'nin', 'empty', 'not_empty'],
  uuid: ['eq', 'ne', 'in', 'nin', 'empty', 'not_empty'],
  multi: ['eq', 'ne', 'in', 'nin', 'empty', 'not_empty'],
  json: ['empty', 'not_empty'],
};

const ALL_OPS = new Set<string>(OPS_BY_KIND.text);

export const CONDITION_LIMITS = { itemsPerLevel: 50, depth: 10, nodes: 500, listValues: 1000, textLength: 10_000 } as const;

const FIELD_PATH_RE = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){0,3}$/;

export interface AnalyzeOptions {
  /** Prefix of error paths, e.g. `filter`. */
  path?: string;
  /** When given, fields for which it returns false are treated as unknown (hidden fields cannot be probed). */
  canRead?: (target: LinkTarget, column: string) => boolean;
}

/** Checks and normalises a condition (see the file header). Throws ConditionError listing every problem. */
export function analyzeCondition(cond: unknown, scope: EvalScope, opts: AnalyzeOptions = {}): NormCond {
  const errors: ConditionProblem[] = [];
  let nodes = 0;
  const self: LinkTarget = { kind: 'entity', entity: scope.entity };

  const walk = (c: unknown, path: string, depth: number): NormCond | null => {
    nodes++;
    if (nodes > CONDITION_LIMITS.nodes) {
      if (nodes === CONDITION_LIMITS.nodes + 1) errors.push({ path, message: `a condition may have at most ${CONDITION_LIMITS.nodes} parts; simplify it` });
      return null;
    }
    if (depth > CONDITION_LIMITS.depth) {
      errors.push({ path, message: `conditions may be nested at most ${CONDITION_LIMITS.depth} levels deep; simplify it` });
      return null;
    }
    if (typeof c !== 'object' || c === null || Array.isArray(c)) {
      errors.push({ path, message: 'expected a condition object: {"field", "op", "value"}, {"and": [...]}, {"or": [...]} or {"not": {...}}' });
      return null;
    }
    const o = c as Record<string, unknown>;
    const keys = Object.keys(o);
    if (keys.length === 1 && (keys[0] === 'and' || keys[0] === 'or')) {
      const k = keys[0];
      const list = o[k];
      if (!Array.isArray(list) || list.length === 0) {
        errors.push({ path: `${path}.${k}`, message: `"${k}" needs a non-empty list of conditions` });
        return null;
      }
      if (list.length > CONDITION_LIMITS.itemsPerLevel) {
        errors.push({ path: `${path}.${k}`, message: `"${k}" may combine at most ${CONDITION_LIMITS.itemsPerLevel} conditions; group them or use "in"` });
        return null;
      }
      const items = list.map((x, i) => walk(x, `${path}.${k}.${i}`, depth + 1));
      return items.every((x): x is NormCond => x !== null) ? { t: k, items } : null;
    }
    if (keys.length === 1 && keys[0] === 'not') {
      const item = walk(o.not, `${path}.not`, depth + 1);
      return item ? { t: 'not', item } : null;
    }
    if (!('field' in o) || !('op' in o)) {
      errors.push({ path, message: 'expected a condition object: {"field", "op", "value"}, {"and": [...]}, {"or": [...]} or {"not": {...}}' });
      return null;
    }
    const extra = keys.filter((k) => k !== 'field' && k !== 'op' && k !== 'value');
    if (extra.length) {
      errors.push({ path: `${path}.${extra[0]}`, message: `unknown key "${extra[0]}"; a condition has only "field", "op" and "value"` });
      return null;
    }
    return leaf(o, path);
  };

  const leaf = (o: Record<string, unknown>, path: string): NormCond | null => {
    const field = o.field;
    if (typeof field !== 'string' || !FIELD_PATH_RE.test(field)) {
      errors.push({ path: `${path}.field`, message: 'must be a field name or a path over link fields like "supplier.name"' });
      return null;
    }
    const op = o.op;
    if (typeof op !== 'string' || !ALL_OPS.has(op)) {
      errors.push({ path: `${path}.op`, message: `unknown operator; use one of: ${[...ALL_OPS].join(', ')}` });
      return null;
    }
    // resolve the path
    const segs = field.split('.');
    const hops: Array<{ via: ColumnInfo; target: LinkTarget }> = [];
    let here: LinkTarget = self;
    let col: ColumnInfo | null = null;
    for (let i = 0; i < segs.length; i++) {
      const seg = segs[i]!;
      const c = lookupColumn(scope.app, here, seg);
      const hidden = c && opts.canRead ? !opts.canRead(here, seg) : false;
      if (!c || hidden || (seg === 'search_text' && here.kind === 'entity')) {
        const known = knownColumns(here).filter((n) => !opts.canRead || opts.canRead(here, n));
        errors.push({
          path: `${path}.field`,
          message: `unknown field "${seg}" on ${targetLabel(here)}; known fields: ${known.slice(0, 40).join(', ')}${known.length > 40 ? ', …' : ''}`,
        });
        return null;
      }
      if (i < segs.length - 1) {
        if (!c.target) {
          errors.push({ path: `${path}.field`, message: `"${seg}" is not a link, user or department field, so "${segs.slice(0, i + 2).join('.')}" cannot follow it` });
          return null;
        }
        hops.push({ via: c, target: c.target });
        here = c.target;
      } else col = c;
    }
    const value = normValue(col!, op as ConditionOp, o.value, `${path}.value`, 'value' in o);
    if (value === INVALID) return null;
    let node: NormCond = { t: 'leaf', col: col!, op: op as ConditionOp, value };
    for (let i = hops.length - 1; i >= 0; i--) node = { t: 'path', via: hops[i]!.via, target: hops[i]!.target, inner: node };
    return node;
  };

  const normValue = (col: ColumnInfo, op: ConditionOp, v: unknown, path: string, present: boolean): NormValue | typeof INVALID => {
    const kind = col.kind;
    if (!OPS_BY_KIND[kind].includes(op)) {
      errors.push({
        path: path.replace(/\.value$/, '.op'),
        message: `"${op}" does not apply to ${kindWords(kind)} field "${col.label}"; use one of: ${OPS_BY_KIND[kind].join(', ')}`,
      });
      return INVALID;
    }
    const bad = (message: string): typeof INVALID => {
      errors.push({ path, message });
      return INVALID;
    };
    switch (op) {
      case 'empty':
      case 'not_empty':
        return undefined;
      case 'eq':
      case 'ne':
        if (!present) return bad(`"${op}" needs a value (use "empty" to test for no value)`);
        if (v === null) return null;
        if (kind === 'multi') {
          if (Array.isArray(v)) return list(col, v, path, bad);
          const one = lit(col, v, path);
          return one === INVALID ? INVALID : [one];
        }
        return lit(col, v, path);
      case 'in':
      case 'nin':
        return list(col, v, path, bad);
      case 'between': {
        if (!Array.isArray(v) || v.length !== 2) return bad('"between" needs a list of two values [low, high] (both included)');
        const lo = lit(col, v[0], `${path}.0`);
        const hi = lit(col, v[1], `${path}.1`);
        return lo === INVALID || hi === INVALID ? INVALID : [lo, hi];
      }
      case 'like':
        if (typeof v !== 'string') return bad('"like" needs the text to look for (it matches records that contain it; no wildcards)');
        return text(v, bad);
      default:
        if (v === null || v === undefined) return bad(`"${op}" needs a value to compare with`);
        return lit(col, v, path);
    }
  };

  const list = (col: ColumnInfo, v: unknown, path: string, bad: (m: string) => typeof INVALID): Lit[] | typeof INVALID => {
    if (isCtx(v) && v.$ctx === 'user_departments') {
      if (col.kind !== 'uuid') return bad(`{"$ctx": "user_departments"} is a list of department ids; it only fits department fields`);
      return scope.ctx.departmentIds.map((d) => d.toLowerCase());
    }
    if (!Array.isArray(v)) return bad('needs a list of values, e.g. ["A", "B"]');
    if (v.length > CONDITION_LIMITS.listValues) return bad(`a list may hold at most ${CONDITION_LIMITS.listValues} values`);
    const out: Lit[] = [];
    let ok = true;
    v.forEach((x, i) => {
      const l = lit(col, x, `${path}.${i}`);
      if (l === INVALID) ok = false;
      else out.push(l);
    });
    return ok ? out : INVALID;
  };

  const lit = (col: ColumnInfo, v: unknown, path: string): Lit | typeof INVALID => {
    const bad = (m: string): typeof INVALID => {
      errors.push({ path, message: m });
      return INVALID;
    };
    const kind = col.kind;
    if (v === null || v === undefined) return bad(`a value is required here (use "empty" / "not_empty" to test for no value)`);
    if (isCtx(v)) return ctxLit(kind, v.$ctx, bad);
    if (typeof v === 'object' && !(v instanceof Date) && v !== null && '$ctx' in v)
      return bad('unknown context value; use {"$ctx": "user"}, {"$ctx": "user_departments"}, {"$ctx": "now"} or {"$ctx": "today"}');
    const shown = describe(v);
    switch (kind) {
      case 'text':
      case 'multi':
        return typeof v === 'string' ? text(v, bad) : bad(`${shown} is not text; put the value in quotes`);
      case 'integer': {
        const n = parseInteger(v);
        return n === null ? bad(`${shown} is not a whole number; "${col.label}" needs an integer like 42`) : n;
      }
      case 'decimal': {
        const d = typeof v === 'number' || typeof v === 'string' ? canonDecimal(typeof v === 'number' ? numberToDecimalString(v) : v.trim()) : null;
        return d === null ? bad(`${shown} is not a number; "${col.label}" needs a decimal like "12.50"`) : d;
      }
      case 'date': {
        const d = typeof v === 'string' ? parseDate(v) : null;
        return d === null ? bad(`${shown} is not a valid date; use YYYY-MM-DD, e.g. 2024-05-01`) : d;
      }
      case 'datetime': {
        const ms = v instanceof Date ? (Number.isNaN(v.getTime()) ? null : v.getTime()) : typeof v === 'string' ? parseDateTime(v) : null;
        return ms === null || !inDateTimeRange(ms)
          ? bad(`${shown} is not a valid date-time; use ISO 8601 with a time zone, e.g. 2024-05-01T08:00:00+08:00`)
          : ms;
      }
      case 'boolean':
        return typeof v === 'boolean' ? v : bad(`${shown} is not true or false`);
      case 'uuid':
        return typeof v === 'string' && UUID_RE.test(v) ? v.toLowerCase() : bad(`${shown} is not a record id (a UUID like 3f2b8c1e-…)`);
      case 'json':
        return bad('JSON fields can only be tested with "empty" / "not_empty"');
    }
  };

  const text = (s: string, bad: (m: string) => typeof INVALID): string | typeof INVALID => {
    if (s.length > CONDITION_LIMITS.textLength) return bad(`text values may be at most ${CONDITION_LIMITS.textLength} characters`);
    if (!s.isWellFormed() || s.includes('\u0000')) return bad('the text contains characters that cannot be stored (NUL or a broken surrogate pair)');
    return s;
  };

  const ctxLit = (kind: Kind, which: ContextName, bad: (m: string) => typeof INVALID): Lit | typeof INVALID => {
    const ctx = scope.ctx;
    switch (which) {
      case 'user':
        return kind === 'uuid' ? ctx.userId.toLowerCase() : bad('{"$ctx": "user"} is the current user id; it only fits user fields such as created_by');
      case 'user_departments':
        return bad('{"$ctx": "user_departments"} is a list of department ids; use it with "in" or "nin"');
      case 'now':
        if (kind === 'datetime') return ctx.now.getTime();
        if (kind === 'date') return plantDate(ctx.now, ctx.timezone);
        return bad('{"$ctx": "now"} is a date-time; it only fits date and date-time fields');
      case 'today':
        if (kind === 'date') return plantDate(ctx.now, ctx.timezone);
        if (kind === 'datetime') return startOfPlantDay(plantDate(ctx.now, ctx.timezone), ctx.timezone);
        return bad('{"$ctx": "today"} is a date; it only fits date and date-time fields');
    }
  };

  const root = walk(cond, opts.path ?? 'filter', 1);
  if (errors.length || !root) throw new ConditionError(errors.length ? errors : [{ path: opts.path ?? 'filter', message: 'invalid condition' }]);
  return root;
}

const INVALID: unique symbol = Symbol('invalid');
type ContextName = 'user' | 'user_departments' | 'now' | 'today';
const CTX_NAMES = new Set<string>(['user', 'user_departments', 'now', 'today']);

function isCtx(v: unknown): v is { $ctx: ContextName } {
  return (
    typeof v === 'object' &&
    v !== null &&
    !Array.isArray(v) &&
    Object.keys(v).length === 1 &&
    typeof (v as { $ctx?: unknown }).$ctx === 'string' &&
    CTX_NAMES.has((v as { $ctx: string }).$ctx)
  );
}

function kindWords(k: Kind): string {
  return { text: 'a text', integer: 'an integer', decimal: 'a decimal', date: 'a date', datetime: 'a date-time', boolean: 'a yes/no', uuid: 'a reference', multi: 'a multi-select', json: 'a JSON' }[k];
}

function describe(v: unknown): string {
  try {
    const s = v instanceof Date ? v.toISOString() : JSON.stringify(v);
    return s === undefined ? String(v) : s.length > 60 ? `${s.slice(0, 57)}…` : s;
  } catch {
    return String(v);
  }
}

// ---------------------------------------------------------------------------------------------
// Values

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** A 64-bit integer from a safe JS integer or a string of digits; null otherwise. */
export function parseInteger(v: unknown): bigint | null {
  let n: bigint;
  if (typeof v === 'bigint') n = v;
  else if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) return null;
    n = BigInt(v);
  } else if (typeof v === 'string' && /^[+-]?\d{1,19}$/.test(v.trim())) n = BigInt(v.trim());
  else return null;
  return n >= INT64_MIN && n <= INT64_MAX ? n : null;
}

const DEC_RE = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d{1,4}))?$/;

/** Shortest exact decimal text of a finite JS number (`1e-7` → "0.0000001"); '' for NaN/Infinity. */
function numberToDecimalString(n: number): string {
  return Number.isFinite(n) ? String(n) : '';
}

/**
 * Canonical decimal text: no exponent, no leading zeros, no trailing fractional zeros, "-0" → "0".
 * Null when `s` is not a decimal number (or is absurdly long: > 100 characters, |exponent| > 300).
 */
export function canonDecimal(s: string): string | null {
  if (s.length > 100) return null;
  const m = DEC_RE.exec(s);
  if (!m) return null;
  const int = m[2] ?? '';
  const frac = m[3] ?? '';
  if (int === '' && frac === '') return null;
  const exp = m[4] ? Number(m[4]) : 0;
  if (Math.abs(exp) > 300) return null;
  const digits = int + frac;
  const point = int.length + exp;
  let ip: string;
  let fp: string;
  if (point <= 0) {
    ip = '';
    fp = '0'.repeat(-point) + digits;
  } else if (point >= digits.length) {
    ip = digits + '0'.repeat(point - digits.length);
    fp = '';
  } else {
    ip = digits.slice(0, point);
    fp = digits.slice(point);
  }
  ip = ip.replace(/^0+/, '') || '0';
  fp = fp.replace(/0+$/, '');
  if (ip === '0' && fp === '') return '0';
  return (m[1] === '-' ? '-' : '') + ip + (fp ? `.${fp}` : '');
}

/** Exact comparison of two canonical decimals (from canonDecimal). */
export function compareDecimal(a: string, b: string): number {
  const na = a.startsWith('-');
  const nb = b.startsWith('-');
  if (na !== nb) return na ? -1 : 1;
  const mag = compareMagnitude(na ? a.slice(1) : a, nb ? b.slice(1) : b);
  return na ? -mag : mag;
}

function compareMagnitude(a: string, b: string): number {
  const [ai = '', af = ''] = a.split('.');
  const [bi = '', bf = ''] = b.split('.');
  if (ai.length !== bi.length) return ai.length < bi.length ? -1 : 1;
  if (ai !== bi) return ai < bi ? -1 : 1;
  const n = Math.max(af.length, bf.length);
  const x = af.padEnd(n, '0');
  const y = bf.padEnd(n, '0');
  return x === y ? 0 : x < y ? -1 : 1;
}

/** Order of two strings by Unicode code point (what PostgreSQL's `COLLATE "C"` does on UTF-8). */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // surrogates (U+D800–DFFF) encode code points above U+FFFF: they sort after U+E000–FFFF
    const hx = x >= 0xd800 && x <= 0xdfff;
    const hy = y >= 0xd800 && y <= 0xdfff;
    if (hx !== hy) return hx ? 1 : -1;
    return x < y ? -1 : 1;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

/** ASCII-only lower case: the case folding of `like` (same as PostgreSQL ILIKE under COLLATE "C"). */
export function asciiLower(s: string): string {
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

/** 'YYYY-MM-DD' when it is a real calendar date (years 0001-9999); null otherwise. */
export function parseDate(s: string): string | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (!m) return null;
  const y = Number(m[1]);
  const mo = Number(m[2]);
  const d = Number(m[3]);
  if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo)) return null;
  return s;
}

function daysInMonth(y: number, m: number): number {
  return [31, (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0 ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1]!;
}

function utcMs(y: number, mo: number, d: number, h = 0, mi = 0, s = 0, ms = 0): number {
  const t = new Date(0);
  t.setUTCFullYear(y, mo - 1, d);
  t.setUTCHours(h, mi, s, ms);
  return t.getTime();
}

const DATETIME_RE = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(Z|[+-]\d{2}(?::?\d{2})?)$/i;
const MIN_MS = utcMs(1, 1, 2);
const MAX_MS = utcMs(9999, 12, 30);

function inDateTimeRange(ms: number): boolean {
  return ms >= MIN_MS && ms <= MAX_MS;
}

/** Epoch milliseconds of an ISO 8601 date-time with a zone (fractions beyond ms are cut); null otherwise. */
export function parseDateTime(s: string): number | null {
  const m = DATETIME_RE.exec(s.trim());
  if (!m) return null;
  const [y, mo, d, h, mi] = [m[1], m[2], m[3], m[4], m[5]].map(Number) as [number, number, number, number, number];
  const sec = m[6] ? Number(m[6]) : 0;
  const ms = m[7] ? Number(m[7].slice(0, 3).padEnd(3, '0')) : 0;
  if (!parseDate(`${m[1]}-${m[2]}-${m[3]}`) || h > 23 || mi > 59 || sec > 59) return null;
  let offset = 0;
  const z = m[8]!;
  if (z.toUpperCase() !== 'Z') {
    const digits = z.slice(1).replace(':', '');
    const oh = Number(digits.slice(0, 2));
    const om = digits.length > 2 ? Number(digits.slice(2, 4)) : 0;
    if (oh > 18 || om > 59) return null;
    offset = (oh * 60 + om) * (z[0] === '-' ? -1 : 1);
  }
  return utcMs(y, mo, d, h, mi, sec, ms) - offset * 60_000;
}

const dtfCache = new Map<string, Intl.DateTimeFormat>();
function zoneParts(ms: number, timezone: string): Record<string, number> {
  let f = dtfCache.get(timezone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: timezone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      era: 'short',
    });
    dtfCache.set(timezone, f);
  }
  const out: Record<string, number> = {};
  let bc = false;
  for (const p of f.formatToParts(new Date(ms))) {
    if (p.type === 'era') bc = p.value.startsWith('B');
    else if (p.type !== 'literal') out[p.type] = Number(p.value);
  }
  if (bc) out.year = 1 - out.year!;
  return out;
}

/** The calendar date ('YYYY-MM-DD') of an instant in the plant's time zone. */
export function plantDate(now: Date, timezone: string): string {
  const p = zoneParts(now.getTime(), timezone);
  return `${String(p.year).padStart(4, '0')}-${String(p.month).padStart(2, '0')}-${String(p.day).padStart(2, '0')}`;
}

function zoneOffsetMs(ms: number, timezone: string): number {
  const p = zoneParts(ms, timezone);
  return utcMs(p.year!, p.month!, p.day!, p.hour!, p.minute!, p.second!) - (ms - (((ms % 1000) + 1000) % 1000));
}

/** Epoch ms of the first instant of `date` in the plant's time zone. */
export function startOfPlantDay(date: string, timezone: string): number {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  const guess = utcMs(y, m, d);
  const o1 = zoneOffsetMs(guess, timezone);
  let t = guess - o1;
  const o2 = zoneOffsetMs(t, timezone);
  if (o2 !== o1) t = guess - o2;
  // midnight may not exist (a DST jump at 00:00): the day then starts at the jump
  if (plantDate(new Date(t), timezone) !== date) t = guess - o1;
  return t;
}

// ---------------------------------------------------------------------------------------------
// Reading record values (what the database driver or a form gives) as typed literals

/** A record's column value as a literal of `kind`; null when absent (or unreadable as that kind). */
export function readValue(kind: Kind, raw: unknown): Lit | Lit[] | null | 'present' {
  if (raw === null || raw === undefined) return null;
  switch (kind) {
    case 'text':
      return typeof raw === 'string' ? raw : typeof raw === 'number' || typeof raw === 'boolean' || typeof raw === 'bigint' ? String(raw) : null;
    case 'integer':
      return parseInteger(raw);
    case 'decimal':
      return typeof raw === 'number' ? canonDecimal(numberToDecimalString(raw)) : typeof raw === 'string' ? canonDecimal(raw.trim()) : null;
    case 'date':
      if (raw instanceof Date) return Number.isNaN(raw.getTime()) ? null : raw.toISOString().slice(0, 10);
      return typeof raw === 'string' ? parseDate(raw.slice(0, 10)) : null;
    case 'datetime':
      if (raw instanceof Date) return Number.isNaN(raw.getTime()) ? null : raw.getTime();
      if (typeof raw === 'number') return raw;
      if (typeof raw === 'string') {
        const ms = parseDateTime(raw);
        return ms ?? (Number.isNaN(Date.parse(raw)) ? null : Date.parse(raw));
      }
      return null;
    case 'boolean':
      return typeof raw === 'boolean' ? raw : null;
    case 'uuid':
      return typeof raw === 'string' ? raw.toLowerCase() : null;
    case 'multi':
      return Array.isArray(raw) ? raw.filter((x): x is string => typeof x === 'string') : null;
    case 'json':
      if (Array.isArray(raw)) return raw.length ? 'present' : null;
      if (typeof raw === 'object') return Object.keys(raw).length ? 'present' : null;
      return 'present';
  }
}

/** Compares two literals of the same kind. */
export function compareLit(kind: Kind, a: Lit, b: Lit): number {
  switch (kind) {
    case 'text':
    case 'multi':
      return compareCodePoints(a as string, b as string);
    case 'decimal':
      return compareDecimal(a as string, b as string);
    case 'integer':
      return (a as bigint) < (b as bigint) ? -1 : (a as bigint) > (b as bigint) ? 1 : 0;
    case 'datetime':
      return (a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0;
    case 'boolean':
      return a === b ? 0 : a ? 1 : -1;
    default:
      return a === b ? 0 : (a as string) < (b as string) ? -1 : 1;
  }
}

// ---------------------------------------------------------------------------------------------
// The reference evaluator

/**
 * Evaluates `cond` against `record` (a row of `scope.entity`: column name → value, as the database
 * driver or a form gives them) with exactly the semantics of the SQL compiler. Paths over links
 * need `resolve`. Throws ConditionError on an invalid condition.
 */
export function evaluateCondition(cond: Condition, record: Record<string, unknown>, scope: EvalScope, resolve?: LinkResolver): boolean {
  return evaluateNorm(analyzeCondition(cond, scope, { path: 'condition' }), record, resolve);
}

/** Evaluates an analysed condition (analyse once, evaluate over many records). */
export function evaluateNorm(n: NormCond, record: Record<string, unknown>, resolve?: LinkResolver): boolean {
  switch (n.t) {
    case 'and':
      return n.items.every((x) => evaluateNorm(x, record, resolve));
    case 'or':
      return n.items.some((x) => evaluateNorm(x, record, resolve));
    case 'not':
      return !evaluateNorm(n.item, record, resolve);
    case 'path': {
      const id = readValue('uuid', record[n.via.name]);
      if (typeof id !== 'string') return false;
      if (!resolve) throw new Error(`The condition follows "${n.via.name}" to a linked record: pass a resolver to evaluateCondition`);
      const linked = resolve(n.target, id);
      return linked ? evaluateNorm(n.inner, linked, resolve) : false;
    }
    case 'leaf':
      return evaluateLeaf(n.col.kind, n.op, n.value, readValue(n.col.kind, record[n.col.name]));
  }
}

function isEmpty(kind: Kind, v: Lit | Lit[] | null | 'present'): boolean {
  if (v === null) return true;
  if (kind === 'text') return v === '';
  if (kind === 'multi') return (v as Lit[]).length === 0;
  return false;
}

function evaluateLeaf(kind: Kind, op: ConditionOp, value: NormValue, v: Lit | Lit[] | null | 'present'): boolean {
  if (op === 'empty') return isEmpty(kind, v);
  if (op === 'not_empty') return !isEmpty(kind, v);
  if (kind === 'multi') {
    if (op === 'eq' && value === null) return v === null;
    if (op === 'ne' && value === null) return v !== null;
    const any = v !== null && (v as string[]).some((x) => (value as Lit[]).includes(x));
    return op === 'eq' || op === 'in' ? any : !any;
  }
  const x = v as Lit | null;
  switch (op) {
    case 'eq':
      return value === null ? x === null : x !== null && compareLit(kind, x, value as Lit) === 0;
    case 'ne':
      return value === null ? x !== null : x === null || compareLit(kind, x, value as Lit) !== 0;
    case 'lt':
      return x !== null && compareLit(kind, x, value as Lit) < 0;
    case 'lte':
      return x !== null && compareLit(kind, x, value as Lit) <= 0;
    case 'gt':
      return x !== null && compareLit(kind, x, value as Lit) > 0;
    case 'gte':
      return x !== null && compareLit(kind, x, value as Lit) >= 0;
    case 'like':
      return x !== null && asciiLower(x as string).includes(asciiLower(value as string));
    case 'in':
      return x !== null && (value as Lit[]).some((y) => compareLit(kind, x, y) === 0);
    case 'nin':
      return x === null || !(value as Lit[]).some((y) => compareLit(kind, x, y) === 0);
    case 'between': {
      const [lo, hi] = value as [Lit, Lit];
      return x !== null && compareLit(kind, x, lo) >= 0 && compareLit(kind, x, hi) <= 0;
    }
    default:
      return false;
  }
}

/** The link paths a condition follows (e.g. ["supplier", "supplier.country"]), to prefetch linked records. */
export function conditionPaths(cond: Condition): string[] {
  const out = new Set<string>();
  const walk = (c: Condition) => {
    if ('and' in c) c.and.forEach(walk);
    else if ('or' in c) c.or.forEach(walk);
    else if ('not' in c) walk(c.not);
    else {
      const segs = c.field.split('.');
      for (let i = 1; i < segs.length; i++) out.add(segs.slice(0, i).join('.'));
    }
  };
  walk(cond);
  return [...out];
}
