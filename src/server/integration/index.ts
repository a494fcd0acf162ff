// Integration hub: outbox relay, reliable deliveries (leases, ordering, retries, rate limits,
// batching, windows), manual intervention, compensation, health. Other folders import only this file.
import { z } from 'zod';
import type { Engine } from '../engine.ts';
import { registerScopes } from '../platform/auth/index.ts';
import type { AppContext } from '../platform/context.ts';
import { integrationMigrations } from './migrations.ts';
import { integrationRoutes } from './routes.ts';
import { Relay } from './relay.ts';
import { DeliveryWorker } from './worker.ts';
import { startCompensationScanner } from './compensation.ts';
import { startHealthMonitor } from './health.ts';
import { getConnector, openSourceOf } from './connectors.ts';
import { SAMPLE_ERP_CONNECTOR_ID, bootstrapMasterData, masterDataMigrations, masterDataRoutes, setMasterDataSourceOpener, startMasterDataScheduler } from './masterdata/index.ts';
import './drivers/index.ts';

export * from './drivers/index.ts';
export type * from './types.ts';
export { subscribe, PermanentSubscriberError, type SubscriberHandler } from './subscribers.ts';
export { Relay, relayOnce, idempotencyKey, mapEvent, DELIVERY_CHANNEL } from './relay.ts';
export { DeliveryWorker, TokenBucket, backoffMs, reapExpiredLeases, type DeliveryRow, type WorkerOptions } from './worker.ts';
export * as connectorService from './connectors.ts';
export * as flowService from './flows.ts';
export * as deliveryService from './deliveries.ts';
export { runCompensation, type CompensationReport } from './compensation.ts';
export { healthReport, evaluateAlerts, listAlerts, type HealthReport } from './health.ts';
export { encryptSecrets, decryptSecrets, secretKey } from './secrets.ts';
export { matchesPattern } from './flows.ts';
export * as masterData from './masterdata/index.ts';

registerScopes('integration:read', 'integration:write');

const Env = z.object({
  TRELLIS_DELIVERY_LEASE_S: z.coerce.number().int().min(2).max(3600).default(60),
  TRELLIS_COMPENSATION_INTERVAL_S: z.coerce.number().int().min(1).max(86_400).default(600),
  TRELLIS_INTEGRATION_HEALTH_INTERVAL_S: z.coerce.number().int().min(1).max(3600).default(30),
  TRELLIS_RELAY_POLL_MS: z.coerce.number().int().min(50).max(60_000).default(2000),
});

export interface IntegrationSettings {
  leaseMs: number;
  compensationIntervalMs: number;
  healthIntervalMs: number;
  relayPollMs: number;
}

export function integrationSettings(env: NodeJS.ProcessEnv = process.env): IntegrationSettings {
  const r = Env.safeParse(env);
  if (!r.success) throw new Error(`Invalid integration settings: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return {
    leaseMs: r.data.TRELLIS_DELIVERY_LEASE_S * 1000,
    compensationIntervalMs: r.data.TRELLIS_COMPENSATION_INTERVAL_S * 1000,
    healthIntervalMs: r.data.TRELLIS_INTEGRATION_HEALTH_INTERVAL_S * 1000,
    relayPollMs: r.data.TRELLIS_RELAY_POLL_MS,
  };
}

/** Starts relay, worker, compensation scanner and health monitor; returns their stop function. */
export async function startIntegration(ctx: AppContext, s: IntegrationSettings = integrationSettings()): Promise<() => Promise<void>> {
  if (ctx.db.kind === 'postgres' && !ctx.config.secretKey) {
    ctx.log.warn({}, 'TRELLIS_SECRET_KEY is not set: connector secrets are encrypted with the key file in the data folder; every instance sharing this database needs the same key (set TRELLIS_SECRET_KEY).');
  }
  const relay = new Relay(ctx, { pollMs: s.relayPollMs });
  const worker = new DeliveryWorker(ctx, { leaseMs: s.leaseMs });
  await relay.start();
  await worker.start();
  const stopCompensation = startCompensationScanner(ctx, s.compensationIntervalMs);
  const stopHealth = startHealthMonitor(ctx, s.healthIntervalMs);
  return async () => {
    await stopCompensation();
    await stopHealth();
    await relay.stop();
    await worker.stop();
  };
}

/**
 * With the demo plant: a connector row named `sample-erp` (kind sample_erp), so flows can write back
 * to the sample ERP out of the box. Idempotent: an existing connector of that name is left as it is.
 */
export async function ensureSampleErpConnector(ctx: AppContext): Promise<boolean> {
  const r = await ctx.db.query(
    `insert into integration_connectors (name, kind, description, config) values ($1, 'sample_erp', $2, '{}'::jsonb)
     on conflict (name) do nothing`,
    [SAMPLE_ERP_CONNECTOR_ID, '示例 ERP（演示数据，存于 Trellis 数据库）/ Sample ERP (demo data kept in the Trellis database)'],
  );
  return r.rowCount > 0;
}

// Scheduled pulls open configured connectors (Tryton, SQL, REST…) the same way deliveries do.
setMasterDataSourceOpener(async (ctx, id) => openSourceOf(ctx, await getConnector(ctx.db, id)));

export const integrationEngine: Engine = {
  name: 'integration',
  migrations: [...integrationMigrations, ...masterDataMigrations],
  routes: (api, ctx) => {
    integrationRoutes(api, ctx);
    masterDataRoutes(api, ctx);
  },
  bootstrap: async (ctx, opts) => {
    await bootstrapMasterData(ctx, opts);
    if (opts.seedDemo) await ensureSampleErpConnector(ctx);
  },
  start: async (ctx) => {
    const stopIntegration = await startIntegration(ctx);
    const stopPulls = startMasterDataScheduler(ctx);
    return async () => {
      await stopPulls();
      await stopIntegration();
    };
  },
};
