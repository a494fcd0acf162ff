// Pull jobs: one per connector × object, scheduled by a cron expression in the plant's time zone
// with an optional time window (heavy syncs only 02:00–04:00). A job is a row with `due_at` and a
// lease: a worker claims due rows with FOR UPDATE SKIP LOCKED, pulls page by page (the network
// call outside any transaction), then writes each page, the watermark and the run's counters in
// one transaction that also checks the lease is still its own. A worker that dies simply lets the
// lease expire; the next claim continues from the last committed watermark.
import { randomUUID } from 'node:crypto';
import { Cron } from 'croner';
import type { Database } from '../../db/index.ts';
import type { AppContext } from '../../platform/context.ts';
import { AppError } from '../../platform/errors.ts';
import type { SourceHandle } from '../types.ts';
import { getDriver } from '../drivers/registry.ts';
import { SAMPLE_ERP_CONNECTOR_ID } from '../drivers/sample-erp.ts';
import type { ErpMasterKind } from './objects.ts';
import { applyPage, markDeleted } from './store.ts';

export interface PullJob {
  id: string;
  connector_id: string;
  object: ErpMasterKind;
  cron: string;
  timezone: string;
  window_start: string | null;
  window_end: string | null;
  mode: 'incremental' | 'full';
  page_size: number;
  enabled: boolean;
  watermark: string | null;
  due_at: Date;
  lease_until: Date | null;
  locked_by: string | null;
  last_run_at: Date | null;
  last_status: string | null;
  last_error: string | null;
}

export interface PullRun {
  id: number;
  job_id: string;
  connector_id: string;
  object: string;
  trigger: string;
  status: 'running' | 'succeeded' | 'failed';
  started_at: Date;
  finished_at: Date | null;
  duration_ms: number | null;
  pages: number;
  rows_seen: number;
  inserted: number;
  updated: number;
  unchanged: number;
  deleted: number;
  error: string | null;
  retryable: boolean | null;
}

// ---- schedule -------------------------------------------------------------------------------

const HHMM = /^([01]\d|2[0-3]):[0-5]\d$/;

function localMinutes(at: Date, timezone: string): number {
  const parts = new Intl.DateTimeFormat('en-GB', { timeZone: timezone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).formatToParts(at);
  const h = Number(parts.find((p) => p.type === 'hour')!.value);
  const m = Number(parts.find((p) => p.type === 'minute')!.value);
  return h * 60 + m;
}
const minutesOf = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/** Whether `at` lies in the window [start, end) of the plant's local time (windows may cross midnight). */
export function inWindow(at: Date, timezone: string, start: string | null, end: string | null): boolean {
  if (!start || !end) return true;
  const t = localMinutes(at, timezone);
  const a = minutesOf(start);
  const b = minutesOf(end);
  return a <= b ? t >= a && t < b : t >= a || t < b;
}

/** Checks a schedule; returns a message a person can act on, or null. */
export function scheduleProblem(s: { cron: string; timezone: string; window_start: string | null; window_end: string | null }): string | null {
  try {
    new Intl.DateTimeFormat('en', { timeZone: s.timezone });
  } catch {
    return `"${s.timezone}" is not a time zone; use a name such as Asia/Shanghai`;
  }
  if ((s.window_start === null) !== (s.window_end === null)) return 'a time window needs both a start and an end, e.g. 02:00 and 04:00';
  if (s.window_start && (!HHMM.test(s.window_start) || !HHMM.test(s.window_end!))) return 'window times are HH:MM in 24-hour form, e.g. 02:00';
  if (s.window_start && s.window_start === s.window_end) return 'the window start and end must differ';
  try {
    new Cron(s.cron, { timezone: s.timezone, paused: true });
  } catch (err) {
    return `"${s.cron}" is not a cron expression (${(err as Error).message}); e.g. "*/30 * * * *" or "0 2 * * *"`;
  }
  if (nextDue(s, new Date()) === null) return `the cron expression "${s.cron}" never fires inside the window ${s.window_start}–${s.window_end}`;
  return null;
}

/** The next time the job is due after `from`: the cron's next fire that falls inside the window. */
export function nextDue(s: { cron: string; timezone: string; window_start: string | null; window_end: string | null }, from: Date): Date | null {
  const cron = new Cron(s.cron, { timezone: s.timezone, paused: true });
  let at: Date | null = cron.nextRun(from);
  for (let i = 0; at && i < 5000; i++) {
    if (inWindow(at, s.timezone, s.window_start, s.window_end)) return at;
    at = cron.nextRun(at);
  }
  return null;
}

// ---- sources --------------------------------------------------------------------------------

/** Opens the source of a connector. The integration engine sets one that reads its connector table. */
export type SourceOpener = (ctx: AppContext, connectorId: string) => Promise<SourceHandle>;

const builtInOpener: SourceOpener = async (ctx, connectorId) => {
  if (connectorId === SAMPLE_ERP_CONNECTOR_ID) {
    const driver = getDriver('sample_erp')!;
    return driver.openSource!({}, undefined, { ctx, connectorId, connectorName: '示例 ERP / Sample ERP' });
  }
  throw Object.assign(new Error(`No connector "${connectorId}" is known to the master-data pulls; configure it in the integration hub`), { retryable: false });
};
let opener: SourceOpener = builtInOpener;

/** Lets the integration engine open configured connectors (falls back to the built-in sample ERP). */
export function setMasterDataSourceOpener(fn: SourceOpener): void {
  opener = async (ctx, id) => (id === SAMPLE_ERP_CONNECTOR_ID ? builtInOpener(ctx, id) : fn(ctx, id));
}

// ---- claiming and running -------------------------------------------------------------------

export interface RunOptions {
  workerId: string;
  leaseMs: number;
  trigger: 'schedule' | 'manual';
  /** Safety net against a source that always says "more". */
  maxPages?: number;
}

export async function claimDueJobs(db: Database, now: Date, workerId: string, leaseMs: number, limit = 5): Promise<PullJob[]> {
  const r = await db.query<PullJob>(
    `with due as (
       select id from md_pull_jobs
        where enabled and due_at <= $1 and (lease_until is null or lease_until < $1)
        order by due_at limit $2
        for update skip locked
     )
     update md_pull_jobs j set lease_until = $3, locked_by = $4 from due where j.id = due.id returning j.*`,
    [now, limit, new Date(now.getTime() + leaseMs), workerId],
  );
  return r.rows;
}

/** Claims one job now, whatever its due time (a person pressed "pull now"); null when another worker holds it. */
export async function claimJob(db: Database, id: string, now: Date, workerId: string, leaseMs: number): Promise<PullJob | null> {
  const r = await db.query<PullJob>(
    `update md_pull_jobs set lease_until = $3, locked_by = $4
      where id = (select id from md_pull_jobs where id = $1 and (lease_until is null or lease_until < $2) for update skip locked)
      returning *`,
    [id, now, new Date(now.getTime() + leaseMs), workerId],
  );
  return r.rows[0] ?? null;
}

class LeaseLost extends Error {}

/** Runs a claimed job to the end (all pages); records the run; schedules the next one. */
export async function runJob(ctx: AppContext, job: PullJob, o: RunOptions): Promise<PullRun> {
  const { db, clock } = ctx;
  const started = clock.now();
  const t0 = performance.now();
  const run = (
    await db.query<PullRun>(
      `insert into md_pull_runs (job_id, connector_id, object, trigger, status, started_at) values ($1, $2, $3, $4, 'running', $5) returning *`,
      [job.id, job.connector_id, job.object, o.trigger, started],
    )
  ).rows[0]!;
  let source: SourceHandle | null = null;
  let error: { message: string; retryable: boolean } | null = null;
  const full = job.mode === 'full';
  let watermark = full ? null : job.watermark;
  try {
    source = await opener(ctx, job.connector_id);
    for (let page = 0; ; page++) {
      if (page >= (o.maxPages ?? 100_000)) throw new Error(`the source kept saying "more" after ${page} pages; stopped`);
      const result = await source.pull({ object: job.object, since: watermark, limit: job.page_size }); // no transaction held here
      const last = !result.more;
      await db.tx(async (tx) => {
        const now = clock.now();
        const mine = await tx.query(`select 1 from md_pull_jobs where id = $1 and locked_by = $2 for update`, [job.id, o.workerId]);
        if (!mine.rowCount) throw new LeaseLost('another worker took over this pull');
        const c = await applyPage(tx, job.object, job.connector_id, run.id, result.rows, now);
        const deleted = full && last ? await markDeleted(tx, job.object, job.connector_id, run.id, now) : 0;
        const nextWm = result.nextWatermark ?? watermark;
        await tx.query(`update md_pull_jobs set watermark = $2, lease_until = $3 where id = $1`, [job.id, nextWm, new Date(now.getTime() + o.leaseMs)]);
        await tx.query(
          `update md_pull_runs set pages = pages + 1, rows_seen = rows_seen + $2, inserted = inserted + $3, updated = updated + $4, unchanged = unchanged + $5, deleted = deleted + $6 where id = $1`,
          [run.id, c.seen, c.inserted, c.updated, c.unchanged, deleted],
        );
        watermark = nextWm;
      });
      if (last) break;
    }
  } catch (err) {
    const retryable = (err as { retryable?: boolean }).retryable;
    // A 4xx from our own services (no such connector, invalid configuration) will not mend itself.
    const configProblem = err instanceof AppError && err.status < 500;
    error = { message: (err as Error).message, retryable: retryable ?? !configProblem };
    if (err instanceof LeaseLost) error.retryable = true;
  } finally {
    await source?.close().catch(() => {});
  }
  const now = clock.now();
  const next = nextDue(job, now) ?? new Date(now.getTime() + 86_400_000);
  // a failed retryable pull tries again soon (but not before a minute), without waiting for the next cron slot
  const due = error?.retryable ? new Date(Math.min(next.getTime(), now.getTime() + 5 * 60_000)) : next;
  const r = await db.tx(async (tx) => {
    const done = await tx.query<PullRun>(
      `update md_pull_runs set status = $2, finished_at = $3, duration_ms = $4, error = $5, retryable = $6 where id = $1 returning *`,
      [run.id, error ? 'failed' : 'succeeded', now, Math.round(performance.now() - t0), error?.message.slice(0, 2000) ?? null, error ? error.retryable : null],
    );
    await tx.query(
      `update md_pull_jobs set due_at = $3, lease_until = null, locked_by = null, last_run_at = $4, last_status = $5, last_error = $6, updated_at = $4
        where id = $1 and locked_by = $2`,
      [job.id, o.workerId, due, now, error ? 'failed' : 'succeeded', error?.message.slice(0, 2000) ?? null],
    );
    return done.rows[0]!;
  });
  if (error) ctx.log.warn({ job: job.id, connector: job.connector_id, object: job.object, err: error.message }, 'master-data pull failed');
  return r;
}

/** Claims and runs whatever is due now (used by the scheduler loop and by tests). */
export async function runDueJobs(ctx: AppContext, workerId: string, leaseMs = 5 * 60_000): Promise<PullRun[]> {
  const runs: PullRun[] = [];
  for (;;) {
    const jobs = await claimDueJobs(ctx.db, ctx.clock.now(), workerId, leaseMs);
    if (!jobs.length) return runs;
    for (const job of jobs) runs.push(await runJob(ctx, job, { workerId, leaseMs, trigger: 'schedule' }));
  }
}

export interface SchedulerOptions {
  pollMs?: number;
  leaseMs?: number;
  workerId?: string;
}

/** Background loop: wakes every `pollMs`, runs due pulls. Returns a function that stops it cleanly. */
export function startMasterDataScheduler(ctx: AppContext, o: SchedulerOptions = {}): () => Promise<void> {
  const workerId = o.workerId ?? `md-${process.pid}-${randomUUID().slice(0, 8)}`;
  const pollMs = o.pollMs ?? 5000;
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  let wake: (() => void) | null = null;
  const loop = (async () => {
    while (!stopped) {
      try {
        await runDueJobs(ctx, workerId, o.leaseMs);
      } catch (err) {
        ctx.log.error({ err }, 'master-data scheduler error');
      }
      if (stopped) break;
      await new Promise<void>((resolve) => {
        wake = resolve;
        timer = setTimeout(resolve, pollMs);
      });
    }
  })();
  return async () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    wake?.();
    await loop;
  };
}

// ---- job definitions ------------------------------------------------------------------------

export interface JobInput {
  connectorId: string;
  object: ErpMasterKind;
  cron: string;
  timezone: string;
  window: { start: string; end: string } | null;
  mode: 'incremental' | 'full';
  pageSize: number;
  enabled: boolean;
}

/** Default jobs for the built-in sample ERP: frequent incremental pulls, equipment and BOMs at night. */
export function defaultSampleJobs(timezone: string): JobInput[] {
  const base = { connectorId: SAMPLE_ERP_CONNECTOR_ID, timezone, pageSize: 500, enabled: true, mode: 'incremental' as const };
  return [
    { ...base, object: 'material', cron: '*/30 * * * *', window: null },
    { ...base, object: 'supplier', cron: '0 * * * *', window: null },
    { ...base, object: 'work_order', cron: '*/5 * * * *', window: null },
    { ...base, object: 'purchase_order', cron: '*/10 * * * *', window: null },
    { ...base, object: 'bom', cron: '0 2 * * *', window: { start: '02:00', end: '04:00' }, mode: 'full' },
    { ...base, object: 'equipment', cron: '30 2 * * *', window: { start: '02:00', end: '04:00' }, mode: 'full' },
  ];
}
