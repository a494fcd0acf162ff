// The integration hub's API as the screens use it. Shapes mirror src/server/integration/routes.ts
// and src/server/integration/masterdata/routes.ts; secrets are sent, never received.
import { api, isApiError } from '../api.ts';

export interface DriverInfo {
  kind: string;
  label: { zh: string; en: string };
  destination: boolean;
  source: boolean;
  secrets: boolean;
}

export interface Connector {
  id: string;
  name: string;
  kind: string;
  description: string | null;
  config: Record<string, unknown>;
  hasSecrets: boolean;
  enabled: boolean;
  version: number;
  createdAt: string;
  updatedAt: string;
}

export interface ConnectionTestResult {
  ok: boolean;
  message: string;
  latencyMs: number;
}

export interface FlowAlerts {
  backlog?: number;
  oldestPendingSeconds?: number;
  failureRatePct?: number;
}

export interface Flow {
  id: string;
  name: string;
  description: string | null;
  connectorId: string;
  eventTypes: string[];
  condition: { source?: string; app?: string; entity?: string };
  mapping: string | null;
  enabled: boolean;
  ratePerSecond: number | null;
  burst: number;
  maxConcurrency: number;
  batchSize: number;
  window: { start: string; end: string } | null;
  maxAttempts: number;
  backoffBaseMs: number;
  backoffCapMs: number;
  alerts: FlowAlerts;
  version: number;
  createdAt: string;
  updatedAt: string;
}

export type FlowInput = Omit<Flow, 'id' | 'connectorId' | 'version' | 'createdAt' | 'updatedAt'> & { connector: string };

export const DELIVERY_STATES = ['dead', 'retrying', 'pending', 'in_flight', 'succeeded', 'cancelled'] as const;
export type DeliveryState = (typeof DELIVERY_STATES)[number];

export interface Delivery {
  id: number;
  route: string;
  flowId: string | null;
  flowName: string | null;
  connectorId: string | null;
  subscriber: string | null;
  eventId: string;
  eventType: string;
  partitionKey: string | null;
  idempotencyKey: string;
  state: DeliveryState;
  stuck: boolean;
  attempts: number;
  maxAttempts: number;
  nextAttemptAt: string;
  leaseUntil: string | null;
  externalRef: string | null;
  payloadEdited: boolean;
  lastError: string | null;
  lastStatus: number | null;
  createdAt: string;
  updatedAt: string;
  succeededAt: string | null;
  deadAt: string | null;
}

export interface Attempt {
  attempt: number;
  startedAt: string;
  finishedAt: string;
  latencyMs: number;
  outcome: string;
  status: number | null;
  error: string | null;
  worker: string | null;
}

export interface CloudEvent {
  id: string;
  type: string;
  source: string;
  subject?: string | null;
  time: string;
  data: unknown;
  [k: string]: unknown;
}

export interface DeliveryDetail extends Delivery {
  payload: unknown;
  event: CloudEvent | null;
  attemptLog: Attempt[];
}

export interface DayFigures {
  successes: number;
  failures: number;
  retries: number;
  dead: number;
  avgLatencyMs: number | null;
  p95LatencyMs: number | null;
  failureRatePct: number | null;
}

export interface HealthEntry {
  id: string;
  name: string;
  connectorId?: string;
  today: DayFigures;
  yesterday: DayFigures;
  backlog: number;
  inFlight: number;
  oldestPendingSeconds: number | null;
}

export interface HealthReport {
  timezone: string;
  generatedAt: string;
  flows: HealthEntry[];
  connectors: HealthEntry[];
}

export interface Alert {
  id: number;
  flowId: string | null;
  flowName: string | null;
  kind: string;
  state: string;
  message: string;
  value: number | null;
  threshold: number | null;
  openedAt: string;
  lastSeenAt: string;
  resolvedAt: string | null;
}

export const MASTER_KINDS = ['material', 'bom', 'work_order', 'purchase_order', 'supplier', 'equipment'] as const;
export type MasterKind = (typeof MASTER_KINDS)[number];

export interface CachedObject {
  kind: MasterKind;
  key: string;
  code: string;
  name: string;
  connectorId: string;
  sourceKey: string;
  data: Record<string, unknown>;
  changedAt: string;
  lastPulledAt: string;
  deleted: boolean;
}

export interface PullJob {
  id: string;
  connectorId: string;
  object: MasterKind;
  cron: string;
  timezone: string;
  window: { start: string; end: string } | null;
  mode: 'incremental' | 'full';
  pageSize: number;
  enabled: boolean;
  watermark: string | null;
  dueAt: string;
  running: boolean;
  lastRunAt: string | null;
  lastStatus: string | null;
  lastError: string | null;
}

export interface PullRun {
  id: number;
  jobId: string;
  connectorId: string;
  object: string;
  trigger: string;
  status: 'running' | 'succeeded' | 'failed';
  startedAt: string;
  finishedAt: string | null;
  durationMs: number | null;
  pages: number;
  rowsSeen: number;
  inserted: number;
  updated: number;
  unchanged: number;
  deleted: number;
  error: string | null;
  retryable: boolean | null;
}

const I = '/integration';
const enc = encodeURIComponent;

function qs(params: Record<string, string | number | undefined | null>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}

export const integrationApi = {
  drivers: () => api.get<{ items: DriverInfo[] }>(`${I}/drivers`).then((r) => r.items),
  connectors: () => api.get<{ items: Connector[] }>(`${I}/connectors`).then((r) => r.items),
  createConnector: (body: Record<string, unknown>) => api.post<Connector>(`${I}/connectors`, body),
  updateConnector: (id: string, body: Record<string, unknown>) => api.patch<Connector>(`${I}/connectors/${enc(id)}`, body),
  deleteConnector: (id: string) => api.delete<void>(`${I}/connectors/${enc(id)}`),
  testConnector: (id: string) => api.post<ConnectionTestResult>(`${I}/connectors/${enc(id)}/test`),

  flows: () => api.get<{ items: Flow[] }>(`${I}/flows`).then((r) => r.items),
  createFlow: (body: Partial<FlowInput>) => api.post<Flow>(`${I}/flows`, body),
  updateFlow: (id: string, body: Partial<FlowInput>) => api.patch<Flow>(`${I}/flows/${enc(id)}`, body),
  deleteFlow: (id: string) => api.delete<void>(`${I}/flows/${enc(id)}`),
  previewFlow: (id: string, event: Record<string, unknown>) => api.post<{ payload?: unknown; error?: string }>(`${I}/flows/${enc(id)}/preview`, { event }),
  emitEvent: (body: { type: string; source?: string; subject?: string | null; partitionKey?: string | null; data?: unknown }) => api.post<CloudEvent>(`${I}/events`, body),

  deliveries: (f: { state?: string | undefined; flow?: string | undefined; connector?: string | undefined; limit?: number; offset?: number }) =>
    api.get<{ items: Delivery[]; total: number }>(`${I}/deliveries${qs(f)}`),
  delivery: (id: number) => api.get<DeliveryDetail>(`${I}/deliveries/${id}`),
  editPayload: (id: number, payload: unknown) => api.patch<Delivery>(`${I}/deliveries/${id}`, { payload }),
  retry: (id: number) => api.post<Delivery>(`${I}/deliveries/${id}/retry`),
  skip: (id: number, reason: string | null) => api.post<Delivery>(`${I}/deliveries/${id}/skip`, { reason }),
  bulkRetry: (body: { ids?: number[]; state?: 'dead' | 'retrying'; flow?: string }) => api.post<{ retried: number }>(`${I}/deliveries/retry`, body),

  health: () => api.get<HealthReport>(`${I}/health`),
  alerts: (state?: 'open' | 'resolved') => api.get<{ items: Alert[] }>(`${I}/alerts${qs({ state, evaluate: '1' })}`).then((r) => r.items),
  runCompensation: () => api.post<Record<string, unknown>>(`${I}/compensation/run`, {}),

  masterData: (kind: MasterKind, f: { q?: string; cursor?: string | null; limit?: number }) =>
    api.get<{ items: CachedObject[]; nextCursor: string | null }>(`/masterdata/${kind}${qs({ q: f.q, cursor: f.cursor, limit: f.limit ?? 50 })}`),
  pullJobs: () => api.get<{ items: PullJob[] }>('/masterdata/jobs').then((r) => r.items),
  runJob: (id: string) => api.post<PullRun>(`/masterdata/jobs/${enc(id)}/run`),
  updateJob: (id: string, body: Record<string, unknown>) => api.patch<PullJob>(`/masterdata/jobs/${enc(id)}`, body),
  runs: (jobId?: string) => api.get<{ items: PullRun[] }>(`/masterdata/runs${qs({ jobId, limit: 50 })}`).then((r) => r.items),
};

/** What to tell a person about a failed call: the server's detail and, when it names fields, which. */
export function problemText(err: unknown, networkText: string): string {
  if (isApiError(err)) {
    if (err.status === 0) return networkText;
    const main = err.detail ?? err.title ?? `HTTP ${err.status}`;
    const fields = err.errors.filter((e) => e.message).map((e) => `${e.path.replace(/^body\./, '')}: ${e.message}`);
    return fields.length ? `${main} (${fields.join('; ')})` : main;
  }
  return err instanceof Error ? err.message : String(err);
}

export const isForbidden = (err: unknown) => isApiError(err) && err.status === 403;
