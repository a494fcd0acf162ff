// Meter readings from MQTT into the energy ledger. A batch of messages becomes ONE multi-row insert
// in one transaction (`on conflict do nothing` on (meter, minute): a redelivered message, or a
// second reading in the same minute, is stored once); the messages are acknowledged after the
// commit (see mqtt-consumer.ts). A malformed payload or an unknown meter is counted and logged,
// and the message is acknowledged (sending it again would not make it valid): it never stops the
// worker. A database error fails the batch, which is retried; its messages stay unacknowledged.
import os from 'node:os';
import client from 'prom-client';
import { z } from 'zod';
import type { Database, Tx } from '../db/index.ts';
import { metricsRegistry } from '../http/app.ts';
import type { AppContext, Logger } from '../platform/index.ts';
import { startMqttBatchConsumer, type MqttBatchConsumer, type MqttInbound } from './mqtt-consumer.ts';

const messagesTotal = new client.Counter({
  name: 'trellis_iot_readings_total',
  help: 'Meter readings received over MQTT, by outcome (stored, duplicate, unknown_meter, malformed)',
  labelNames: ['outcome'] as const,
  registers: [metricsRegistry],
});

const DECIMAL = /^-?\d{1,20}(\.\d{1,12})?$/;
const ReadingSchema = z.object({
  ts: z.union([z.string().min(1).max(40), z.number().finite().positive()]),
  value: z.union([z.number().finite(), z.string().regex(DECIMAL, 'a decimal number such as 1234.56')]),
  quality: z.enum(['good', 'uncertain', 'bad']).optional(),
});
const PayloadSchema = z.union([ReadingSchema, z.object({ readings: z.array(ReadingSchema).min(1).max(10_000) })]);

export interface IngestStats {
  messages: number;
  readings: number;
  stored: number;
  duplicates: number;
  unknownMeter: number;
  malformed: number;
  batches: number;
  failedBatches: number;
  lastError: string | null;
}

export interface IngestHooks {
  /** Test hook: runs inside the batch's transaction after the insert, before the commit. */
  beforeCommit?: (tx: Tx) => Promise<void>;
}

const MAX_FUTURE_MS = 24 * 3600_000;

interface Row {
  meterId: string;
  ts: Date;
  value: string;
  quality: string;
}

/** Turns the topic filter into a function that extracts the meter code (the `+` segment). */
export function meterCodeExtractor(topicFilter: string): (topic: string) => string | null {
  const filter = topicFilter.replace(/^\$share\/[^/]+\//, '');
  const parts = filter.split('/');
  const at = parts.indexOf('+');
  if (at < 0) throw new Error(`MQTT topic filter "${topicFilter}" has no "+" segment for the meter code (e.g. trellis/meters/+/reading)`);
  return (topic) => {
    const segs = topic.split('/');
    const code = segs[at];
    return code && /^[A-Za-z0-9_.-]{1,64}$/.test(code) ? code : null;
  };
}

function parseTs(v: string | number, now: number): Date | null {
  let ms: number;
  if (typeof v === 'number') ms = v < 1e11 ? v * 1000 : v; // epoch seconds or milliseconds
  else {
    if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/.test(v)) return null; // an explicit offset: no guessing the zone
    ms = Date.parse(v);
  }
  if (!Number.isFinite(ms) || ms > now + MAX_FUTURE_MS || ms < Date.UTC(2000, 0, 1)) return null;
  return new Date(Math.floor(ms / 60_000) * 60_000);
}

export class ReadingIngester {
  readonly stats: IngestStats = { messages: 0, readings: 0, stored: 0, duplicates: 0, unknownMeter: 0, malformed: 0, batches: 0, failedBatches: 0, lastError: null };
  private readonly db: Database;
  private readonly log: Logger;
  private readonly codeOf: (topic: string) => string | null;
  private readonly hooks: IngestHooks;
  private meters = new Map<string, string>();
  private loadedAt = 0;
  private logged = { windowStart: 0, count: 0 };

  constructor(db: Database, log: Logger, topicFilter: string, hooks: IngestHooks = {}) {
    this.db = db;
    this.log = log;
    this.codeOf = meterCodeExtractor(topicFilter);
    this.hooks = hooks;
  }

  private async meterId(code: string): Promise<string | undefined> {
    let id = this.meters.get(code);
    // A meter registered since the last load: reload at most every 5 s.
    if (!id && Date.now() - this.loadedAt > 5000) {
      const r = await this.db.query<{ id: string; code: string }>('select id, code from iot_meters where active');
      this.meters = new Map(r.rows.map((x) => [x.code, x.id]));
      this.loadedAt = Date.now();
      id = this.meters.get(code);
    }
    return id;
  }

  /** Logs a rejected message, at most 20 lines a minute (the counters keep the totals). */
  private reject(kind: 'unknownMeter' | 'malformed', topic: string, why: string): void {
    this.stats[kind]++;
    messagesTotal.inc({ outcome: kind === 'unknownMeter' ? 'unknown_meter' : 'malformed' });
    const now = Date.now();
    if (now - this.logged.windowStart > 60_000) this.logged = { windowStart: now, count: 0 };
    if (this.logged.count++ < 20) this.log.warn({ topic, why }, kind === 'unknownMeter' ? 'reading from an unknown meter ignored' : 'malformed meter reading ignored');
  }

  /** Stores one batch of messages in one transaction; resolves after the commit. */
  async handleBatch(messages: MqttInbound[]): Promise<void> {
    const now = Date.now();
    const rows: Row[] = [];
    const before = { ...this.stats };
    for (const m of messages) {
      const code = this.codeOf(m.topic);
      if (!code) {
        this.reject('malformed', m.topic, 'the topic has no valid meter code');
        continue;
      }
      let body: unknown;
      try {
        body = JSON.parse(m.payload.toString('utf8'));
      } catch {
        this.reject('malformed', m.topic, 'the payload is not JSON');
        continue;
      }
      const parsed = PayloadSchema.safeParse(body);
      if (!parsed.success) {
        this.reject('malformed', m.topic, `expected {"ts": "<ISO time with offset>", "value": <number>} or {"readings": [...]}: ${parsed.error.issues[0]?.message}`);
        continue;
      }
      const meterId = await this.meterId(code);
      if (!meterId) {
        this.reject('unknownMeter', m.topic, `no active meter with code "${code}"`);
        continue;
      }
      const list = 'readings' in parsed.data ? parsed.data.readings : [parsed.data];
      const good: Row[] = [];
      let bad = false;
      for (const r of list) {
        const ts = parseTs(r.ts, now);
        if (!ts) {
          bad = true;
          break;
        }
        good.push({ meterId, ts, value: typeof r.value === 'number' ? String(r.value) : r.value, quality: r.quality ?? 'good' });
      }
      if (bad) {
        this.reject('malformed', m.topic, 'a timestamp is not an ISO 8601 time with an offset (or epoch), or is in the future');
        continue;
      }
      rows.push(...good);
    }
    const rejected = { unknownMeter: this.stats.unknownMeter - before.unknownMeter, malformed: this.stats.malformed - before.malformed };
    let stored = 0;
    if (rows.length) {
      try {
        stored = await this.db.tx(async (tx) => {
          const r = await tx.query(
            `insert into iot_meter_readings (meter_id, ts, value, quality)
             select * from unnest($1::uuid[], $2::timestamptz[], $3::numeric[], $4::text[])
             on conflict do nothing`,
            [rows.map((r) => r.meterId), rows.map((r) => r.ts), rows.map((r) => r.value), rows.map((r) => r.quality)],
          );
          await this.hooks.beforeCommit?.(tx);
          return r.rowCount;
        });
      } catch (err) {
        // Undo the rejection counts: the batch comes again and is counted then.
        this.stats.unknownMeter -= rejected.unknownMeter;
        this.stats.malformed -= rejected.malformed;
        this.stats.failedBatches++;
        this.stats.lastError = err instanceof Error ? err.message : String(err);
        throw err;
      }
    }
    this.stats.batches++;
    this.stats.messages += messages.length;
    this.stats.readings += rows.length;
    this.stats.stored += stored;
    this.stats.duplicates += rows.length - stored;
    messagesTotal.inc({ outcome: 'stored' }, stored);
    messagesTotal.inc({ outcome: 'duplicate' }, rows.length - stored);
  }
}

// ---- configuration and the worker ----------------------------------------------------------

const EnvSchema = z.object({
  TRELLIS_MQTT_URL: z.string().regex(/^(mqtts?|wss?|tcp):\/\/[^@\s]+$/, 'mqtt://host:port (credentials go in TRELLIS_MQTT_USERNAME / TRELLIS_MQTT_PASSWORD)').optional().or(z.literal('').transform(() => undefined)),
  TRELLIS_MQTT_TOPIC: z.string().min(3).default('trellis/meters/+/reading'),
  TRELLIS_MQTT_CLIENT_ID: z.string().regex(/^[A-Za-z0-9_.:-]{1,100}$/).optional(),
  TRELLIS_MQTT_USERNAME: z.string().optional(),
  TRELLIS_MQTT_PASSWORD: z.string().optional(),
  TRELLIS_MQTT_BATCH: z.coerce.number().int().min(1).max(10_000).default(1000),
  TRELLIS_MQTT_BATCH_WAIT_MS: z.coerce.number().int().min(0).max(10_000).default(20),
});

export interface IngestionConfig {
  url: string;
  topic: string;
  clientId: string;
  username?: string | undefined;
  password?: string | undefined;
  maxBatch: number;
  maxWaitMs: number;
}

/** MQTT ingestion settings from the environment; null when TRELLIS_MQTT_URL is unset (ingestion off). */
export function ingestionConfigFromEnv(env: NodeJS.ProcessEnv = process.env): IngestionConfig | null {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new Error(`Invalid MQTT ingestion settings in environment variables:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  if (!e.TRELLIS_MQTT_URL) return null;
  meterCodeExtractor(e.TRELLIS_MQTT_TOPIC); // refuses a filter without a meter segment at start-up
  return {
    url: e.TRELLIS_MQTT_URL,
    topic: e.TRELLIS_MQTT_TOPIC,
    clientId: e.TRELLIS_MQTT_CLIENT_ID ?? `trellis-iot-${os.hostname().replace(/[^A-Za-z0-9_.-]/g, '-')}`,
    username: e.TRELLIS_MQTT_USERNAME,
    password: e.TRELLIS_MQTT_PASSWORD,
    maxBatch: e.TRELLIS_MQTT_BATCH,
    maxWaitMs: e.TRELLIS_MQTT_BATCH_WAIT_MS,
  };
}

export interface IngestionWorker {
  ingester: ReadingIngester;
  consumer: MqttBatchConsumer;
  stop(): Promise<void>;
}

let current: IngestionWorker | null = null;

/** The worker of this process, if any (for the status route). */
export function currentIngestion(): IngestionWorker | null {
  return current;
}

/**
 * Starts the worker. With `waitReady` (default) it resolves once subscribed and throws when the
 * broker cannot be reached; without it the client keeps trying in the background.
 */
export async function startIngestion(
  ctx: Pick<AppContext, 'db' | 'log'>,
  cfg: IngestionConfig,
  opts: { hooks?: IngestHooks; waitReady?: boolean } = {},
): Promise<IngestionWorker> {
  const hooks = opts.hooks ?? {};
  const ingester = new ReadingIngester(ctx.db, ctx.log, cfg.topic, hooks);
  const consumer = startMqttBatchConsumer({
    url: cfg.url,
    clientId: cfg.clientId,
    username: cfg.username,
    password: cfg.password,
    topics: [cfg.topic],
    maxBatch: cfg.maxBatch,
    maxWaitMs: cfg.maxWaitMs,
    handleBatch: (msgs) => ingester.handleBatch(msgs),
    log: ctx.log,
  });
  if (opts.waitReady === false) {
    consumer.ready().catch((err: unknown) => ctx.log.error({ err: err instanceof Error ? err.message : String(err), url: cfg.url }, 'MQTT ingestion not connected yet; retrying'));
  } else {
    try {
      await consumer.ready();
    } catch (err) {
      consumer.kill();
      throw new Error(`Cannot subscribe to ${cfg.topic} on ${cfg.url}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }
  const worker: IngestionWorker = {
    ingester,
    consumer,
    async stop() {
      if (current === worker) current = null;
      await consumer.stop();
    },
  };
  current = worker;
  return worker;
}
