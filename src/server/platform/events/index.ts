// The transactional outbox. A business action writes its event (a CloudEvents 1.0 envelope) into
// `outbox` in the SAME transaction as its data, so the event exists exactly when the change does
// (invariant 1). A relay (integration hub) reads the table after commit and delivers the events;
// `tx.notifyAfterCommit('trellis_outbox')` wakes it after commit: the relay of this process at once,
// relays of other processes by a NOTIFY sent outside the transaction and folded to at most one per
// 50 ms (db/tx.ts wakeNotifier). A rolled-back action neither leaves an event nor wakes anyone, and
// writers' commits are not serialised on PostgreSQL's notify lock.
import { randomUUID } from 'node:crypto';
import type { Migration, Sql, Statement, Tx } from '../../db/index.ts';

/** LISTEN on this channel to learn that new outbox rows were committed (payload is empty). */
export const OUTBOX_CHANNEL = 'trellis_outbox';

export type { CloudEvent } from '../../../shared/integration-api.ts';
import type { CloudEvent } from '../../../shared/integration-api.ts';

export interface EmitInput<T = unknown> {
  type: string;
  source: string;
  subject?: string | null;
  data: T;
  /** Delivery order is kept per key (e.g. per document); defaults to the subject. */
  partitionKey?: string | null;
  /** Occurrence time; defaults to now. */
  time?: Date;
  /** Event id; a fresh UUID by default. Give one to make re-emission idempotent. */
  id?: string;
}

export const OUTBOX_DDL = `
create table outbox (
  id bigserial primary key,
  event_id uuid not null unique,
  type text not null,
  source text not null,
  subject text,
  time timestamptz not null,
  data jsonb not null,
  partition_key text,
  created_at timestamptz not null default now()
);
create index outbox_type on outbox(type, id);
create index outbox_partition on outbox(partition_key, id);
`;

export const eventsMigrations: Migration[] = [
  { id: 'platform.events-001-outbox', up: OUTBOX_DDL },
  // No query reads the outbox by type or partition key (the relay claims by `relayed_at is null`
  // in id order, replay reads by id): the two indexes were only work on every event's insert and
  // on the relay's update of it.
  { id: 'platform.events-002-drop-unused-indexes', up: 'drop index if exists outbox_type; drop index if exists outbox_partition;' },
];

/**
 * The outbox INSERT of one event, for the caller to run in its transaction (alone, or combined
 * with other writes into one round trip by `combineStatements`), and its envelope. Registers the
 * after-commit wake-up of the relay (`notifyAfterCommit`: outside the transaction, coalesced).
 */
export function outboxStatement<T>(tx: Tx, input: EmitInput<T>): { statement: Statement; event: CloudEvent<T> } {
  const event: CloudEvent<T> = {
    specversion: '1.0',
    id: input.id ?? randomUUID(),
    source: input.source,
    type: input.type,
    ...(input.subject ? { subject: input.subject } : {}),
    time: (input.time ?? new Date()).toISOString(),
    datacontenttype: 'application/json',
    data: input.data,
  };
  const partitionKey = input.partitionKey ?? input.subject ?? null;
  if (partitionKey) event.partitionkey = partitionKey;
  tx.notifyAfterCommit(OUTBOX_CHANNEL);
  return {
    event,
    statement: {
      text: `insert into outbox (event_id, type, source, subject, time, data, partition_key) values ($1, $2, $3, $4, $5, $6, $7)`,
      params: [event.id, event.type, event.source, input.subject ?? null, event.time, JSON.stringify(input.data ?? null), partitionKey],
    },
  };
}

/**
 * Writes one event into the outbox inside the caller's transaction and returns its envelope.
 * The data must be JSON-serialisable (money and quantities as strings, invariant 5).
 */
export async function emitEvent<T>(tx: Tx, input: EmitInput<T>): Promise<CloudEvent<T>> {
  const { statement, event } = outboxStatement(tx, input);
  await tx.query(statement.text, statement.params);
  return event;
}

export interface OutboxRow {
  id: number;
  event_id: string;
  type: string;
  source: string;
  subject: string | null;
  time: Date | string;
  data: unknown;
  partition_key: string | null;
  created_at: Date | string;
}

/** Rebuilds the CloudEvents envelope of a stored outbox row (what the relay sends). */
export function toCloudEvent<T = unknown>(row: OutboxRow): CloudEvent<T> {
  return {
    specversion: '1.0',
    id: row.event_id,
    source: row.source,
    type: row.type,
    ...(row.subject ? { subject: row.subject } : {}),
    time: new Date(row.time).toISOString(),
    datacontenttype: 'application/json',
    data: row.data as T,
    ...(row.partition_key ? { partitionkey: row.partition_key } : {}),
  };
}

/** Outbox rows after `afterId` in id order (ids are allocated at insert, not at commit: a relay must allow for late commits). */
export async function readOutbox(sql: Sql, afterId = 0, limit = 100): Promise<OutboxRow[]> {
  const r = await sql.query<OutboxRow>(
    `select id, event_id, type, source, subject, time, data, partition_key, created_at
     from outbox where id > $1 order by id limit $2`,
    [afterId, limit],
  );
  return r.rows;
}
