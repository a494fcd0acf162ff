// HTTP face of the integration hub: `/api/v1/integration/...`. Administrators and people with the
// role `integration_engineer`; API keys need `integration:read` / `integration:write`. Every write is
// one transaction with its audit entry. Secrets are accepted, never returned.
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Api } from '../http/app.ts';
import { requireActor } from '../platform/auth/index.ts';
import { hasRole } from '../platform/auth/scopes.ts';
import type { Actor, AppContext } from '../platform/context.ts';
import { appendAudit } from '../platform/audit/index.ts';
import { forbidden } from '../platform/errors.ts';
import { emitEvent } from '../platform/events/index.ts';
import { driverInfo, driverKinds, getDriver } from './drivers/registry.ts';
import * as connectors from './connectors.ts';
import * as flows from './flows.ts';
import * as deliveries from './deliveries.ts';
import { evaluateAlerts, healthReport, listAlerts } from './health.ts';
import { runCompensation } from './compensation.ts';

const tags = ['integration'];

function guard(r: FastifyRequest, scope: string): Actor {
  const actor = requireActor(r, { scope });
  if (!hasRole(actor.principal, 'integration_engineer')) {
    throw forbidden('Integration settings need the role "integration_engineer" or "admin". Ask an administrator to grant it.');
  }
  return actor;
}
const reader = (r: FastifyRequest) => guard(r, 'integration:read');
const writer = (r: FastifyRequest) => guard(r, 'integration:write');

const IdOrName = z.object({ id: z.string().min(1).max(100) }).strict();
const DeliveryId = z.object({ id: z.coerce.number().int().positive() }).strict();

export function integrationRoutes(api: Api, ctx: AppContext): void {
  // ---- drivers ----------------------------------------------------------------------------------
  api.get('/integration/drivers', { schema: { tags, summary: 'Connector kinds this server can use, each with its config and secret JSON Schema (labels and form hints under x-trellis)' } }, async (request) => {
    reader(request);
    return { items: driverKinds().map((k) => driverInfo(getDriver(k)!)) };
  });

  // ---- connectors ---------------------------------------------------------------------------------
  api.get('/integration/connectors', { schema: { tags, summary: 'List connectors (secrets are never shown)' } }, async (request) => {
    reader(request);
    return { items: (await connectors.listConnectors(ctx.db)).map(connectors.viewConnector) };
  });
  api.post('/integration/connectors', { schema: { tags, summary: 'Create a connector', body: connectors.ConnectorCreate } }, async (request, reply) => {
    const actor = writer(request);
    const row = await ctx.db.tx((tx) => connectors.createConnector(ctx, tx, actor, request.body));
    reply.code(201);
    return connectors.viewConnector(row);
  });
  api.get('/integration/connectors/:id', { schema: { tags, summary: 'One connector', params: IdOrName } }, async (request) => {
    reader(request);
    return connectors.viewConnector(await connectors.getConnector(ctx.db, request.params.id));
  });
  api.patch('/integration/connectors/:id', { schema: { tags, summary: 'Change a connector (secrets: replace, null removes, absent keeps)', params: IdOrName, body: connectors.ConnectorPatch } }, async (request) => {
    const actor = writer(request);
    return connectors.viewConnector(await ctx.db.tx((tx) => connectors.updateConnector(ctx, tx, actor, request.params.id, request.body)));
  });
  api.delete('/integration/connectors/:id', { schema: { tags, summary: 'Delete a connector no flow uses', params: IdOrName } }, async (request, reply) => {
    const actor = writer(request);
    await ctx.db.tx((tx) => connectors.deleteConnector(tx, actor, request.params.id));
    reply.code(204);
  });
  api.post('/integration/connectors/:id/test', { schema: { tags, summary: 'Connection test (opens the connector and asks the other side)', params: IdOrName } }, async (request) => {
    const actor = writer(request);
    const row = await connectors.getConnector(ctx.db, request.params.id);
    const result = await connectors.testConnector(ctx, row); // network: outside any transaction
    await ctx.db.tx((tx) =>
      appendAudit(tx, actor, { action: 'integration.connector.test', targetType: 'integration_connector', targetId: row.id, detail: { name: row.name, ok: result.ok } }),
    );
    return result;
  });

  // ---- flows ----------------------------------------------------------------------------------------
  api.get('/integration/flows', { schema: { tags, summary: 'List flows' } }, async (request) => {
    reader(request);
    return { items: (await flows.listFlows(ctx.db)).map(flows.viewFlow) };
  });
  api.post('/integration/flows', { schema: { tags, summary: 'Create a flow (events → connector)', body: flows.FlowCreate } }, async (request, reply) => {
    const actor = writer(request);
    const row = await ctx.db.tx((tx) => flows.createFlow(tx, actor, request.body));
    reply.code(201);
    return flows.viewFlow(row);
  });
  api.get('/integration/flows/:id', { schema: { tags, summary: 'One flow', params: IdOrName } }, async (request) => {
    reader(request);
    return flows.viewFlow(await flows.getFlow(ctx.db, request.params.id));
  });
  api.patch('/integration/flows/:id', { schema: { tags, summary: 'Change a flow', params: IdOrName, body: flows.FlowPatch } }, async (request) => {
    const actor = writer(request);
    return flows.viewFlow(await ctx.db.tx((tx) => flows.updateFlow(tx, actor, request.params.id, request.body)));
  });
  api.delete('/integration/flows/:id', { schema: { tags, summary: 'Delete a flow and its deliveries', params: IdOrName } }, async (request, reply) => {
    const actor = writer(request);
    await ctx.db.tx((tx) => flows.deleteFlow(tx, actor, request.params.id));
    reply.code(204);
  });
  api.post(
    '/integration/flows/:id/preview',
    { schema: { tags, summary: 'Apply the flow mapping to a sample CloudEvent (no delivery is made)', params: IdOrName, body: z.strictObject({ event: z.record(z.string(), z.unknown()) }) } },
    async (request) => {
      reader(request);
      const flow = await flows.getFlow(ctx.db, request.params.id);
      const { mapEvent } = await import('./relay.ts');
      try {
        return { payload: await mapEvent(flow, request.body.event as never) };
      } catch (err) {
        return { error: String((err as Error).message) };
      }
    },
  );

  // ---- events (manual emission: test a flow, replay a document) -------------------------------------
  api.post(
    '/integration/events',
    {
      schema: {
        tags,
        summary: 'Emit an event into the outbox (tests a flow end to end; audited)',
        body: z.strictObject({
          type: z.string().regex(/^[A-Za-z0-9_.-]{1,200}$/, 'an event type such as trellis.test.ping'),
          source: z.string().min(1).max(500).default('/trellis/integration/manual'),
          subject: z.string().min(1).max(200).nullish(),
          partitionKey: z.string().min(1).max(200).nullish(),
          data: z.unknown(),
        }),
      },
    },
    async (request, reply) => {
      const actor = writer(request);
      const b = request.body;
      const ev = await ctx.db.tx(async (tx) => {
        const e = await emitEvent(tx, { type: b.type, source: b.source, subject: b.subject ?? null, partitionKey: b.partitionKey ?? null, data: b.data ?? null });
        await appendAudit(tx, actor, { action: 'integration.event.emit', targetType: 'event', targetId: e.id, detail: { type: e.type, source: e.source, subject: e.subject ?? null } });
        return e;
      });
      reply.code(201);
      return ev;
    },
  );

  // ---- deliveries (manual intervention) ----------------------------------------------------------------
  api.get(
    '/integration/deliveries',
    {
      schema: {
        tags,
        summary: 'Deliveries, dead and stuck first',
        querystring: z
          .object({
            state: z.enum(deliveries.DELIVERY_STATES).optional(),
            flow: z.string().max(100).optional(),
            connector: z.string().max(100).optional(),
            subscriber: z.string().max(100).optional(),
            eventId: z.string().uuid().optional(),
            partitionKey: z.string().max(200).optional(),
            limit: z.coerce.number().int().min(1).max(500).optional(),
            offset: z.coerce.number().int().min(0).max(1_000_000).optional(),
          })
          .strict(),
      },
    },
    async (request) => {
      reader(request);
      const q = request.query;
      const flowId = q.flow ? (await flows.getFlow(ctx.db, q.flow)).id : undefined;
      const connectorId = q.connector ? (await connectors.getConnector(ctx.db, q.connector)).id : undefined;
      return deliveries.listDeliveries(ctx.db, { ...q, flowId, connectorId });
    },
  );
  api.get('/integration/deliveries/:id', { schema: { tags, summary: 'One delivery: payload, event, attempts', params: DeliveryId } }, async (request) => {
    reader(request);
    return deliveries.getDelivery(ctx.db, request.params.id);
  });
  api.patch(
    '/integration/deliveries/:id',
    { schema: { tags, summary: 'Edit the payload of a delivery that is not in flight (then retry it)', params: DeliveryId, body: z.strictObject({ payload: z.unknown() }) } },
    async (request) => {
      const actor = writer(request);
      return ctx.db.tx((tx) => deliveries.editPayload(tx, actor, request.params.id, request.body.payload ?? null));
    },
  );
  api.post('/integration/deliveries/:id/retry', { schema: { tags, summary: 'Send again now (with a fresh allowance of attempts)', params: DeliveryId } }, async (request) => {
    const actor = writer(request);
    return ctx.db.tx((tx) => deliveries.retryDelivery(tx, actor, request.params.id));
  });
  api.post(
    '/integration/deliveries/:id/skip',
    { schema: { tags, summary: 'Skip (cancel) a delivery', params: DeliveryId, body: z.strictObject({ reason: z.string().max(1000).nullish() }).nullish() } },
    async (request) => {
      const actor = writer(request);
      return ctx.db.tx((tx) => deliveries.skipDelivery(tx, actor, request.params.id, request.body?.reason ?? null));
    },
  );
  api.post(
    '/integration/deliveries/retry',
    {
      schema: {
        tags,
        summary: 'Bulk retry by ids or by state/flow',
        body: z
          .strictObject({
            ids: z.array(z.number().int().positive()).min(1).max(10_000).optional(),
            state: z.enum(['dead', 'retrying']).optional(),
            flow: z.string().max(100).optional(),
          })
          .refine((b) => b.ids || b.state || b.flow, 'give ids, or a state and/or a flow'),
      },
    },
    async (request) => {
      const actor = writer(request);
      const b = request.body;
      const flowId = b.flow ? (await flows.getFlow(ctx.db, b.flow)).id : undefined;
      const count = await ctx.db.tx((tx) => deliveries.bulkRetry(tx, actor, { ids: b.ids, state: b.state, flowId }));
      return { retried: count };
    },
  );

  // ---- health, alerts, compensation --------------------------------------------------------------------
  api.get('/integration/health', { schema: { tags, summary: 'Per flow and connector: today/yesterday figures, backlog, oldest pending' } }, async (request) => {
    reader(request);
    return healthReport(ctx);
  });
  api.get(
    '/integration/alerts',
    { schema: { tags, summary: 'Integration alerts (open first)', querystring: z.object({ state: z.enum(['open', 'resolved']).optional(), evaluate: z.enum(['1', 'true']).optional() }).strict() } },
    async (request) => {
      reader(request);
      if (request.query.evaluate) await evaluateAlerts(ctx);
      return { items: await listAlerts(ctx.db, request.query.state) };
    },
  );
  api.post(
    '/integration/compensation/run',
    { schema: { tags, summary: 'Run the compensation scanner now', body: z.strictObject({ stuckAfterSeconds: z.number().int().min(0).max(86_400 * 30).optional() }).nullish() } },
    async (request) => {
      const actor = writer(request);
      const s = request.body?.stuckAfterSeconds;
      const report = await runCompensation(ctx, s === undefined ? {} : { stuckAfterMs: s * 1000 });
      await ctx.db.tx((tx) => appendAudit(tx, actor, { action: 'integration.compensation.run', targetType: null, targetId: null, detail: { ...report } }));
      return report;
    },
  );
}
