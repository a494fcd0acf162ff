// HTTP face of the master-data cache: `/api/v1/masterdata/...`.
//  - GET  /masterdata/:object?q=&limit=&cursor=   pick lists for erp_link fields (any signed-in person)
//  - GET  /masterdata/:object/:key                resolve one erp_link value (code or source key)
//  - GET  /masterdata/jobs, POST /masterdata/jobs, PATCH /masterdata/jobs/:id   pull schedules (IT admin)
//  - POST /masterdata/jobs/:id/run                pull now (IT admin), answers with the run
//  - GET  /masterdata/runs?jobId=                 pull history
import { randomUUID } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Api } from '../../http/app.ts';
import { requireActor, requireRole } from '../../platform/auth/index.ts';
import { appendAudit } from '../../platform/audit/index.ts';
import type { Actor, AppContext } from '../../platform/context.ts';
import { badRequest, conflict, notFound } from '../../platform/errors.ts';
import { ERP_MASTER_KINDS } from './objects.ts';
import { getCached, listCached } from './store.ts';
import { claimJob, nextDue, runJob, scheduleProblem, type PullJob, type PullRun } from './jobs.ts';
import type { PullJobView, PullRunView } from '../../../shared/integration-api.ts';

const tags = ['masterdata'];
const reader = (r: FastifyRequest): Actor => requireActor(r, { scope: 'masterdata:read' });
const admin = (r: FastifyRequest): Actor => {
  requireActor(r, { scope: 'masterdata:write' });
  return requireRole(r, 'it_admin');
};

const Kind = z.enum(ERP_MASTER_KINDS, { message: `must be one of: ${ERP_MASTER_KINDS.join(', ')}` });
const Hhmm = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be HH:MM, e.g. 02:00');
const JobBody = z
  .object({
    connectorId: z.string().min(1).max(100),
    object: Kind,
    cron: z.string().min(9).max(100),
    timezone: z.string().min(1).max(64).optional(),
    window: z.object({ start: Hhmm, end: Hhmm }).strict().nullable().optional(),
    mode: z.enum(['incremental', 'full']).default('incremental'),
    pageSize: z.number().int().min(1).max(1000).default(500),
    enabled: z.boolean().default(true),
  })
  .strict();
const JobPatch = z
  .object({
    cron: z.string().min(9).max(100).optional(),
    timezone: z.string().min(1).max(64).optional(),
    window: z.object({ start: Hhmm, end: Hhmm }).strict().nullable().optional(),
    mode: z.enum(['incremental', 'full']).optional(),
    pageSize: z.number().int().min(1).max(1000).optional(),
    enabled: z.boolean().optional(),
    /** true: forget the watermark, the next pull reads everything again. */
    resetWatermark: z.boolean().optional(),
  })
  .strict();
const IdParams = z.object({ id: z.string().uuid('must be a pull job id (UUID)') }).strict();

export const jobOut = (j: PullJob): PullJobView => ({
  id: j.id,
  connectorId: j.connector_id,
  object: j.object,
  cron: j.cron,
  timezone: j.timezone,
  window: j.window_start ? { start: j.window_start, end: j.window_end } : null,
  mode: j.mode,
  pageSize: j.page_size,
  enabled: j.enabled,
  watermark: j.watermark,
  dueAt: new Date(j.due_at).toISOString(),
  running: j.lease_until !== null && new Date(j.lease_until) > new Date(),
  lastRunAt: j.last_run_at ? new Date(j.last_run_at).toISOString() : null,
  lastStatus: j.last_status,
  lastError: j.last_error,
});
export const runOut = (r: PullRun): PullRunView => ({
  id: r.id,
  jobId: r.job_id,
  connectorId: r.connector_id,
  object: r.object,
  trigger: r.trigger,
  status: r.status,
  startedAt: new Date(r.started_at).toISOString(),
  finishedAt: r.finished_at ? new Date(r.finished_at).toISOString() : null,
  durationMs: r.duration_ms,
  pages: r.pages,
  rowsSeen: r.rows_seen,
  inserted: r.inserted,
  updated: r.updated,
  unchanged: r.unchanged,
  deleted: r.deleted,
  error: r.error,
  retryable: r.retryable,
});

function checkSchedule(s: { cron: string; timezone: string; window_start: string | null; window_end: string | null }): void {
  const p = scheduleProblem(s);
  if (p) throw badRequest(`The pull schedule is not usable: ${p}.`, [{ path: 'body.cron', message: p }]);
}

export function masterDataRoutes(api: Api, ctx: AppContext): void {
  api.get('/masterdata/jobs', { schema: { tags, summary: 'Master-data pull jobs' } }, async (request) => {
    reader(request);
    const r = await ctx.db.query<PullJob>(`select * from md_pull_jobs order by connector_id, object`);
    return { items: r.rows.map(jobOut) };
  });

  api.post('/masterdata/jobs', { schema: { tags, summary: 'Schedule a master-data pull', body: JobBody } }, async (request, reply) => {
    const actor = admin(request);
    const b = request.body;
    const s = { cron: b.cron, timezone: b.timezone ?? ctx.config.timezone, window_start: b.window?.start ?? null, window_end: b.window?.end ?? null };
    checkSchedule(s);
    const id = randomUUID();
    const job = await ctx.db.tx(async (tx) => {
      const r = await tx.query<PullJob>(
        `insert into md_pull_jobs (id, connector_id, object, cron, timezone, window_start, window_end, mode, page_size, enabled, due_at)
         values ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11) on conflict (connector_id, object) do nothing returning *`,
        [id, b.connectorId, b.object, s.cron, s.timezone, s.window_start, s.window_end, b.mode, b.pageSize, b.enabled, nextDue(s, ctx.clock.now())],
      );
      if (!r.rows[0]) throw conflict(`A pull job for ${b.object} from connector "${b.connectorId}" exists already; change it with PATCH /api/v1/masterdata/jobs/:id.`);
      await appendAudit(tx, actor, { action: 'masterdata.job.create', targetType: 'md_pull_job', targetId: id, detail: { ...b } });
      return r.rows[0];
    });
    return reply.code(201).send(jobOut(job));
  });

  api.patch('/masterdata/jobs/:id', { schema: { tags, summary: 'Change a master-data pull schedule', params: IdParams, body: JobPatch } }, async (request) => {
    const actor = admin(request);
    const b = request.body;
    const job = await ctx.db.tx(async (tx) => {
      const cur = (await tx.query<PullJob>(`select * from md_pull_jobs where id = $1 for update`, [request.params.id])).rows[0];
      if (!cur) throw notFound(`No pull job ${request.params.id}.`);
      const s = {
        cron: b.cron ?? cur.cron,
        timezone: b.timezone ?? cur.timezone,
        window_start: b.window === undefined ? cur.window_start : (b.window?.start ?? null),
        window_end: b.window === undefined ? cur.window_end : (b.window?.end ?? null),
      };
      checkSchedule(s);
      const r = await tx.query<PullJob>(
        `update md_pull_jobs set cron = $2, timezone = $3, window_start = $4, window_end = $5, mode = $6, page_size = $7, enabled = $8,
                watermark = case when $9 then null else watermark end, due_at = $10, updated_at = now()
          where id = $1 returning *`,
        [cur.id, s.cron, s.timezone, s.window_start, s.window_end, b.mode ?? cur.mode, b.pageSize ?? cur.page_size, b.enabled ?? cur.enabled, b.resetWatermark === true, nextDue(s, ctx.clock.now())],
      );
      await appendAudit(tx, actor, { action: 'masterdata.job.update', targetType: 'md_pull_job', targetId: cur.id, detail: { ...b } });
      return r.rows[0]!;
    });
    return jobOut(job);
  });

  api.post('/masterdata/jobs/:id/run', { schema: { tags, summary: 'Pull now; answers with the finished run', params: IdParams } }, async (request) => {
    const actor = admin(request);
    const workerId = `manual-${request.id}`;
    const exists = await ctx.db.query(`select 1 from md_pull_jobs where id = $1`, [request.params.id]);
    if (!exists.rowCount) throw notFound(`No pull job ${request.params.id}.`);
    await ctx.db.tx((tx) => appendAudit(tx, actor, { action: 'masterdata.job.run', targetType: 'md_pull_job', targetId: request.params.id }));
    const job = await claimJob(ctx.db, request.params.id, ctx.clock.now(), workerId, 5 * 60_000);
    if (!job) throw conflict('This pull is running right now; wait for it to finish and look at its run in the history.');
    return runOut(await runJob(ctx, job, { workerId, leaseMs: 5 * 60_000, trigger: 'manual' }));
  });

  api.get(
    '/masterdata/runs',
    {
      schema: {
        tags,
        summary: 'Master-data pull history',
        querystring: z.object({ jobId: z.string().uuid().optional(), limit: z.coerce.number().int().min(1).max(200).default(50) }).strict(),
      },
    },
    async (request) => {
      reader(request);
      const q = request.query;
      const r = await ctx.db.query<PullRun>(`select * from md_pull_runs where ($1::uuid is null or job_id = $1) order by id desc limit $2`, [q.jobId ?? null, q.limit]);
      return { items: r.rows.map(runOut) };
    },
  );

  api.get(
    '/masterdata/:object',
    {
      schema: {
        tags,
        summary: 'Cached ERP master data (pick list for erp_link fields)',
        params: z.object({ object: Kind }).strict(),
        querystring: z
          .object({
            q: z.string().max(100).optional(),
            connector: z.string().max(100).optional(),
            includeDeleted: z.enum(['true', 'false']).optional(),
            limit: z.coerce.number().int().min(1).max(200).default(50),
            cursor: z.string().max(200).optional(),
          })
          .strict(),
      },
    },
    async (request) => {
      reader(request);
      const q = request.query;
      return listCached(ctx.db, request.params.object, { q: q.q, connectorId: q.connector, includeDeleted: q.includeDeleted === 'true', limit: q.limit, after: q.cursor });
    },
  );

  api.get(
    '/masterdata/:object/:key',
    {
      schema: {
        tags,
        summary: 'Resolve an erp_link value against the cache (by code, else by the source key)',
        params: z.object({ object: Kind, key: z.string().min(1).max(200) }).strict(),
        querystring: z.object({ connector: z.string().max(100).optional() }).strict(),
      },
    },
    async (request) => {
      reader(request);
      const hit = await getCached(ctx.db, request.params.object, request.params.key, request.query.connector);
      if (!hit) throw notFound(`No ${request.params.object} "${request.params.key}" in the master-data cache. Check the code, or pull ${request.params.object} from the ERP now.`);
      return hit;
    },
  );
}
