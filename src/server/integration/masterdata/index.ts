// Master-data cache: ERP materials, BOMs, work orders, purchase orders, suppliers and equipment
// pulled on schedules into md_* tables, with change detection and a run log; the sample ERP's
// tables and seed. The integration engine composes: masterDataMigrations, bootstrapMasterData,
// masterDataRoutes, startMasterDataScheduler. Other folders import only this file.
import type { BootstrapOptions } from '../../engine.ts';
import { registerScopes } from '../../platform/auth/index.ts';
import type { AppContext } from '../../platform/context.ts';
import { seedSampleErp } from '../drivers/sample-erp.ts';
import { defaultSampleJobs } from './jobs.ts';
import { randomUUID } from 'node:crypto';
import '../drivers/sample-erp.ts';

export { masterDataMigrations } from './migrations.ts';
export { masterDataRoutes } from './routes.ts';
export {
  startMasterDataScheduler,
  setMasterDataSourceOpener,
  runDueJobs,
  runJob,
  claimJob,
  nextDue,
  inWindow,
  scheduleProblem,
  defaultSampleJobs,
  type PullJob,
  type PullRun,
  type SourceOpener,
  type JobInput,
} from './jobs.ts';
export { getCached, listCached, applyPage, contentHash, type CachedObject } from './store.ts';
export { seedSampleErp, SAMPLE_ERP_CONNECTOR_ID, sampleErpDriver } from '../drivers/sample-erp.ts';
export * from './objects.ts';

registerScopes('masterdata:read', 'masterdata:write');

/** Inserts pull jobs that do not exist yet (due now, so the cache fills on first start). */
export async function ensurePullJobs(ctx: AppContext, jobs: ReturnType<typeof defaultSampleJobs>): Promise<number> {
  let n = 0;
  const now = ctx.clock.now();
  for (const j of jobs) {
    const r = await ctx.db.query(
      `insert into md_pull_jobs (id, connector_id, object, cron, timezone, window_start, window_end, mode, page_size, enabled, due_at)
       values ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11) on conflict (connector_id, object) do nothing`,
      [randomUUID(), j.connectorId, j.object, j.cron, j.timezone, j.window?.start ?? null, j.window?.end ?? null, j.mode, j.pageSize, j.enabled, now],
    );
    n += r.rowCount;
  }
  return n;
}

/**
 * With the demo plant: seeds the sample ERP (once) and schedules its pulls, so a fresh install
 * shows master data and write-backs without any ERP configured.
 */
export async function bootstrapMasterData(ctx: AppContext, opts: Pick<BootstrapOptions, 'seedDemo'>): Promise<void> {
  if (!opts.seedDemo) return;
  const seeded = await ctx.db.tx((tx) => seedSampleErp(tx, ctx.clock.now()));
  if (seeded.seeded) await ensurePullJobs(ctx, defaultSampleJobs(ctx.config.timezone));
}
