// From form state to the records API body, and from the API's problem paths back to fields.
import type { AppDef, EntityDef, ProblemField } from '../api.ts';
import { COMPUTED, findEntity } from './model.ts';

const empty = (v: unknown) => v === undefined || v === '' ;

/** Only writable fields, computed ones left out; empty text becomes null (clears the value). */
export function toValues(app: AppDef, entity: EntityDef, values: Record<string, unknown>, writable: (name: string) => boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of entity.fields) {
    if (COMPUTED.has(f.type) || !writable(f.name) || !(f.name in values)) continue;
    const v = values[f.name];
    if (f.type === 'child_table') {
      const child = findEntity(app, f.target ?? '');
      const rows = Array.isArray(v) ? (v as Array<Record<string, unknown>>) : [];
      out[f.name] = rows.map((r) => {
        const row: Record<string, unknown> = {};
        if (typeof r.id === 'string') row.id = r.id;
        for (const cf of child?.fields ?? []) {
          if (COMPUTED.has(cf.type) || empty(r[cf.name])) continue;
          row[cf.name] = r[cf.name];
        }
        return row;
      });
      continue;
    }
    out[f.name] = empty(v) ? null : v;
  }
  return out;
}

/** `values.qty` → qty; `values.lines.0.part` → lines (with the row in the message). */
export function fieldErrors(errors: ProblemField[], rowWord: (n: number) => string): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const e of errors) {
    const parts = e.path.replace(/^body\./, '').split('.');
    if (parts[0] !== 'values' || !parts[1]) continue;
    const field = parts[1];
    const msg = parts.length >= 4 && /^\d+$/.test(parts[2]!) ? `${rowWord(Number(parts[2]) + 1)} ${parts[3]}: ${e.message}` : e.message;
    m.set(field, [...(m.get(field) ?? []), msg]);
  }
  return m;
}
