// HTTP API of the records engine, under /api/v1/apps/:app/entities/:entity/records.
//
//   GET    …/records                 list: ?filter=<condition JSON>&sort=-created_at,name&after=&limit=&q=&fields=a,b
//   POST   …/records/query           list with the filter AST in the body
//   POST   …/records                 create { values } → 201, Location, ETag; { values, submit: true }:
//                                    created and submitted in one transaction (202 when an approval took it over)
//   GET    …/records/:id             read → ETag: W/"<version>" (If-None-Match → 304)
//   PATCH  …/records/:id             update { values, version? } with If-Match: W/"<version>" (or version)
//   DELETE …/records/:id             delete a draft → 204 (If-Match optional)
//   POST   …/records/:id/submit      draft → submitted (202 when an approval took it over)
//   POST   …/records/:id/cancel      submitted → cancelled
//   POST   …/records/:id/amend       cancelled → new draft copy → 201, Location
//   GET    …/records/:id/history     field-level change history, newest first
//
// Reads need the API scope records:read, writes records:write. Permissions and row scopes are
// enforced by the service; a record outside the caller's row scope is a 404.
import { z } from 'zod';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { IDENT_RE } from '../../shared/definition.ts';
import type { Api } from '../http/app.ts';
import { requireActor } from '../platform/index.ts';
import type { AppContext } from '../platform/index.ts';
import { AppError, badRequest } from '../platform/index.ts';
import { listRecords } from './list.ts';
import {
  amendRecord,
  cancelRecord,
  createRecord,
  deleteRecord,
  etagOf,
  getRecord,
  recordHistory,
  submitRecord,
  createAndSubmitRecord,
  updateRecord,
} from './service.ts';
import type { ListOptions, RecordJson } from './types.ts';

const Name = z.string().min(1).max(60).regex(IDENT_RE, 'a lower-case identifier');
const EntityParams = z.object({ app: Name, entity: Name }).strict();
const RecordParams = z.object({ app: Name, entity: Name, id: z.string().min(1).max(64) }).strict();

const SortItem = z.object({ field: z.string().min(1).max(60), dir: z.enum(['asc', 'desc']) }).strict();
const ListQuery = z
  .object({
    filter: z.string().max(20_000).optional(),
    sort: z.string().max(400).optional(),
    after: z.string().max(2000).optional(),
    limit: z.coerce.number().int().min(1).max(200).optional(),
    q: z.string().max(400).optional(),
    fields: z.string().max(4000).optional(),
  })
  .strict();
const QueryBody = z
  .object({
    filter: z.unknown().optional(),
    sort: z.array(SortItem).max(5).optional(),
    after: z.string().max(2000).nullable().optional(),
    limit: z.number().int().min(1).max(200).optional(),
    q: z.string().max(400).optional(),
    fields: z.array(z.string().min(1).max(60)).max(500).optional(),
  })
  .strict();
const Values = z.record(z.string(), z.unknown());
// submit: true = create and submit in one transaction (the form's 提交 on a new document): a refused submit keeps nothing
const CreateBody = z.object({ values: Values, submit: z.boolean().optional() }).strict();
const UpdateBody = z.object({ values: Values, version: z.number().int().min(1).optional() }).strict();
const VersionBody = z.object({ version: z.number().int().min(1).optional() }).strict().nullish();
const HistoryQuery = z
  .object({ limit: z.coerce.number().int().min(1).max(500).optional(), before: z.coerce.number().int().min(1).optional() })
  .strict();

const ETAG_RE = /^\s*(?:W\/)?"?(\d{1,9})"?\s*$/;

/** The version from If-Match and/or the body; 400 when they disagree or the header is unreadable. */
function versionFrom(request: FastifyRequest, bodyVersion: number | undefined): number | undefined {
  const h = request.headers['if-match'];
  let headerVersion: number | undefined;
  if (typeof h === 'string' && h.length) {
    const m = ETAG_RE.exec(h);
    if (!m) throw badRequest(`If-Match must be the ETag you read, like W/"3"; got ${JSON.stringify(h.slice(0, 40))}.`, [{ path: 'headers.if-match', message: 'must be W/"<version>"' }]);
    headerVersion = Number(m[1]);
  }
  if (headerVersion !== undefined && bodyVersion !== undefined && headerVersion !== bodyVersion) {
    throw badRequest(`If-Match says version ${headerVersion} but the body says ${bodyVersion}: send one, or the same in both.`, [{ path: 'body.version', message: 'differs from If-Match' }]);
  }
  return headerVersion ?? bodyVersion;
}

function parseSort(sort: string | undefined): ListOptions['sort'] {
  if (!sort) return undefined;
  const items = sort.split(',').map((s) => s.trim()).filter(Boolean);
  if (items.length > 5) throw badRequest('Sort by at most 5 fields.', [{ path: 'query.sort', message: 'at most 5 fields' }]);
  return items.map((s) => (s.startsWith('-') ? { field: s.slice(1), dir: 'desc' as const } : { field: s.replace(/^\+/, ''), dir: 'asc' as const }));
}

function parseFilter(filter: string | undefined): unknown {
  if (filter === undefined || filter === '') return undefined;
  try {
    return JSON.parse(filter) as unknown;
  } catch {
    throw badRequest('The "filter" query parameter must be a condition as JSON, e.g. {"field":"status","op":"eq","value":"draft"}.', [
      { path: 'query.filter', message: 'is not valid JSON' },
    ]);
  }
}

function location(p: { app: string; entity: string }, id: string): string {
  return `/api/v1/apps/${p.app}/entities/${p.entity}/records/${id}`;
}

function sendRecord(reply: FastifyReply, rec: RecordJson, status = 200): RecordJson {
  reply.code(status).header('etag', etagOf(rec.version));
  return rec;
}

export function recordsRoutes(api: Api, ctx: AppContext): void {
  const base = '/apps/:app/entities/:entity/records';
  const tags = ['records'];

  api.get(base, { schema: { tags, summary: 'List records', params: EntityParams, querystring: ListQuery } }, async (request) => {
    const actor = requireActor(request, { scope: 'records:read' });
    const { app, entity } = request.params;
    const q = request.query;
    return listRecords(ctx, actor, app, entity, {
      filter: parseFilter(q.filter),
      sort: parseSort(q.sort),
      after: q.after ?? null,
      limit: q.limit,
      q: q.q,
      fields: q.fields ? q.fields.split(',').map((f) => f.trim()).filter(Boolean) : undefined,
    });
  });

  api.post(`${base}/query`, { schema: { tags, summary: 'List records with a filter in the body', params: EntityParams, body: QueryBody } }, async (request) => {
    const actor = requireActor(request, { scope: 'records:read' });
    const { app, entity } = request.params;
    const b = request.body;
    return listRecords(ctx, actor, app, entity, { filter: b.filter, sort: b.sort, after: b.after ?? null, limit: b.limit, q: b.q, fields: b.fields });
  });

  api.post(base, { schema: { tags, summary: 'Create a record', params: EntityParams, body: CreateBody } }, async (request, reply) => {
    const actor = requireActor(request, { scope: 'records:write' });
    const { app, entity } = request.params;
    if (request.body.submit) {
      const r = await createAndSubmitRecord(ctx, actor, app, entity, request.body.values);
      reply.header('location', location(request.params, r.record.id));
      if (r.intercepted !== undefined) {
        // an approval took the new document over (as POST …/:id/submit answers)
        reply.code(202).header('etag', etagOf(r.record.version));
        return { ...r.record, intercepted: r.intercepted };
      }
      return sendRecord(reply, r.record, 201);
    }
    const rec = await createRecord(ctx, actor, app, entity, request.body.values);
    reply.header('location', location(request.params, rec.id));
    return sendRecord(reply, rec, 201);
  });

  api.get(`${base}/:id`, { schema: { tags, summary: 'Read a record', params: RecordParams } }, async (request, reply) => {
    const actor = requireActor(request, { scope: 'records:read' });
    const { app, entity, id } = request.params;
    const rec = await getRecord(ctx, actor, app, entity, id);
    const inm = request.headers['if-none-match'];
    if (typeof inm === 'string' && inm.split(',').some((t) => ETAG_RE.exec(t)?.[1] === String(rec.version))) {
      reply.code(304).header('etag', etagOf(rec.version));
      return reply.send();
    }
    return sendRecord(reply, rec);
  });

  api.patch(`${base}/:id`, { schema: { tags, summary: 'Update a record (If-Match: W/"<version>")', params: RecordParams, body: UpdateBody } }, async (request, reply) => {
    const actor = requireActor(request, { scope: 'records:write' });
    const { app, entity, id } = request.params;
    const version = versionFrom(request, request.body.version);
    if (version === undefined) {
      throw new AppError(428, 'precondition-required', 'Version required', 'Send the version you read: an If-Match: W/"<version>" header (the ETag of GET), or "version" in the body.');
    }
    const rec = await updateRecord(ctx, actor, app, entity, id, request.body.values, { expectedVersion: version });
    return sendRecord(reply, rec);
  });

  api.delete(`${base}/:id`, { schema: { tags, summary: 'Delete a draft record', params: RecordParams } }, async (request, reply) => {
    const actor = requireActor(request, { scope: 'records:write' });
    const { app, entity, id } = request.params;
    const version = versionFrom(request, undefined);
    await deleteRecord(ctx, actor, app, entity, id, version !== undefined ? { expectedVersion: version } : {});
    return reply.code(204).send();
  });

  api.post(`${base}/:id/submit`, { schema: { tags, summary: 'Submit a draft', params: RecordParams, body: VersionBody } }, async (request, reply) => {
    const actor = requireActor(request, { scope: 'records:write' });
    const { app, entity, id } = request.params;
    const version = versionFrom(request, request.body?.version);
    const r = await submitRecord(ctx, actor, app, entity, id, version !== undefined ? { expectedVersion: version } : {});
    if (r.intercepted !== undefined) {
      reply.code(202).header('etag', etagOf(r.record.version));
      return { ...r.record, intercepted: r.intercepted };
    }
    return sendRecord(reply, r.record);
  });

  api.post(`${base}/:id/cancel`, { schema: { tags, summary: 'Cancel a submitted document', params: RecordParams, body: VersionBody } }, async (request, reply) => {
    const actor = requireActor(request, { scope: 'records:write' });
    const { app, entity, id } = request.params;
    const version = versionFrom(request, request.body?.version);
    return sendRecord(reply, await cancelRecord(ctx, actor, app, entity, id, version !== undefined ? { expectedVersion: version } : {}));
  });

  api.post(`${base}/:id/amend`, { schema: { tags, summary: 'Amend a cancelled document into a new draft', params: RecordParams, body: VersionBody } }, async (request, reply) => {
    const actor = requireActor(request, { scope: 'records:write' });
    const { app, entity, id } = request.params;
    const rec = await amendRecord(ctx, actor, app, entity, id);
    reply.header('location', location(request.params, rec.id));
    return sendRecord(reply, rec, 201);
  });

  api.get(`${base}/:id/history`, { schema: { tags, summary: 'Change history of a record', params: RecordParams, querystring: HistoryQuery } }, async (request) => {
    const actor = requireActor(request, { scope: 'records:read' });
    const { app, entity, id } = request.params;
    return recordHistory(ctx, actor, app, entity, id, { limit: request.query.limit, before: request.query.before });
  });
}
