// Filter rows ⇄ the server's condition AST (no UI here, so a list page can use it without antd's Select).
import type { Cond, EntityDef, FieldDef } from '../api.ts';
import { FILTER_OPS } from './model.ts';

export interface FilterRow {
  field: string;
  op: string;
  value?: unknown;
}

/** Fields a list can filter on, plus the document status. */
export function filterFields(entity: EntityDef): FieldDef[] {
  const own = entity.fields.filter((f) => FILTER_OPS[f.type]);
  if (!entity.submittable) return own;
  return [
    ...own,
    {
      name: 'status',
      type: 'select',
      label: { zh: '状态', en: 'Status' },
      options: [
        { value: 'draft', label: { zh: '草稿', en: 'Draft' } },
        { value: 'submitted', label: { zh: '已提交', en: 'Submitted' } },
        { value: 'cancelled', label: { zh: '已作废', en: 'Cancelled' } },
      ],
    },
  ];
}

/** The AST, or undefined when no row is complete. Number-like values stay strings (exact decimals). */
export function toCondition(rows: FilterRow[], fields: FieldDef[]): Cond | undefined {
  const parts: Cond[] = [];
  for (const r of rows) {
    const f = fields.find((x) => x.name === r.field);
    if (!f) continue;
    if (r.op === 'empty' || r.op === 'not_empty') {
      parts.push({ field: r.field, op: r.op });
      continue;
    }
    let v = r.value;
    if (v === undefined || v === '' || (Array.isArray(v) && v.some((x) => x === '' || x === undefined))) continue;
    if (f.type === 'integer' || f.type === 'duration') v = Array.isArray(v) ? v.map(Number) : Number(v);
    if (f.type === 'boolean') v = v === 'true';
    if (r.op === 'in' && !Array.isArray(v)) v = String(v).split(/[,，]/).map((s) => s.trim()).filter(Boolean);
    parts.push({ field: r.field, op: r.op, value: v });
  }
  if (!parts.length) return undefined;
  return parts.length === 1 ? parts[0] : { and: parts };
}

/** Back from a saved view's AST to rows (flat AND of simple conditions). */
export function fromCondition(c: Cond | undefined): FilterRow[] {
  if (!c) return [];
  const list = 'and' in c ? c.and : [c];
  return list.filter((x): x is { field: string; op: string; value?: unknown } => 'field' in x).map((x) => ({ field: x.field, op: x.op, value: x.value }));
}

