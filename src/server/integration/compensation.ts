// The compensation scanner. Every TRELLIS_COMPENSATION_INTERVAL_S (600 by default) it looks for
// deliveries in an abnormal state — dead, or retrying for longer than `stuckAfterMs` — and, when
// the destination's driver can `lookup()`, asks it whether the document already exists (by the
// idempotency key or the external reference). Exists → the delivery is marked succeeded with the
// external reference (audited as a compensation). Missing → a dead delivery is re-driven (at most
// `maxRedrives` times, so a document the destination refuses does not loop), a retrying one is
// made due now. Unknown answers change nothing. The lookup is a network call: it runs outside any
// transaction, and the update afterwards only applies if the row did not change meanwhile.
import { systemActor, type AppContext } from '../platform/context.ts';
import { appendAudit } from '../platform/audit/index.ts';
import { toCloudEvent, type OutboxRow } from '../platform/events/index.ts';
import { HandleCache } from './connectors.ts';
import { deliveryWake, DELIVERY_CHANNEL } from './relay.ts';
import type { DeliveryRow } from './worker.ts';
import type { LookupResult } from './types.ts';

export interface CompensationOptions {
  stuckAfterMs?: number;
  maxRedrives?: number;
  limit?: number;
}

export interface CompensationReport {
  examined: number;
  compensated: number;
  redriven: number;
  unknown: number;
  noLookup: number;
}

export async function runCompensation(ctx: AppContext, o: CompensationOptions = {}, handles = new HandleCache(ctx)): Promise<CompensationReport> {
  const own = arguments.length < 3;
  const stuckAfterMs = o.stuckAfterMs ?? 600_000;
  const maxRedrives = o.maxRedrives ?? 3;
  const report: CompensationReport = { examined: 0, compensated: 0, redriven: 0, unknown: 0, noLookup: 0 };
  const r = await ctx.db.query<DeliveryRow & { connector_version: number }>(
    `select d.*, c.version as connector_version
       from integration_deliveries d join integration_connectors c on c.id = d.connector_id
      where d.flow_id is not null
        and (d.state = 'dead' or (d.state = 'retrying' and d.created_at < $1))
      order by d.id limit $2`,
    [new Date(Date.now() - stuckAfterMs), o.limit ?? 500],
  );
  try {
    for (const row of r.rows) {
      report.examined++;
      let result: LookupResult;
      try {
        const handle = await handles.destination(row.connector_id!, row.connector_version);
        if (!handle.lookup) {
          report.noLookup++;
          continue;
        }
        const ev = await ctx.db.query<OutboxRow>(`select id, event_id, type, source, subject, time, data, partition_key, created_at from outbox where id = $1`, [row.outbox_id]);
        if (!ev.rows[0]) continue;
        result = await handle.lookup({
          deliveryId: String(row.id),
          idempotencyKey: row.idempotency_key,
          partitionKey: row.partition_key,
          event: toCloudEvent(ev.rows[0]),
          payload: row.payload,
          attempt: row.attempts,
        });
      } catch (err) {
        result = { unknown: true, reason: String((err as Error)?.message ?? err) };
      }
      if ('unknown' in result) {
        report.unknown++;
        continue;
      }
      const changed = await ctx.db.tx(async (tx) => {
        const cur = await tx.query<DeliveryRow>(`select * from integration_deliveries where id = $1 for update`, [row.id]);
        const now = cur.rows[0];
        if (!now || now.state !== row.state || new Date(now.updated_at).getTime() !== new Date(row.updated_at).getTime()) return null; // moved on meanwhile
        if (result.exists) {
          await tx.query(
            `update integration_deliveries set state = 'succeeded', succeeded_at = now(), dead_at = null, external_ref = coalesce($2, external_ref),
                    last_error = $3, updated_at = now() where id = $1`,
            [row.id, result.externalRef ?? null, `Compensated: the destination already holds this document${result.externalRef ? ` (${result.externalRef})` : ''}; last error was: ${row.last_error ?? '-'}`.slice(0, 2000)],
          );
          await appendAudit(tx, systemActor, {
            action: 'integration.delivery.compensated',
            targetType: 'integration_delivery',
            targetId: String(row.id),
            detail: { from: row.state, externalRef: result.externalRef ?? null, idempotencyKey: row.idempotency_key },
          });
          return 'compensated' as const;
        }
        if (row.state === 'dead' && row.redrives >= maxRedrives) return null;
        await tx.query(
          `update integration_deliveries set state = 'pending', next_attempt_at = now(), dead_at = null, redrives = redrives + $2,
                  max_attempts = case when state = 'dead' then attempts + coalesce((select max_attempts from integration_flows where id = flow_id), 10) else max_attempts end,
                  updated_at = now() where id = $1`,
          [row.id, row.state === 'dead' ? 1 : 0],
        );
        await appendAudit(tx, systemActor, {
          action: 'integration.delivery.redriven',
          targetType: 'integration_delivery',
          targetId: String(row.id),
          detail: { from: row.state, reason: 'the destination does not hold the document', redrives: row.redrives + (row.state === 'dead' ? 1 : 0) },
        });
        tx.notifyAfterCommit(DELIVERY_CHANNEL);
        tx.afterCommit(() => {
          deliveryWake.emit('wake');
        });
        return 'redriven' as const;
      });
      if (changed === 'compensated') report.compensated++;
      else if (changed === 'redriven') report.redriven++;
    }
  } finally {
    if (own) await handles.closeAll();
  }
  return report;
}

export function startCompensationScanner(ctx: AppContext, intervalMs: number): () => Promise<void> {
  let running: Promise<unknown> | null = null;
  const handles = new HandleCache(ctx);
  const t = setInterval(() => {
    if (running) return;
    running = runCompensation(ctx, {}, handles)
      .then((r) => {
        if (r.compensated || r.redriven) ctx.log.info({ ...r }, 'integration compensation pass');
      })
      .catch((err: unknown) => ctx.log.error({ err }, 'integration compensation pass failed'))
      .finally(() => {
        running = null;
      });
  }, intervalMs);
  t.unref();
  return async () => {
    clearInterval(t);
    await running;
    await handles.closeAll();
  };
}
