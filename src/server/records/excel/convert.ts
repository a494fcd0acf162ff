// One spreadsheet cell → the JSON value the records engine takes for a field. This only reads what
// people write (是/否, 2026/3/31, "红", "甲，乙", "王强", 1,234.50 …); the records engine then
// checks the value against the field's rules exactly as for any other create.
import type { FieldDef, FieldType } from '../../../shared/definition.ts';
import { decimalOfNumberCell, excelNumberText, textOfNumberCell } from './numbers.ts';
import type { RefLookup } from './lookups.ts';
import type { Cell } from './read.ts';
import { dateText, dateTimeText, instantOf, isRealDate, wallOfSerial, wallOfUtcFields, type Wall } from './time.ts';

export type Converted = { value: unknown } | { error: string } | null;

export interface ConvertEnv {
  timezone: string;
  /** CSV written by export guards formula-like text with a leading `'`; it is removed again. */
  format: 'xlsx' | 'csv';
  refs: RefLookup;
}

/** Field types a spreadsheet column can fill. */
export const IMPORTABLE_TYPES: ReadonlySet<FieldType> = new Set([
  'text',
  'long_text',
  'integer',
  'decimal',
  'money',
  'percent',
  'date',
  'datetime',
  'duration',
  'boolean',
  'select',
  'multi_select',
  'user',
  'department',
  'link',
  'erp_link',
  'qr_code',
  'geolocation',
]);

const TRUE_WORDS = new Set(['是', '真', '对', '有', '√', '✓', '✔', 'true', 't', 'yes', 'y', '1', 'on']);
const FALSE_WORDS = new Set(['否', '假', '错', '无', '×', '✗', '✘', 'false', 'f', 'no', 'n', '0', 'off']);
const MULTI_SEPARATORS = /[,，;；、\n]/;
const ZONED = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/i;
const DATE_TEXT = /^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:[T\s]+(\d{1,2})[:：](\d{1,2})(?:[:：](\d{1,2})(?:\.(\d{1,3})\d*)?)?)?$/;
const GUARDED = /^'+[=+\-@\t\r]/;

function ok(value: unknown): Converted {
  return { value };
}
function err(error: string): Converted {
  return { error };
}

/** The cell's text for fields that take text; numbers and dates as the sheet shows them. */
export function textOf(cell: Cell, env: Pick<ConvertEnv, 'format'>): string {
  switch (cell.kind) {
    case 'text':
      return env.format === 'csv' && GUARDED.test(cell.text) ? cell.text.slice(1) : cell.text;
    case 'number':
      return textOfNumberCell(cell.value, cell.numFmt);
    case 'boolean':
      return cell.value ? 'TRUE' : 'FALSE';
    case 'date': {
      const w = wallOfUtcFields(cell.value);
      return w.h || w.mi || w.s || w.ms ? dateTimeText(w) : dateText(w);
    }
    case 'error':
      return cell.text;
    default:
      return '';
  }
}

/** Digits people write: full-width forms, thousands separators, currency signs, spaces. */
function numberText(s: string, percent: boolean): string | null {
  let t = s.normalize('NFKC').trim().replace(/^[¥$€£]\s*/, '').replace(/\s+/g, '');
  if (percent) t = t.replace(/%$/, '');
  if (/^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$/.test(t)) t = t.replace(/,/g, '');
  t = t.replace(/^\+/, '');
  return /^-?\d+(\.\d+)?$/.test(t) ? t : null;
}

function wallOfText(s: string): Wall | null {
  const m = DATE_TEXT.exec(s.normalize('NFKC').trim());
  if (!m) return null;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (!isRealDate(y, mo, d)) return null;
  const h = Number(m[4] ?? 0);
  const mi = Number(m[5] ?? 0);
  const sec = Number(m[6] ?? 0);
  if (h > 23 || mi > 59 || sec > 59) return null;
  return { y, mo, d, h, mi, s: sec, ms: Number((m[7] ?? '').padEnd(3, '0') || 0) };
}

function wallOfCell(cell: Cell): Wall | null | 'text' {
  if (cell.kind === 'date') return wallOfUtcFields(cell.value);
  if (cell.kind === 'number') return wallOfSerial(cell.value);
  return 'text';
}

function describeCell(cell: Cell, env: ConvertEnv): string {
  return `"${textOf(cell, env).slice(0, 40)}"`;
}

/** Converts one non-empty cell for `field`; null when the cell is empty (the field is left out). */
export function convertCell(field: FieldDef, cell: Cell, env: ConvertEnv): Converted {
  if (cell.kind === 'empty' || (cell.kind === 'text' && cell.text.trim() === '')) return null;
  if (cell.kind === 'error') return err(`the cell holds the spreadsheet error ${cell.text}; fix the formula or type the value`);
  switch (field.type) {
    case 'text':
    case 'qr_code':
    case 'erp_link':
      return ok(textOf(cell, env));
    case 'long_text':
      return ok(textOf(cell, env).replace(/\r\n?/g, '\n'));
    case 'integer':
    case 'duration': {
      let s: string | null;
      if (cell.kind === 'number') s = excelNumberText(cell.value);
      else if (cell.kind === 'date' && field.type === 'duration') {
        // a time-formatted cell (1:30:00) is a fraction of a day after Excel's day zero
        s = String(Math.round((cell.value.getTime() - Date.UTC(1899, 11, 30)) / 1000));
      } else if (cell.kind === 'text' && field.type === 'duration' && /^\d+:\d{1,2}(:\d{1,2})?$/.test(cell.text.trim())) {
        const p = cell.text.trim().split(':').map(Number);
        s = String(p.length === 3 ? p[0]! * 3600 + p[1]! * 60 + p[2]! : p[0]! * 3600 + p[1]! * 60);
      } else s = cell.kind === 'text' ? numberText(cell.text, false) : null;
      if (s === null) return err(field.type === 'duration' ? `${describeCell(cell, env)} is not a duration: write whole seconds, or hours:minutes:seconds like 1:30:00` : `${describeCell(cell, env)} is not a whole number`);
      const trimmed = s.replace(/\.0+$/, '');
      if (!/^-?\d+$/.test(trimmed)) return err(`${s} is not a whole number`);
      const n = Number(trimmed);
      if (!Number.isSafeInteger(n)) return err(`${s} is too large`);
      return ok(n);
    }
    case 'decimal':
    case 'money':
    case 'percent': {
      const percent = field.type === 'percent';
      const s = cell.kind === 'number' ? decimalOfNumberCell(cell.value, cell.numFmt, percent) : cell.kind === 'text' ? numberText(cell.text, percent) : null;
      if (s === null) return err(`${describeCell(cell, env)} is not a number`);
      return ok(s);
    }
    case 'date': {
      const w = wallOfCell(cell);
      const wall = w === 'text' ? (cell.kind === 'text' ? wallOfText(cell.text) : null) : w;
      if (!wall) return err(`${describeCell(cell, env)} is not a date: write it like 2026-03-31 or 2026/3/31, or use a date cell`);
      if (wall.h || wall.mi || wall.s) return err(`${describeCell(cell, env)} has a time of day, but the field holds a date only`);
      return ok(dateText(wall));
    }
    case 'datetime': {
      if (cell.kind === 'text' && ZONED.test(cell.text.trim())) return ok(cell.text.trim());
      const w = wallOfCell(cell);
      const wall = w === 'text' ? (cell.kind === 'text' ? wallOfText(cell.text) : null) : w;
      if (!wall) return err(`${describeCell(cell, env)} is not a date and time: write it like 2026-03-31 08:30 (plant time, ${env.timezone}), or use a date cell`);
      return ok(instantOf(wall, env.timezone).toISOString());
    }
    case 'boolean': {
      if (cell.kind === 'boolean') return ok(cell.value);
      const t = textOf(cell, env).normalize('NFKC').trim().toLowerCase();
      if (TRUE_WORDS.has(t)) return ok(true);
      if (FALSE_WORDS.has(t)) return ok(false);
      return err(`${describeCell(cell, env)} is not yes or no: write 是/否, Y/N, true/false or 1/0`);
    }
    case 'select': {
      const r = option(field, textOf(cell, env));
      return 'value' in r ? ok(r.value) : err(r.error);
    }
    case 'multi_select': {
      const text = textOf(cell, env);
      const whole = option(field, text);
      if ('value' in whole) return ok([whole.value]);
      const parts = text.split(MULTI_SEPARATORS).map((p) => p.trim()).filter(Boolean);
      const values: string[] = [];
      const bad: string[] = [];
      for (const p of parts) {
        const r = option(field, p);
        if ('value' in r) values.push(r.value);
        else bad.push(p);
      }
      if (bad.length) return err(`${bad.map((b) => `"${b.slice(0, 40)}"`).join(', ')} ${bad.length === 1 ? 'is not an option' : 'are not options'}; choose from ${optionList(field)}, separated by commas`);
      return ok([...new Set(values)]);
    }
    case 'user':
    case 'department':
    case 'link': {
      const r = env.refs.lookup(field, textOf(cell, env));
      return 'id' in r ? ok(r.id) : err(r.error);
    }
    case 'geolocation': {
      const m = /^\s*(-?\d+(?:\.\d+)?)\s*[,，]\s*(-?\d+(?:\.\d+)?)\s*$/.exec(textOf(cell, env).normalize('NFKC'));
      if (!m) return err(`${describeCell(cell, env)} is not a position: write latitude, longitude like 31.2304, 121.4737`);
      return ok({ lat: Number(m[1]), lng: Number(m[2]) });
    }
    default:
      return err(`fields of type ${field.type} cannot be imported from a spreadsheet`);
  }
}

function optionList(field: FieldDef): string {
  return (field.options ?? []).slice(0, 30).map((o) => (o.label.zh === o.value ? o.value : `${o.label.zh} (${o.value})`)).join(', ');
}

/** An option by value, Chinese label or English label (case and width insensitive). */
function option(field: FieldDef, text: string): { value: string } | { error: string } {
  const t = text.normalize('NFKC').trim();
  const opts = field.options ?? [];
  if (!opts.length) return { value: t }; // no list defined: the records engine takes any value
  const lower = t.toLowerCase();
  const found =
    opts.find((o) => o.value === t) ??
    opts.find((o) => o.label.zh.normalize('NFKC').trim() === t) ??
    opts.find((o) => o.value.toLowerCase() === lower) ??
    opts.find((o) => o.label.zh.normalize('NFKC').trim().toLowerCase() === lower) ??
    opts.find((o) => o.label.en !== undefined && o.label.en.normalize('NFKC').trim().toLowerCase() === lower);
  return found ? { value: found.value } : { error: `"${t.slice(0, 40)}" is not an option; choose from ${optionList(field)}` };
}
