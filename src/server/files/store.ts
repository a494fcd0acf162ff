// Storing and reading files. Every upload is checked: a type from the allow-list, at most
// FILE_MAX_BYTES, not empty, and for images/PDF the first bytes must match the declared type
// (a "photo" that is really an HTML page is refused, so it can never be served as one).
import { createHash } from 'node:crypto';
import type { Sql } from '../db/index.ts';
import { appendAudit, AppError, badRequest, notFound, payloadTooLarge, type Actor, type AppContext } from '../platform/index.ts';

export const FILE_MAX_BYTES = 10 * 1024 * 1024;

/** Content types a person may upload; images, PDF and office files cover the shop floor's needs. */
export const ALLOWED_TYPES: ReadonlySet<string> = new Set([
  'image/png',
  'image/jpeg',
  'image/webp',
  'image/gif',
  'application/pdf',
  'text/plain',
  'text/csv',
  'application/zip',
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  'application/vnd.ms-excel',
  'application/msword',
]);

/** Shown in the browser instead of downloaded. */
export const INLINE_TYPES: ReadonlySet<string> = new Set(['image/png', 'image/jpeg', 'image/webp', 'image/gif', 'application/pdf']);

const MAGIC: Record<string, (b: Buffer) => boolean> = {
  'image/png': (b) => b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])),
  'image/jpeg': (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff,
  'image/gif': (b) => b.subarray(0, 4).toString('latin1') === 'GIF8',
  'image/webp': (b) => b.subarray(0, 4).toString('latin1') === 'RIFF' && b.subarray(8, 12).toString('latin1') === 'WEBP',
  'application/pdf': (b) => b.subarray(0, 5).toString('latin1') === '%PDF-',
};

export interface FileMeta {
  id: string;
  name: string;
  contentType: string;
  size: number;
  sha256: string;
  createdBy: string;
  createdByName: string | null;
  createdAt: string;
}

/** The media type without parameters, lower-case: `Image/PNG; x=1` → `image/png`. */
export function baseType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase();
}

/** A file name a person can read back: no path, no control characters, at most 200 characters. */
export function cleanName(raw: string | undefined, contentType: string): string {
  // eslint-disable-next-line no-control-regex
  const base = (raw ?? '').replace(/[\u0000-\u001f\u007f]/g, '').split(/[\\/]/).pop()!.trim().slice(0, 200);
  if (base) return base;
  const ext: Record<string, string> = { 'image/png': 'png', 'image/jpeg': 'jpg', 'image/webp': 'webp', 'image/gif': 'gif', 'application/pdf': 'pdf', 'text/plain': 'txt', 'text/csv': 'csv' };
  return `file.${ext[contentType] ?? 'bin'}`;
}

export function checkUpload(contentType: string, bytes: Buffer): void {
  if (!ALLOWED_TYPES.has(contentType)) {
    throw new AppError(
      415,
      'unsupported-media-type',
      'Unsupported file type',
      `Files of type "${contentType || '(none)'}" cannot be uploaded. Send the file as the raw request body with one of these Content-Types: ${[...ALLOWED_TYPES].join(', ')}.`,
    );
  }
  if (bytes.length === 0) throw badRequest('The file is empty: send its bytes as the request body.');
  if (bytes.length > FILE_MAX_BYTES) throw payloadTooLarge(`The file has ${bytes.length} bytes; at most ${FILE_MAX_BYTES} (10 MB) may be uploaded.`);
  const magic = MAGIC[contentType];
  if (magic && !magic(bytes)) {
    throw badRequest(`The file does not look like ${contentType}: its first bytes do not match. Upload the real file, or send the Content-Type it has.`);
  }
}

/** Stores one upload with its audit entry (one transaction). */
export async function saveFile(ctx: AppContext, actor: Actor, input: { name?: string; contentType: string; bytes: Buffer }): Promise<FileMeta> {
  const contentType = baseType(input.contentType);
  checkUpload(contentType, input.bytes);
  const name = cleanName(input.name, contentType);
  const sha256 = createHash('sha256').update(input.bytes).digest('hex');
  const at = ctx.clock.now();
  return ctx.db.tx(async (tx) => {
    const r = await tx.query<{ id: string }>(
      `insert into files (name, content_type, size, sha256, data, created_by, created_at) values ($1, $2, $3, $4, $5, $6, $7) returning id`,
      [name, contentType, input.bytes.length, sha256, input.bytes, actor.principal.userId, at],
    );
    const id = r.rows[0]!.id;
    await appendAudit(tx, actor, { action: 'file.upload', targetType: 'file', targetId: id, detail: { name, contentType, size: input.bytes.length, sha256 } }, at);
    return { id, name, contentType, size: input.bytes.length, sha256, createdBy: actor.principal.userId, createdByName: actor.principal.displayName, createdAt: at.toISOString() };
  });
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export async function fileMeta(sql: Sql, id: string): Promise<FileMeta> {
  if (!UUID_RE.test(id)) throw notFound(`There is no file ${id.slice(0, 60)}: file ids are UUIDs.`);
  const r = await sql.query<{ id: string; name: string; content_type: string; size: number; sha256: string; created_by: string; display_name: string | null; created_at: Date }>(
    `select f.id, f.name, f.content_type, f.size, f.sha256, f.created_by, u.display_name, f.created_at
       from files f left join users u on u.id = f.created_by where f.id = $1`,
    [id],
  );
  const f = r.rows[0];
  if (!f) throw notFound(`There is no file ${id}.`);
  return { id: f.id, name: f.name, contentType: f.content_type, size: Number(f.size), sha256: f.sha256, createdBy: f.created_by, createdByName: f.display_name, createdAt: new Date(f.created_at).toISOString() };
}

export async function readFile(sql: Sql, id: string, known?: FileMeta): Promise<FileMeta & { data: Buffer }> {
  const meta = known ?? (await fileMeta(sql, id));
  const r = await sql.query<{ data: Uint8Array }>('select data from files where id = $1', [id]);
  const data = r.rows[0]!.data;
  return { ...meta, data: Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength) };
}
