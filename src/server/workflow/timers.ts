// Durable timers (SLA reminders, escalations, auto-decisions, delay nodes). A timer is a row
// with `due_at`. Firing is two steps:
//   1. claim: a short transaction takes due, unleased rows with FOR UPDATE SKIP LOCKED and
//      stamps them with a lease (lease_until, locked_by). Other workers skip them.
//   2. effect: one transaction per timer re-reads the row FOR UPDATE, checks that this worker
//      still holds it and that it has not fired, runs the effect and sets fired_at, all together.
// A worker that dies after claiming simply lets its lease expire; another worker claims the
// timer again and fires it. A late "zombie" worker finds the row leased to someone else or
// fired and does nothing. So each timer's effect commits exactly once.
import { randomUUID } from 'node:crypto';
import type { Database, Tx } from '../db/index.ts';
import { systemActor, type AppContext, type Clock } from '../platform/context.ts';
import { fireTimerEffect, lockInstance } from './runtime.ts';

export interface TimerRow {
  id: number;
  due_at: Date;
  kind: string;
  instance_id: string | null;
  task_id: string | null;
  run_id: string | null;
  payload: Record<string, unknown>;
  lease_until: Date | null;
  locked_by: string | null;
  attempts: number;
  fired_at: Date | null;
}

export interface TimerWorkerOptions {
  /** How long a claim is valid; a worker that has not fired by then loses the timer. */
  leaseMs?: number;
  batchSize?: number;
  /** Idle poll interval. */
  pollMs?: number;
  /** Parallel effect transactions (PostgreSQL pool); PGlite runs them one after the other anyway. */
  concurrency?: number;
  maxAttempts?: number;
  workerId?: string;
  /** Timers fired per transaction (1 = one transaction each). */
  chunkSize?: number;
}

/** Effects for timer kinds that are not the engine's own (registered by other engines). */
export type TimerEffect = (tx: Tx, timer: TimerRow, now: Date) => Promise<string>;
const extraEffects = new Map<string, TimerEffect>();
export function registerTimerKind(kind: string, fn: TimerEffect): void {
  extraEffects.set(kind, fn);
}

export class TimerWorker {
  readonly id: string;
  private readonly db: Database;
  private readonly clock: Clock;
  private readonly leaseMs: number;
  private readonly batchSize: number;
  private readonly maxAttempts: number;
  private readonly concurrency: number;
  private readonly pollMs: number;
  private readonly chunkSize: number;
  private stopped = true;
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  /** Effects that committed in this worker (for metrics and tests). */
  fired = 0;
  onError: (err: unknown, timer?: TimerRow) => void = () => {};

  constructor(db: Database, clock: Clock, o: TimerWorkerOptions = {}) {
    this.db = db;
    this.clock = clock;
    this.id = o.workerId ?? `w-${process.pid}-${randomUUID().slice(0, 8)}`;
    this.leaseMs = o.leaseMs ?? 30_000;
    this.batchSize = o.batchSize ?? 100;
    this.maxAttempts = o.maxAttempts ?? 10;
    this.concurrency = o.concurrency ?? (db.kind === 'postgres' ? 4 : 1);
    this.pollMs = o.pollMs ?? 250;
    this.chunkSize = Math.max(1, o.chunkSize ?? 25);
  }

  /** Step 1: lease up to `limit` due timers to this worker. */
  async claim(limit = this.batchSize): Promise<TimerRow[]> {
    const now = this.clock.now();
    const r = await this.db.query<TimerRow>(
      `with due as (
         select id from wf_timers
          where fired_at is null and failed_at is null and due_at <= $1 and (lease_until is null or lease_until < $1)
          order by due_at
          limit $2
          for update skip locked
       )
       update wf_timers t set lease_until = $3, locked_by = $4, attempts = t.attempts + 1
         from due where t.id = due.id
       returning t.*`,
      [now, limit, new Date(now.getTime() + this.leaseMs), this.id],
    );
    return r.rows.sort((a, b) => new Date(a.due_at).getTime() - new Date(b.due_at).getTime());
  }

  /** Step 2: runs the effect of one claimed timer; false when it was no longer ours to fire. */
  async fire(timer: TimerRow): Promise<boolean> {
    try {
      return await this.db.tx(async (tx) => {
        const now = this.clock.now();
        const r = await tx.query<TimerRow>(
          `select * from wf_timers where id = $1 and locked_by = $2 and fired_at is null and lease_until >= $3 for update`,
          [timer.id, this.id, now],
        );
        const row = r.rows[0];
        if (!row) return false; // lease lost (expired and re-claimed) or fired elsewhere
        const result = await this.effect(tx, row, now);
        await tx.query(`update wf_timers set fired_at = $2, payload = payload || $3::jsonb where id = $1`, [row.id, now, JSON.stringify({ result })]);
        return true;
      });
    } catch (err) {
      this.onError(err, timer);
      // keep it for a retry after a back-off; give up after maxAttempts
      const now = this.clock.now();
      const giveUp = timer.attempts >= this.maxAttempts;
      await this.db
        .query(
          `update wf_timers set last_error = $3, lease_until = $4, failed_at = $5 where id = $1 and locked_by = $2 and fired_at is null`,
          [timer.id, this.id, String((err as Error)?.message ?? err).slice(0, 2000), new Date(now.getTime() + Math.min(600_000, 1000 * 2 ** timer.attempts)), giveUp ? now : null],
        )
        .catch(() => {});
      return false;
    }
  }

  private async effect(tx: Tx, row: TimerRow, now: Date): Promise<string> {
    const extra = extraEffects.get(row.kind);
    if (extra) return extra(tx, row, now);
    if (!row.instance_id) return 'orphan';
    const x = await lockInstance(tx, row.instance_id, systemActor, now);
    return fireTimerEffect(x, row);
  }

  /**
   * Fires several claimed timers in one transaction (same guarantees: rows locked, ownership and
   * "not fired" checked, effects and fired_at commit together). If anything fails the batch
   * rolls back and each timer is fired on its own, so one bad timer cannot hold up the others.
   */
  async fireBatch(timers: TimerRow[]): Promise<number> {
    if (timers.length === 1) return (await this.fire(timers[0]!)) ? 1 : 0;
    try {
      return await this.db.tx(async (tx) => {
        const now = this.clock.now();
        const r = await tx.query<TimerRow>(
          `select * from wf_timers where id = any($1::bigint[]) and locked_by = $2 and fired_at is null and lease_until >= $3
            order by instance_id nulls first, id for update`,
          [timers.map((t) => t.id), this.id, now],
        );
        const ids: number[] = [];
        const results: string[] = [];
        for (const row of r.rows) {
          results.push(await this.effect(tx, row, now));
          ids.push(row.id);
        }
        if (ids.length) {
          await tx.query(
            `update wf_timers t set fired_at = $2, payload = t.payload || jsonb_build_object('result', r.res)
               from unnest($1::bigint[], $3::text[]) as r(id, res) where t.id = r.id`,
            [ids, now, results],
          );
        }
        return ids.length;
      });
    } catch {
      let n = 0;
      for (const t of timers) if (await this.fire(t)) n++;
      return n;
    }
  }

  /** Claims and fires everything due now (one pass); returns how many effects committed. */
  async runOnce(): Promise<number> {
    let total = 0;
    for (;;) {
      const batch = await this.claim();
      if (batch.length === 0) return total;
      // lanes take chunks of the claimed batch; each chunk is one transaction
      const chunks: TimerRow[][] = [];
      for (let i = 0; i < batch.length; i += this.chunkSize) chunks.push(batch.slice(i, i + this.chunkSize));
      let next = 0;
      const lane = async () => {
        while (next < chunks.length) {
          const n = await this.fireBatch(chunks[next++]!);
          total += n;
          this.fired += n;
        }
      };
      await Promise.all(Array.from({ length: Math.min(this.concurrency, chunks.length) }, lane));
      if (batch.length < this.batchSize) return total;
    }
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.loop = (async () => {
      while (!this.stopped) {
        let n = 0;
        try {
          n = await this.runOnce();
        } catch (err) {
          this.onError(err);
        }
        if (n === 0 && !this.stopped) {
          await new Promise<void>((resolve) => {
            const t = setTimeout(resolve, this.pollMs);
            this.wake = () => {
              clearTimeout(t);
              resolve();
            };
          });
          this.wake = null;
        }
      }
    })();
  }

  /** Stops after the current pass: claimed-but-unfired timers are left to their lease. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
    this.loop = null;
  }
}

export function startTimerWorker(ctx: AppContext, o: TimerWorkerOptions = {}): TimerWorker {
  const w = new TimerWorker(ctx.db, ctx.clock, o);
  w.onError = (err, timer) => ctx.log.error({ err, timerId: timer?.id, kind: timer?.kind }, 'workflow timer failed');
  w.start();
  return w;
}
