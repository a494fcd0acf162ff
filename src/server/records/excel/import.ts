// Importing records from a spreadsheet: preview (headers, samples, suggested mapping) and import
// with a per-row validation report.
//
// An import is ONE transaction (invariant 1). Each row goes through the records engine's create
// path (`createRecordInTx`: validation, defaults, formulas, naming series, history, outbox event,
// audit) inside a savepoint, so a refused row is rolled back on its own and the rows after it go
// on. `all_or_nothing` rolls the whole transaction back when any row failed (the report then says
// what to fix; nothing is written, no number of a naming series is used up); `valid_rows_only`
// commits the good rows and reports the bad ones. `dryRun` checks everything and writes nothing.
import { SYSTEM_COLUMNS, type FieldDef } from '../../../shared/definition.ts';
import type { Tx } from '../../db/index.ts';
import { AppError, appendAudit, badRequest, forbidden, type Actor, type AppContext } from '../../platform/index.ts';
import { createRecordInTx, loadEntity, type EntitySchema } from '../index.ts';
import { resolveAccess } from '../query/index.ts';
import { convertCell, IMPORTABLE_TYPES, textOf, type ConvertEnv } from './convert.ts';
import { prepareRefs } from './lookups.ts';
import { checkMapping, suggestMapping, type Mapping } from './mapping.ts';
import { readSpreadsheet, type Column, type SheetData } from './read.ts';

/** Largest file accepted (bytes). Beyond it: 413. */
export const IMPORT_MAX_BYTES = 10 * 1024 * 1024;
/** Most data rows per import (one transaction). Beyond it: 413. */
export const IMPORT_MAX_ROWS = 10_000;
const SAMPLE_ROWS = 10;

export type ImportMode = 'all_or_nothing' | 'valid_rows_only';

export interface FileOptions {
  /** What the caller says the file is (content type, file name); the bytes are sniffed first. */
  format?: 'xlsx' | 'csv' | undefined;
  sheet?: string | number | undefined;
  headerRow?: number | undefined;
}

export interface ImportOptions extends FileOptions {
  /** header (or column letter) → field name, null to skip; default the suggested mapping. */
  mapping?: Mapping | undefined;
  mode?: ImportMode | undefined;
  /** Check every row, write nothing. */
  dryRun?: boolean | undefined;
  /** For the audit entry. */
  filename?: string | undefined;
}

export interface ImportFieldInfo {
  name: string;
  type: string;
  label: { zh: string; en?: string };
  required: boolean;
  hasDefault: boolean;
}

export interface PreviewResult {
  format: 'xlsx' | 'csv';
  encoding?: string;
  sheet: string | null;
  sheets: string[];
  headerRow: number;
  totalRows: number;
  columns: Array<{ letter: string; header: string; field: string | null; samples: string[] }>;
  /** The suggested mapping: header → field name (null: not imported). */
  mapping: Mapping;
  sampleRows: Array<{ row: number; values: Record<string, string> }>;
  /** Fields a column can fill (importable types the caller may write). */
  fields: ImportFieldInfo[];
  /** Required fields without a default that no column fills: every row would fail. */
  unmappedRequired: string[];
}

export interface RowError {
  /** The column header, or null when the problem is not about one column. */
  column: string | null;
  /** The cell address, e.g. "C5". */
  cell: string | null;
  field: string | null;
  message: string;
}

export interface RowReport {
  /** Spreadsheet row number. */
  row: number;
  ok: boolean;
  /** Set for rows written. */
  id?: string;
  name?: string | null;
  errors: RowError[];
  warnings?: RowError[];
}

export interface ImportReport {
  mode: ImportMode;
  dryRun: boolean;
  /** True when the transaction committed (imported rows exist). */
  committed: boolean;
  total: number;
  imported: number;
  failed: number;
  rows: RowReport[];
}

interface ImportTarget {
  schema: EntitySchema;
  importable: Map<string, FieldDef>;
}

/** 404 unknown app/entity; 403 without the `import` and `create` rights. */
async function importTarget(ctx: AppContext, actor: Actor, app: string, entity: string): Promise<ImportTarget> {
  const schema = await loadEntity(ctx.db, app, entity);
  const opts = { now: () => ctx.clock.now(), timezone: ctx.config.timezone };
  const imp = resolveAccess(actor.principal, schema.app, schema.entity, 'import', opts);
  if (!imp.allowed) throw forbidden(imp.reason ?? `You may not import ${entity} records.`);
  const create = resolveAccess(actor.principal, schema.app, schema.entity, 'create', opts);
  if (!create.allowed) {
    throw forbidden(`Importing creates records, so it also needs the right to create ${schema.entity.label.zh} (${entity}) records. ${create.reason ?? ''}`.trim());
  }
  const importable = new Map(schema.entity.fields.filter((f) => IMPORTABLE_TYPES.has(f.type) && create.writable.has(f.name)).map((f) => [f.name, f]));
  return { schema, importable };
}

function fieldInfo(f: FieldDef): ImportFieldInfo {
  return { name: f.name, type: f.type, label: f.label, required: f.required === true, hasDefault: f.default !== undefined };
}

function read(bytes: Buffer, opts: FileOptions): Promise<SheetData> {
  return readSpreadsheet(bytes, { declared: opts.format, sheet: opts.sheet, headerRow: opts.headerRow, maxBytes: IMPORT_MAX_BYTES, maxRows: IMPORT_MAX_ROWS });
}

export async function previewImport(ctx: AppContext, actor: Actor, app: string, entity: string, bytes: Buffer, opts: FileOptions = {}): Promise<PreviewResult> {
  const { importable } = await importTarget(ctx, actor, app, entity);
  const sheet = await read(bytes, opts);
  const fields = [...importable.values()];
  const mapping = suggestMapping(sheet.columns, fields);
  const mapped = new Set(Object.values(mapping).filter((v): v is string => !!v));
  const samples = sheet.rows.slice(0, SAMPLE_ROWS);
  return {
    format: sheet.format,
    ...(sheet.encoding ? { encoding: sheet.encoding } : {}),
    sheet: sheet.sheet,
    sheets: sheet.sheets,
    headerRow: sheet.headerRow,
    totalRows: sheet.rows.length,
    columns: sheet.columns.map((c) => ({ letter: c.letter, header: c.header, field: mapping[c.header] ?? null, samples: samples.slice(0, 3).map((r) => textOf(r.cells[c.index]!, sheet)) })),
    mapping,
    sampleRows: samples.map((r) => ({ row: r.row, values: Object.fromEntries(sheet.columns.map((c) => [c.header, textOf(r.cells[c.index]!, sheet)])) })),
    fields: fields.map(fieldInfo),
    unmappedRequired: fields.filter((f) => f.required && f.default === undefined && !f.requiredIf && !mapped.has(f.name)).map((f) => f.name),
  };
}

class RollBack extends Error {
  constructor() {
    super('import rolled back');
  }
}

const SYSTEM = new Set<string>(SYSTEM_COLUMNS);

type Issue = { path: string; message: string };

/** Engine issues (`values.qty: must be at least 0`) as row errors naming the column. */
function issuesToRowErrors(issues: Issue[], schema: EntitySchema, columnOf: Map<string, Column>, row: number): RowError[] {
  return issues.map((e) => {
    const segs = e.path.split('.');
    const name = segs[0] === 'values' ? (segs[1] ?? null) : (segs[0] ?? null);
    const field = name && (schema.fields.has(name) || SYSTEM.has(name)) ? name : null;
    const col = field ? columnOf.get(field) : undefined;
    const label = field ? (schema.fields.get(field)?.label.zh ?? field) : null;
    const child = segs[0] === 'values' && segs.length > 2 ? ` (${segs.slice(2).join('.')})` : '';
    // a field no column fills (a required one, say) is named in the message
    const message = field && !col ? `${label}${child}: ${e.message}` : `${e.message}${child}`;
    return { column: col?.header ?? null, cell: col ? `${col.letter}${row}` : null, field, message };
  });
}

/** A refused create as row errors; null for failures that are not the row's fault (rethrown). */
function rowErrorsOf(err: unknown, schema: EntitySchema, columnOf: Map<string, Column>, row: number): RowError[] | null {
  if (err instanceof AppError) {
    if (err.status >= 500) return null;
    if (err.errors?.length) return issuesToRowErrors(err.errors, schema, columnOf, row);
    return [{ column: null, cell: null, field: null, message: err.message }];
  }
  const code = (err as { code?: unknown })?.code;
  if (typeof code === 'string' && /^2[23]/.test(code)) {
    return [{ column: null, cell: null, field: null, message: `the database refused the row: ${String((err as Error).message).slice(0, 200)}` }];
  }
  return null;
}

/** A view of the transaction for one row: its after-commit hooks only count if the row is kept. */
function rowTx(tx: Tx): { tx: Tx; keep(): void } {
  const hooks: Array<() => void | Promise<void>> = [];
  const channels = new Set<string>();
  return {
    tx: {
      query: (text, params) => tx.query(text, params),
      exec: (script) => tx.exec(script),
      afterCommit: (fn) => void hooks.push(fn),
      notifyAfterCommit: (channel) => void channels.add(channel),
    },
    keep: () => {
      for (const h of hooks) tx.afterCommit(h);
      for (const c of channels) tx.notifyAfterCommit(c);
    },
  };
}

export async function importRecords(ctx: AppContext, actor: Actor, app: string, entity: string, bytes: Buffer, opts: ImportOptions = {}): Promise<ImportReport> {
  const { schema, importable } = await importTarget(ctx, actor, app, entity);
  const mode: ImportMode = opts.mode ?? 'all_or_nothing';
  const dryRun = opts.dryRun === true;
  const sheet = await read(bytes, opts);
  const allFields = new Map(schema.entity.fields.map((f) => [f.name, f]));
  const mapping =
    opts.mapping !== undefined
      ? checkMapping(opts.mapping, sheet.columns, importable, allFields)
      : new Map(
          Object.entries(suggestMapping(sheet.columns, [...importable.values()]))
            .filter((e): e is [string, string] => e[1] !== null)
            .map(([h, f]) => [sheet.columns.find((c) => c.header === h)!, importable.get(f)!]),
        );
  if (mapping.size === 0) {
    throw badRequest(
      `No column of the file matches a field of ${schema.entity.label.zh} (${entity}). Send a "mapping" from column header to field name; the importable fields are: ${[...importable.values()].map((f) => `${f.name} (${f.label.zh})`).join(', ')}.`,
      [{ path: 'mapping', message: 'no column is mapped to a field' }],
    );
  }
  const columnOf = new Map([...mapping].map(([c, f]) => [f.name, c]));

  // Names → ids, one query per user/department/link field.
  const wanted = new Map<FieldDef, Set<string>>();
  for (const [col, field] of mapping) {
    if (field.type !== 'user' && field.type !== 'department' && field.type !== 'link') continue;
    const set = new Set<string>();
    for (const r of sheet.rows) {
      const t = textOf(r.cells[col.index]!, sheet).trim();
      if (t) set.add(t);
    }
    wanted.set(field, set);
  }
  const env: ConvertEnv = { timezone: ctx.config.timezone, format: sheet.format, refs: await prepareRefs(ctx.db, ctx, actor, schema, wanted) };

  const prepared = sheet.rows.map((r) => {
    const values: Record<string, unknown> = {};
    const errors: RowError[] = [];
    for (const [col, field] of mapping) {
      const c = convertCell(field, r.cells[col.index]!, env);
      if (c === null) continue;
      if ('error' in c) errors.push({ column: col.header, cell: `${col.letter}${r.row}`, field: field.name, message: c.error });
      else values[field.name] = c.value;
    }
    return { row: r.row, values, errors };
  });

  const reports: RowReport[] = prepared.map((p) => ({ row: p.row, ok: p.errors.length === 0, errors: p.errors }));
  let committed = false;
  try {
    await ctx.db.tx(async (tx) => {
      for (let i = 0; i < prepared.length; i++) {
        const p = prepared[i]!;
        const report = reports[i]!;
        if (!report.ok) continue;
        await tx.query('savepoint trellis_import_row');
        const view = rowTx(tx);
        try {
          const rec = await createRecordInTx(view.tx, ctx, actor, app, entity, p.values);
          await tx.query('release savepoint trellis_import_row');
          view.keep();
          report.id = rec.id;
          report.name = rec.name;
          if (rec.warnings?.length) report.warnings = issuesToRowErrors(rec.warnings, schema, columnOf, p.row);
        } catch (err) {
          const errors = rowErrorsOf(err, schema, columnOf, p.row);
          if (!errors) throw err;
          await tx.query('rollback to savepoint trellis_import_row');
          report.ok = false;
          report.errors = errors;
        }
      }
      const failed = reports.filter((r) => !r.ok).length;
      if (dryRun || (mode === 'all_or_nothing' && failed > 0)) throw new RollBack();
      const imported = reports.length - failed;
      if (imported > 0) {
        await appendAudit(
          tx,
          actor,
          {
            action: 'record.import',
            targetType: 'entity',
            targetId: `${app}/${entity}`,
            detail: { app, entity, mode, format: sheet.format, file: opts.filename ?? null, total: reports.length, imported, failed, rowsFailed: reports.filter((r) => !r.ok).map((r) => r.row).slice(0, 1000) },
          },
          ctx.clock.now(),
        );
      }
      committed = imported > 0;
    });
  } catch (err) {
    if (!(err instanceof RollBack)) throw err;
  }
  const failed = reports.filter((r) => !r.ok).length;
  if (!committed) {
    for (const r of reports) {
      delete r.id; // rolled back: those ids and numbers do not exist
      delete r.name;
    }
  }
  return {
    mode,
    dryRun,
    committed,
    total: reports.length,
    imported: committed ? reports.length - failed : 0,
    failed,
    rows: reports,
  };
}
