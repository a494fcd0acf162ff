// The relay: turns committed outbox rows into delivery rows, one per event × matching flow and
// event × matching in-process subscriber, in ONE transaction with the `relayed_at` marker. It claims
// unrelayed rows with FOR UPDATE SKIP LOCKED (never "after the last id": ids are allocated at insert
// and a transaction holding a lower id may commit later). A transaction-scoped advisory lock keeps
// one relay transaction at a time across processes, so delivery order per document follows outbox
// order. Woken by NOTIFY on OUTBOX_CHANNEL after each commit, with a slow poll as a safety net.
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Database, Tx } from '../db/index.ts';
import { OUTBOX_CHANNEL, toCloudEvent, type CloudEvent, type OutboxRow } from '../platform/events/index.ts';
import type { AppContext } from '../platform/context.ts';
import { compileJsonata, listFlows, matchesCondition, matchesPattern, type Compiled, type FlowRow } from './flows.ts';
import { allSubscribers, subscribersFor } from './subscribers.ts';

/** NOTIFY channel: new deliveries are due (wakes the workers of other processes). */
export const DELIVERY_CHANNEL = 'trellis_deliveries';
const RELAY_LOCK = 74_201_011;
/**
 * The deliveries table is a queue that can grow by tens of thousands of rows in seconds, far faster
 * than autovacuum (one-minute naptime) re-analyzes it. With statistics from when it was nearly empty
 * the planner reads a whole backlog through the wrong partial index (measured: 16–285 ms per claim
 * or outcome statement at 50,000 waiting deliveries, instead of ~1 ms). So the relay analyzes it
 * after it relayed this many events since the last time, at most every ANALYZE_MIN_INTERVAL_MS.
 */
const ANALYZE_AFTER_EVENTS = 5000;
const ANALYZE_MIN_INTERVAL_MS = 10_000;

/** In-process wake-ups of the delivery workers. */
export const deliveryWake = new EventEmitter();
deliveryWake.setMaxListeners(0);

export function idempotencyKey(eventId: string, route: string): string {
  return createHash('sha256').update(`${eventId}\n${route}`).digest('hex').slice(0, 40);
}

export const flowRoute = (flowId: string) => `flow:${flowId}`;
export const subscriberRoute = (name: string) => `sub:${name}`;

const compiled = new Map<string, { version: number; expr: Compiled | null }>();
function mappingOf(flow: FlowRow): Compiled | null {
  const c = compiled.get(flow.id);
  if (c && c.version === flow.version) return c.expr;
  const expr = flow.mapping ? compileJsonata(flow.mapping, `flow ${flow.name} mapping`) : null;
  compiled.set(flow.id, { version: flow.version, expr });
  return expr;
}

/** The payload a flow sends for an event: its JSONata mapping of the CloudEvent, or the CloudEvent itself. */
export async function mapEvent(flow: FlowRow, event: CloudEvent): Promise<unknown> {
  const expr = mappingOf(flow);
  if (!expr) return event;
  const out: unknown = await expr.evaluate(event);
  if (out === undefined) throw new Error('the mapping produced no value for this event');
  return JSON.parse(JSON.stringify(out)) as unknown;
}

interface NewDelivery {
  route: string;
  flowId: string | null;
  connectorId: string | null;
  subscriber: string | null;
  outboxId: number;
  eventId: string;
  eventType: string;
  partitionKey: string | null;
  key: string;
  state: 'pending' | 'dead';
  maxAttempts: number;
  payload: string | null;
  error: string | null;
}

/** Relays one batch of committed outbox rows; returns how many rows it took. */
export async function relayOnce(db: Database, limit = 500): Promise<number> {
  return db.tx(async (tx) => {
    await tx.query('select pg_advisory_xact_lock($1)', [RELAY_LOCK]);
    // Claim by id and type only: an event whose type no enabled flow and no subscriber takes gets no
    // delivery, so its data (the whole record) is neither read nor parsed — it is only marked.
    const claimed = await tx.query<{ id: number; type: string }>(
      `select id, type from outbox where relayed_at is null order by id limit $1 for update skip locked`,
      [limit],
    );
    if (claimed.rows.length === 0) return 0;
    const flows = await listFlows(tx, { enabledOnly: true });
    const patterns = [...flows.flatMap((f) => f.event_types), ...allSubscribers().map((s) => s.typePattern)];
    const wanted = claimed.rows.filter((row) => patterns.some((p) => matchesPattern(p, row.type))).map((row) => row.id);
    const r = wanted.length
      ? await tx.query<OutboxRow>(
          `select id, event_id, type, source, subject, time, data, partition_key, created_at from outbox where id = any($1::bigint[]) order by id`,
          [wanted],
        )
      : { rows: [] as OutboxRow[] };
    const out: NewDelivery[] = [];
    for (const row of r.rows) {
      const event = toCloudEvent(row);
      for (const flow of flows) {
        if (!flow.event_types.some((p) => matchesPattern(p, event.type)) || !matchesCondition(flow.condition, event)) continue;
        const route = flowRoute(flow.id);
        let payload: string | null = null;
        let error: string | null = null;
        try {
          payload = JSON.stringify(await mapEvent(flow, event));
        } catch (err) {
          error = `Mapping failed: ${String((err as Error)?.message ?? err).slice(0, 500)}. Fix the flow's mapping, then edit the payload and retry.`;
        }
        out.push({
          route,
          flowId: flow.id,
          connectorId: flow.connector_id,
          subscriber: null,
          outboxId: row.id,
          eventId: row.event_id,
          eventType: row.type,
          partitionKey: row.partition_key,
          key: idempotencyKey(row.event_id, route),
          state: error ? 'dead' : 'pending',
          maxAttempts: flow.max_attempts,
          payload,
          error,
        });
      }
      for (const s of subscribersFor(event)) {
        const route = subscriberRoute(s.name);
        out.push({
          route,
          flowId: null,
          connectorId: null,
          subscriber: s.name,
          outboxId: row.id,
          eventId: row.event_id,
          eventType: row.type,
          partitionKey: row.partition_key,
          key: idempotencyKey(row.event_id, route),
          state: 'pending',
          maxAttempts: s.maxAttempts,
          payload: null,
          error: null,
        });
      }
    }
    if (out.length) await insertDeliveries(tx, out);
    await tx.query('update outbox set relayed_at = now() where id = any($1::bigint[])', [claimed.rows.map((x) => x.id)]);
    if (out.length) {
      tx.notifyAfterCommit(DELIVERY_CHANNEL);
      tx.afterCommit(() => {
        deliveryWake.emit('wake');
      });
    }
    return claimed.rows.length;
  });
}

async function insertDeliveries(tx: Tx, ds: NewDelivery[]): Promise<void> {
  await tx.query(
    `insert into integration_deliveries (route, flow_id, connector_id, subscriber, outbox_id, event_id, event_type, partition_key, idempotency_key,
        state, max_attempts, payload, last_error, dead_at)
     select u.route, u.flow_id, u.connector_id, u.subscriber, u.outbox_id, u.event_id, u.event_type, u.partition_key, u.key,
            u.state, u.max_attempts, u.payload::jsonb, u.err, case when u.state = 'dead' then now() end
       from unnest($1::text[], $2::uuid[], $3::uuid[], $4::text[], $5::bigint[], $6::uuid[], $7::text[], $8::text[], $9::text[], $10::text[], $11::int[], $12::text[], $13::text[])
         as u(route, flow_id, connector_id, subscriber, outbox_id, event_id, event_type, partition_key, key, state, max_attempts, payload, err)
     on conflict (idempotency_key) do nothing`,
    [
      ds.map((d) => d.route),
      ds.map((d) => d.flowId),
      ds.map((d) => d.connectorId),
      ds.map((d) => d.subscriber),
      ds.map((d) => d.outboxId),
      ds.map((d) => d.eventId),
      ds.map((d) => d.eventType),
      ds.map((d) => d.partitionKey),
      ds.map((d) => d.key),
      ds.map((d) => d.state),
      ds.map((d) => d.maxAttempts),
      ds.map((d) => d.payload),
      ds.map((d) => d.error),
    ],
  );
}

export interface RelayOptions {
  pollMs?: number;
  batchSize?: number;
  /**
   * Under a steady flow of events, rounds start at most this often (ms): a round that found some
   * but fewer than `batchSize` events is followed by the next one no sooner than `paceMs` after its
   * start, so the per-round cost (transaction, lock, flow list, commit flush) is paid per batch
   * instead of per event. An event after a quiet spell and a backlog (full batches) go at once.
   */
  paceMs?: number;
}

/** Runs the relay until stopped: on every NOTIFY and at least every `pollMs`. */
export class Relay {
  private readonly ctx: AppContext;
  private readonly pollMs: number;
  private readonly batchSize: number;
  private readonly paceMs: number;
  private stopped = true;
  private pauseFn: (() => void) | null = null;
  private loop: Promise<void> | null = null;
  private wakeFn: (() => void) | null = null;
  private pending = false;
  private unlisten: (() => Promise<void>) | null = null;
  private sinceAnalyze = 0;
  private lastAnalyze = 0;
  relayed = 0;

  constructor(ctx: AppContext, o: RelayOptions = {}) {
    this.ctx = ctx;
    this.pollMs = o.pollMs ?? 2000;
    this.batchSize = o.batchSize ?? 500;
    this.paceMs = o.paceMs ?? 100;
  }

  wake = (): void => {
    this.pending = true;
    this.wakeFn?.();
  };

  async start(): Promise<void> {
    if (!this.stopped) return;
    this.stopped = false;
    this.unlisten = await this.ctx.db.listen(OUTBOX_CHANNEL, this.wake);
    this.loop = (async () => {
      let lastStart = 0;
      let partial = false;
      while (!this.stopped) {
        // the round before found a partial batch: let events gather until `paceMs` after its start
        const rest = partial ? lastStart + this.paceMs - Date.now() : 0;
        if (rest > 0) {
          await new Promise<void>((resolve) => {
            const t = setTimeout(resolve, rest);
            this.pauseFn = () => {
              clearTimeout(t);
              resolve();
            };
          });
          this.pauseFn = null;
          if (this.stopped) break;
        }
        lastStart = Date.now();
        this.pending = false;
        let n = 0;
        try {
          n = await relayOnce(this.ctx.db, this.batchSize);
          this.relayed += n;
          this.sinceAnalyze += n;
          if (this.sinceAnalyze >= ANALYZE_AFTER_EVENTS && Date.now() - this.lastAnalyze >= ANALYZE_MIN_INTERVAL_MS) {
            this.sinceAnalyze = 0;
            this.lastAnalyze = Date.now();
            await this.ctx.db.query('analyze integration_deliveries');
          }
        } catch (err) {
          this.ctx.log.error({ err }, 'integration relay failed');
        }
        partial = n > 0 && n < this.batchSize;
        if (n === this.batchSize || this.pending || this.stopped) continue;
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, this.pollMs);
          this.wakeFn = () => {
            clearTimeout(t);
            resolve();
          };
        });
        this.wakeFn = null;
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wakeFn?.();
    this.pauseFn?.();
    await this.loop;
    this.loop = null;
    await this.unlisten?.().catch(() => {});
  }
}
