// The audit trail for auditors: read it (filtered, newest first, keyset paging by sequence
// number) and verify that nobody edited or removed an entry. Needs the role `auditor` (or
// `admin`); API keys also need the scope `audit:read`.
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Api } from '../../http/app.ts';
import type { Actor, AppContext } from '../context.ts';
import { registerScopes, requireActor, requireRole } from '../auth/index.ts';
import { verifyAuditChain, type AuditRow } from './index.ts';

registerScopes('audit:read');

const tags = ['audit'];

// eslint-disable-next-line no-control-regex
const printable = (s: string) => !/[\u0000-\u001f\u007f]/.test(s);
const Plain = (max: number) => z.string().min(1).max(max).refine(printable, 'must not contain control characters');

const AuditQuery = z
  .object({
    /** Username or user id of who acted. */
    actor: Plain(100).optional(),
    /** `org.user` matches `org.user.create`, `org.user.update`, ...; a full action matches itself. */
    action: z
      .string()
      .max(100)
      .regex(/^[a-z0-9_.]+$/, 'use the dotted action name or its start, e.g. "org.user" or "auth.login"')
      .optional(),
    targetType: Plain(64).optional(),
    targetId: Plain(200).optional(),
    /** Inclusive start, ISO 8601 with offset, e.g. 2026-03-01T00:00:00+08:00. */
    from: z.iso.datetime({ offset: true }).optional(),
    /** Exclusive end. */
    to: z.iso.datetime({ offset: true }).optional(),
    /** Keyset paging: entries with a sequence number below this (from `nextBefore`). */
    before: z.coerce.number().int().min(1).max(Number.MAX_SAFE_INTEGER).optional(),
    limit: z.coerce.number().int().min(1).max(500).default(50),
  })
  .strict();

const AuditEntry = z.object({
  seq: z.number(),
  at: z.string(),
  actorId: z.string().nullable(),
  actorName: z.string().nullable(),
  action: z.string(),
  targetType: z.string().nullable(),
  targetId: z.string().nullable(),
  ip: z.string().nullable(),
  userAgent: z.string().nullable(),
  requestId: z.string().nullable(),
  detail: z.record(z.string(), z.unknown()),
  prevHash: z.string().nullable().describe('null until the sealer has chained the entry (milliseconds after commit)'),
  hash: z.string().nullable(),
});

const VerifyOut = z.object({
  ok: z.boolean(),
  checked: z.number(),
  brokenAt: z.number().optional(),
  reason: z.string().optional(),
});

function auditor(request: FastifyRequest): Actor {
  requireActor(request, { scope: 'audit:read' });
  return requireRole(request, 'auditor');
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function auditRoutes(api: Api, ctx: AppContext): void {
  api.get(
    '/audit',
    {
      schema: {
        tags,
        summary: 'The audit trail, newest first; filter by actor, action prefix, target and time',
        querystring: AuditQuery,
        response: { 200: z.object({ items: z.array(AuditEntry), nextBefore: z.number().nullable() }) },
      },
    },
    async (request) => {
      auditor(request);
      const q = request.query;
      const where: string[] = [];
      const params: unknown[] = [];
      const p = (v: unknown) => {
        params.push(v);
        return `$${params.length}`;
      };
      if (q.actor) where.push(UUID.test(q.actor) ? `actor_id = ${p(q.actor)}::uuid` : `actor_name = ${p(q.actor.toLowerCase())}`);
      if (q.action) {
        const a = p(q.action);
        where.push(`(action = ${a} or starts_with(action, ${a} || '.'))`);
      }
      if (q.targetType) where.push(`target_type = ${p(q.targetType)}`);
      if (q.targetId) where.push(`target_id = ${p(q.targetId)}`);
      if (q.from) where.push(`at >= ${p(q.from)}::timestamptz`);
      if (q.to) where.push(`at < ${p(q.to)}::timestamptz`);
      if (q.before) where.push(`seq < ${p(q.before)}`);
      const r = await ctx.db.query<AuditRow>(
        `select seq, at, actor_id, actor_name, action, target_type, target_id, ip, user_agent, request_id, detail, prev_hash, hash
         from audit_log ${where.length ? `where ${where.join(' and ')}` : ''} order by seq desc limit ${p(q.limit + 1)}`,
        params,
      );
      const more = r.rows.length > q.limit;
      const rows = more ? r.rows.slice(0, q.limit) : r.rows;
      return {
        items: rows.map((e) => ({
          seq: Number(e.seq),
          at: new Date(e.at).toISOString(),
          actorId: e.actor_id,
          actorName: e.actor_name,
          action: e.action,
          targetType: e.target_type,
          targetId: e.target_id,
          ip: e.ip,
          userAgent: e.user_agent,
          requestId: e.request_id,
          detail: typeof e.detail === 'string' ? (JSON.parse(e.detail) as Record<string, unknown>) : e.detail,
          prevHash: e.prev_hash,
          hash: e.hash,
        })),
        nextBefore: more ? Number(rows[rows.length - 1]!.seq) : null,
      };
    },
  );

  api.get(
    '/audit/verify',
    {
      schema: {
        tags,
        summary: 'Recompute the hash chain: reports the first edited, removed or missing entry',
        response: { 200: VerifyOut },
      },
    },
    async (request) => {
      auditor(request);
      return verifyAuditChain(ctx.db);
    },
  );
}
