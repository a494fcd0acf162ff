// Branch conditions evaluated against the document and the instance context. Numbers are
// compared as exact decimals (money arrives as strings like "50000.00"), never as floats.
import type { Condition } from '../../shared/definition.ts';

const DECIMAL = /^-?\d+(\.\d+)?$/;

function asDecimal(v: unknown): string | null {
  if (typeof v === 'number' && Number.isFinite(v)) return v.toString().includes('e') ? null : v.toString();
  if (typeof v === 'string' && DECIMAL.test(v.trim())) return v.trim();
  return null;
}

/** Exact comparison of two decimal strings: -1, 0, 1. */
export function compareDecimal(a: string, b: string): number {
  const neg = (s: string) => s.startsWith('-');
  const norm = (s: string) => {
    const body = neg(s) ? s.slice(1) : s;
    const [i = '0', f = ''] = body.split('.');
    return { i: i.replace(/^0+(?=\d)/, ''), f: f.replace(/0+$/, '') };
  };
  const na = neg(a);
  const nb = neg(b);
  const x = norm(a);
  const y = norm(b);
  const zero = (v: { i: string; f: string }) => /^0*$/.test(v.i) && v.f === '';
  if (zero(x) && zero(y)) return 0;
  if (na !== nb) return zero(x) && zero(y) ? 0 : na ? -1 : 1;
  let c: number;
  if (x.i.length !== y.i.length) c = x.i.length < y.i.length ? -1 : 1;
  else if (x.i !== y.i) c = x.i < y.i ? -1 : 1;
  else {
    const len = Math.max(x.f.length, y.f.length);
    const fx = x.f.padEnd(len, '0');
    const fy = y.f.padEnd(len, '0');
    c = fx === fy ? 0 : fx < fy ? -1 : 1;
  }
  return na ? -c : c;
}

function compare(a: unknown, b: unknown): number | null {
  if (a === null || a === undefined || b === null || b === undefined) return null;
  const da = asDecimal(a);
  const db = asDecimal(b);
  if (da !== null && db !== null) return compareDecimal(da, db);
  if (typeof a === 'boolean' || typeof b === 'boolean') return a === b ? 0 : null;
  const sa = String(a);
  const sb = String(b);
  return sa === sb ? 0 : sa < sb ? -1 : 1;
}

function get(record: Record<string, unknown>, path: string): unknown {
  let cur: unknown = record;
  for (const seg of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[seg];
  }
  return cur;
}

const isEmpty = (v: unknown) => v === null || v === undefined || v === '' || (Array.isArray(v) && v.length === 0);

export function evaluate(cond: Condition, record: Record<string, unknown>): boolean {
  if ('and' in cond) return cond.and.every((c) => evaluate(c, record));
  if ('or' in cond) return cond.or.some((c) => evaluate(c, record));
  if ('not' in cond) return !evaluate(cond.not, record);
  const v = get(record, cond.field);
  const arg = cond.value;
  switch (cond.op) {
    case 'empty':
      return isEmpty(v);
    case 'not_empty':
      return !isEmpty(v);
    case 'eq':
      return Array.isArray(v) ? v.some((x) => compare(x, arg) === 0) : compare(v, arg) === 0;
    case 'ne':
      return !(Array.isArray(v) ? v.some((x) => compare(x, arg) === 0) : compare(v, arg) === 0);
    case 'lt':
    case 'lte':
    case 'gt':
    case 'gte': {
      const c = compare(v, arg);
      if (c === null) return false;
      return cond.op === 'lt' ? c < 0 : cond.op === 'lte' ? c <= 0 : cond.op === 'gt' ? c > 0 : c >= 0;
    }
    case 'in':
      return Array.isArray(arg) && (Array.isArray(v) ? v.some((x) => arg.some((a) => compare(x, a) === 0)) : arg.some((a) => compare(v, a) === 0));
    case 'nin':
      return Array.isArray(arg) && !(Array.isArray(v) ? v.some((x) => arg.some((a) => compare(x, a) === 0)) : arg.some((a) => compare(v, a) === 0));
    case 'between': {
      if (!Array.isArray(arg) || arg.length !== 2) return false;
      const lo = compare(v, arg[0]);
      const hi = compare(v, arg[1]);
      return lo !== null && hi !== null && lo >= 0 && hi <= 0;
    }
    case 'like': {
      if (typeof v !== 'string' || typeof arg !== 'string') return false;
      const re = new RegExp(`^${arg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/%/g, '.*').replace(/_/g, '.')}$`, 'is');
      return re.test(v);
    }
    default:
      return false;
  }
}
