// File exchange with non-core systems: CSV or XLSX files in a folder.
//
// Destination: each delivery's payload (an object, or an array of objects = rows) is written as
// one file named by the idempotency key, atomically (a temporary file in the same folder, then a
// rename), so a reader never sees half a file and a retry never makes a second file.
//
// Source: files dropped in the folder are claimed by renaming them into `processing/` (atomic:
// two Trellis instances never read the same file), read with the records engine's spreadsheet
// reader (CSV in UTF-8/GBK/UTF-16, XLSX), and handed out as rows. A file moves on to `done/` at
// the next pull — the caller asks for more only after storing what it got — so a crash between
// reading and storing leaves it in `processing/`, where the next pull reads it again. An
// unreadable file goes to `failed/` with a `.error.txt` beside it.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import ExcelJS from 'exceljs';
import { z } from 'zod';
import { readSpreadsheet, type Cell } from '../../records/excel/index.ts';
import type { DeliveryOutcome, DestinationHandle, Driver, PulledRow, PullResult, SourceHandle } from '../types.ts';
import { registerDriver } from './registry.ts';
import { ui } from '../../../shared/integration-api.ts';

export const fileConfigSchema = z.strictObject({
  /** Absolute path of the exchange folder (must exist). */
  folder: z.string().min(2).max(1000).refine((p) => path.isAbsolute(p), 'an absolute path').meta(ui(['交换目录 (绝对路径)', 'Exchange folder (absolute path)'], { placeholder: '/srv/exchange/wms' })),
  format: z.enum(['csv', 'xlsx']).default('csv').meta(ui(['文件格式', 'File format'])),
  /** File name prefix for written files. */
  prefix: z.string().regex(/^[A-Za-z0-9_-]{1,50}$/).default('trellis').meta(ui(['文件名前缀', 'File name prefix'])),
  /** Column order for written files; default the keys of the rows in order of appearance. */
  columns: z.array(z.string().min(1).max(200)).max(500).optional().meta(ui(['列顺序', 'Column order'], { help: ['写文件时的列；默认按行里键出现的顺序', 'columns of written files; default the keys of the rows in order'] })),
  /** Source: column holding each row's key; default file name + row number. */
  keyColumn: z.string().min(1).max(200).optional().meta(ui(['键列 (读取时)', 'Key column (when reading)'])),
  /** Source: largest file read (bytes). */
  maxBytes: z.number().int().min(1).max(100 * 1024 * 1024).default(20 * 1024 * 1024).meta(ui(['最大文件 (字节)', 'Largest file (bytes)'])),
});
export type FileConfig = z.infer<typeof fileConfigSchema>;

const FORMULA_LIKE = /^[=+\-@\t\r]/;

function safeName(key: string): string {
  return key.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 150);
}

function rowsOf(payload: unknown): Record<string, unknown>[] {
  const list = Array.isArray(payload) ? payload : [payload];
  return list.map((r) => (r && typeof r === 'object' && !Array.isArray(r) ? (r as Record<string, unknown>) : { value: r }));
}

function text(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

function csvCell(v: string): string {
  // A cell a spreadsheet would run as a formula is written as text (leading apostrophe).
  const s = FORMULA_LIKE.test(v) && !/^-?\d/.test(v) ? `'${v}` : v;
  return /[",;\t\r\n]/.test(s) || s !== s.trim() ? `"${s.replace(/"/g, '""')}"` : s;
}

async function encode(format: 'csv' | 'xlsx', columns: string[], rows: Record<string, unknown>[]): Promise<Buffer> {
  if (format === 'csv') {
    const lines = [columns, ...rows.map((r) => columns.map((c) => text(r[c])))].map((cells) => `${cells.map(csvCell).join(',')}\r\n`);
    return Buffer.from(`\ufeff${lines.join('')}`, 'utf8'); // BOM: Excel opens UTF-8 Chinese correctly
  }
  const wb = new ExcelJS.Workbook();
  const ws = wb.addWorksheet('data');
  ws.addRow(columns);
  for (const r of rows) ws.addRow(columns.map((c) => text(r[c]))); // text cells: exact decimals stay exact
  return Buffer.from(await wb.xlsx.writeBuffer());
}

/** Writes `bytes` to `file` atomically: a temporary file in the same folder, fsync, rename. */
async function writeAtomically(file: string, bytes: Buffer): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(4).toString('hex')}.tmp`);
  const h = await fs.open(tmp, 'wx');
  try {
    await h.writeFile(bytes);
    await h.sync();
  } finally {
    await h.close();
  }
  try {
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
}

const exists = (p: string) => fs.access(p).then(() => true, () => false);

async function checkFolder(folder: string): Promise<string | null> {
  try {
    const st = await fs.stat(folder);
    if (!st.isDirectory()) return `${folder} is not a folder`;
    await fs.access(folder, fs.constants.W_OK | fs.constants.R_OK);
    return null;
  } catch (err) {
    return `The folder ${folder} cannot be used: ${(err as Error).message}`;
  }
}

export async function openFileDestination(config: FileConfig): Promise<DestinationHandle> {
  return {
    async send(req): Promise<DeliveryOutcome> {
      const name = `${config.prefix}-${safeName(req.idempotencyKey)}.${config.format}`;
      const file = path.join(config.folder, name);
      if (await exists(file)) return { ok: true, externalRef: name, detail: { alreadyWritten: true } }; // a retry
      const rows = rowsOf(req.payload);
      const columns = config.columns ?? [...new Set(rows.flatMap((r) => Object.keys(r)))];
      try {
        await writeAtomically(file, await encode(config.format, columns, rows));
        return { ok: true, externalRef: name };
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        const permanent = e.code === 'ENOENT' || e.code === 'ENOTDIR' || e.code === 'EACCES';
        return { ok: false, retryable: !permanent, error: `Writing ${file} failed: ${e.message}` };
      }
    },
    async test() {
      const t0 = performance.now();
      const problem = await checkFolder(config.folder);
      return { ok: !problem, message: problem ?? `文件夹可写 The folder ${config.folder} is writable`, latencyMs: performance.now() - t0 };
    },
    async close() {},
  };
}

function cellValue(c: Cell | undefined): unknown {
  if (!c) return null;
  switch (c.kind) {
    case 'empty':
      return null;
    case 'text':
    case 'error':
      return c.text;
    case 'number':
      return c.value;
    case 'boolean':
      return c.value;
    case 'date':
      return c.value.toISOString();
  }
}

export async function openFileSource(config: FileConfig): Promise<SourceHandle> {
  const dir = (sub: string) => path.join(config.folder, sub);
  const handedOut = new Set<string>();
  const next = async (): Promise<{ name: string; fromInbox: boolean } | null> => {
    await Promise.all(['processing', 'done', 'failed'].map((s) => fs.mkdir(dir(s), { recursive: true })));
    // First whatever a crashed run left in processing/, then the oldest new file.
    const left = (await fs.readdir(dir('processing'))).filter((f) => /\.(csv|xlsx)$/i.test(f)).sort();
    if (left[0]) return { name: left[0], fromInbox: false };
    const inbox = (await fs.readdir(config.folder, { withFileTypes: true })).filter((e) => e.isFile() && /\.(csv|xlsx)$/i.test(e.name) && !e.name.startsWith('.')).map((e) => e.name).sort();
    for (const name of inbox) {
      try {
        await fs.rename(path.join(config.folder, name), path.join(dir('processing'), name)); // the claim
        return { name, fromInbox: true };
      } catch {
        // another instance claimed it first
      }
    }
    return null;
  };
  return {
    async pull(): Promise<PullResult> {
      // What the previous pull handed out has been stored by the caller: it is done.
      for (const name of handedOut) {
        await fs.rename(path.join(dir('processing'), name), path.join(dir('done'), name)).catch(() => {});
        handedOut.delete(name);
      }
      for (;;) {
        const f = await next();
        if (!f) return { rows: [], nextWatermark: null, more: false };
        const full = path.join(dir('processing'), f.name);
        try {
          const bytes = await fs.readFile(full);
          const sheet = await readSpreadsheet(bytes, { declared: f.name.toLowerCase().endsWith('.xlsx') ? 'xlsx' : 'csv', maxBytes: config.maxBytes, maxRows: 1_000_000 });
          const rows: PulledRow[] = sheet.rows.map((r) => {
            const data: Record<string, unknown> = {};
            sheet.columns.forEach((c, i) => (data[c.header] = cellValue(r.cells[i])));
            const k = config.keyColumn ? data[config.keyColumn] : undefined;
            return { key: k !== undefined && k !== null ? String(k) : `${f.name}#${r.row}`, watermark: f.name, data };
          });
          handedOut.add(f.name);
          const more = (await fs.readdir(config.folder)).some((n) => /\.(csv|xlsx)$/i.test(n) && !n.startsWith('.'));
          return { rows, nextWatermark: f.name, more };
        } catch (err) {
          await fs.rename(full, path.join(dir('failed'), f.name)).catch(() => {});
          await fs.writeFile(path.join(dir('failed'), `${f.name}.error.txt`), `${(err as Error).message}\n`).catch(() => {});
        }
      }
    },
    async test() {
      const t0 = performance.now();
      const problem = await checkFolder(config.folder);
      return { ok: !problem, message: problem ?? `文件夹可用 The folder ${config.folder} can be read and written`, latencyMs: performance.now() - t0 };
    },
    async close() {},
  };
}

export const fileDriver: Driver<FileConfig> = {
  kind: 'file',
  label: { zh: '文件交换 (CSV / Excel)', en: 'File exchange (CSV / Excel)' },
  configSchema: fileConfigSchema as unknown as z.ZodType<FileConfig>,
  openDestination: (config) => openFileDestination(config),
  openSource: (config) => openFileSource(config),
};

registerDriver(fileDriver);
