// Manual intervention on deliveries: list (dead and stuck first), inspect (payload, event, attempts),
// edit the payload, retry, skip (cancel), bulk retry. Each action is one transaction with its audit
// entry; a delivery in flight is never changed under the worker's feet (409: wait for its outcome).
import type { Sql, Tx } from '../db/index.ts';
import type { Actor } from '../platform/context.ts';
import { appendAudit } from '../platform/audit/index.ts';
import { conflict, notFound } from '../platform/errors.ts';
import { toCloudEvent, type OutboxRow } from '../platform/events/index.ts';
import { deliveryWake, DELIVERY_CHANNEL } from './relay.ts';
import type { DeliveryRow } from './worker.ts';
import { DELIVERY_STATES, type AttemptView, type DeliveryDetailView, type DeliveryState, type DeliveryView } from '../../shared/integration-api.ts';

export { DELIVERY_STATES, type AttemptView, type DeliveryDetailView, type DeliveryState, type DeliveryView };

const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());

function view(r: DeliveryRow & { flow_name?: string | null }, now = Date.now()): DeliveryView {
  const stuck =
    (r.state === 'in_flight' && r.lease_until !== null && new Date(r.lease_until).getTime() < now) ||
    (r.state === 'retrying' && now - new Date(r.created_at).getTime() > 600_000);
  return {
    id: Number(r.id),
    route: r.route,
    flowId: r.flow_id,
    flowName: r.flow_name ?? null,
    connectorId: r.connector_id,
    subscriber: r.subscriber,
    eventId: r.event_id,
    eventType: r.event_type,
    partitionKey: r.partition_key,
    idempotencyKey: r.idempotency_key,
    state: r.state as DeliveryState,
    stuck,
    attempts: r.attempts,
    maxAttempts: r.max_attempts,
    nextAttemptAt: iso(r.next_attempt_at)!,
    leaseUntil: iso(r.lease_until),
    externalRef: r.external_ref,
    payloadEdited: r.payload_edited,
    lastError: r.last_error,
    lastStatus: r.last_status,
    createdAt: iso(r.created_at)!,
    updatedAt: iso(r.updated_at)!,
    succeededAt: iso(r.succeeded_at),
    deadAt: iso(r.dead_at),
  };
}

export interface ListFilter {
  state?: DeliveryState | undefined;
  flowId?: string | undefined;
  connectorId?: string | undefined;
  subscriber?: string | undefined;
  eventId?: string | undefined;
  partitionKey?: string | undefined;
  limit?: number | undefined;
  offset?: number | undefined;
}

/** Deliveries, dead and stuck first, then the rest newest first. */
export async function listDeliveries(sql: Sql, f: ListFilter): Promise<{ items: DeliveryView[]; total: number }> {
  const where: string[] = [];
  const params: unknown[] = [];
  const add = (clause: string, v: unknown) => {
    params.push(v);
    where.push(clause.replace('?', `$${params.length}`));
  };
  if (f.state) add('d.state = ?', f.state);
  if (f.flowId) add('d.flow_id = ?::uuid', f.flowId);
  if (f.connectorId) add('d.connector_id = ?::uuid', f.connectorId);
  if (f.subscriber) add('d.subscriber = ?', f.subscriber);
  if (f.eventId) add('d.event_id = ?::uuid', f.eventId);
  if (f.partitionKey) add('d.partition_key = ?', f.partitionKey);
  const w = where.length ? `where ${where.join(' and ')}` : '';
  const total = await sql.query<{ n: number }>(`select count(*)::int as n from integration_deliveries d ${w}`, params);
  const r = await sql.query<DeliveryRow & { flow_name: string | null }>(
    `select d.*, f.name as flow_name from integration_deliveries d left join integration_flows f on f.id = d.flow_id ${w}
      order by case when d.state = 'dead' then 0
                    when d.state = 'in_flight' and d.lease_until < now() then 1
                    when d.state = 'retrying' then 2
                    when d.state = 'pending' then 3
                    when d.state = 'in_flight' then 4 else 5 end, d.id desc
      limit ${Math.min(500, f.limit ?? 50)} offset ${Math.max(0, f.offset ?? 0)}`,
    params,
  );
  return { items: r.rows.map((x) => view(x)), total: total.rows[0]!.n };
}

async function rowOf(sql: Sql, id: number, lock = false): Promise<DeliveryRow & { flow_name: string | null }> {
  const r = await sql.query<DeliveryRow & { flow_name: string | null }>(
    `select d.*, (select name from integration_flows f where f.id = d.flow_id) as flow_name from integration_deliveries d where d.id = $1 ${lock ? 'for update of d' : ''}`,
    [id],
  );
  if (!r.rows[0]) throw notFound(`No delivery ${id}. List them with GET /api/v1/integration/deliveries.`);
  return r.rows[0];
}

/** One delivery with its payload, its event and every attempt. */
export async function getDelivery(sql: Sql, id: number): Promise<DeliveryDetailView> {
  const row = await rowOf(sql, id);
  const ev = await sql.query<OutboxRow>(`select id, event_id, type, source, subject, time, data, partition_key, created_at from outbox where id = $1`, [row.outbox_id]);
  const at = await sql.query<{ attempt: number; started_at: Date; finished_at: Date; latency_ms: number; outcome: string; status: number | null; error: string | null; worker: string | null }>(
    `select attempt, started_at, finished_at, latency_ms, outcome, status, error, worker from integration_delivery_attempts where delivery_id = $1 order by id`,
    [id],
  );
  return {
    ...view(row),
    payload: row.payload,
    event: ev.rows[0] ? toCloudEvent(ev.rows[0]) : null,
    attemptLog: at.rows.map(
      (a): AttemptView => ({
        attempt: a.attempt,
        startedAt: iso(a.started_at)!,
        finishedAt: iso(a.finished_at)!,
        latencyMs: a.latency_ms,
        outcome: a.outcome,
        status: a.status,
        error: a.error,
        worker: a.worker,
      }),
    ),
  };
}

function wakeAfter(tx: Tx): void {
  tx.notifyAfterCommit(DELIVERY_CHANNEL);
  tx.afterCommit(() => {
    deliveryWake.emit('wake');
  });
}

function notInFlight(row: DeliveryRow, what: string): void {
  if (row.state === 'in_flight') throw conflict(`Delivery ${row.id} is being sent right now; wait for its outcome, then ${what}.`, { state: row.state });
}

export async function editPayload(tx: Tx, actor: Actor, id: number, payload: unknown): Promise<DeliveryView> {
  const row = await rowOf(tx, id, true);
  notInFlight(row, 'edit it');
  if (row.state === 'succeeded') throw conflict(`Delivery ${id} already succeeded; its payload can no longer be changed.`, { state: row.state });
  if (row.subscriber) throw conflict(`Delivery ${id} goes to the in-process subscriber "${row.subscriber}", which reads the event, not a payload.`);
  await tx.query(`update integration_deliveries set payload = $2, payload_edited = true, updated_at = now() where id = $1`, [id, JSON.stringify(payload)]);
  await appendAudit(tx, actor, {
    action: 'integration.delivery.edit_payload',
    targetType: 'integration_delivery',
    targetId: String(id),
    detail: { state: row.state, before: row.payload, after: payload },
  });
  return view({ ...(await rowOf(tx, id)) });
}

async function retryRow(tx: Tx, row: DeliveryRow, reason: string): Promise<void> {
  // a fresh allowance of attempts: the flow's maximum again, counted from now
  await tx.query(
    `update integration_deliveries
        set state = 'pending', next_attempt_at = now(), max_attempts = attempts + coalesce((select max_attempts from integration_flows where id = flow_id), 10),
            dead_at = null, last_error = $2, updated_at = now()
      where id = $1`,
    [row.id, reason],
  );
}

export async function retryDelivery(tx: Tx, actor: Actor, id: number): Promise<DeliveryView> {
  const row = await rowOf(tx, id, true);
  notInFlight(row, 'retry it if it fails');
  if (row.state === 'succeeded') throw conflict(`Delivery ${id} already succeeded; retrying it would send the document again.`, { state: row.state });
  await retryRow(tx, row, row.last_error ? `Retried by ${actor.principal.username}; last error: ${row.last_error}`.slice(0, 2000) : `Retried by ${actor.principal.username}`);
  await appendAudit(tx, actor, { action: 'integration.delivery.retry', targetType: 'integration_delivery', targetId: String(id), detail: { from: row.state, attempts: row.attempts } });
  wakeAfter(tx);
  return view(await rowOf(tx, id));
}

export async function skipDelivery(tx: Tx, actor: Actor, id: number, reason: string | null): Promise<DeliveryView> {
  const row = await rowOf(tx, id, true);
  notInFlight(row, 'skip it');
  if (row.state === 'succeeded' || row.state === 'cancelled') throw conflict(`Delivery ${id} is already ${row.state}; there is nothing to skip.`, { state: row.state });
  await tx.query(`update integration_deliveries set state = 'cancelled', last_error = coalesce($2, last_error), updated_at = now() where id = $1`, [id, reason ? `Skipped: ${reason}` : null]);
  await appendAudit(tx, actor, { action: 'integration.delivery.skip', targetType: 'integration_delivery', targetId: String(id), detail: { from: row.state, reason } });
  wakeAfter(tx); // later deliveries of the same document may go now
  return view(await rowOf(tx, id));
}

/** Retries every dead (or retrying) delivery selected by ids or by filter; returns how many. */
export async function bulkRetry(tx: Tx, actor: Actor, sel: { ids?: number[] | undefined; state?: 'dead' | 'retrying' | undefined; flowId?: string | undefined }): Promise<number> {
  const params: unknown[] = [];
  const where: string[] = [`state in ('dead', 'retrying', 'cancelled')`];
  if (sel.ids) {
    params.push(sel.ids);
    where.push(`id = any($${params.length}::bigint[])`);
  }
  if (sel.state) {
    params.push(sel.state);
    where.push(`state = $${params.length}`);
  }
  if (sel.flowId) {
    params.push(sel.flowId);
    where.push(`flow_id = $${params.length}::uuid`);
  }
  const r = await tx.query<DeliveryRow>(`select * from integration_deliveries where ${where.join(' and ')} order by id limit 10000 for update`, params);
  for (const row of r.rows) await retryRow(tx, row, `Retried (bulk) by ${actor.principal.username}; last error: ${row.last_error ?? '-'}`.slice(0, 2000));
  await appendAudit(tx, actor, {
    action: 'integration.delivery.bulk_retry',
    targetType: 'integration_delivery',
    targetId: null,
    detail: { selection: sel, count: r.rows.length, ids: r.rows.map((x) => Number(x.id)).slice(0, 1000) },
  });
  if (r.rows.length) wakeAfter(tx);
  return r.rows.length;
}
