// HTTP face of the approval engine: `/api/v1/workflow/...`. Reads need any signed-in person
// (API keys: scope `workflow:read`); actions need `workflow:write`. Each action is one
// transaction; a conflict (someone decided first) is a 409 that says so.
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Api } from '../http/app.ts';
import { requireActor } from '../platform/auth/index.ts';
import type { Actor, AppContext } from '../platform/context.ts';
import { checkWorkflow } from '../../shared/workflow-definition.ts';
import { EntityDef } from '../../shared/definition.ts';
import * as inbox from './inbox.ts';
import * as svc from './service.ts';
import { startFromPublished } from './integration.ts';
import { calendarProblems, calendarRoutes } from './calendar-store.ts';

const tags = ['workflow'];
const reader = (r: FastifyRequest): Actor => requireActor(r, { scope: 'workflow:read' });
const writer = (r: FastifyRequest): Actor => requireActor(r, { scope: 'workflow:write' });

const Id = z.string().uuid('must be an id (UUID)');
const IdParams = z.object({ id: Id }).strict();
const Comment = z.string().max(4000).nullish();
const Attachments = z.array(z.union([z.string().max(200), z.record(z.string(), z.unknown())])).max(50).nullish();
const ListQuery = z
  .object({
    app: z.string().max(60).optional(),
    workflow: z.string().max(60).optional(),
    q: z.string().max(200).optional(),
    from: z.string().datetime({ offset: true }).optional(),
    to: z.string().datetime({ offset: true }).optional(),
    status: z.enum(['running', 'returned', 'approved', 'rejected', 'withdrawn', 'cancelled']).optional(),
    limit: z.coerce.number().int().min(1).max(200).optional(),
    cursor: z.string().max(200).optional(),
  })
  .strict();

const TaskActionBody = z.discriminatedUnion('action', [
  z
    .object({
      action: z.enum(['approve', 'reject']),
      comment: Comment,
      attachments: Attachments,
      changes: z.record(z.string(), z.unknown()).optional(),
      password: z.string().max(256).optional(),
      pin: z.string().max(64).optional(),
    })
    .strict(),
  z.object({ action: z.literal('return'), target: z.string().min(1).max(60), comment: Comment }).strict(),
  z.object({ action: z.literal('transfer'), to: z.string().min(1).max(100), comment: Comment }).strict(),
  z
    .object({ action: z.literal('add_signer'), position: z.enum(['before', 'after']), users: z.array(z.string().min(1).max(100)).min(1).max(20), comment: Comment })
    .strict(),
]);

const InstanceActionBody = z.discriminatedUnion('action', [
  z.object({ action: z.literal('withdraw'), comment: Comment }).strict(),
  z.object({ action: z.literal('comment'), comment: z.string().min(1).max(4000), attachments: Attachments }).strict(),
  z.object({ action: z.literal('resubmit'), comment: Comment, attachments: Attachments, changes: z.record(z.string(), z.unknown()).optional() }).strict(),
]);

export function workflowRoutes(api: Api, ctx: AppContext): void {
  calendarRoutes(api, ctx);
  api.post(
    '/workflow/validate',
    {
      schema: {
        tags,
        summary: 'Check an approval tree (designer): every problem with its path by node id',
        body: z.object({ workflow: z.unknown(), entity: EntityDef.optional() }).strict(),
      },
    },
    async (request) => {
      reader(request);
      const { problems, workflow } = checkWorkflow(request.body.workflow, request.body.entity);
      if (workflow) problems.push(...(await calendarProblems(ctx.db, [workflow])));
      return { valid: problems.length === 0, problems };
    },
  );

  api.post(
    '/workflow/start',
    {
      schema: {
        tags,
        summary: 'Start the approval of a document with the workflow of its published app version',
        body: z
          .object({
            app: z.string().min(1).max(60),
            entity: z.string().min(1).max(60),
            recordId: z.string().min(1).max(100),
            picks: z.record(z.string(), z.array(z.string().min(1).max(100)).max(50)).optional(),
          })
          .strict(),
      },
    },
    async (request, reply) => {
      const actor = writer(request);
      const r = await startFromPublished(ctx, actor, request.body);
      return reply.code(201).send(r);
    },
  );

  // ---------- inbox ----------
  api.get('/workflow/inbox/counts', { schema: { tags, summary: 'Counts for the inbox tabs' } }, async (request) => {
    const actor = reader(request);
    return inbox.counts(ctx.db, actor.principal.userId);
  });
  api.get('/workflow/inbox/todo', { schema: { tags, summary: 'Tasks waiting for me (newest first)', querystring: ListQuery } }, async (request) => {
    const actor = reader(request);
    return inbox.todo(ctx.db, actor.principal.userId, request.query);
  });
  api.get('/workflow/inbox/done', { schema: { tags, summary: 'Tasks I decided', querystring: ListQuery } }, async (request) => {
    const actor = reader(request);
    return inbox.done(ctx.db, actor.principal.userId, request.query);
  });
  api.get('/workflow/inbox/cc', { schema: { tags, summary: "Approvals I was CC'd on", querystring: ListQuery } }, async (request) => {
    const actor = reader(request);
    return inbox.cc(ctx.db, actor.principal.userId, request.query);
  });
  api.get('/workflow/inbox/started', { schema: { tags, summary: 'Approvals I started', querystring: ListQuery } }, async (request) => {
    const actor = reader(request);
    return inbox.started(ctx.db, actor.principal.userId, request.query);
  });
  api.post(
    '/workflow/inbox/bulk-approve',
    {
      schema: {
        tags,
        summary: 'Approve several tasks; each is its own transaction and reports its own result',
        body: z.object({ taskIds: z.array(Id).min(1).max(200), comment: Comment }).strict(),
      },
    },
    async (request) => {
      const actor = writer(request);
      const results = await svc.bulkApprove(ctx, actor, request.body.taskIds, request.body.comment);
      return { approved: results.filter((r) => r.ok).length, failed: results.filter((r) => !r.ok).length, results };
    },
  );

  // ---------- tasks ----------
  api.get('/workflow/tasks/:id', { schema: { tags, summary: 'A task with the document as this step sees it', params: IdParams } }, async (request) => {
    const actor = reader(request);
    return svc.taskView(ctx, actor, request.params.id);
  });
  api.post(
    '/workflow/tasks/:id/actions',
    {
      schema: {
        tags,
        summary: 'Approve, reject, return, transfer or add signers',
        description: '409 when the task is no longer pending (someone decided first, or the approval ended). Signed steps need `password` or `pin`.',
        params: IdParams,
        body: TaskActionBody,
      },
    },
    async (request) => {
      const actor = writer(request);
      return svc.actOnTask(ctx, actor, request.params.id, request.body);
    },
  );

  // ---------- instances ----------
  api.get(
    '/workflow/instances',
    {
      schema: {
        tags,
        summary: "A document's approvals (newest first) that I may read",
        querystring: z.object({ app: z.string().min(1).max(60), entity: z.string().min(1).max(60), recordId: z.string().min(1).max(100) }).strict(),
      },
    },
    async (request) => {
      const actor = reader(request);
      const q = request.query;
      const r = await ctx.db.query<Parameters<typeof svc.instanceView>[0]>(
        'select * from wf_instances where app = $1 and entity = $2 and record_id = $3 order by created_at desc limit 20',
        [q.app, q.entity, q.recordId],
      );
      const items = [];
      for (const inst of r.rows) if (await svc.canRead(ctx.db, actor, inst)) items.push(svc.instanceView(inst));
      return { items };
    },
  );
  api.get('/workflow/instances/:id', { schema: { tags, summary: 'An approval with its full ordered trail', params: IdParams } }, async (request) => {
    const actor = reader(request);
    const r = await svc.trail(ctx.db, actor, request.params.id);
    await inbox.markCcRead(ctx.db, actor.principal.userId, request.params.id, ctx.clock.now());
    return r;
  });
  api.post(
    '/workflow/instances/:id/actions',
    { schema: { tags, summary: 'Withdraw (initiator), resubmit after a return (initiator), or comment', params: IdParams, body: InstanceActionBody } },
    async (request) => {
      const actor = writer(request);
      return svc.actOnInstance(ctx, actor, request.params.id, request.body);
    },
  );

  // ---------- signatures ----------
  api.get(
    '/workflow/signatures/:id/verify',
    { schema: { tags, summary: 'Recompute an e-signature and report tampering', params: IdParams } },
    async (request) => {
      const actor = reader(request);
      return svc.verify(ctx, actor, request.params.id);
    },
  );

  // ---------- delegations ----------
  api.get('/workflow/delegations', { schema: { tags, summary: 'My delegations (given and received)' } }, async (request) => {
    const actor = reader(request);
    return { items: await svc.listDelegations(ctx, actor) };
  });
  api.post(
    '/workflow/delegations',
    {
      schema: {
        tags,
        summary: 'Delegate my new approval tasks to someone for a period',
        body: z
          .object({
            delegate: z.string().min(1).max(100),
            startsAt: z.string().datetime({ offset: true }),
            endsAt: z.string().datetime({ offset: true }),
            app: z.string().max(60).nullish(),
            reason: z.string().max(500).nullish(),
            user: z.string().max(100).optional(),
          })
          .strict(),
      },
    },
    async (request, reply) => {
      const actor = writer(request);
      return reply.code(201).send(await svc.createDelegation(ctx, actor, request.body));
    },
  );
  api.delete('/workflow/delegations/:id', { schema: { tags, summary: 'Revoke a delegation', params: IdParams } }, async (request, reply) => {
    const actor = writer(request);
    await svc.revokeDelegation(ctx, actor, request.params.id);
    return reply.code(204).send();
  });

  // ---------- notifications ----------
  api.get(
    '/workflow/notifications',
    {
      schema: {
        tags,
        summary: 'My in-app notifications (new tasks, reminders, escalations, outcomes)',
        querystring: z.object({ unread: z.enum(['true', 'false']).optional(), limit: z.coerce.number().int().min(1).max(200).optional(), before: z.coerce.number().int().positive().optional() }).strict(),
      },
    },
    async (request) => {
      const actor = reader(request);
      const q = request.query;
      return { items: await inbox.notifications(ctx.db, actor.principal.userId, { unread: q.unread === 'true', limit: q.limit, before: q.before }) };
    },
  );
  api.post(
    '/workflow/notifications/read',
    { schema: { tags, summary: 'Mark notifications read', body: z.object({ ids: z.union([z.array(z.number().int().positive()).max(500), z.literal('all')]) }).strict() } },
    async (request) => {
      const actor = writer(request);
      return { marked: await inbox.markNotificationsRead(ctx.db, actor.principal.userId, request.body.ids, ctx.clock.now()) };
    },
  );
}
