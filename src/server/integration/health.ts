// Integration health: per flow and per connector, for today and yesterday in the plant's time zone,
// successes, failures, average and p95 latency of attempts, retries, dead letters, plus the current
// backlog and the age of the oldest pending delivery. Per-flow thresholds open and resolve in-app
// alerts (`integration_alerts`). The same figures are exported as Prometheus gauges on /metrics.
import client from 'prom-client';
import type { Sql } from '../db/index.ts';
import { metricsRegistry } from '../http/app.ts';
import type { AppContext } from '../platform/context.ts';
import type { AlertView, DayFigures, HealthEntry, HealthReport } from '../../shared/integration-api.ts';

export type { AlertView, DayFigures, HealthEntry, HealthReport };

const empty = (): DayFigures => ({ successes: 0, failures: 0, retries: 0, dead: 0, avgLatencyMs: null, p95LatencyMs: null, failureRatePct: null });

interface DayRow {
  k: string;
  successes: number;
  failures: number;
  retries: number;
  avg_ms: number | null;
  p95_ms: number | null;
}

async function dayFigures(sql: Sql, col: 'flow_id' | 'connector_id', from: Date, to: Date): Promise<Map<string, DayFigures>> {
  const r = await sql.query<DayRow>(
    `select ${col}::text as k,
            count(*) filter (where outcome = 'ok')::int as successes,
            count(*) filter (where outcome <> 'ok')::int as failures,
            count(*) filter (where attempt > 1)::int as retries,
            (avg(latency_ms) filter (where outcome = 'ok'))::float8 as avg_ms,
            (percentile_cont(0.95) within group (order by latency_ms) filter (where outcome = 'ok'))::float8 as p95_ms
       from integration_delivery_attempts
      where finished_at >= $1 and finished_at < $2 and ${col} is not null
      group by ${col}`,
    [from, to],
  );
  const d = await sql.query<{ k: string; n: number }>(
    `select ${col}::text as k, count(*)::int as n from integration_deliveries where dead_at >= $1 and dead_at < $2 and ${col} is not null group by ${col}`,
    [from, to],
  );
  const out = new Map<string, DayFigures>();
  for (const x of r.rows) {
    const total = x.successes + x.failures;
    out.set(x.k, {
      successes: x.successes,
      failures: x.failures,
      retries: x.retries,
      dead: 0,
      avgLatencyMs: x.avg_ms === null ? null : Math.round(x.avg_ms),
      p95LatencyMs: x.p95_ms === null ? null : Math.round(x.p95_ms),
      failureRatePct: total ? Math.round((x.failures / total) * 10_000) / 100 : null,
    });
  }
  for (const x of d.rows) {
    const f = out.get(x.k) ?? empty();
    f.dead = x.n;
    out.set(x.k, f);
  }
  return out;
}

/** Start of today in `timeZone`, as a UTC instant. */
export async function startOfToday(sql: Sql, timeZone: string): Promise<Date> {
  const r = await sql.query<{ t: Date }>(`select (date_trunc('day', now() at time zone $1) at time zone $1) as t`, [timeZone]);
  return new Date(r.rows[0]!.t);
}

export async function healthReport(ctx: AppContext): Promise<HealthReport> {
  const sql = ctx.db;
  const tz = ctx.config.timezone;
  const today = await startOfToday(sql, tz);
  const yesterday = new Date(today.getTime() - 86_400_000);
  const tomorrow = new Date(today.getTime() + 86_400_000);
  const flows = await sql.query<{ id: string; name: string; connector_id: string }>('select id, name, connector_id from integration_flows order by name');
  const connectors = await sql.query<{ id: string; name: string }>('select id, name from integration_connectors order by name');
  const backlogOf = async (col: 'flow_id' | 'connector_id') => {
    const r = await sql.query<{ k: string; backlog: number; in_flight: number; oldest: Date | null }>(
      `select ${col}::text as k, count(*) filter (where state in ('pending', 'retrying', 'in_flight'))::int as backlog,
              count(*) filter (where state = 'in_flight')::int as in_flight,
              min(created_at) filter (where state in ('pending', 'retrying')) as oldest
         from integration_deliveries where state in ('pending', 'retrying', 'in_flight') and ${col} is not null group by ${col}`,
    );
    return new Map(r.rows.map((x) => [x.k, x]));
  };
  const now = Date.now();
  const build = async (col: 'flow_id' | 'connector_id', list: Array<{ id: string; name: string; connector_id?: string }>): Promise<HealthEntry[]> => {
    const [t, y, b] = await Promise.all([dayFigures(sql, col, today, tomorrow), dayFigures(sql, col, yesterday, today), backlogOf(col)]);
    return list.map((e) => {
      const bl = b.get(e.id);
      return {
        id: e.id,
        name: e.name,
        ...(e.connector_id ? { connectorId: e.connector_id } : {}),
        today: t.get(e.id) ?? empty(),
        yesterday: y.get(e.id) ?? empty(),
        backlog: bl?.backlog ?? 0,
        inFlight: bl?.in_flight ?? 0,
        oldestPendingSeconds: bl?.oldest ? Math.max(0, Math.round((now - new Date(bl.oldest).getTime()) / 1000)) : null,
      };
    });
  };
  return {
    timezone: tz,
    generatedAt: new Date(now).toISOString(),
    flows: await build('flow_id', flows.rows),
    connectors: await build('connector_id', connectors.rows),
  };
}

// ---- alerts --------------------------------------------------------------------------------------

/** Minimum attempts today before a failure rate can raise an alert (one failure of two is not a trend). */
const MIN_ATTEMPTS_FOR_RATE = 10;

/** Opens alerts whose threshold is exceeded and resolves those that are back to normal. */
export async function evaluateAlerts(ctx: AppContext, report?: HealthReport): Promise<{ opened: number; resolved: number }> {
  const rep = report ?? (await healthReport(ctx));
  const thresholds = await ctx.db.query<{ id: string; name: string; alert_backlog: number | null; alert_oldest_pending_s: number | null; alert_failure_rate_pct: number | null }>(
    'select id, name, alert_backlog, alert_oldest_pending_s, alert_failure_rate_pct from integration_flows',
  );
  const byId = new Map(rep.flows.map((f) => [f.id, f]));
  let opened = 0;
  let resolved = 0;
  for (const t of thresholds.rows) {
    const h = byId.get(t.id);
    if (!h) continue;
    const checks: Array<{ kind: string; threshold: number | null; value: number | null; message: string }> = [
      {
        kind: 'backlog',
        threshold: t.alert_backlog,
        value: h.backlog,
        message: `流程 ${t.name} 积压 ${h.backlog} 条，超过阈值 ${t.alert_backlog} / Flow ${t.name}: backlog ${h.backlog} exceeds ${t.alert_backlog}`,
      },
      {
        kind: 'oldest_pending',
        threshold: t.alert_oldest_pending_s,
        value: h.oldestPendingSeconds,
        message: `流程 ${t.name} 最早待发送已等待 ${h.oldestPendingSeconds} 秒，超过 ${t.alert_oldest_pending_s} 秒 / Flow ${t.name}: oldest pending delivery waits ${h.oldestPendingSeconds} s (threshold ${t.alert_oldest_pending_s} s)`,
      },
      {
        kind: 'failure_rate',
        threshold: t.alert_failure_rate_pct,
        value: h.today.successes + h.today.failures >= MIN_ATTEMPTS_FOR_RATE ? h.today.failureRatePct : null,
        message: `流程 ${t.name} 今日失败率 ${h.today.failureRatePct}% 超过 ${t.alert_failure_rate_pct}% / Flow ${t.name}: failure rate today ${h.today.failureRatePct}% exceeds ${t.alert_failure_rate_pct}%`,
      },
    ];
    for (const c of checks) {
      const firing = c.threshold !== null && c.value !== null && c.value > c.threshold;
      if (firing) {
        const r = await ctx.db.query<{ fresh: boolean }>(
          `insert into integration_alerts (flow_id, kind, message, value, threshold) values ($1, $2, $3, $4, $5)
           on conflict (flow_id, kind) where state = 'open'
           do update set last_seen_at = now(), value = excluded.value, threshold = excluded.threshold, message = excluded.message
           returning (xmax = 0) as fresh`,
          [t.id, c.kind, c.message, c.value, c.threshold],
        );
        if (r.rows[0]?.fresh) {
          opened++;
          ctx.log.warn({ flow: t.name, kind: c.kind, value: c.value, threshold: c.threshold }, 'integration alert opened');
        }
      } else {
        const r = await ctx.db.query(`update integration_alerts set state = 'resolved', resolved_at = now() where flow_id = $1 and kind = $2 and state = 'open'`, [t.id, c.kind]);
        resolved += r.rowCount;
      }
    }
  }
  return { opened, resolved };
}

export async function listAlerts(sql: Sql, state?: 'open' | 'resolved'): Promise<AlertView[]> {
  const r = await sql.query<{
    id: number;
    flow_id: string | null;
    flow_name: string | null;
    kind: string;
    state: string;
    message: string;
    value: number | null;
    threshold: number | null;
    opened_at: Date;
    last_seen_at: Date;
    resolved_at: Date | null;
  }>(
    `select a.*, f.name as flow_name from integration_alerts a left join integration_flows f on f.id = a.flow_id
      ${state ? 'where a.state = $1' : ''} order by (a.state = 'open') desc, a.opened_at desc limit 500`,
    state ? [state] : [],
  );
  return r.rows.map((a) => ({
    id: Number(a.id),
    flowId: a.flow_id,
    flowName: a.flow_name,
    kind: a.kind,
    state: a.state,
    message: a.message,
    value: a.value,
    threshold: a.threshold,
    openedAt: new Date(a.opened_at).toISOString(),
    lastSeenAt: new Date(a.last_seen_at).toISOString(),
    resolvedAt: a.resolved_at ? new Date(a.resolved_at).toISOString() : null,
  }));
}

// ---- Prometheus ------------------------------------------------------------------------------------

const gauge = (name: string, help: string, labelNames: readonly string[]) =>
  new client.Gauge({ name, help, labelNames: labelNames as string[], registers: [metricsRegistry] });

const g = {
  backlog: gauge('trellis_integration_backlog', 'Deliveries pending, retrying or in flight', ['scope', 'name']),
  oldest: gauge('trellis_integration_oldest_pending_seconds', 'Age of the oldest pending delivery', ['scope', 'name']),
  successes: gauge('trellis_integration_successes_today', 'Successful delivery attempts today (plant time zone)', ['scope', 'name']),
  failures: gauge('trellis_integration_failures_today', 'Failed delivery attempts today (plant time zone)', ['scope', 'name']),
  retries: gauge('trellis_integration_retries_today', 'Delivery attempts after the first, today', ['scope', 'name']),
  dead: gauge('trellis_integration_dead_today', 'Deliveries that went to dead today', ['scope', 'name']),
  avg: gauge('trellis_integration_latency_avg_seconds_today', 'Average latency of successful attempts today', ['scope', 'name']),
  p95: gauge('trellis_integration_latency_p95_seconds_today', 'p95 latency of successful attempts today', ['scope', 'name']),
  alerts: gauge('trellis_integration_open_alerts', 'Open integration alerts', []),
};

export async function updateMetrics(ctx: AppContext, rep: HealthReport): Promise<void> {
  for (const x of Object.values(g)) x.reset();
  const put = (scope: string, e: HealthEntry) => {
    const l = { scope, name: e.name };
    g.backlog.set(l, e.backlog);
    g.oldest.set(l, e.oldestPendingSeconds ?? 0);
    g.successes.set(l, e.today.successes);
    g.failures.set(l, e.today.failures);
    g.retries.set(l, e.today.retries);
    g.dead.set(l, e.today.dead);
    if (e.today.avgLatencyMs !== null) g.avg.set(l, e.today.avgLatencyMs / 1000);
    if (e.today.p95LatencyMs !== null) g.p95.set(l, e.today.p95LatencyMs / 1000);
  };
  for (const f of rep.flows) put('flow', f);
  for (const c of rep.connectors) put('connector', c);
  const open = await ctx.db.query<{ n: number }>(`select count(*)::int as n from integration_alerts where state = 'open'`);
  g.alerts.set(open.rows[0]!.n);
}

/** Refreshes the gauges and evaluates the alert thresholds every `intervalMs`. */
export function startHealthMonitor(ctx: AppContext, intervalMs: number): () => Promise<void> {
  let running: Promise<unknown> | null = null;
  const pass = () => {
    if (running) return;
    running = (async () => {
      const rep = await healthReport(ctx);
      await evaluateAlerts(ctx, rep);
      await updateMetrics(ctx, rep);
    })()
      .catch((err: unknown) => ctx.log.error({ err }, 'integration health pass failed'))
      .finally(() => {
        running = null;
      });
  };
  const t = setInterval(pass, intervalMs);
  t.unref();
  pass();
  return async () => {
    clearInterval(t);
    await running;
  };
}
