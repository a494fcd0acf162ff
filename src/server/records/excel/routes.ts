// HTTP API of spreadsheet import and export, next to the records API:
//
//   POST …/apps/:app/entities/:entity/records/import/preview   headers, samples, suggested mapping
//   POST …/apps/:app/entities/:entity/records/import           import → per-row report
//   GET  …/apps/:app/entities/:entity/records/export           ?format=xlsx|csv&lang=zh|en&filter=&sort=&q=&fields=
//   POST …/apps/:app/entities/:entity/records/export           the same with a JSON body (long filters)
//
// The file is the raw request body (Content-Type
// application/vnd.openxmlformats-officedocument.spreadsheetml.sheet, text/csv, or
// application/octet-stream to let Trellis tell) with the options in the query string
// (`mapping` as JSON, `mode`, `dryRun`, `sheet`, `headerRow`, `filename`), or JSON
// `{ "file": "<base64>", "filename": "…", "mapping": {…}, "mode": "…" }`. Files over 10 MB → 413.
//
// Import answers 200 with the report; an all_or_nothing import with a failed row answers 422 with
// the same report in the problem body (nothing was written). Import needs the API scope
// records:write and the entity rights `import` and `create`; export needs records:read and the
// rights `export` and `read`.
import { z } from 'zod';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { IDENT_RE } from '../../../shared/definition.ts';
import type { Api } from '../../http/app.ts';
import { AppError, badRequest, requireActor, type AppContext } from '../../platform/index.ts';
import { exportRecords, type ExportOptions, type ExportStream } from './export.ts';
import { IMPORT_MAX_BYTES, importRecords, previewImport, type ImportOptions } from './import.ts';

export const XLSX_TYPE = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';
const RAW_TYPES = [XLSX_TYPE, 'text/csv', 'application/csv', 'text/plain', 'application/octet-stream', 'application/vnd.ms-excel'];
/** Room for a 10 MB file in base64 inside JSON; the decoded size is checked against IMPORT_MAX_BYTES. */
const BODY_LIMIT = Math.ceil((IMPORT_MAX_BYTES * 4) / 3) + 1024 * 1024;

const Name = z.string().min(1).max(60).regex(IDENT_RE, 'a lower-case identifier');
const EntityParams = z.object({ app: Name, entity: Name }).strict();
const Mode = z.enum(['all_or_nothing', 'valid_rows_only']);
const Format = z.enum(['xlsx', 'csv']);
const Bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

const ImportQuery = z
  .object({
    mapping: z.string().max(20_000).optional(),
    mode: Mode.optional(),
    dryRun: Bool.optional(),
    sheet: z.string().min(1).max(100).optional(),
    headerRow: z.coerce.number().int().min(1).max(1_048_576).optional(),
    format: Format.optional(),
    filename: z.string().max(255).optional(),
  })
  .strict();

const JsonImport = z
  .object({
    file: z.string().min(1, 'the file is empty'),
    filename: z.string().max(255).optional(),
    format: Format.optional(),
    mapping: z.record(z.string().max(300), z.string().max(60).nullable()).optional(),
    mode: Mode.optional(),
    dryRun: z.boolean().optional(),
    sheet: z.union([z.string().min(1).max(100), z.number().int().min(1).max(1000)]).optional(),
    headerRow: z.number().int().min(1).max(1_048_576).optional(),
  })
  .strict();

const SortItem = z.object({ field: z.string().min(1).max(60), dir: z.enum(['asc', 'desc']) }).strict();
const ExportQuery = z
  .object({
    format: Format.optional(),
    lang: z.enum(['zh', 'en', 'zh-CN', 'en-US']).optional(),
    filter: z.string().max(20_000).optional(),
    sort: z.string().max(400).optional(),
    q: z.string().max(400).optional(),
    fields: z.string().max(4000).optional(),
  })
  .strict();
const ExportBody = z
  .object({
    format: Format.optional(),
    lang: z.enum(['zh', 'en', 'zh-CN', 'en-US']).optional(),
    filter: z.unknown().optional(),
    sort: z.array(SortItem).max(5).optional(),
    q: z.string().max(400).optional(),
    fields: z.array(z.string().min(1).max(60)).max(500).optional(),
  })
  .strict();

function formatFrom(contentType: string | undefined, filename: string | undefined): 'xlsx' | 'csv' | undefined {
  const ext = filename ? /\.([a-z0-9]+)$/i.exec(filename)?.[1]?.toLowerCase() : undefined;
  if (ext === 'xlsx' || ext === 'csv') return ext;
  const ct = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (ct === XLSX_TYPE) return 'xlsx';
  if (ct === 'text/csv' || ct === 'application/csv' || ct === 'text/plain') return 'csv';
  return undefined;
}

function parseJsonParam(s: string, name: string, example: string): unknown {
  try {
    return JSON.parse(s) as unknown;
  } catch {
    throw badRequest(`The "${name}" query parameter must be JSON, e.g. ${example}.`, [{ path: `query.${name}`, message: 'is not valid JSON' }]);
  }
}

function zodFail(where: string, error: z.ZodError): AppError {
  const errors = error.issues.map((i) => ({ path: [where, ...i.path.map(String)].join('.'), message: i.message }));
  return new AppError(400, 'validation-failed', 'Validation failed', `The request ${where} is not valid: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`, { errors });
}

/** The uploaded file and options, from a raw body + query string or from JSON. */
function upload(request: FastifyRequest): { bytes: Buffer; opts: ImportOptions } {
  const body = request.body;
  if (Buffer.isBuffer(body)) {
    const q = ImportQuery.safeParse(request.query ?? {});
    if (!q.success) throw zodFail('querystring', q.error);
    const { mapping, sheet, ...rest } = q.data;
    return {
      bytes: body,
      opts: {
        ...rest,
        format: rest.format ?? formatFrom(request.headers['content-type'], rest.filename),
        sheet,
        mapping: mapping !== undefined ? (parseJsonParam(mapping, 'mapping', '{"数量":"qty"}') as ImportOptions['mapping']) : undefined,
      },
    };
  }
  if (body === undefined || body === null) {
    throw badRequest(`Send the file as the request body (Content-Type ${XLSX_TYPE} or text/csv), or as JSON {"file": "<base64>", "filename": "data.xlsx"}.`, [{ path: 'body', message: 'no file' }]);
  }
  const j = JsonImport.safeParse(body);
  if (!j.success) throw zodFail('body', j.error);
  const b64 = j.data.file.replace(/^data:[^,]*;base64,/, '').replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(b64)) throw badRequest('"file" must be the file content in base64.', [{ path: 'body.file', message: 'not base64' }]);
  const { file: _file, ...rest } = j.data;
  return { bytes: Buffer.from(b64, 'base64'), opts: { ...rest, format: rest.format ?? formatFrom(undefined, rest.filename) } };
}

function parseSort(sort: string | undefined): ExportOptions['sort'] {
  if (!sort) return undefined;
  return sort
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => (s.startsWith('-') ? { field: s.slice(1), dir: 'desc' as const } : { field: s.replace(/^\+/, ''), dir: 'asc' as const }));
}

function sendFile(reply: FastifyReply, file: ExportStream) {
  return reply
    .header('content-disposition', `attachment; filename="${file.asciiFilename}"; filename*=UTF-8''${encodeURIComponent(file.filename)}`)
    .header('cache-control', 'no-store')
    .type(file.contentType)
    .send(file.stream);
}

const UPLOAD_HELP = `Send the file as the raw body (Content-Type ${XLSX_TYPE}, text/csv or application/octet-stream) with options in the query string — mapping (JSON: header or column letter → field name or null), mode (all_or_nothing | valid_rows_only), dryRun, sheet, headerRow, format, filename — or as JSON {"file": "<base64>", "filename", "mapping", "mode", "dryRun", "sheet", "headerRow"}. At most 10 MB and 10,000 rows. CSV may be UTF-8 (with or without BOM), GBK/GB18030 or UTF-16.`;

const lang = (l: string | undefined): 'zh' | 'en' | undefined => (l === undefined ? undefined : l.startsWith('en') ? 'en' : 'zh');

export async function excelRoutes(api: Api, ctx: AppContext): Promise<void> {
  // Own scope: the raw-file body parsers apply to these routes only.
  await api.register(async (scoped) => {
    const r = scoped as unknown as Api;
    r.removeContentTypeParser('text/plain'); // Fastify's own one decodes as UTF-8; GBK CSV needs the bytes
    r.addContentTypeParser(RAW_TYPES, { parseAs: 'buffer', bodyLimit: BODY_LIMIT }, (_request, body, done) => done(null, body));
    const base = '/apps/:app/entities/:entity/records';
    const tags = ['records'];

    r.post(
      `${base}/import/preview`,
      { bodyLimit: BODY_LIMIT, schema: { tags, summary: 'Read a spreadsheet: headers, sample rows, suggested column mapping', description: UPLOAD_HELP, params: EntityParams } },
      async (request) => {
        const actor = requireActor(request, { scope: 'records:write' });
        const { app, entity } = request.params;
        const { bytes, opts } = upload(request);
        return previewImport(ctx, actor, app, entity, bytes, opts);
      },
    );

    r.post(
      `${base}/import`,
      { bodyLimit: BODY_LIMIT, schema: {
          tags,
          summary: 'Import records from .xlsx or .csv with a per-row validation report',
          description: `${UPLOAD_HELP} Answers 200 with {mode, dryRun, committed, total, imported, failed, rows: [{row, ok, id, name, errors: [{column, cell, field, message}]}]}; an all_or_nothing import with a bad row answers 422 with the same report and writes nothing.`,
          params: EntityParams,
        } },
      async (request, reply) => {
        const actor = requireActor(request, { scope: 'records:write' });
        const { app, entity } = request.params;
        const { bytes, opts } = upload(request);
        const report = await importRecords(ctx, actor, app, entity, bytes, opts);
        if (report.mode === 'all_or_nothing' && !report.dryRun && report.failed > 0) {
          throw new AppError(
            422,
            'import-failed',
            'Nothing was imported',
            `${report.failed} of ${report.total} rows have problems, so nothing was imported (all or nothing). Fix the rows listed in "rows" and import again, or import with mode "valid_rows_only".`,
            { extra: { ...report } },
          );
        }
        return reply.code(200).send(report);
      },
    );

    r.get(`${base}/export`, { schema: { tags, summary: 'Export the list (current filter) as .xlsx or .csv', params: EntityParams, querystring: ExportQuery } }, async (request, reply) => {
      const actor = requireActor(request, { scope: 'records:read' });
      const { app, entity } = request.params;
      const q = request.query as z.infer<typeof ExportQuery>;
      const file = await exportRecords(ctx, actor, app, entity, {
        format: q.format,
        lang: lang(q.lang),
        filter: q.filter ? parseJsonParam(q.filter, 'filter', '{"field":"qty","op":"gt","value":0}') : undefined,
        sort: parseSort(q.sort),
        q: q.q,
        fields: q.fields ? q.fields.split(',').map((f) => f.trim()).filter(Boolean) : undefined,
      });
      return sendFile(reply, file);
    });

    r.post(`${base}/export`, { schema: { tags, summary: 'Export the list with the filter in the body', params: EntityParams, body: ExportBody } }, async (request, reply) => {
      const actor = requireActor(request, { scope: 'records:read' });
      const { app, entity } = request.params;
      const b = request.body as z.infer<typeof ExportBody>;
      const file = await exportRecords(ctx, actor, app, entity, { format: b.format, lang: lang(b.lang), filter: b.filter, sort: b.sort, q: b.q, fields: b.fields });
      return sendFile(reply, file);
    });
  });
}
