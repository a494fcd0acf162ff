// The delivery worker. Three steps per delivery, never a transaction across the network call:
//   1. claim (one short transaction): due deliveries of one route, heads of their partitions only,
//      FOR UPDATE SKIP LOCKED, stamped in_flight with a lease (lease_until, locked_by);
//   2. send (no transaction): the driver's send / sendBatch, bounded by a timeout below the lease;
//   3. record (one statement): the outcome and its attempt row, only while this worker still owns
//      the lease (locked_by = me and state = in_flight); a late zombie's outcome is dropped.
// Per route (flow or subscriber): a token bucket (rate/s + burst, in this process), a concurrency cap
// (in this process and, at claim time, across processes), batching, a delivery window in the plant's
// time zone. A reaper returns expired leases. Per-partition order: a delivery is claimable only when
// no earlier delivery of the same route and partition is pending, retrying, in flight or dead.
import { randomUUID } from 'node:crypto';
import type { Database, Sql } from '../db/index.ts';
import type { AppContext } from '../platform/context.ts';
import { toCloudEvent, type CloudEvent, type OutboxRow } from '../platform/events/index.ts';
import { HandleCache } from './connectors.ts';
import { windowWaitMs, type FlowRow } from './flows.ts';
import { DELIVERY_CHANNEL, deliveryWake, flowRoute, subscriberRoute } from './relay.ts';
import { allSubscribers, PermanentSubscriberError, type Subscriber } from './subscribers.ts';
import type { DeliveryOutcome, DeliveryRequest, DestinationHandle } from './types.ts';

export interface DeliveryRow {
  id: number;
  route: string;
  flow_id: string | null;
  connector_id: string | null;
  subscriber: string | null;
  outbox_id: number;
  event_id: string;
  event_type: string;
  partition_key: string | null;
  idempotency_key: string;
  state: string;
  attempts: number;
  max_attempts: number;
  next_attempt_at: Date;
  lease_until: Date | null;
  locked_by: string | null;
  external_ref: string | null;
  payload: unknown;
  payload_edited: boolean;
  last_error: string | null;
  last_status: number | null;
  redrives: number;
  created_at: Date;
  updated_at: Date;
  succeeded_at: Date | null;
  dead_at: Date | null;
}

/** A token bucket: `rate` tokens per second up to `burst`; null rate = unlimited. */
export class TokenBucket {
  private tokens: number;
  private last: number;
  rate: number | null;
  burst: number;
  pausedUntil = 0;
  constructor(rate: number | null, burst: number) {
    this.rate = rate;
    this.burst = burst;
    this.tokens = burst;
    this.last = Date.now();
  }
  private refill(now: number): void {
    if (this.rate === null) return;
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
  }
  available(now = Date.now()): number {
    if (now < this.pausedUntil) return 0;
    if (this.rate === null) return Number.POSITIVE_INFINITY;
    this.refill(now);
    return Math.floor(this.tokens);
  }
  take(n: number, now = Date.now()): void {
    if (this.rate === null) return;
    this.refill(now);
    this.tokens -= n;
  }
  /** Milliseconds until one token is there. */
  waitMs(now = Date.now()): number {
    if (now < this.pausedUntil) return this.pausedUntil - now;
    if (this.rate === null) return 0;
    this.refill(now);
    return this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) / this.rate) * 1000);
  }
}

/** Capped exponential backoff with jitter (between half and all of the capped exponential). */
export function backoffMs(attempt: number, baseMs: number, capMs: number, random = Math.random): number {
  const exp = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(exp / 2 + random() * (exp / 2));
}

interface RouteInfo {
  route: string;
  flow: (FlowRow & { connector_version: number; connector_enabled: boolean }) | null;
  sub: Subscriber | null;
  maxConcurrency: number;
  batchSize: number;
  rate: number | null;
  burst: number;
  window: { start: string; end: string } | null;
  backoffBaseMs: number;
  backoffCapMs: number;
}

export interface WorkerOptions {
  /** How long a claim is valid; a send is cut off before it ends. */
  leaseMs?: number;
  /** Idle poll interval (retries due later are also waited for exactly). */
  pollMs?: number;
  reaperMs?: number;
  workerId?: string;
  /** Deliveries claimed per route per pass at most. */
  claimLimit?: number;
}

type Recorded = { state: string } | null;

export class DeliveryWorker {
  readonly id: string;
  private readonly ctx: AppContext;
  private readonly db: Database;
  private readonly leaseMs: number;
  private readonly pollMs: number;
  private readonly reaperMs: number;
  private readonly claimLimit: number;
  private readonly handles: HandleCache;
  private readonly inflight = new Map<string, number>();
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly tasks = new Set<Promise<void>>();
  private stopped = true;
  private loop: Promise<void> | null = null;
  private wakeFn: (() => void) | null = null;
  private pending = false;
  private lastReap = 0;
  private unlisten: (() => Promise<void>) | null = null;
  /** Outcomes recorded by this worker (tests, metrics). */
  sent = 0;
  /** Where this worker's time went, in ms summed over all passes (bench, profiling). */
  readonly timings = { claim: 0, claims: 0, loadEvents: 0, send: 0, record: 0 };

  constructor(ctx: AppContext, o: WorkerOptions = {}) {
    this.ctx = ctx;
    this.db = ctx.db;
    this.id = o.workerId ?? `dw-${process.pid}-${randomUUID().slice(0, 8)}`;
    this.leaseMs = o.leaseMs ?? 60_000;
    this.pollMs = o.pollMs ?? 1000;
    this.reaperMs = o.reaperMs ?? Math.min(5000, this.leaseMs);
    this.claimLimit = o.claimLimit ?? 1000;
    this.handles = new HandleCache(ctx);
  }

  wake = (): void => {
    this.pending = true;
    this.wakeFn?.();
  };

  private routeCache: { at: number; routes: Map<string, RouteInfo> } | null = null;

  /** Enabled flows and registered subscribers; re-read at most every second (flow edits apply within 1 s). */
  private async routes(): Promise<Map<string, RouteInfo>> {
    if (this.routeCache && Date.now() - this.routeCache.at < 1000) return this.routeCache.routes;
    const m = new Map<string, RouteInfo>();
    const r = await this.db.query<FlowRow & { connector_version: number; connector_enabled: boolean }>(
      `select f.*, c.version as connector_version, c.enabled as connector_enabled
         from integration_flows f join integration_connectors c on c.id = f.connector_id where f.enabled`,
    );
    for (const f of r.rows) {
      m.set(flowRoute(f.id), {
        route: flowRoute(f.id),
        flow: f,
        sub: null,
        maxConcurrency: f.max_concurrency,
        batchSize: f.batch_size,
        rate: f.rate_per_s,
        burst: f.burst,
        window: f.window_start && f.window_end ? { start: f.window_start, end: f.window_end } : null,
        backoffBaseMs: f.backoff_base_ms,
        backoffCapMs: f.backoff_cap_ms,
      });
    }
    for (const s of allSubscribers()) {
      m.set(subscriberRoute(s.name), {
        route: subscriberRoute(s.name),
        flow: null,
        sub: s,
        maxConcurrency: s.concurrency,
        batchSize: 1,
        rate: null,
        burst: 1,
        window: null,
        backoffBaseMs: 500,
        backoffCapMs: 60_000,
      });
    }
    this.routeCache = { at: Date.now(), routes: m };
    return m;
  }

  private bucket(info: RouteInfo): TokenBucket {
    let b = this.buckets.get(info.route);
    if (!b) {
      b = new TokenBucket(info.rate, info.burst);
      this.buckets.set(info.route, b);
    }
    b.rate = info.rate;
    b.burst = info.burst;
    return b;
  }

  /** One pass: reap, claim what may go now, dispatch it. Returns how long to sleep at most. */
  async runOnce(): Promise<number> {
    const now = new Date();
    if (now.getTime() - this.lastReap >= this.reaperMs) {
      this.lastReap = now.getTime();
      await reapExpiredLeases(this.db, now);
    }
    const due = await this.db.query<{ route: string; n: number }>(
      `select route, count(*)::int as n from integration_deliveries
        where state in ('pending', 'retrying') and next_attempt_at <= $1 group by route`,
      [now],
    );
    let wait = this.pollMs;
    let dispatched = 0;
    if (due.rows.length) {
      const routes = await this.routes();
      for (const d of due.rows) {
        const info = routes.get(d.route);
        if (!info) continue; // flow disabled, or subscriber not registered in this process
        if (info.flow && !info.flow.connector_enabled) continue;
        const w = windowWaitMs(info.window, now, this.ctx.config.timezone);
        if (w > 0) {
          wait = Math.min(wait, w);
          continue;
        }
        const freeTasks = info.maxConcurrency - (this.inflight.get(info.route) ?? 0);
        if (freeTasks <= 0) continue;
        const bucket = this.bucket(info);
        const tokens = bucket.available();
        if (tokens < 1) {
          wait = Math.min(wait, Math.max(5, bucket.waitMs()));
          continue;
        }
        const want = Math.min(freeTasks * info.batchSize, tokens, d.n, this.claimLimit);
        const c0 = performance.now();
        const rows = await this.claim(info, want, now);
        this.timings.claim += performance.now() - c0;
        this.timings.claims++;
        if (!rows.length) continue;
        bucket.take(rows.length);
        dispatched += rows.length;
        await this.dispatch(info, rows);
      }
    }
    if (dispatched) return wait; // each finished send wakes the loop again
    const next = await this.db.query<{ at: Date | null }>(
      `select min(next_attempt_at) as at from integration_deliveries where state in ('pending', 'retrying') and next_attempt_at > $1`,
      [now],
    );
    const at = next.rows[0]?.at;
    if (at) wait = Math.min(wait, Math.max(5, new Date(at).getTime() - Date.now()));
    return wait;
  }

  /** Step 1: lease up to `want` claimable deliveries of one route. */
  async claim(info: RouteInfo, want: number, now: Date): Promise<DeliveryRow[]> {
    return this.db.tx(async (tx) => {
      await tx.query('select pg_advisory_xact_lock(hashtext($1))', [info.route]);
      const busy = await tx.query<{ n: number }>(
        `select count(*)::int as n from integration_deliveries where route = $1 and state = 'in_flight' and lease_until > $2`,
        [info.route, now],
      );
      const limit = Math.min(want, info.maxConcurrency * info.batchSize - busy.rows[0]!.n);
      if (limit <= 0) return [];
      const ids = await partitionHeads(tx, info.route, limit, now);
      if (!ids.length) return [];
      const r = await tx.query<DeliveryRow>(
        `with due as (
           select id from integration_deliveries where id = any($1::bigint[]) and state in ('pending', 'retrying') for update skip locked
         )
         update integration_deliveries t
            set state = 'in_flight', attempts = t.attempts + 1, lease_until = $2, locked_by = $3, updated_at = $4
           from due where t.id = due.id
         returning t.*`,
        [ids, new Date(now.getTime() + this.leaseMs), this.id, now],
      );
      return r.rows.sort((a, b) => a.outbox_id - b.outbox_id);
    });
  }

  private track(route: string, n: number, task: () => Promise<void>): void {
    this.inflight.set(route, (this.inflight.get(route) ?? 0) + n);
    const p = task()
      .catch((err: unknown) => this.ctx.log.error({ err, route }, 'delivery task failed'))
      .finally(() => {
        this.inflight.set(route, (this.inflight.get(route) ?? 0) - n);
        this.tasks.delete(p);
        this.wake();
      });
    this.tasks.add(p);
  }

  private async dispatch(info: RouteInfo, rows: DeliveryRow[]): Promise<void> {
    const l0 = performance.now();
    const events = await loadEvents(this.db, rows.map((r) => r.outbox_id));
    this.timings.loadEvents += performance.now() - l0;
    if (info.sub) {
      const sub = info.sub;
      for (const row of rows) this.track(info.route, 1, () => this.runSubscriber(info, sub, row, events.get(row.outbox_id)!));
      return;
    }
    const flow = info.flow!;
    let handle: DestinationHandle;
    try {
      handle = await this.handles.destination(flow.connector_id, flow.connector_version);
    } catch (err) {
      const error = `Cannot open the connector: ${String((err as Error)?.message ?? err).slice(0, 500)}`;
      for (const row of rows) await this.record(info, row, { ok: false, retryable: true, error }, new Date(), 0);
      return;
    }
    const reqOf = (row: DeliveryRow): DeliveryRequest => ({
      deliveryId: String(row.id),
      idempotencyKey: row.idempotency_key,
      partitionKey: row.partition_key,
      event: events.get(row.outbox_id)!,
      payload: row.payload,
      attempt: row.attempts,
    });
    if (info.batchSize > 1 && handle.sendBatch && rows.length > 1) {
      for (let i = 0; i < rows.length; i += info.batchSize) {
        const chunk = rows.slice(i, i + info.batchSize);
        this.track(info.route, 1, async () => {
          const started = new Date();
          const t0 = performance.now();
          let outcomes: DeliveryOutcome[];
          try {
            outcomes = await this.bounded(handle.sendBatch!(chunk.map(reqOf)));
            if (outcomes.length !== chunk.length) throw new Error(`the driver answered ${outcomes.length} outcomes for ${chunk.length} deliveries`);
          } catch (err) {
            const o: DeliveryOutcome = { ok: false, retryable: true, error: String((err as Error)?.message ?? err).slice(0, 1000) };
            outcomes = chunk.map(() => o);
          }
          const ms = performance.now() - t0;
          this.timings.send += ms;
          const r0 = performance.now();
          await this.recordMany(info, chunk, outcomes, started, ms);
          this.timings.record += performance.now() - r0;
        });
      }
      return;
    }
    for (const row of rows) {
      this.track(info.route, 1, async () => {
        const started = new Date();
        const t0 = performance.now();
        let outcome: DeliveryOutcome;
        try {
          outcome = await this.bounded(handle.send(reqOf(row)));
        } catch (err) {
          outcome = { ok: false, retryable: true, error: String((err as Error)?.message ?? err).slice(0, 1000) };
        }
        await this.record(info, row, outcome, started, performance.now() - t0);
      });
    }
  }

  /** A driver that never answers must not keep the delivery past its lease. */
  private bounded<T>(p: Promise<T>): Promise<T> {
    const limit = Math.max(1000, this.leaseMs - 2000);
    let t: NodeJS.Timeout | undefined;
    return Promise.race([
      p,
      new Promise<never>((_, reject) => {
        t = setTimeout(() => reject(new Error(`no answer from the driver within ${limit} ms`)), limit);
      }),
    ]).finally(() => clearTimeout(t));
  }

  private async runSubscriber(info: RouteInfo, sub: Subscriber, row: DeliveryRow, event: CloudEvent): Promise<void> {
    const started = new Date();
    const t0 = performance.now();
    try {
      await this.db.tx(async (tx) => {
        const g = await tx.query(`select 1 from integration_deliveries where id = $1 and locked_by = $2 and state = 'in_flight' for update`, [row.id, this.id]);
        if (!g.rowCount) return; // lease lost: someone else runs it
        await sub.handler(tx, event);
        const s = outcomeStatement(info, row, { ok: true }, this.id, started, performance.now() - t0);
        await tx.query(s.text, s.params);
      });
      this.sent++;
    } catch (err) {
      const outcome: DeliveryOutcome = {
        ok: false,
        retryable: !(err instanceof PermanentSubscriberError),
        error: String((err as Error)?.message ?? err).slice(0, 1000),
      };
      await this.record(info, row, outcome, started, performance.now() - t0);
    }
  }

  private async record(info: RouteInfo, row: DeliveryRow, outcome: DeliveryOutcome, started: Date, ms: number): Promise<Recorded> {
    if (!outcome.ok && outcome.retryAfterMs) this.bucket(info).pausedUntil = Date.now() + Math.min(outcome.retryAfterMs, 3_600_000);
    const s = outcomeStatement(info, row, outcome, this.id, started, ms);
    try {
      const r = await this.db.query<{ state: string }>(s.text, s.params);
      this.sent++;
      return r.rows[0] ?? null;
    } catch (err) {
      this.ctx.log.error({ err, deliveryId: row.id }, 'recording a delivery outcome failed (the lease will expire and it is sent again)');
      return null;
    }
  }

  private async recordMany(info: RouteInfo, rows: DeliveryRow[], outcomes: DeliveryOutcome[], started: Date, ms: number): Promise<void> {
    for (const o of outcomes) if (!o.ok && o.retryAfterMs) this.bucket(info).pausedUntil = Date.now() + Math.min(o.retryAfterMs, 3_600_000);
    try {
      const s = batchOutcomeStatement(info, rows, outcomes, this.id, started, ms);
      await this.db.query(s.text, s.params);
      this.sent += rows.length;
    } catch (err) {
      this.ctx.log.error({ err }, 'recording batch outcomes failed (the leases will expire and they are sent again)');
    }
  }

  async start(): Promise<void> {
    if (!this.stopped) return;
    this.stopped = false;
    this.unlisten = await this.db.listen(DELIVERY_CHANNEL, this.wake);
    deliveryWake.on('wake', this.wake);
    this.loop = (async () => {
      while (!this.stopped) {
        this.pending = false;
        let wait = this.pollMs;
        try {
          wait = await this.runOnce();
        } catch (err) {
          this.ctx.log.error({ err }, 'delivery worker pass failed');
        }
        if (this.pending || this.stopped) continue;
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, wait);
          this.wakeFn = () => {
            clearTimeout(t);
            resolve();
          };
        });
        this.wakeFn = null;
      }
    })();
  }

  /** Stops claiming, waits for the sends in progress to record their outcome, closes the connectors. */
  async stop(): Promise<void> {
    this.stopped = true;
    deliveryWake.off('wake', this.wake);
    this.wakeFn?.();
    await this.loop;
    this.loop = null;
    await Promise.allSettled([...this.tasks]);
    await this.unlisten?.().catch(() => {});
    await this.handles.closeAll();
  }
}

/**
 * Up to `limit` deliveries of a route that may be sent now: due, and the first open delivery (by
 * outbox id) of their partition, with no earlier one of that partition in flight or dead. Walks the
 * route's waiting deliveries in outbox order, a page at a time (index on (route, outbox_id)), and
 * stops as soon as it has enough: the cost follows what is claimed, not the size of the backlog,
 * and does not depend on the planner's statistics of a table that grew within the last minute.
 * Runs under the route's claim lock, so the heads cannot change underneath.
 */
async function partitionHeads(tx: Sql, route: string, limit: number, now: Date): Promise<number[]> {
  const PAGE = Math.max(500, limit * 2);
  const seen = new Set<string>();
  const out: number[] = [];
  let after = 0;
  while (out.length < limit) {
    const page = await tx.query<{ id: number; outbox_id: number; partition_key: string | null; next_attempt_at: Date }>(
      `select id, outbox_id, partition_key, next_attempt_at from integration_deliveries
        where route = $1 and state in ('pending', 'retrying') and outbox_id > $2
        order by outbox_id limit $3`,
      [route, after, PAGE],
    );
    if (!page.rows.length) break;
    after = Number(page.rows.at(-1)!.outbox_id);
    const fresh = [...new Set(page.rows.map((r) => r.partition_key).filter((k): k is string => k !== null && !seen.has(k)))];
    const blockedFrom = new Map<string, number>();
    if (fresh.length) {
      const b = await tx.query<{ partition_key: string; first: number }>(
        `select partition_key, min(outbox_id) as first from integration_deliveries
          where route = $1 and partition_key = any($2::text[]) and state in ('in_flight', 'dead')
          group by partition_key`,
        [route, fresh],
      );
      for (const x of b.rows) blockedFrom.set(x.partition_key, Number(x.first));
    }
    for (const row of page.rows) {
      const due = new Date(row.next_attempt_at).getTime() <= now.getTime();
      if (row.partition_key !== null) {
        if (seen.has(row.partition_key)) continue; // an earlier delivery of this document is still open
        seen.add(row.partition_key);
        const blocked = blockedFrom.get(row.partition_key);
        if (blocked !== undefined && blocked < Number(row.outbox_id)) continue;
      }
      if (!due) continue;
      out.push(Number(row.id));
      if (out.length >= limit) break;
    }
    if (page.rows.length < PAGE) break;
  }
  return out;
}

async function loadEvents(db: Database, ids: number[]): Promise<Map<number, CloudEvent>> {
  const r = await db.query<OutboxRow>(
    `select id, event_id, type, source, subject, time, data, partition_key, created_at from outbox where id = any($1::bigint[])`,
    [[...new Set(ids)]],
  );
  return new Map(r.rows.map((row) => [Number(row.id), toCloudEvent(row)]));
}

interface OutcomeFields {
  state: string;
  next: Date | null;
  error: string | null;
  status: number | null;
  externalRef: string | null;
  outcome: 'ok' | 'retryable' | 'permanent';
}

/** What an outcome does to a delivery: its next state, when to try again, the error kept. */
function outcomeFields(info: Pick<RouteInfo, 'backoffBaseMs' | 'backoffCapMs'>, row: DeliveryRow, o: DeliveryOutcome, now: Date): OutcomeFields {
  let state: string;
  let next: Date | null = null;
  let error: string | null = null;
  if (o.ok) state = 'succeeded';
  else if (!o.retryable) {
    state = 'dead';
    error = o.error;
  } else if (row.attempts >= row.max_attempts) {
    state = 'dead';
    error = `Gave up after ${row.attempts} attempts: ${o.error}`;
  } else {
    state = 'retrying';
    error = o.error;
    const delay = Math.max(o.retryAfterMs ?? 0, backoffMs(row.attempts, info.backoffBaseMs, info.backoffCapMs));
    next = new Date(now.getTime() + delay);
  }
  return {
    state,
    next,
    error,
    status: o.status ?? null,
    externalRef: o.ok ? (o.externalRef ?? null) : null,
    outcome: o.ok ? 'ok' : o.retryable ? 'retryable' : 'permanent',
  };
}

/** The guarded outcome UPDATE of one delivery plus its attempt row, as one statement. */
function outcomeStatement(
  info: Pick<RouteInfo, 'backoffBaseMs' | 'backoffCapMs'>,
  row: DeliveryRow,
  o: DeliveryOutcome,
  workerId: string,
  started: Date,
  ms: number,
): { text: string; params: unknown[] } {
  const now = new Date();
  const f = outcomeFields(info, row, o, now);
  return {
    text: `with u as (
        update integration_deliveries set state = $3, next_attempt_at = coalesce($4, next_attempt_at), lease_until = null, locked_by = null,
               last_error = $5, last_status = $6, external_ref = coalesce($7, external_ref), updated_at = $8,
               succeeded_at = case when $3 = 'succeeded' then $8 else succeeded_at end,
               dead_at = case when $3 = 'dead' then $8 else null end
         where id = $1 and locked_by = $2 and state = 'in_flight'
        returning id, route, flow_id, connector_id, attempts, state)
      insert into integration_delivery_attempts (delivery_id, route, flow_id, connector_id, attempt, started_at, finished_at, latency_ms, outcome, status, error, worker)
      select id, route, flow_id, connector_id, attempts, $9, $8, $10, $11, $6, $5, $2 from u
      returning (select state from u limit 1) as state`,
    params: [row.id, workerId, f.state, f.next, f.error, f.status, f.externalRef, now, started, Math.max(0, Math.round(ms)), f.outcome],
  };
}

/**
 * The outcomes of a batch as ONE statement: the guarded UPDATE of every delivery still leased to
 * this worker and their attempt rows (one round trip instead of two statements per delivery).
 */
function batchOutcomeStatement(
  info: Pick<RouteInfo, 'backoffBaseMs' | 'backoffCapMs'>,
  rows: DeliveryRow[],
  outcomes: DeliveryOutcome[],
  workerId: string,
  started: Date,
  ms: number,
): { text: string; params: unknown[] } {
  const now = new Date();
  const fs = rows.map((row, i) => outcomeFields(info, row, outcomes[i]!, now));
  return {
    text: `with o as (
        select * from unnest($1::bigint[], $2::text[], $3::timestamptz[], $4::text[], $5::int[], $6::text[], $7::text[])
          as o(id, state, next_at, error, status, external_ref, outcome)),
      u as (
        update integration_deliveries d set state = o.state, next_attempt_at = coalesce(o.next_at, d.next_attempt_at), lease_until = null, locked_by = null,
               last_error = o.error, last_status = o.status, external_ref = coalesce(o.external_ref, d.external_ref), updated_at = $8,
               succeeded_at = case when o.state = 'succeeded' then $8 else d.succeeded_at end,
               dead_at = case when o.state = 'dead' then $8 else null end
          from o
         where d.id = any($1::bigint[]) and d.id = o.id and d.locked_by = $9 and d.state = 'in_flight'
        returning d.id, d.route, d.flow_id, d.connector_id, d.attempts, o.outcome, o.status, o.error)
      insert into integration_delivery_attempts (delivery_id, route, flow_id, connector_id, attempt, started_at, finished_at, latency_ms, outcome, status, error, worker)
      select id, route, flow_id, connector_id, attempts, $10, $8, $11, outcome, status, error, $9 from u`,
    params: [
      rows.map((r) => r.id),
      fs.map((f) => f.state),
      fs.map((f) => f.next),
      fs.map((f) => f.error),
      fs.map((f) => f.status),
      fs.map((f) => f.externalRef),
      fs.map((f) => f.outcome),
      now,
      workerId,
      started,
      Math.max(0, Math.round(ms)),
    ],
  };
}

/** Returns deliveries whose lease expired (their worker died or hung) to the queue; logs an attempt. */
export async function reapExpiredLeases(db: Database, now = new Date()): Promise<number> {
  const r = await db.query(
    `with x as (
       update integration_deliveries
          set state = case when attempts >= max_attempts then 'dead' else 'retrying' end,
              dead_at = case when attempts >= max_attempts then $1::timestamptz else null end,
              next_attempt_at = $1, lease_until = null, locked_by = null, updated_at = $1,
              last_error = 'The worker sending this delivery stopped or did not answer within its lease; it is sent again (the destination dedupes by the idempotency key).'
        where state = 'in_flight' and lease_until < $1
       returning id, route, flow_id, connector_id, attempts, last_error, updated_at)
     insert into integration_delivery_attempts (delivery_id, route, flow_id, connector_id, attempt, started_at, finished_at, latency_ms, outcome, status, error, worker)
     select id, route, flow_id, connector_id, attempts, $1, $1, 0, 'retryable', null, last_error, 'reaper' from x`,
    [now],
  );
  return r.rowCount;
}
