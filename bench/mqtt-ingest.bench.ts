// MQTT ingestion of meter readings at QoS 1 into real PostgreSQL: BENCH_READINGS one-reading
// messages from BENCH_METERS meters are published to the real Mosquitto; the IoT engine's worker
// stores them in batches (one multi-row insert per transaction) and acknowledges after commit.
// The publisher stays at most BENCH_WINDOW messages ahead of what is committed (as a fleet of
// meters publishing at a steady rate would; Mosquitto drops QoS 1 messages beyond its per-client
// queue limit, max_queued_messages = 1000 by default, when a subscriber falls far behind).
// Rate = readings / (first publish → last row committed). None lost: the rows are counted.
// Target: ≥ 10,000 readings/s with every reading stored exactly once.
import { randomBytes } from 'node:crypto';
import mqtt from 'mqtt';
import pino from 'pino';
import { migrate, openDatabase } from '../src/server/db/index.ts';
import { iotMigrations, startIngestion } from '../src/server/iot/index.ts';
import { defer, freshPgDatabase, round, runBench } from './lib.ts';

const READINGS = Number(process.env.BENCH_READINGS ?? 100_000);
const METERS = Number(process.env.BENCH_METERS ?? 200);
const WINDOW = Number(process.env.BENCH_WINDOW ?? 2500);
const BROKER = process.env.BENCH_MQTT_URL ?? 'mqtt://127.0.0.1:1883';
const TARGET = 10_000;

runBench('mqtt-ingest', async () => {
  const pgdb = await freshPgDatabase();
  const db = await openDatabase({ databaseUrl: pgdb.url, poolSize: 4 });
  defer(() => db.close());
  await migrate(db, iotMigrations);
  await db.query(
    `insert into iot_meters (code, kind, unit) select 'E-' || g, 'electricity', 'kWh' from generate_series(1, $1::int) g`,
    [METERS],
  );
  const run = randomBytes(4).toString('hex');
  const prefix = `trellis-bench-${run}`;
  const clientId = `${prefix}-ingest`;
  const worker = await startIngestion(
    { db, log: pino({ level: 'warn' }) },
    { url: BROKER, topic: `${prefix}/meters/+/reading`, clientId, maxBatch: 2000, maxWaitMs: 5 },
  );
  defer(async () => {
    await worker.stop();
    const c = await mqtt.connectAsync(BROKER, { protocolVersion: 5, clientId, clean: true, properties: { sessionExpiryInterval: 0 } });
    await c.endAsync();
  });
  const pub = await mqtt.connectAsync(BROKER, { protocolVersion: 5, clientId: `${prefix}-pub` });
  defer(() => pub.endAsync());

  const base = Date.UTC(2026, 0, 1);
  const t0 = performance.now();
  let published = 0;
  const inflight = new Set<Promise<unknown>>();
  while (published < READINGS) {
    // Flow: stay at most WINDOW ahead of the commits, and keep the publisher's own window bounded.
    while (published - worker.consumer.committed >= WINDOW || inflight.size >= 500) {
      if (inflight.size >= 500) await Promise.race(inflight);
      else await new Promise((r) => setTimeout(r, 1));
    }
    const i = published++;
    const meter = (i % METERS) + 1;
    const minute = Math.floor(i / METERS);
    const p = pub.publishAsync(`${prefix}/meters/E-${meter}/reading`, JSON.stringify({ ts: new Date(base + minute * 60_000).toISOString(), value: (1000 + minute * 0.25).toFixed(2) }), { qos: 1 });
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
  }
  await Promise.all(inflight);
  const deadline = Date.now() + 120_000;
  while (worker.consumer.committed < READINGS && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
  const seconds = (performance.now() - t0) / 1000;
  const rows = (await db.query<{ n: number }>('select count(*)::int as n from iot_meter_readings')).rows[0]!.n;
  const stats = worker.ingester.stats;
  const rate = READINGS / seconds;
  const noneLost = rows === READINGS;
  return {
    readings: READINGS,
    meters: METERS,
    seconds: round(seconds, 2),
    readingsPerSecond: round(rate),
    rowsStored: rows,
    noneLost,
    batches: stats.batches,
    avgBatch: round(stats.messages / Math.max(1, stats.batches), 1),
    failedBatches: stats.failedBatches,
    malformed: stats.malformed,
    qos: 1,
    database: 'postgresql',
    target: { readingsPerSecond: `>= ${TARGET}`, noneLost: true },
    targetsMet: noneLost && rate >= TARGET,
  };
});
