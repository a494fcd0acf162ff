// Field values: what the API accepts for each field type, how it is normalised before it is
// written, and how a column value is turned back into JSON. Every problem is reported with its
// path (`values.qty`) and a message a person can act on; nothing is written when any is found.
import type { FieldDef, FieldType } from '../../shared/definition.ts';
import { compareDecimal, normaliseDecimal } from './decimal.ts';

export interface Issue {
  path: string;
  message: string;
}

/** Returned by `coerceValue` when the value was refused (the issue has been recorded). */
export const INVALID: unique symbol = Symbol('invalid');

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATETIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/i;

/** Types stored as exact `numeric` and exchanged as strings. */
export const DECIMAL_TYPES: ReadonlySet<FieldType> = new Set(['decimal', 'money', 'percent']);
/** Types computed by the engine, never written by a caller. */
export const COMPUTED_TYPES: ReadonlySet<FieldType> = new Set(['formula', 'auto_number']);
/** Types held in `jsonb` columns. */
export const JSON_TYPES: ReadonlySet<FieldType> = new Set(['attachment', 'image', 'signature', 'geolocation']);
/** Types whose value is a row id checked for existence. */
export const REF_TYPES: ReadonlySet<FieldType> = new Set(['user', 'department', 'link']);
const TEXT_TYPES: ReadonlySet<FieldType> = new Set(['text', 'long_text', 'qr_code', 'erp_link', 'select', 'auto_number']);

/** Default caps on text length when the field sets no `maxLength`. */
const DEFAULT_MAX_LENGTH: Partial<Record<FieldType, number>> = { text: 2000, qr_code: 2000, erp_link: 200, long_text: 200_000 };
const MAX_JSON_BYTES: Partial<Record<FieldType, number>> = { attachment: 64_000, image: 64_000, geolocation: 4_000, signature: 512_000 };

/** The scale a decimal field is kept at (undefined = as given). Money defaults to 2 places. */
export function decimalScale(field: Pick<FieldDef, 'type' | 'scale'>): number | undefined {
  if (field.scale !== undefined) return field.scale;
  return field.type === 'money' ? 2 : undefined;
}

/** The type a value of this field has, following a formula to its result type. */
export function valueType(field: FieldDef): FieldType {
  if (field.type !== 'formula') return field.type;
  return field.resultType ?? 'text';
}

export function isValidDate(s: string): boolean {
  const m = DATE_RE.exec(s);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const t = new Date(Date.UTC(y, mo - 1, d));
  return t.getUTCFullYear() === y && t.getUTCMonth() === mo - 1 && t.getUTCDate() === d && y >= 1;
}

const patternCache = new Map<string, RegExp | null>();
function compilePattern(p: string): RegExp | null {
  if (!patternCache.has(p)) {
    let re: RegExp | null;
    try {
      re = new RegExp(p, 'u');
    } catch {
      re = null; // modeling validates patterns on publish; an unreadable one is not enforced
    }
    patternCache.set(p, re);
  }
  return patternCache.get(p) ?? null;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'string') return `the text "${v.length > 30 ? `${v.slice(0, 30)}…` : v}"`;
  if (typeof v === 'number') return `the number ${v}`;
  return `a ${typeof v}`;
}

function checkRange(field: FieldDef, v: number | string, cmp: (a: number | string, b: number | string) => number, path: string, issues: Issue[], unit = ''): boolean {
  if (field.min !== undefined && cmp(v, field.min) < 0) {
    issues.push({ path, message: `must be at least ${field.min}${unit}` });
    return false;
  }
  if (field.max !== undefined && cmp(v, field.max) > 0) {
    issues.push({ path, message: `must be at most ${field.max}${unit}` });
    return false;
  }
  return true;
}

const numCmp = (a: number | string, b: number | string) => Number(a) - Number(b);
const strCmp = (a: number | string, b: number | string) => (String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0);
const decCmp = (a: number | string, b: number | string) => compareDecimal(String(a), String(b));

function checkText(field: FieldDef, raw: unknown, path: string, issues: Issue[]): string | typeof INVALID {
  if (typeof raw !== 'string') {
    issues.push({ path, message: `must be text, not ${describe(raw)}` });
    return INVALID;
  }
  if (raw.includes('\u0000')) {
    issues.push({ path, message: 'must not contain the NUL character (\\u0000)' });
    return INVALID;
  }
  const max = field.maxLength ?? DEFAULT_MAX_LENGTH[field.type];
  if (max !== undefined && raw.length > max) {
    issues.push({ path, message: `must be at most ${max} characters (it has ${raw.length})` });
    return INVALID;
  }
  if (field.pattern) {
    const re = compilePattern(field.pattern);
    if (re && !re.test(raw)) {
      issues.push({ path, message: `does not match the required pattern ${field.pattern}` });
      return INVALID;
    }
  }
  return raw;
}

function checkJson(field: FieldDef, raw: unknown, path: string, issues: Issue[]): unknown {
  const size = JSON.stringify(raw).length;
  const max = MAX_JSON_BYTES[field.type] ?? 64_000;
  if (size > max) {
    issues.push({ path, message: `is too large (${size} bytes; at most ${max})` });
    return INVALID;
  }
  switch (field.type) {
    case 'geolocation': {
      const g = raw as Record<string, unknown>;
      const okShape =
        typeof g === 'object' && g !== null && !Array.isArray(g) &&
        typeof g.lat === 'number' && g.lat >= -90 && g.lat <= 90 &&
        typeof g.lng === 'number' && g.lng >= -180 && g.lng <= 180 &&
        Object.keys(g).every((k) => ['lat', 'lng', 'accuracy', 'address'].includes(k)) &&
        (g.accuracy === undefined || (typeof g.accuracy === 'number' && g.accuracy >= 0)) &&
        (g.address === undefined || typeof g.address === 'string');
      if (!okShape) {
        issues.push({ path, message: 'must be {"lat": -90…90, "lng": -180…180} with optional "accuracy" (metres) and "address"' });
        return INVALID;
      }
      return raw;
    }
    case 'attachment':
    case 'image': {
      const list = Array.isArray(raw) ? raw : [raw];
      const okShape = list.length <= 50 && list.every((f) => {
        if (typeof f !== 'object' || f === null || Array.isArray(f)) return false;
        const o = f as Record<string, unknown>;
        return typeof o.id === 'string' || typeof o.url === 'string';
      });
      if (!okShape) {
        issues.push({ path, message: 'must be a file reference {"id" or "url", "name", …} or a list of at most 50 of them' });
        return INVALID;
      }
      return raw;
    }
    case 'signature': {
      if (typeof raw !== 'string' && (typeof raw !== 'object' || raw === null || Array.isArray(raw))) {
        issues.push({ path, message: 'must be a signature object or an image data URL' });
        return INVALID;
      }
      return raw;
    }
    default:
      return raw;
  }
}

/**
 * Checks and normalises one value (never null: the caller handles null = clear).
 * Returns the JSON form that is written and read back, or INVALID after recording an issue.
 */
export function coerceValue(field: FieldDef, raw: unknown, path: string, issues: Issue[], type: FieldType = valueType(field)): unknown {
  switch (type) {
    case 'text':
    case 'long_text':
    case 'qr_code':
    case 'erp_link':
    case 'auto_number':
      return checkText(field, raw, path, issues);
    case 'select': {
      if (typeof raw !== 'string') {
        issues.push({ path, message: `must be one of the option values, not ${describe(raw)}` });
        return INVALID;
      }
      if (field.options && !field.options.some((o) => o.value === raw)) {
        issues.push({ path, message: `"${raw.slice(0, 100)}" is not an option; choose one of: ${field.options.map((o) => o.value).join(', ')}` });
        return INVALID;
      }
      return raw;
    }
    case 'multi_select': {
      if (!Array.isArray(raw) || !raw.every((x) => typeof x === 'string')) {
        issues.push({ path, message: 'must be a list of option values, e.g. ["a", "b"]' });
        return INVALID;
      }
      const bad = field.options ? raw.filter((x) => !field.options!.some((o) => o.value === x)) : [];
      if (bad.length) {
        issues.push({ path, message: `not options: ${bad.slice(0, 10).join(', ')}; choose from: ${field.options!.map((o) => o.value).join(', ')}` });
        return INVALID;
      }
      const uniq = [...new Set(raw as string[])];
      if (!checkRange(field, uniq.length, numCmp, path, issues, ' choices')) return INVALID;
      return uniq;
    }
    case 'integer':
    case 'duration': {
      if (typeof raw !== 'number' || !Number.isSafeInteger(raw)) {
        issues.push({ path, message: type === 'duration' ? `must be a whole number of seconds, not ${describe(raw)}` : `must be a whole number, not ${describe(raw)}` });
        return INVALID;
      }
      if (type === 'duration' && raw < 0) {
        issues.push({ path, message: 'must not be negative' });
        return INVALID;
      }
      return checkRange(field, raw, numCmp, path, issues) ? raw : INVALID;
    }
    case 'decimal':
    case 'money':
    case 'percent': {
      let s: string;
      if (typeof raw === 'string') s = raw.trim();
      else if (typeof raw === 'number' && Number.isSafeInteger(raw)) s = String(raw);
      else if (typeof raw === 'number') {
        issues.push({ path, message: `send decimals as strings to keep them exact, e.g. "${Number.isFinite(raw) ? raw : '12.50'}" instead of ${raw}` });
        return INVALID;
      } else {
        issues.push({ path, message: `must be a decimal number as a string, e.g. "12.50", not ${describe(raw)}` });
        return INVALID;
      }
      const n = normaliseDecimal(s, field.type === 'formula' ? undefined : decimalScale(field));
      if (!n.ok) {
        issues.push({ path, message: n.message! });
        return INVALID;
      }
      return checkRange(field, n.value!, decCmp, path, issues) ? n.value : INVALID;
    }
    case 'date': {
      if (typeof raw !== 'string' || !isValidDate(raw)) {
        issues.push({ path, message: `must be a date like "2026-03-31", not ${describe(raw)}` });
        return INVALID;
      }
      return checkRange(field, raw, strCmp, path, issues) ? raw : INVALID;
    }
    case 'datetime': {
      const t = typeof raw === 'string' && DATETIME_RE.test(raw) ? new Date(raw) : null;
      if (!t || Number.isNaN(t.getTime()) || !isValidDate(String(raw).slice(0, 10))) {
        issues.push({ path, message: `must be a date and time with a time zone, like "2026-03-31T08:30:00+08:00" or "2026-03-31T00:30:00Z", not ${describe(raw)}` });
        return INVALID;
      }
      const iso = t.toISOString();
      const cmp = (a: number | string, b: number | string) => new Date(a).getTime() - new Date(b).getTime();
      return checkRange(field, iso, cmp, path, issues) ? iso : INVALID;
    }
    case 'boolean':
      if (typeof raw !== 'boolean') {
        issues.push({ path, message: `must be true or false, not ${describe(raw)}` });
        return INVALID;
      }
      return raw;
    case 'user':
    case 'department':
    case 'link':
      if (typeof raw !== 'string' || !UUID_RE.test(raw)) {
        issues.push({ path, message: `must be the id (a UUID) of ${type === 'user' ? 'a user' : type === 'department' ? 'a department' : `a ${field.target ?? 'linked'} record`}, not ${describe(raw)}` });
        return INVALID;
      }
      return raw.toLowerCase();
    case 'attachment':
    case 'image':
    case 'signature':
    case 'geolocation':
      return checkJson(field, raw, path, issues);
    default:
      issues.push({ path, message: `fields of type ${type} cannot be written` });
      return INVALID;
  }
}

/** A normalised JSON value as a SQL parameter for its column. */
export function toParam(field: FieldDef, v: unknown): unknown {
  if (v === null || v === undefined) return null;
  if (JSON_TYPES.has(field.type)) return JSON.stringify(v);
  return v;
}

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

/** A column value (as the driver returns it) in its API JSON form. */
export function fromColumn(field: FieldDef, v: unknown): unknown {
  if (v === null || v === undefined) return null;
  const type = valueType(field);
  switch (type) {
    case 'integer':
    case 'duration':
      return typeof v === 'number' ? v : Number(v);
    case 'decimal':
    case 'money':
    case 'percent':
      return String(v);
    case 'date':
      if (v instanceof Date) return `${pad(v.getUTCFullYear(), 4)}-${pad(v.getUTCMonth() + 1)}-${pad(v.getUTCDate())}`;
      return String(v);
    case 'datetime':
      return v instanceof Date ? v.toISOString() : new Date(String(v)).toISOString();
    case 'attachment':
    case 'image':
    case 'signature':
    case 'geolocation':
      return v; // jsonb comes back parsed from both drivers
    default:
      if (TEXT_TYPES.has(type)) return String(v);
      return v;
  }
}

/** Same JSON value? (for history diffs: arrays and objects by content) */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || a === undefined || b === undefined) return (a ?? null) === (b ?? null);
  return JSON.stringify(a) === JSON.stringify(b);
}
