// Reading an uploaded spreadsheet (.xlsx or .csv) into one table of cells: which format it is,
// which sheet and header row, the column headers, and the non-empty data rows with their
// spreadsheet row numbers. Every way a file can be unreadable is a 4xx with a message that says
// what to do; nothing here touches the database.
import ExcelJS from 'exceljs';
import { AppError, badRequest, payloadTooLarge } from '../../platform/index.ts';
import { decodeCsv, parseCsv, type CsvEncoding } from './csv.ts';
import { describeZip, inspectZip, isXlsx } from './zip.ts';

/** One cell as read: the types a spreadsheet has, before any field conversion. */
export type Cell =
  | { kind: 'empty' }
  | { kind: 'text'; text: string }
  /** A numeric cell: an IEEE double (see convert.ts for how it becomes an exact decimal). */
  | { kind: 'number'; value: number; numFmt?: string | undefined }
  /** A date cell: the wall-clock date and time as written in the sheet, in the UTC fields. */
  | { kind: 'date'; value: Date; numFmt?: string | undefined }
  | { kind: 'boolean'; value: boolean }
  | { kind: 'error'; text: string };

export interface Column {
  /** 0-based position in the sheet. */
  index: number;
  /** Spreadsheet column letter(s): A, B, … AA. */
  letter: string;
  /** The header text, made unique in the sheet (a second "备注" is "备注 (2)"). */
  header: string;
}

export interface SheetRow {
  /** Spreadsheet row number (1-based, as Excel shows it; for CSV the record number). */
  row: number;
  /** Aligned with `columns`. */
  cells: Cell[];
}

export interface SheetData {
  format: 'xlsx' | 'csv';
  /** CSV only: the detected text encoding. */
  encoding?: CsvEncoding;
  /** xlsx only: the sheet read, and every sheet of the workbook. */
  sheet: string | null;
  sheets: string[];
  headerRow: number;
  columns: Column[];
  rows: SheetRow[];
}

export interface ReadOptions {
  /** `xlsx` / `csv` when the caller says so (content type, file name or option). */
  declared?: 'xlsx' | 'csv' | undefined;
  /** Sheet name, or 1-based position; default the first visible sheet. */
  sheet?: string | number | undefined;
  /** 1-based row of the headers; default the first non-empty row. */
  headerRow?: number | undefined;
  maxBytes: number;
  maxRows: number;
}

export const MAX_COLUMNS = 300;
/** Largest unpacked size of an .xlsx we open (its parts are inflated in memory). */
export const MAX_UNZIPPED_BYTES = 200 * 1024 * 1024;

const EMPTY: Cell = { kind: 'empty' };

export function columnLetter(index: number): string {
  let n = index + 1;
  let s = '';
  while (n > 0) {
    const r = (n - 1) % 26;
    s = String.fromCharCode(65 + r) + s;
    n = Math.floor((n - 1) / 26);
  }
  return s;
}

function unreadable(detail: string, message = 'not a readable spreadsheet'): AppError {
  return new AppError(400, 'unreadable-file', 'Unreadable file', detail, { errors: [{ path: 'file', message }] });
}

/** The format of the bytes: sniffed first, the declared one second. */
export function detectFormat(bytes: Buffer, declared: 'xlsx' | 'csv' | undefined): 'xlsx' | 'csv' {
  if (bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && (bytes[2] === 3 || bytes[2] === 5) && (bytes[3] === 4 || bytes[3] === 6)) return 'xlsx';
  if (bytes.length >= 8 && bytes.readUInt32BE(0) === 0xd0cf11e0 && bytes.readUInt32BE(4) === 0xa1b11ae1) {
    throw new AppError(
      415,
      'unsupported-media-type',
      'Old Excel format',
      'This is an old Excel 97–2003 file (.xls), which is not supported. Open it in Excel or WPS and save it as "Excel 工作簿 (*.xlsx)", then upload again.',
      { errors: [{ path: 'file', message: '.xls is not supported; use .xlsx or .csv' }] },
    );
  }
  if (declared === 'xlsx') {
    throw unreadable('The file is not a valid .xlsx workbook (an .xlsx file is a zip archive, and this is not one). Save it from Excel as .xlsx, or send CSV with Content-Type text/csv.');
  }
  return 'csv';
}

/** Reads `bytes` (an .xlsx or .csv file) into headers and data rows. */
export async function readSpreadsheet(bytes: Buffer, opts: ReadOptions): Promise<SheetData> {
  if (bytes.length === 0) throw unreadable('The file is empty. Choose the spreadsheet again and upload it.', 'empty file');
  if (bytes.length > opts.maxBytes) {
    throw payloadTooLarge(`The file is ${mb(bytes.length)}; at most ${mb(opts.maxBytes)} can be imported at once. Split it into smaller files.`);
  }
  const format = detectFormat(bytes, opts.declared);
  return format === 'xlsx' ? readXlsx(bytes, opts) : readCsvFile(bytes, opts);
}

function mb(n: number): string {
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

// ---------------------------------------------------------------------------------------------
// xlsx

async function readXlsx(bytes: Buffer, opts: ReadOptions): Promise<SheetData> {
  const zip = inspectZip(bytes);
  if ('problem' in zip) {
    throw unreadable(
      zip.problem === 'zip64'
        ? 'The workbook is stored in a form (ZIP64) that is not supported. Save it again from Excel as .xlsx.'
        : `The file looks like an .xlsx workbook but ${zip.detail}: it is damaged or incomplete. Open it in Excel, save it again and upload the new file.`,
    );
  }
  if (!isXlsx(zip.entries)) {
    throw unreadable(`The file is ${describeZip(zip.entries)}. Upload an Excel workbook (.xlsx) or a CSV file.`, 'not an Excel workbook');
  }
  if (zip.uncompressed > MAX_UNZIPPED_BYTES) {
    throw payloadTooLarge(`The workbook unpacks to ${mb(zip.uncompressed)}; at most ${mb(MAX_UNZIPPED_BYTES)} is accepted. Remove unused sheets, images and formatting, or split the data.`);
  }
  const wb = new ExcelJS.Workbook();
  try {
    await wb.xlsx.load(bytes as unknown as ArrayBuffer);
  } catch (err) {
    throw unreadable(`The workbook could not be read: it is damaged or was not written by a spreadsheet program (${String((err as Error)?.message ?? err).slice(0, 200)}). Open it in Excel or WPS, save it again as .xlsx and upload the new file.`);
  }
  const sheets = wb.worksheets.filter((w) => w.state !== 'veryHidden');
  if (!sheets.length) throw unreadable('The workbook has no worksheet. Put the data on a sheet and save again.', 'no worksheet');
  let ws: ExcelJS.Worksheet | undefined;
  if (typeof opts.sheet === 'number') ws = sheets[opts.sheet - 1];
  else if (typeof opts.sheet === 'string') {
    const want = opts.sheet.trim().toLowerCase();
    ws = sheets.find((w) => w.name === opts.sheet) ?? sheets.find((w) => w.name.trim().toLowerCase() === want);
    if (!ws && /^\d{1,3}$/.test(want)) ws = sheets[Number(want) - 1]; // a position given as text
  }
  else ws = sheets.find((w) => w.state !== 'hidden' && w.actualRowCount > 0) ?? sheets[0];
  if (!ws) {
    throw badRequest(`The workbook has no sheet ${JSON.stringify(opts.sheet)}. Its sheets: ${sheets.map((w) => w.name).join(', ')}.`, [{ path: 'sheet', message: 'no such sheet' }]);
  }
  const grid: Array<{ row: number; cells: Cell[] }> = [];
  ws.eachRow({ includeEmpty: false }, (row, rowNumber) => {
    const cells: Cell[] = [];
    const n = Math.min(row.cellCount, MAX_COLUMNS + 1);
    for (let c = 1; c <= n; c++) {
      const cell = row.getCell(c);
      cells.push(fromExcel(cell.value, cell.numFmt));
    }
    grid.push({ row: rowNumber, cells });
  });
  return assemble('xlsx', grid, opts, { sheet: ws.name, sheets: sheets.map((w) => w.name) });
}

/** An exceljs cell value as a Cell. Formulas count by their cached result. */
export function fromExcel(v: unknown, numFmt?: string): Cell {
  if (v === null || v === undefined) return EMPTY;
  if (typeof v === 'number') return Number.isFinite(v) ? { kind: 'number', value: v, numFmt } : { kind: 'error', text: String(v) };
  if (typeof v === 'string') return v === '' ? EMPTY : { kind: 'text', text: v };
  if (typeof v === 'boolean') return { kind: 'boolean', value: v };
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? { kind: 'error', text: 'invalid date' } : { kind: 'date', value: v, numFmt };
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if (Array.isArray(o.richText)) {
      const text = (o.richText as Array<{ text?: unknown }>).map((r) => (typeof r.text === 'string' ? r.text : '')).join('');
      return text === '' ? EMPTY : { kind: 'text', text };
    }
    if ('error' in o) return { kind: 'error', text: String(o.error) };
    if ('formula' in o || 'sharedFormula' in o) return fromExcel(o.result, numFmt);
    if ('text' in o) return fromExcel(o.text, numFmt); // hyperlink
  }
  return { kind: 'error', text: 'unsupported cell content' };
}

// ---------------------------------------------------------------------------------------------
// csv

function readCsvFile(bytes: Buffer, opts: ReadOptions): SheetData {
  const { text, encoding } = decodeCsv(bytes);
  const records = parseCsv(text, undefined, opts.maxRows + (opts.headerRow ?? 1) + 10_000);
  const grid: Array<{ row: number; cells: Cell[] }> = [];
  records.forEach((rec, i) => {
    if (rec.every((c) => c.trim() === '')) return;
    grid.push({ row: i + 1, cells: rec.slice(0, MAX_COLUMNS + 1).map((c) => (c === '' ? EMPTY : { kind: 'text', text: c })) });
  });
  return { ...assemble('csv', grid, opts, { sheet: null, sheets: [] }), encoding };
}

// ---------------------------------------------------------------------------------------------

export function cellText(c: Cell | undefined): string {
  if (!c) return '';
  switch (c.kind) {
    case 'empty':
      return '';
    case 'text':
    case 'error':
      return c.text;
    case 'number':
      return String(c.value);
    case 'boolean':
      return c.value ? 'TRUE' : 'FALSE';
    case 'date':
      return c.value.toISOString().slice(0, 10);
  }
}

export function isEmptyCell(c: Cell | undefined): boolean {
  return !c || c.kind === 'empty' || (c.kind === 'text' && c.text.trim() === '');
}

function assemble(format: 'xlsx' | 'csv', grid: Array<{ row: number; cells: Cell[] }>, opts: ReadOptions, names: { sheet: string | null; sheets: string[] }): SheetData {
  const nonEmpty = grid.filter((r) => r.cells.some((c) => !isEmptyCell(c)));
  if (!nonEmpty.length) {
    throw unreadable(`The ${format === 'xlsx' ? `sheet "${names.sheet}"` : 'file'} has no data: put the column headers in the first row and the records below them.`, 'no data');
  }
  const filled = (r: { cells: Cell[] } | undefined) => (r ? r.cells.filter((c) => !isEmptyCell(c)).length : 0);
  // A sheet often starts with a title row ("2026年3月设备清单") above the headers: skip a lone cell.
  const header =
    opts.headerRow !== undefined
      ? nonEmpty.find((r) => r.row === opts.headerRow)
      : filled(nonEmpty[0]) === 1 && filled(nonEmpty[1]) > 1
        ? nonEmpty[1]
        : nonEmpty[0];
  if (!header) {
    throw badRequest(`Row ${opts.headerRow} is empty, so it cannot hold the column headers. Leave "headerRow" out to use the first non-empty row.`, [{ path: 'headerRow', message: 'empty row' }]);
  }
  let width = header.cells.length;
  while (width > 0 && isEmptyCell(header.cells[width - 1])) width--;
  if (width > MAX_COLUMNS) {
    throw badRequest(`The header row has more than ${MAX_COLUMNS} columns. Remove the columns you do not import.`, [{ path: 'file', message: 'too many columns' }]);
  }
  const seen = new Map<string, number>();
  const columns: Column[] = [];
  for (let i = 0; i < width; i++) {
    const letter = columnLetter(i);
    let h = cellText(header.cells[i]).replace(/\s+/g, ' ').trim();
    if (h === '') h = `(${letter})`;
    const k = h.toLowerCase();
    const times = (seen.get(k) ?? 0) + 1;
    seen.set(k, times);
    columns.push({ index: i, letter, header: times > 1 ? `${h} (${times})` : h });
  }
  const rows: SheetRow[] = [];
  for (const r of nonEmpty) {
    if (r.row <= header.row) continue;
    const cells = columns.map((c) => r.cells[c.index] ?? EMPTY);
    if (cells.every(isEmptyCell)) continue;
    rows.push({ row: r.row, cells });
  }
  if (rows.length > opts.maxRows) {
    throw payloadTooLarge(`The file has ${rows.length} data rows; at most ${opts.maxRows} can be imported at once. Split it into smaller files.`);
  }
  return { format, sheet: names.sheet, sheets: names.sheets, headerRow: header.row, columns, rows };
}
