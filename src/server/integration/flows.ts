// Flows: which events go to which connector, mapped how (JSONata over the CloudEvent), at what pace
// (token bucket, concurrency cap, batch size), when (delivery window in the plant's time zone), and
// how persistently (attempts, backoff). Also the event type patterns shared with in-process subscribers.
import jsonata from 'jsonata';
import { z } from 'zod';
import type { Sql, Tx } from '../db/index.ts';
import type { Actor } from '../platform/context.ts';
import { appendAudit } from '../platform/audit/index.ts';
import { badRequest, conflict, notFound } from '../platform/errors.ts';
import type { CloudEvent } from '../platform/events/index.ts';
import { getConnector } from './connectors.ts';
import type { FlowView } from '../../shared/integration-api.ts';

// ---- patterns and conditions -------------------------------------------------------------------

const PATTERN = /^[A-Za-z0-9_.*/-]{1,200}$/;
export const EventPattern = z.string().regex(PATTERN, 'an event type, e.g. trellis.record.created, where * matches any characters (trellis.record.*)');

const patternCache = new Map<string, RegExp>();
/** Glob match: `*` matches any run of characters (dots included); everything else is literal. */
export function matchesPattern(pattern: string, value: string): boolean {
  let re = patternCache.get(pattern);
  if (!re) {
    re = new RegExp(`^${pattern.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\/]/g, '\\$&')).join('.*')}$`);
    patternCache.set(pattern, re);
  }
  return re.test(value);
}

export const FlowCondition = z
  .strictObject({
    /** Glob on the event source, e.g. /trellis/apps/purchase/*. */
    source: EventPattern.optional(),
    app: z.string().min(1).max(60).optional(),
    entity: z.string().min(1).max(60).optional(),
  })
  .default({});
export type FlowCondition = z.infer<typeof FlowCondition>;

/** The app and entity an event is about: from its data when it says, else from /trellis/apps/<app>/<entity>. */
function appEntity(ev: CloudEvent): { app?: string; entity?: string } {
  const d = ev.data as { app?: unknown; entity?: unknown } | null;
  const m = /^\/trellis\/apps\/([^/]+)\/([^/]+)/.exec(ev.source);
  return {
    app: typeof d?.app === 'string' ? d.app : m?.[1],
    entity: typeof d?.entity === 'string' ? d.entity : m?.[2],
  };
}

export function matchesCondition(c: FlowCondition, ev: CloudEvent): boolean {
  if (c.source && !matchesPattern(c.source, ev.source)) return false;
  if (c.app || c.entity) {
    const ae = appEntity(ev);
    if (c.app && ae.app !== c.app) return false;
    if (c.entity && ae.entity !== c.entity) return false;
  }
  return true;
}

// ---- JSONata -----------------------------------------------------------------------------------

export type Compiled = ReturnType<typeof jsonata>;

/** Compiles a JSONata expression or throws a 400 that says where it is wrong. */
export function compileJsonata(expr: string, where: string): Compiled {
  try {
    return jsonata(expr);
  } catch (err) {
    const e = err as { message?: string; position?: number; token?: string };
    throw badRequest(`The JSONata expression in ${where} does not parse: ${e.message ?? String(err)}${e.position !== undefined ? ` (at character ${e.position})` : ''}.`, [
      { path: where, message: e.message ?? 'invalid JSONata' },
    ]);
  }
}

// ---- flows ---------------------------------------------------------------------------------------

const HHMM = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'a time HH:MM (24 h, plant time zone)');

const FlowFields = {
  description: z.string().max(1000).nullish(),
  /** Connector id or name. */
  connector: z.string().min(1).max(100),
  eventTypes: z.array(EventPattern).min(1, 'at least one event type pattern').max(20),
  condition: FlowCondition,
  /** JSONata over the CloudEvent giving the payload sent; null sends the CloudEvent itself. */
  mapping: z.string().max(20_000).nullish(),
  enabled: z.boolean().default(true),
  /** Token bucket: sustained deliveries per second (null = unlimited) and burst size. */
  ratePerSecond: z.number().positive().max(100_000).nullish(),
  burst: z.number().int().min(1).max(100_000).default(10),
  maxConcurrency: z.number().int().min(1).max(256).default(4),
  batchSize: z.number().int().min(1).max(1000).default(1),
  window: z.strictObject({ start: HHMM, end: HHMM }).nullish(),
  maxAttempts: z.number().int().min(1).max(1000).default(10),
  backoffBaseMs: z.number().int().min(10).max(3_600_000).default(1000),
  backoffCapMs: z.number().int().min(10).max(86_400_000).default(300_000),
  alerts: z
    .strictObject({
      backlog: z.number().int().min(1).optional(),
      oldestPendingSeconds: z.number().int().min(1).optional(),
      failureRatePct: z.number().min(0).max(100).optional(),
    })
    .default({}),
};

export const FlowName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/, 'letters, digits and _ . - (at most 100, starting with a letter or digit)');
export const FlowCreate = z.strictObject({ name: FlowName, ...FlowFields });
export type FlowCreate = z.infer<typeof FlowCreate>;
export const FlowPatch = z.strictObject({
  name: FlowName.optional(),
  description: FlowFields.description,
  connector: FlowFields.connector.optional(),
  eventTypes: FlowFields.eventTypes.optional(),
  condition: z.strictObject({ source: EventPattern.optional(), app: z.string().min(1).max(60).optional(), entity: z.string().min(1).max(60).optional() }).optional(),
  mapping: FlowFields.mapping,
  enabled: z.boolean().optional(),
  ratePerSecond: FlowFields.ratePerSecond,
  burst: FlowFields.burst.unwrap().optional(),
  maxConcurrency: FlowFields.maxConcurrency.unwrap().optional(),
  batchSize: FlowFields.batchSize.unwrap().optional(),
  window: FlowFields.window,
  maxAttempts: FlowFields.maxAttempts.unwrap().optional(),
  backoffBaseMs: FlowFields.backoffBaseMs.unwrap().optional(),
  backoffCapMs: FlowFields.backoffCapMs.unwrap().optional(),
  alerts: z.strictObject({ backlog: z.number().int().min(1).optional(), oldestPendingSeconds: z.number().int().min(1).optional(), failureRatePct: z.number().min(0).max(100).optional() }).optional(),
});
export type FlowPatch = z.infer<typeof FlowPatch>;

export interface FlowRow {
  id: string;
  name: string;
  description: string | null;
  connector_id: string;
  event_types: string[];
  condition: FlowCondition;
  mapping: string | null;
  enabled: boolean;
  rate_per_s: number | null;
  burst: number;
  max_concurrency: number;
  batch_size: number;
  window_start: string | null;
  window_end: string | null;
  max_attempts: number;
  backoff_base_ms: number;
  backoff_cap_ms: number;
  alert_backlog: number | null;
  alert_oldest_pending_s: number | null;
  alert_failure_rate_pct: number | null;
  version: number;
  created_at: Date;
  updated_at: Date;
}

export type { FlowView };

export function viewFlow(r: FlowRow): FlowView {
  return {
    id: r.id,
    name: r.name,
    description: r.description,
    connectorId: r.connector_id,
    eventTypes: r.event_types,
    condition: r.condition,
    mapping: r.mapping,
    enabled: r.enabled,
    ratePerSecond: r.rate_per_s,
    burst: r.burst,
    maxConcurrency: r.max_concurrency,
    batchSize: r.batch_size,
    window: r.window_start && r.window_end ? { start: r.window_start, end: r.window_end } : null,
    maxAttempts: r.max_attempts,
    backoffBaseMs: r.backoff_base_ms,
    backoffCapMs: r.backoff_cap_ms,
    alerts: {
      ...(r.alert_backlog !== null ? { backlog: r.alert_backlog } : {}),
      ...(r.alert_oldest_pending_s !== null ? { oldestPendingSeconds: r.alert_oldest_pending_s } : {}),
      ...(r.alert_failure_rate_pct !== null ? { failureRatePct: r.alert_failure_rate_pct } : {}),
    },
    version: r.version,
    createdAt: new Date(r.created_at).toISOString(),
    updatedAt: new Date(r.updated_at).toISOString(),
  };
}

export async function listFlows(sql: Sql, opts: { enabledOnly?: boolean } = {}): Promise<FlowRow[]> {
  return (await sql.query<FlowRow>(`select * from integration_flows ${opts.enabledOnly ? 'where enabled' : ''} order by name`)).rows;
}

export async function getFlow(sql: Sql, idOrName: string): Promise<FlowRow> {
  const isId = /^[0-9a-f-]{36}$/i.test(idOrName);
  const r = await sql.query<FlowRow>(`select * from integration_flows where ${isId ? 'id = $1::uuid' : 'name = $1'}`, [idOrName]);
  if (!r.rows[0]) throw notFound(`No flow ${JSON.stringify(idOrName)}. List them with GET /api/v1/integration/flows.`);
  return r.rows[0];
}

type FlowValues = Omit<FlowCreate, 'connector'> & { connectorId: string };

function checkFlow(v: FlowValues): void {
  if (v.mapping) compileJsonata(v.mapping, 'body.mapping');
  if (v.backoffCapMs < v.backoffBaseMs) throw badRequest('backoffCapMs must be at least backoffBaseMs.', [{ path: 'body.backoffCapMs', message: 'smaller than backoffBaseMs' }]);
  if (v.window && v.window.start === v.window.end) {
    throw badRequest('A delivery window needs different start and end times (leave it out to deliver at any time).', [{ path: 'body.window', message: 'empty window' }]);
  }
}

function params(v: FlowValues): unknown[] {
  return [
    v.name,
    v.description ?? null,
    v.connectorId,
    v.eventTypes,
    JSON.stringify(v.condition ?? {}),
    v.mapping ?? null,
    v.enabled,
    v.ratePerSecond ?? null,
    v.burst,
    v.maxConcurrency,
    v.batchSize,
    v.window?.start ?? null,
    v.window?.end ?? null,
    v.maxAttempts,
    v.backoffBaseMs,
    v.backoffCapMs,
    v.alerts.backlog ?? null,
    v.alerts.oldestPendingSeconds ?? null,
    v.alerts.failureRatePct ?? null,
  ];
}

async function flowNameFree(tx: Tx, name: string, exceptId: string | null): Promise<void> {
  const r = await tx.query('select 1 from integration_flows where name = $1 and id is distinct from $2::uuid', [name, exceptId]);
  if (r.rowCount) throw conflict(`A flow named "${name}" already exists; choose another name.`);
}

async function connectorIdOf(tx: Tx, connector: string): Promise<string> {
  try {
    return (await getConnector(tx, connector)).id;
  } catch {
    throw badRequest(`No connector ${JSON.stringify(connector)}; create it first (POST /api/v1/integration/connectors) or give an existing id or name.`, [
      { path: 'body.connector', message: 'unknown connector' },
    ]);
  }
}

export async function createFlow(tx: Tx, actor: Actor, input: FlowCreate): Promise<FlowRow> {
  const { connector, ...rest } = input;
  const v: FlowValues = { ...rest, connectorId: await connectorIdOf(tx, connector) };
  checkFlow(v);
  await flowNameFree(tx, v.name, null);
  const r = await tx.query<FlowRow>(
    `insert into integration_flows (name, description, connector_id, event_types, condition, mapping, enabled, rate_per_s, burst, max_concurrency,
       batch_size, window_start, window_end, max_attempts, backoff_base_ms, backoff_cap_ms, alert_backlog, alert_oldest_pending_s, alert_failure_rate_pct)
     values ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19) returning *`,
    params(v),
  );
  const row = r.rows[0]!;
  await appendAudit(tx, actor, { action: 'integration.flow.create', targetType: 'integration_flow', targetId: row.id, detail: { ...viewFlow(row) } });
  return row;
}

export async function updateFlow(tx: Tx, actor: Actor, idOrName: string, patch: FlowPatch): Promise<FlowRow> {
  const cur = await getFlow(tx, idOrName);
  await tx.query('select 1 from integration_flows where id = $1 for update', [cur.id]);
  const was = viewFlow(cur);
  const { connector, ...rest } = patch;
  const v: FlowValues = {
    name: rest.name ?? was.name,
    description: rest.description === undefined ? was.description : rest.description,
    connectorId: connector === undefined ? was.connectorId : await connectorIdOf(tx, connector),
    eventTypes: rest.eventTypes ?? was.eventTypes,
    condition: rest.condition ?? was.condition,
    mapping: rest.mapping === undefined ? was.mapping : rest.mapping,
    enabled: rest.enabled ?? was.enabled,
    ratePerSecond: rest.ratePerSecond === undefined ? was.ratePerSecond : rest.ratePerSecond,
    burst: rest.burst ?? was.burst,
    maxConcurrency: rest.maxConcurrency ?? was.maxConcurrency,
    batchSize: rest.batchSize ?? was.batchSize,
    window: rest.window === undefined ? was.window : rest.window,
    maxAttempts: rest.maxAttempts ?? was.maxAttempts,
    backoffBaseMs: rest.backoffBaseMs ?? was.backoffBaseMs,
    backoffCapMs: rest.backoffCapMs ?? was.backoffCapMs,
    alerts: rest.alerts ?? was.alerts,
  };
  checkFlow(v);
  if (v.name !== cur.name) await flowNameFree(tx, v.name, cur.id);
  const r = await tx.query<FlowRow>(
    `update integration_flows set name=$1, description=$2, connector_id=$3, event_types=$4, condition=$5, mapping=$6, enabled=$7, rate_per_s=$8,
       burst=$9, max_concurrency=$10, batch_size=$11, window_start=$12, window_end=$13, max_attempts=$14, backoff_base_ms=$15, backoff_cap_ms=$16,
       alert_backlog=$17, alert_oldest_pending_s=$18, alert_failure_rate_pct=$19, version = version + 1, updated_at = now()
     where id = $20 returning *`,
    [...params(v), cur.id],
  );
  const row = r.rows[0]!;
  await appendAudit(tx, actor, { action: 'integration.flow.update', targetType: 'integration_flow', targetId: row.id, detail: { before: was, after: viewFlow(row) } });
  return row;
}

export async function deleteFlow(tx: Tx, actor: Actor, idOrName: string): Promise<void> {
  const cur = await getFlow(tx, idOrName);
  const open = await tx.query<{ n: number }>(`select count(*)::int as n from integration_deliveries where flow_id = $1 and state = 'in_flight'`, [cur.id]);
  if (open.rows[0]!.n > 0) throw conflict(`The flow "${cur.name}" has deliveries in flight; disable it first (enabled: false), wait for them, then delete it.`);
  await tx.query('delete from integration_flows where id = $1', [cur.id]);
  await appendAudit(tx, actor, { action: 'integration.flow.delete', targetType: 'integration_flow', targetId: cur.id, detail: { name: cur.name } });
}

// ---- delivery windows --------------------------------------------------------------------------

const fmtCache = new Map<string, Intl.DateTimeFormat>();
/** Minutes since local midnight in `timeZone`. */
export function localMinutes(at: Date, timeZone: string): number {
  let f = fmtCache.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    fmtCache.set(timeZone, f);
  }
  const parts = f.formatToParts(at);
  const h = Number(parts.find((p) => p.type === 'hour')!.value);
  const m = Number(parts.find((p) => p.type === 'minute')!.value);
  return h * 60 + m;
}

const toMin = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/**
 * Milliseconds until the window opens (0 = open now). Windows may cross midnight (22:00–02:00);
 * start inclusive, end exclusive.
 */
export function windowWaitMs(window: { start: string; end: string } | null, at: Date, timeZone: string): number {
  if (!window) return 0;
  const now = localMinutes(at, timeZone);
  const s = toMin(window.start);
  const e = toMin(window.end);
  const open = s < e ? now >= s && now < e : now >= s || now < e;
  if (open) return 0;
  const minutes = (s - now + 1440) % 1440;
  return Math.max(1000, minutes * 60_000 - at.getUTCSeconds() * 1000 - at.getUTCMilliseconds());
}
