// The integration hub's API as the screens use it. The answer shapes are the server's own, from
// src/shared/integration-api.ts (types only: nothing of the server reaches the bundle); secrets are
// sent, never received.
import { api, isApiError } from '../api.ts';
import type {
  AlertView,
  AttemptView,
  CachedObjectView,
  CloudEventJson,
  ConnectionTestResult,
  ConnectorView,
  DeliveryDetailView,
  DeliveryState,
  DeliveryView,
  DriverInfo,
  FlowView,
  HealthReport,
  PullJobView,
  PullRunView,
} from '../../shared/integration-api.ts';
import type { ErpMasterKind } from '../../shared/definition.ts';

export type { ConnectionTestResult, DayFigures, DeliveryState, DriverInfo, FlowAlerts, HealthEntry, HealthReport } from '../../shared/integration-api.ts';
export type Connector = ConnectorView;
export type Flow = FlowView;
export type Delivery = DeliveryView;
export type DeliveryDetail = DeliveryDetailView;
export type Attempt = AttemptView;
export type CloudEvent = CloudEventJson;
export type Alert = AlertView;
export type CachedObject = CachedObjectView;
export type PullJob = PullJobView;
export type PullRun = PullRunView;
export type MasterKind = ErpMasterKind;

export type FlowInput = Omit<Flow, 'id' | 'connectorId' | 'version' | 'createdAt' | 'updatedAt'> & { connector: string };

/** Every delivery state, in the order the filter offers them (trouble first); the compiler checks none is missing. */
export const DELIVERY_STATES = ['dead', 'retrying', 'pending', 'in_flight', 'succeeded', 'cancelled'] as const satisfies readonly DeliveryState[];
type Listed<Missing extends never> = Missing;
/** Fails to compile when a state the server knows is missing from DELIVERY_STATES. */
export type AllDeliveryStatesListed = Listed<Exclude<DeliveryState, (typeof DELIVERY_STATES)[number]>>;

/** The master-data kinds, in the order the tabs show them (the shared definition's list, as a type check). */
export const MASTER_KINDS = ['material', 'bom', 'work_order', 'purchase_order', 'supplier', 'equipment'] as const satisfies readonly ErpMasterKind[];

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
