// The contract between the delivery engine (relay, deliveries, retries, rate limits, health) and
// the drivers that talk to a real system (HTTP/REST, Tryton, RabbitMQ, NATS, MQTT, SQL, files,
// the sample ERP). A driver knows one protocol; everything about reliability lives in the engine.
//
//  - A *destination* receives deliveries (event × destination rows, sent after commit, retried).
//  - A *source* is pulled on a schedule into the master-data cache (incremental by watermark).
//  - Config is validated by the driver's zod schema; secrets are a separate object, encrypted at
//    rest by the engine, handed to the driver only when it opens a connection, never returned by
//    the API and never logged.
import type { z } from 'zod';
import type { CloudEvent } from '../platform/events/index.ts';
import type { AppContext } from '../platform/context.ts';
import type { ConnectionTestResult } from '../../shared/integration-api.ts';

/** One delivery attempt as a driver sees it. */
export interface DeliveryRequest {
  deliveryId: string;
  /** Stable per event × destination: send it as HTTP `Idempotency-Key`, AMQP message id, NATS msg id… */
  idempotencyKey: string;
  /** Ordering key (usually the document); deliveries with the same key are sent one at a time, in order. */
  partitionKey: string | null;
  event: CloudEvent;
  /** What to send: the event mapped by the destination's mapping (JSONata), possibly edited by a person. */
  payload: unknown;
  /** 1 for the first attempt. */
  attempt: number;
}

export type DeliveryOutcome =
  | {
      ok: true;
      /** Protocol status, e.g. HTTP 201. */
      status?: number;
      /** The id the destination gave the document (e.g. a Tryton record id), kept on the delivery. */
      externalRef?: string;
      detail?: unknown;
    }
  | {
      ok: false;
      /** false = a permanent error (400, validation refused): the delivery goes straight to dead. */
      retryable: boolean;
      status?: number;
      /** A message a person can act on; no secrets in it. */
      error: string;
      /** The destination asked us to wait (HTTP 429/503 Retry-After). */
      retryAfterMs?: number;
    };

export type { ConnectionTestResult };

/** Whether the destination already holds the document a delivery was meant to create. */
export type LookupResult = { exists: true; externalRef?: string } | { exists: false } | { unknown: true; reason: string };

export interface DestinationHandle {
  send(req: DeliveryRequest): Promise<DeliveryOutcome>;
  /** Optional: several deliveries in one request; one outcome per request, same order. */
  sendBatch?(reqs: DeliveryRequest[]): Promise<DeliveryOutcome[]>;
  /** Optional, for the compensation scanner: ask the destination by idempotency key / external reference. */
  lookup?(req: DeliveryRequest): Promise<LookupResult>;
  test(): Promise<ConnectionTestResult>;
  close(): Promise<void>;
}

/** A row pulled from a source, keyed for change detection in the master-data cache. */
export interface PulledRow {
  /** The source system's key, e.g. Tryton id or ERP code. */
  key: string;
  /** Watermark value of this row (e.g. write_date), used for the next incremental pull. */
  watermark?: string | null;
  data: Record<string, unknown>;
}

export interface PullRequest {
  /** What to pull: a source-specific object name (`material`, `bom`, `work_order`, a table, a model). */
  object: string;
  /** Last watermark seen; null = full pull. */
  since: string | null;
  limit: number;
}

export interface PullResult {
  rows: PulledRow[];
  /** The watermark to store after these rows; null when unchanged. */
  nextWatermark: string | null;
  /** More rows are waiting (page again). */
  more: boolean;
}

export interface SourceHandle {
  pull(req: PullRequest): Promise<PullResult>;
  test(): Promise<ConnectionTestResult>;
  close(): Promise<void>;
}

export interface DriverContext {
  ctx: AppContext;
  /** The connector's id and name, for logs and metrics (never secrets). */
  connectorId: string;
  connectorName: string;
}

/** One protocol. Registered once per process with `registerDriver`. */
export interface Driver<C = unknown, S = unknown> {
  /** e.g. `http`, `tryton`, `amqp`, `nats`, `mqtt`, `sql`, `file`, `sample_erp`. */
  kind: string;
  label: { zh: string; en: string };
  /** Non-secret settings (URLs, queue names, mapping). Strict: unknown keys are refused. */
  configSchema: z.ZodType<C>;
  /** Credentials; encrypted at rest by the engine. */
  secretSchema?: z.ZodType<S>;
  openDestination?(config: C, secrets: S | undefined, dctx: DriverContext): Promise<DestinationHandle>;
  openSource?(config: C, secrets: S | undefined, dctx: DriverContext): Promise<SourceHandle>;
}
