// Exporting a list view to .xlsx or .csv: the same filter, search, sort and row scope as the list
// (every page comes from `listRecords`, walked by its keyset cursor and streamed out), headers in
// Chinese (or English), values as people read them: option labels, user display names, department
// names, linked records by number. Fields hidden from the reader are not exported.
//
// Decimals: in .xlsx a decimal is a numeric cell (formatted to show exactly its digits, so sums
// work in Excel) when a double holds it exactly within Excel's 15 significant digits; otherwise it
// is a text cell with the exact digits (e.g. 12345678901234.5678). Percent fields are Excel
// percentages (12.5 → 0.125 shown as 12.5%). In CSV every decimal is its exact text.
// Dates are date cells; date-times are date cells in plant time (Asia/Shanghai by default).
import { PassThrough, type Readable } from 'node:stream';
import { once } from 'node:events';
import ExcelJS from 'exceljs';
import { entityTable, type FieldDef, type Label } from '../../../shared/definition.ts';
import { ident, type Sql } from '../../db/index.ts';
import { appendAudit, badRequest, forbidden, type Actor, type AppContext } from '../../platform/index.ts';
import { listRecords, loadEntity, MAX_LIMIT, type EntitySchema, type ListOptions, type RecordJson } from '../index.ts';
import { Params, resolveAccess, type Access } from '../query/index.ts';
import { csvLine, UTF8_BOM } from './csv.ts';
import { fitsExcelNumber, numberFormat, shiftDecimal } from './numbers.ts';
import { dateTimeText, utcFieldsOf, wallAt } from './time.ts';

export type ExportFormat = 'xlsx' | 'csv';
export type ExportLang = 'zh' | 'en';

export interface ExportOptions {
  format?: ExportFormat;
  /** Header and label language; default zh (zh-CN). */
  lang?: ExportLang;
  filter?: unknown;
  sort?: ListOptions['sort'];
  q?: string | undefined;
  /** Columns in order: field names and system columns (name, status, created_by, …). Default: all. */
  fields?: string[] | undefined;
}

export interface ExportStream {
  /** e.g. 检验记录-202603310830.xlsx */
  filename: string;
  /** The same in ASCII for old clients: xl-rec-202603310830.xlsx */
  asciiFilename: string;
  contentType: string;
  stream: Readable;
}

const SYSTEM_LABELS: Record<string, Label> = {
  name: { zh: '编号', en: 'Number' },
  status: { zh: '状态', en: 'Status' },
  created_by: { zh: '创建人', en: 'Created by' },
  created_at: { zh: '创建时间', en: 'Created at' },
  updated_by: { zh: '修改人', en: 'Updated by' },
  updated_at: { zh: '修改时间', en: 'Updated at' },
  owner_department_id: { zh: '所属部门', en: 'Department' },
  submitted_at: { zh: '提交时间', en: 'Submitted at' },
  cancelled_at: { zh: '作废时间', en: 'Cancelled at' },
};
const STATUS_LABELS: Record<string, Label> = {
  draft: { zh: '草稿', en: 'Draft' },
  submitted: { zh: '已提交', en: 'Submitted' },
  cancelled: { zh: '已作废', en: 'Cancelled' },
};
const SYSTEM_TYPES: Record<string, FieldDef['type']> = {
  name: 'text',
  status: 'select',
  created_by: 'user',
  updated_by: 'user',
  owner_department_id: 'department',
  created_at: 'datetime',
  updated_at: 'datetime',
  submitted_at: 'datetime',
  cancelled_at: 'datetime',
};
const NOT_EXPORTED = new Set<FieldDef['type']>(['child_table']);
/** CSV cells that a spreadsheet would run as a formula get a leading `'` (import removes it). */
const FORMULA_LIKE = /^'*[=+\-@\t\r]/;

interface OutColumn {
  key: string;
  header: string;
  /** The entity field, or a pseudo field for a system column. */
  field: FieldDef;
  system: boolean;
  width: number;
}

type OutCell =
  | null
  /** `exact`: digits, never guarded with a leading `'` in CSV. */
  | { kind: 'text'; text: string; exact?: boolean }
  | { kind: 'number'; value: number; text: string; numFmt: string }
  | { kind: 'date'; value: Date; text: string; numFmt: string };

const text = (t: string): OutCell => ({ kind: 'text', text: t });
const labelIn = (l: Label, lang: ExportLang) => (lang === 'en' ? (l.en ?? l.zh) : l.zh);

/** 404 / 403 / 400 before anything is streamed; then the rows stream out page by page. */
export async function exportRecords(ctx: AppContext, actor: Actor, app: string, entity: string, opts: ExportOptions = {}): Promise<ExportStream> {
  const format = opts.format ?? 'xlsx';
  const lang = opts.lang ?? 'zh';
  const schema = await loadEntity(ctx.db, app, entity);
  const accessOpts = { now: () => ctx.clock.now(), timezone: ctx.config.timezone };
  const exp = resolveAccess(actor.principal, schema.app, schema.entity, 'export', accessOpts);
  if (!exp.allowed) throw forbidden(exp.reason ?? `You may not export ${entity} records.`);
  const read = resolveAccess(actor.principal, schema.app, schema.entity, 'read', accessOpts);
  const columns = exportColumns(schema, opts.fields, (n) => exp.readable.has(n) && read.readable.has(n), lang);
  const list: ListOptions = { filter: opts.filter, sort: opts.sort, q: opts.q, limit: MAX_LIMIT };
  // The first page now: a bad filter or missing read right is a 4xx, not a broken download.
  const first = await listRecords(ctx, actor, app, entity, list);
  const names = new Names(ctx, actor, schema, lang);
  const at = ctx.clock.now();
  const stamp = dateTimeText(wallAt(at, ctx.config.timezone)).replace(/[-: ]/g, '').slice(0, 12);
  const base = `${schema.entity.label.zh}-${stamp}`;
  const pass = new PassThrough();

  async function* pages(): AsyncGenerator<RecordJson[]> {
    let page = first;
    for (;;) {
      yield await exportable(ctx.db, schema, exp, page.items);
      if (!page.nextCursor) return;
      page = await listRecords(ctx, actor, app, entity, { ...list, after: page.nextCursor });
    }
  }

  const produce = async (): Promise<number> => {
    let count = 0;
    const rowsOf = async (items: RecordJson[]) => {
      await names.load(items, columns);
      count += items.length;
      return items.map((rec) => columns.map((c) => cellOf(rec, c, names, lang, ctx.config.timezone)));
    };
    if (format === 'csv') {
      const write = async (chunk: string) => {
        if (!pass.write(chunk)) await once(pass, 'drain');
      };
      await write(UTF8_BOM + csvLine(columns.map((c) => c.header)));
      for await (const items of pages()) {
        for (const row of await rowsOf(items)) await write(csvLine(row.map(csvText)));
      }
      pass.end();
      return count;
    }
    const wb = new ExcelJS.stream.xlsx.WorkbookWriter({ stream: pass, useStyles: true, useSharedStrings: false });
    wb.creator = 'Trellis';
    wb.created = at;
    const ws = wb.addWorksheet(sheetName(labelIn(schema.entity.label, lang)), { views: [{ state: 'frozen', ySplit: 1 }] });
    ws.columns = columns.map((c) => ({ key: c.key, width: c.width }));
    const head = ws.addRow(columns.map((c) => c.header));
    head.font = { bold: true };
    head.commit();
    for await (const items of pages()) {
      for (const row of await rowsOf(items)) {
        const r = ws.addRow(row.map((c) => (c === null ? null : c.kind === 'text' ? c.text : c.value)));
        row.forEach((c, i) => {
          if (c && c.kind !== 'text') r.getCell(i + 1).numFmt = c.numFmt;
        });
        r.commit();
      }
    }
    ws.commit();
    await wb.commit();
    return count;
  };

  produce()
    .then(async (count) => {
      await ctx.db.tx((tx) =>
        appendAudit(
          tx,
          actor,
          { action: 'record.export', targetType: 'entity', targetId: `${app}/${entity}`, detail: { app, entity, format, rows: count, filter: opts.filter ?? null, q: opts.q ?? null } },
          ctx.clock.now(),
        ),
      );
    })
    .catch((err: unknown) => {
      ctx.log.error({ err, app, entity }, 'export failed while streaming');
      pass.destroy(err as Error);
    });

  return {
    filename: `${base}.${format}`,
    asciiFilename: `${app}-${entity}-${stamp}.${format}`,
    contentType: format === 'csv' ? 'text/csv; charset=utf-8' : 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
    stream: pass,
  };
}

/** Excel sheet names: at most 31 characters, none of : \ / ? * [ ]. */
function sheetName(s: string): string {
  return s.replace(/[:\\/?*[\]]/g, ' ').slice(0, 31).trim() || 'Sheet1';
}

function exportColumns(schema: EntitySchema, wanted: string[] | undefined, readable: (name: string) => boolean, lang: ExportLang): OutColumn[] {
  const e = schema.entity;
  let keys: string[];
  if (wanted?.length) {
    const bad = wanted.filter((k) => !(schema.fields.has(k) ? readable(k) && !NOT_EXPORTED.has(schema.fields.get(k)!.type) : k in SYSTEM_LABELS));
    if (bad.length) {
      throw badRequest(`These columns cannot be exported: ${bad.map((b) => JSON.stringify(b.slice(0, 60))).join(', ')}. Use readable field names of ${e.name} or ${Object.keys(SYSTEM_LABELS).join(', ')}.`, bad.map((b) => ({ path: 'fields', message: `no exportable column "${b.slice(0, 60)}"` })));
    }
    keys = [...new Set(wanted)];
  } else {
    keys = [
      ...(e.namingSeries ? ['name'] : []),
      ...e.fields.filter((f) => readable(f.name) && !NOT_EXPORTED.has(f.type)).map((f) => f.name),
      ...(e.submittable ? ['status'] : []),
      'created_by',
      'created_at',
    ];
  }
  const labels = keys.map((k) => labelIn(schema.fields.get(k)?.label ?? SYSTEM_LABELS[k]!, lang));
  const count = new Map<string, number>();
  for (const l of labels) count.set(l, (count.get(l) ?? 0) + 1);
  return keys.map((k, i) => {
    const field = schema.fields.get(k) ?? { name: k, type: SYSTEM_TYPES[k] ?? 'text', label: SYSTEM_LABELS[k]!, options: k === 'status' ? Object.entries(STATUS_LABELS).map(([value, label]) => ({ value, label })) : undefined };
    // two columns with one label: "备注 (notes)" (the import matches it by the name)
    const header = count.get(labels[i]!)! > 1 ? `${labels[i]} (${k})` : labels[i]!;
    const width = Math.min(40, Math.max(10, [...header].reduce((n, ch) => n + (ch.charCodeAt(0) > 255 ? 2 : 1), 0) + 2, widthOf(field)));
    return { key: k, header, field, system: !schema.fields.has(k), width };
  });
}

function widthOf(f: FieldDef): number {
  switch (f.type) {
    case 'datetime':
      return 20;
    case 'date':
      return 12;
    case 'long_text':
      return 40;
    default:
      return 10;
  }
}

/**
 * The export right can have its own row scope: only rows in both the read scope (the list) and
 * the export scope are exported, checked in SQL for each page.
 */
async function exportable(sql: Sql, schema: EntitySchema, exp: Access, items: RecordJson[]): Promise<RecordJson[]> {
  if (!items.length) return items;
  const params = new Params([items.map((r) => r.id)]);
  const scope = exp.rowFilter(params, 't');
  if (scope === null) return items;
  const r = await sql.query<{ id: string }>(`select t.id from ${ident(schema.table)} t where t.id = any($1::uuid[]) and (${scope})`, params.values);
  const ok = new Set(r.rows.map((x) => String(x.id)));
  return items.filter((i) => ok.has(i.id));
}

/** Display names of users, departments and linked records, looked up per page and cached. */
class Names {
  readonly users = new Map<string, string>();
  readonly departments = new Map<string, string>();
  readonly links = new Map<string, Map<string, string>>();
  private readonly ctx: AppContext;
  private readonly actor: Actor;
  private readonly schema: EntitySchema;
  private readonly lang: ExportLang;

  constructor(ctx: AppContext, actor: Actor, schema: EntitySchema, lang: ExportLang) {
    this.ctx = ctx;
    this.actor = actor;
    this.schema = schema;
    this.lang = lang;
  }

  async load(items: RecordJson[], columns: OutColumn[]): Promise<void> {
    const want = { user: new Set<string>(), department: new Set<string>(), link: new Map<string, Set<string>>() };
    for (const rec of items) {
      for (const c of columns) {
        const v = c.system ? (rec as unknown as Record<string, unknown>)[c.key] : rec.values[c.key];
        if (typeof v !== 'string') continue;
        if (c.field.type === 'user' && !this.users.has(v)) want.user.add(v);
        else if (c.field.type === 'department' && !this.departments.has(v)) want.department.add(v);
        else if (c.field.type === 'link' && c.field.target && !this.links.get(c.field.target)?.has(v)) {
          let s = want.link.get(c.field.target);
          if (!s) want.link.set(c.field.target, (s = new Set()));
          s.add(v);
        }
      }
    }
    const db = this.ctx.db;
    const en = this.lang === 'en';
    if (want.user.size) {
      const r = await db.query<{ id: string; display_name: string; display_name_en: string | null }>('select id, display_name, display_name_en from users where id = any($1::uuid[])', [[...want.user]]);
      for (const u of r.rows) this.users.set(String(u.id), (en && u.display_name_en) || u.display_name);
    }
    if (want.department.size) {
      const r = await db.query<{ id: string; name: string; name_en: string | null }>('select id, name, name_en from departments where id = any($1::uuid[])', [[...want.department]]);
      for (const d of r.rows) this.departments.set(String(d.id), (en && d.name_en) || d.name);
    }
    for (const [target, ids] of want.link) {
      let map = this.links.get(target);
      if (!map) this.links.set(target, (map = new Map()));
      const t = this.schema.app.entities.find((x) => x.name === target);
      if (!t) continue;
      // Only linked records the reader may see are named; others stay as their id.
      const access = resolveAccess(this.actor.principal, this.schema.app, t, 'read', { now: () => this.ctx.clock.now(), timezone: this.ctx.config.timezone });
      if (!access.allowed) continue;
      const titleField = t.titleField && access.readable.has(t.titleField) ? t.fields.find((f) => f.name === t.titleField) : undefined;
      const params = new Params([[...ids]]);
      const scope = access.rowFilter(params, 't');
      const r = await db.query<{ id: string; name: string | null; title: string | null }>(
        `select t.id, t.name, ${titleField && titleField.type !== 'child_table' ? `t.${ident(titleField.name)}::text` : 'null'} as title
           from ${ident(entityTable(this.schema.app.name, target))} t where t.id = any($1::uuid[])${scope ? ` and (${scope})` : ''}`,
        params.values,
      );
      for (const x of r.rows) {
        const label = x.name ?? x.title;
        if (label) map.set(String(x.id), label);
      }
    }
  }
}

function decimalCell(s: string, f: FieldDef): OutCell {
  const decimals = s.split('.')[1]?.length ?? 0;
  if (f.type === 'percent') {
    const fraction = shiftDecimal(s, -2);
    if (fitsExcelNumber(fraction)) return { kind: 'number', value: Number(fraction), text: s, numFmt: `${numberFormat(decimals, false)}%` };
    return { kind: 'text', text: s, exact: true };
  }
  if (fitsExcelNumber(s)) return { kind: 'number', value: Number(s), text: s, numFmt: numberFormat(decimals, f.type === 'money') };
  return { kind: 'text', text: s, exact: true };
}

function cellOf(rec: RecordJson, c: OutColumn, names: Names, lang: ExportLang, tz: string): OutCell {
  const v = c.system ? (rec as unknown as Record<string, unknown>)[c.key] : rec.values[c.key];
  if (v === null || v === undefined || v === '') return null;
  const f = c.field;
  const type = f.type === 'formula' ? (f.resultType ?? 'text') : f.type;
  switch (type) {
    case 'integer':
    case 'duration': {
      const n = Number(v);
      return Math.abs(n) < 1e15 ? { kind: 'number', value: n, text: String(v), numFmt: '0' } : { kind: 'text', text: String(v), exact: true };
    }
    case 'decimal':
    case 'money':
    case 'percent':
      return decimalCell(String(v), { ...f, type });
    case 'date': {
      const s = String(v);
      const [y, mo, d] = s.split('-').map(Number);
      return { kind: 'date', value: new Date(Date.UTC(y!, mo! - 1, d!)), text: s, numFmt: 'yyyy-mm-dd' };
    }
    case 'datetime': {
      const w = wallAt(new Date(String(v)), tz);
      return { kind: 'date', value: utcFieldsOf(w), text: dateTimeText(w), numFmt: w.ms ? 'yyyy-mm-dd hh:mm:ss.000' : 'yyyy-mm-dd hh:mm:ss' };
    }
    case 'boolean':
      return text(v === true ? (lang === 'en' ? 'Yes' : '是') : lang === 'en' ? 'No' : '否');
    case 'select': {
      const o = f.options?.find((x) => x.value === v);
      return text(o ? labelIn(o.label, lang) : String(v));
    }
    case 'multi_select': {
      const list = Array.isArray(v) ? (v as unknown[]) : [v];
      return text(list.map((x) => {
        const o = f.options?.find((y) => y.value === x);
        return o ? labelIn(o.label, lang) : String(x);
      }).join(', '));
    }
    case 'user':
      return text(names.users.get(String(v)) ?? String(v));
    case 'department':
      return text(names.departments.get(String(v)) ?? String(v));
    case 'link':
      return text(names.links.get(f.target ?? '')?.get(String(v)) ?? String(v));
    case 'geolocation': {
      const g = v as { lat?: unknown; lng?: unknown };
      return text(`${String(g.lat)}, ${String(g.lng)}`);
    }
    case 'attachment':
    case 'image': {
      const list = (Array.isArray(v) ? v : [v]) as Array<Record<string, unknown>>;
      return text(list.map((x) => String(x.name ?? x.url ?? x.id ?? '')).filter(Boolean).join('; '));
    }
    case 'signature':
      return text(lang === 'en' ? '(signed)' : '（已签名）');
    default:
      return text(typeof v === 'object' ? JSON.stringify(v) : String(v));
  }
}

function csvText(c: OutCell): string {
  if (c === null) return '';
  if (c.kind !== 'text' || c.exact) return c.text;
  return FORMULA_LIKE.test(c.text) ? `'${c.text}` : c.text;
}

