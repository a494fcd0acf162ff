// Which column fills which field. A header matches a field by its name, Chinese label or English
// label, ignoring case, width (全角/半角), spaces, a required-marker "*" and a unit in brackets
// ("数量（件）"). Exported files write "标签 (name)" when two fields share a label; that form
// matches by the name. Each field is filled by at most one column.
import type { FieldDef } from '../../../shared/definition.ts';
import { badRequest, type ProblemField } from '../../platform/index.ts';
import type { Column } from './read.ts';

/** header → field name, or null for a column that is not imported. */
export type Mapping = Record<string, string | null>;

function key(s: string): string {
  return s.normalize('NFKC').toLowerCase().replace(/[\s*＊_\-:：]+/g, '');
}

function withoutBrackets(s: string): string {
  return s.replace(/[(（[【].*?[)）\]】]/g, '');
}

const NAME_IN_BRACKETS = /[(（]\s*([a-z][a-z0-9_]*)\s*[)）]\s*$/;

/** Suggests a field for every column among `fields` (the importable, writable ones). */
export function suggestMapping(columns: Column[], fields: FieldDef[]): Mapping {
  const out: Mapping = {};
  const used = new Set<string>();
  const byName = new Map(fields.map((f) => [f.name, f]));
  const rank = (header: string, strip: boolean): FieldDef | null => {
    const h = key(strip ? withoutBrackets(header) : header);
    if (!h) return null;
    for (const get of [(f: FieldDef) => f.name, (f: FieldDef) => f.label.zh, (f: FieldDef) => f.label.en ?? '']) {
      const hits = fields.filter((f) => !used.has(f.name) && key(get(f)) === h);
      if (hits.length === 1) return hits[0]!;
      if (hits.length > 1) return null; // two fields share the label: the person chooses
    }
    return null;
  };
  for (const c of columns) {
    const named = NAME_IN_BRACKETS.exec(c.header)?.[1];
    let f: FieldDef | null = named && byName.has(named) && !used.has(named) ? byName.get(named)! : null;
    f ??= rank(c.header, false) ?? rank(c.header, true);
    out[c.header] = f ? f.name : null;
    if (f) used.add(f.name);
  }
  return out;
}

/**
 * Checks a mapping sent by the caller against the sheet and the fields; 400 naming each problem.
 * Columns it does not mention are not imported.
 */
export function checkMapping(mapping: unknown, columns: Column[], importable: Map<string, FieldDef>, allFields: Map<string, FieldDef>): Map<Column, FieldDef> {
  if (typeof mapping !== 'object' || mapping === null || Array.isArray(mapping)) {
    throw badRequest('"mapping" must be an object from column header to field name, e.g. {"数量": "qty", "备注": null}.', [{ path: 'mapping', message: 'must be an object' }]);
  }
  const byHeader = new Map(columns.map((c) => [c.header, c]));
  const byLetter = new Map(columns.map((c) => [c.letter, c]));
  const errors: ProblemField[] = [];
  const out = new Map<Column, FieldDef>();
  const taken = new Map<string, string>();
  for (const [header, target] of Object.entries(mapping as Record<string, unknown>)) {
    const path = `mapping.${header}`;
    const col = byHeader.get(header) ?? byLetter.get(header);
    if (!col) {
      errors.push({ path, message: `the sheet has no column "${header.slice(0, 60)}"; its columns: ${columns.map((c) => c.header).slice(0, 40).join(', ')}` });
      continue;
    }
    if (target === null || target === undefined || target === '') continue;
    if (typeof target !== 'string') {
      errors.push({ path, message: 'must be a field name, or null to skip the column' });
      continue;
    }
    const field = importable.get(target);
    if (!field) {
      const f = allFields.get(target);
      errors.push({
        path,
        message: f
          ? `the field "${target}" (${f.type}) cannot be imported${['formula', 'auto_number'].includes(f.type) ? ': it is computed' : f.type === 'child_table' ? ': child tables are not imported from a sheet' : ['attachment', 'image', 'signature'].includes(f.type) ? ': files cannot come from a sheet' : ': you may not write it'}`
          : `there is no field "${target.slice(0, 60)}"; importable fields: ${[...importable.keys()].join(', ')}`,
      });
      continue;
    }
    const before = taken.get(field.name);
    if (before !== undefined) {
      errors.push({ path, message: `the field "${field.name}" is already filled from the column "${before}"` });
      continue;
    }
    taken.set(field.name, col.header);
    out.set(col, field);
  }
  if (errors.length) throw badRequest(`The column mapping is not valid: ${errors.map((e) => `${e.path}: ${e.message}`).slice(0, 3).join('; ')}.`, errors);
  return out;
}
