// What the integration hub's API answers (`/api/v1/integration/...`, `/api/v1/masterdata/...`),
// shared by the server (which builds these views) and the web console (which shows them). Types
// and a few constants only: nothing here imports Node or server code, so the web bundle stays lean.
//
// Also the form hints each integration driver attaches to its zod config/secret schema with
// `.meta(ui(...))`: they travel in the JSON Schema that GET /integration/drivers publishes, and the
// web console renders the connector form from that schema (src/web/integration/schemaForm.ts).
import type { ErpMasterKind } from './definition.ts';

// ---- drivers ------------------------------------------------------------------------------------

/** A JSON Schema (draft 2020-12) object as `z.toJSONSchema` produces it. */
export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  propertyNames?: JsonSchema;
  items?: JsonSchema;
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  default?: unknown;
  title?: string;
  description?: string;
  pattern?: string;
  format?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  [UI_KEY]?: FieldUi;
  [k: string]: unknown;
}

/** The JSON Schema keyword that carries a field's form hints. */
export const UI_KEY = 'x-trellis';

export type Bilingual = readonly [zh: string, en: string];

export interface FieldUi {
  label: { zh: string; en: string };
  help?: { zh: string; en: string };
  placeholder?: string;
  /** `multiline`: a long text (PEM); `code`: an expression (JSONata), shown monospaced. */
  widget?: 'multiline' | 'code';
  /** Shown only while these config fields (dotted keys) hold one of the listed values. */
  when?: Record<string, string[]>;
}

/**
 * Form hints for one field of a driver schema: `.meta(ui(['目标地址', 'Destination URL'], {...}))`.
 * The English label and help also become the JSON Schema `title` and `description`.
 */
export function ui(
  label: Bilingual,
  more: { help?: Bilingual; placeholder?: string; widget?: FieldUi['widget']; when?: FieldUi['when'] } = {},
): { title: string; description?: string; [UI_KEY]: FieldUi } {
  const hint: FieldUi = { label: { zh: label[0], en: label[1] } };
  if (more.help) hint.help = { zh: more.help[0], en: more.help[1] };
  if (more.placeholder !== undefined) hint.placeholder = more.placeholder;
  if (more.widget) hint.widget = more.widget;
  if (more.when) hint.when = more.when;
  return { title: label[1], ...(more.help ? { description: more.help[1] } : {}), [UI_KEY]: hint };
}

export interface DriverInfo {
  kind: string;
  label: { zh: string; en: string };
  destination: boolean;
  source: boolean;
  /** Whether the driver takes secrets at all. */
  secrets: boolean;
  /** The driver's zod config schema as JSON Schema (input side: defaults are optional). */
  configSchema: JsonSchema;
  /** The driver's secret schema as JSON Schema; null when it takes none. */
  secretSchema: JsonSchema | null;
}

// ---- connectors ---------------------------------------------------------------------------------

/** A connector as the API shows it: never the secrets, only whether there are some. */
export interface ConnectorView {
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

// ---- flows --------------------------------------------------------------------------------------

export interface FlowAlerts {
  backlog?: number;
  oldestPendingSeconds?: number;
  failureRatePct?: number;
}

export interface FlowView {
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

// ---- deliveries ---------------------------------------------------------------------------------

export const DELIVERY_STATES = ['pending', 'in_flight', 'succeeded', 'retrying', 'dead', 'cancelled'] as const;
export type DeliveryState = (typeof DELIVERY_STATES)[number];

export interface DeliveryView {
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
  /** In flight past its lease, or retrying for more than 10 minutes. */
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

export interface AttemptView {
  attempt: number;
  startedAt: string;
  finishedAt: string;
  latencyMs: number;
  outcome: string;
  status: number | null;
  error: string | null;
  worker: string | null;
}

/** A CloudEvents 1.0 envelope in its JSON form (https://cloudevents.io, spec v1.0): the outbox's events. */
export interface CloudEvent<T = unknown> {
  specversion: '1.0';
  id: string;
  /** URI reference of what produced the event, e.g. `/trellis/apps/ecn/change_notice`. */
  source: string;
  /** Reverse-DNS event type, e.g. `trellis.record.created`. */
  type: string;
  /** What the event is about within the source, e.g. the record id. */
  subject?: string;
  /** RFC 3339 time of the occurrence. */
  time: string;
  datacontenttype: 'application/json';
  data: T;
  /** CloudEvents partitioning extension: events with the same key are delivered in order. */
  partitionkey?: string;
}

export type CloudEventJson = CloudEvent;

export interface DeliveryDetailView extends DeliveryView {
  payload: unknown;
  event: CloudEventJson | null;
  attemptLog: AttemptView[];
}

// ---- health and alerts --------------------------------------------------------------------------

export interface DayFigures {
  successes: number;
  failures: number;
  retries: number;
  dead: number;
  avgLatencyMs: number | null;
  p95LatencyMs: number | null;
  /** failures / (successes + failures), in percent; null without attempts. */
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

export interface AlertView {
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

// ---- master data --------------------------------------------------------------------------------

export interface CachedObjectView {
  kind: ErpMasterKind;
  key: string;
  code: string;
  name: string;
  connectorId: string;
  sourceKey: string;
  data: Record<string, unknown>;
  changedAt: string;
  lastPulledAt: string;
  deleted: boolean;
  lines?: Array<Record<string, unknown>>;
}

export interface PullJobView {
  id: string;
  connectorId: string;
  object: ErpMasterKind;
  cron: string;
  timezone: string;
  window: { start: string; end: string | null } | null;
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

export interface PullRunView {
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
