// Publishing outbox events to the real RabbitMQ with publisher confirms, persistent messages and a
// quorum queue: BENCH_EVENTS events are written to the outbox of a fresh PostgreSQL database, then
// read back in keyset pages of BENCH_BATCH and published with the AMQP driver's sendBatch (all
// confirms of a page awaited together). This measures the driver and the broker, not the delivery
// engine's relay (it was not finished when this bench was written): mode says so.
// Rate = events / (first page read → last confirm). Every event must be confirmed and in the queue.
// Target: ≥ 5,000 events/s.
import { randomBytes, randomUUID } from 'node:crypto';
import amqp from 'amqplib';
import pino from 'pino';
import { migrate, openDatabase } from '../src/server/db/index.ts';
import { eventsMigrations, toCloudEvent, type OutboxRow } from '../src/server/platform/events/index.ts';
import { amqpConfigSchema, deadLetterNames, openAmqpDestination } from '../src/server/integration/drivers/amqp.ts';
import type { DeliveryRequest } from '../src/server/integration/types.ts';
import { defer, freshPgDatabase, round, runBench } from './lib.ts';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 50_000);
const BATCH = Number(process.env.BENCH_BATCH ?? 500);
const URL_ = process.env.BENCH_AMQP_URL ?? 'amqp://127.0.0.1:5672/';
const TARGET = 5000;

runBench('amqp-publish', async () => {
  const pgdb = await freshPgDatabase();
  const db = await openDatabase({ databaseUrl: pgdb.url, poolSize: 2 });
  defer(() => db.close());
  await migrate(db, eventsMigrations);
  await db.query(
    `insert into outbox (event_id, type, source, subject, time, data, partition_key)
     select gen_random_uuid(), 'trellis.order.created', '/trellis/apps/sales/order', 'SO-' || (g % 1000), now(),
            jsonb_build_object('order', 'SO-' || g, 'amount', (g * 1.25)::numeric(12,2)::text), 'SO-' || (g % 1000)
       from generate_series(1, $1::int) g`,
    [EVENTS],
  );
  const run = randomBytes(4).toString('hex');
  const config = amqpConfigSchema.parse({ url: URL_, exchange: `trellis.bench.${run}`, queue: `trellis.bench.${run}.q` });
  const dest = await openAmqpDestination(config, { username: 'guest', password: 'guest' }, { log: pino({ level: 'warn' }), connectionName: `trellis-bench-${run}` });
  const admin = await amqp.connect(URL_);
  defer(async () => {
    await dest.close();
    const ch = await admin.createChannel();
    await ch.deleteQueue(config.queue!).catch(() => {});
    await ch.deleteQueue(deadLetterNames(config).queue!).catch(() => {});
    await ch.deleteExchange(config.exchange).catch(() => {});
    await ch.deleteExchange(deadLetterNames(config).exchange).catch(() => {});
    await admin.close();
  });
  // Warm up the connection and declare the topology (not timed), then empty the queue.
  const warmEvent = toCloudEvent({ id: 0, event_id: randomUUID(), type: 'trellis.bench.warmup', source: '/bench', subject: null, time: new Date(), data: {}, partition_key: null, created_at: new Date() } as unknown as OutboxRow);
  const warm = await dest.send({ deliveryId: randomUUID(), idempotencyKey: 'warmup', partitionKey: null, event: warmEvent, payload: {}, attempt: 1 });
  if (!warm.ok) throw new Error(warm.error);
  const purge = await admin.createChannel();
  await purge.purgeQueue(config.queue!);
  await purge.close();

  const t0 = performance.now();
  let last = 0;
  let confirmed = 0;
  let failed = 0;
  const destinationId = randomUUID();
  for (;;) {
    const page = await db.query<OutboxRow>('select * from outbox where id > $1 order by id limit $2', [last, BATCH]);
    if (!page.rows.length) break;
    last = Number(page.rows.at(-1)!.id);
    const reqs: DeliveryRequest[] = page.rows.map((row) => {
      const event = toCloudEvent(row);
      return { deliveryId: randomUUID(), idempotencyKey: `${event.id}:${destinationId}`, partitionKey: event.partitionkey ?? null, event, payload: event, attempt: 1 };
    });
    const outcomes = await dest.sendBatch!(reqs);
    for (const o of outcomes) if (o.ok) confirmed++;
    else failed++;
  }
  const seconds = (performance.now() - t0) / 1000;
  const ch = await admin.createChannel();
  const inQueue = (await ch.checkQueue(config.queue!)).messageCount;
  await ch.close();
  const rate = EVENTS / seconds;
  const allDelivered = confirmed === EVENTS && failed === 0 && inQueue === EVENTS;
  return {
    mode: 'driver sendBatch from outbox pages (not through the delivery engine relay)',
    events: EVENTS,
    batch: BATCH,
    seconds: round(seconds, 2),
    eventsPerSecond: round(rate),
    confirmed,
    failed,
    inQueue,
    queueType: 'quorum',
    persistent: true,
    target: { eventsPerSecond: `>= ${TARGET}` },
    targetsMet: allDelivered && rate >= TARGET,
  };
});
