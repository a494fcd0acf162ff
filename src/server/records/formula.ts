// Formula fields: JSONata expressions over the record, recomputed on every write. A formula
// that fails (bad expression, wrong types, runaway loop) leaves its field null and adds a
// warning; it never blocks the save (Frappe's habit: an evaluation error is not a user error).
//
// JSONata computes in double precision: decimal inputs are handed to it as numbers and a decimal
// result is rounded to the field's scale (default 6 places) and stored as an exact string.
import jsonata from 'jsonata';
import type { FieldDef } from '../../shared/definition.ts';
import { DECIMAL_RE, normaliseDecimal } from './decimal.ts';
import { DECIMAL_TYPES, isValidDate, valueType, type Issue } from './values.ts';

/** Guards against runaway expressions: wall time, recursion depth and sequence length. */
const GUARDS = { timeout: 250, stack: 200, sequence: 100_000 };
const cache = new Map<string, jsonata.Expression | Error>();

function compile(expr: string): jsonata.Expression | Error {
  let c = cache.get(expr);
  if (!c) {
    try {
      c = jsonata(expr, GUARDS);
    } catch (err) {
      c = new Error(messageOf(err));
    }
    if (cache.size > 2000) cache.clear();
    cache.set(expr, c);
  }
  return c;
}

function messageOf(err: unknown): string {
  const e = err as { message?: string; code?: string };
  return `${e.code ? `${e.code}: ` : ''}${e.message ?? String(err)}`;
}

/** The record as JSONata sees it: decimals as numbers so that `qty * unit_price` works. */
export function formulaInput(fields: readonly FieldDef[], values: Record<string, unknown>, childFields?: (f: FieldDef) => readonly FieldDef[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) {
    const v = values[f.name];
    // Empty fields are left out: `qty * price` over an empty price is empty, not an error.
    if (v === undefined || v === null) continue;
    if (v !== null && DECIMAL_TYPES.has(valueType(f))) out[f.name] = Number(v);
    else if (f.type === 'child_table' && Array.isArray(v)) {
      const cf = childFields?.(f) ?? [];
      out[f.name] = v.map((row) => formulaInput(cf, row as Record<string, unknown>));
    } else out[f.name] = v;
  }
  return out;
}

function toResult(field: FieldDef, v: unknown): { value: unknown; warning?: string } {
  if (v === undefined || v === null) return { value: null };
  const t = field.resultType ?? 'text';
  switch (t) {
    case 'text':
      return { value: typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v) };
    case 'integer':
      if (typeof v === 'number' && Number.isFinite(v) && Math.abs(v) <= Number.MAX_SAFE_INTEGER) return { value: Math.round(v) };
      return { value: null, warning: `expected a whole number but got ${JSON.stringify(v)?.slice(0, 60)}` };
    case 'decimal': {
      const scale = field.scale ?? 6;
      let num: number | null = null;
      if (typeof v === 'number' && Number.isFinite(v)) num = v;
      else if (typeof v === 'string' && DECIMAL_RE.test(v.trim())) {
        const exact = normaliseDecimal(v.trim(), scale);
        if (exact.ok) return { value: exact.value };
        num = Number(v);
      }
      if (num === null) return { value: null, warning: `expected a number but got ${JSON.stringify(v)?.slice(0, 60)}` };
      const n = normaliseDecimal(num.toFixed(scale), scale);
      if (!n.ok) return { value: null, warning: `result ${num} is out of range` };
      return { value: n.value };
    }
    case 'boolean':
      if (typeof v === 'boolean') return { value: v };
      return { value: null, warning: `expected true or false but got ${JSON.stringify(v)?.slice(0, 60)}` };
    case 'date':
      if (typeof v === 'string' && isValidDate(v.slice(0, 10))) return { value: v.slice(0, 10) };
      return { value: null, warning: `expected a date like "2026-03-31" but got ${JSON.stringify(v)?.slice(0, 60)}` };
    default:
      return { value: null, warning: `unknown result type ${String(t)}` };
  }
}

/**
 * Computes the formula fields of `fields` in definition order (a formula may use an earlier
 * one) and writes the results into `values`. Failures go to `warnings`, the field becomes null.
 */
export async function computeFormulas(
  fields: readonly FieldDef[],
  values: Record<string, unknown>,
  warnings: Issue[],
  pathPrefix: string,
  childFields?: (f: FieldDef) => readonly FieldDef[] | undefined,
): Promise<void> {
  const formulas = fields.filter((f) => f.type === 'formula' && f.formula);
  if (!formulas.length) return;
  for (const f of formulas) {
    const path = `${pathPrefix}${f.name}`;
    const expr = compile(f.formula!);
    if (expr instanceof Error) {
      values[f.name] = null;
      warnings.push({ path, message: `formula could not be read: ${expr.message}` });
      continue;
    }
    try {
      const raw: unknown = await expr.evaluate(formulaInput(fields, values, childFields));
      // JSONata sequences are arrays with extra flags; plain JSON only.
      const plain = raw === undefined ? undefined : (JSON.parse(JSON.stringify(raw)) as unknown);
      const r = toResult(f, plain);
      values[f.name] = r.value;
      if (r.warning) warnings.push({ path, message: `formula result ignored: ${r.warning}` });
    } catch (err) {
      values[f.name] = null;
      warnings.push({ path, message: `formula failed: ${messageOf(err)}` });
    }
  }
}
