// Relay to RabbitMQ through the delivery engine, end to end, on real PostgreSQL: BENCH_EVENTS events
// (BENCH_DOCS documents, so per-document order applies) are committed to the outbox of a fresh
// database; then the real Relay and DeliveryWorker turn them into deliveries of one flow and publish
// them with the AMQP driver (confirm channel, persistent messages, quorum queue; batches of
// BENCH_BATCH through sendBatch). Rate = events / (relay start → last outcome recorded). At the end
// every event must be a succeeded delivery and its message id must be in the queue exactly once.
// Target: ≥ 5,000 events/s. `workerMs` says where the worker's time went (claims, loading events,
// sends, outcome statements); BENCH_AUTO_EXPLAIN=<ms> makes PostgreSQL log the plan of every statement
// slower than that (auto_explain, in the server log) for this run's database.
import { randomBytes } from 'node:crypto';
import amqp from 'amqplib';
import pino from 'pino';
import { loadConfig } from '../src/server/config.ts';
import { createTrellis } from '../src/server/main.ts';
import { systemActor } from '../src/server/platform/index.ts';
import { OUTBOX_CHANNEL } from '../src/server/platform/events/index.ts';
import { connectorService, flowService, DeliveryWorker, Relay } from '../src/server/integration/index.ts';
import { deadLetterNames } from '../src/server/integration/drivers/amqp.ts';
import { defer, freshPgDatabase, round, runBench } from './lib.ts';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 50_000);
const DOCS = Number(process.env.BENCH_DOCS ?? 1000);
const BATCH = Number(process.env.BENCH_BATCH ?? 250);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 4);
const URL_ = process.env.BENCH_AMQP_URL ?? 'amqp://127.0.0.1:5672/';
const TARGET = 5000;

runBench('amqp-relay', async () => {
  const pgdb = await freshPgDatabase();
  if (process.env.BENCH_AUTO_EXPLAIN) {
    const pg = (await import('pg')).default;
    const c = new pg.Client({ connectionString: pgdb.url });
    await c.connect();
    await c.query(`alter database ${pgdb.name} set session_preload_libraries = 'auto_explain'`);
    await c.query(`alter database ${pgdb.name} set auto_explain.log_min_duration = ${process.env.BENCH_AUTO_EXPLAIN}`);
    await c.end();
  }
  const config = loadConfig({ DATABASE_URL: pgdb.url, TRELLIS_SKIP_DEMO: '1', TRELLIS_SECRET_KEY: 'bench-key', TRELLIS_LOG_LEVEL: 'warn', TRELLIS_ADMIN_PASSWORD: 'Bench-Admin-Pass-2026!' });
  const trellis = await createTrellis(config, { seedDemo: false, announce: () => {}, logger: pino({ level: 'warn' }) });
  defer(() => trellis.close());
  const { ctx } = trellis;

  const run = randomBytes(4).toString('hex');
  const exchange = `trellis.bench.relay.${run}`;
  const queue = `${exchange}.q`;
  const admin = await amqp.connect(URL_);
  defer(async () => {
    const ch = await admin.createChannel();
    await ch.deleteQueue(queue).catch(() => {});
    await ch.deleteQueue(deadLetterNames({ exchange, queue }).queue!).catch(() => {});
    await ch.deleteExchange(exchange).catch(() => {});
    await ch.deleteExchange(deadLetterNames({ exchange, queue }).exchange).catch(() => {});
    await admin.close();
  });

  await ctx.db.tx(async (tx) => {
    await connectorService.createConnector(
      ctx,
      tx,
      systemActor,
      connectorService.ConnectorCreate.parse({ name: 'bench-rabbit', kind: 'amqp', config: { url: URL_, exchange, queue }, secrets: { username: 'guest', password: 'guest' } }),
    );
    await flowService.createFlow(
      tx,
      systemActor,
      flowService.FlowCreate.parse({
        name: 'bench-orders-to-rabbit',
        connector: 'bench-rabbit',
        eventTypes: ['trellis.order.*'],
        mapping: '{"order": data.order, "amount": data.amount, "doc": subject}',
        batchSize: BATCH,
        maxConcurrency: CONCURRENCY,
      }),
    );
  });
  // One commit of all events, like a burst of business transactions (ids in commit order).
  await ctx.db.query(
    `insert into outbox (event_id, type, source, subject, time, data, partition_key)
     select gen_random_uuid(), 'trellis.order.created', '/trellis/apps/sales/order', 'SO-' || (g % $2::int), now(),
            jsonb_build_object('order', 'SO-' || g, 'amount', (g * 1.25)::numeric(12,2)::text), 'SO-' || (g % $2::int)
       from generate_series(1, $1::int) g`,
    [EVENTS, DOCS],
  );
  await ctx.db.query('analyze outbox');

  const relay = new Relay(ctx, { pollMs: 2000 });
  const worker = new DeliveryWorker(ctx, { leaseMs: 60_000 });
  const t0 = performance.now();
  await relay.start();
  await worker.start();
  await ctx.db.query(`select pg_notify('${OUTBOX_CHANNEL}', '')`);
  const deadline = Date.now() + 600_000;
  let lastProgress = { at: Date.now(), sent: 0 };
  while (worker.sent < EVENTS) {
    if (Date.now() > deadline) throw new Error(`only ${worker.sent} of ${EVENTS} outcomes recorded after 10 minutes`);
    if (worker.sent !== lastProgress.sent) {
      if (process.env.BENCH_VERBOSE && Math.floor(worker.sent / 5000) !== Math.floor(lastProgress.sent / 5000)) console.error(`  ${round((performance.now() - t0) / 1000, 1)} s: relayed ${relay.relayed}, recorded ${worker.sent}`);
      lastProgress = { at: Date.now(), sent: worker.sent };
    }
    else if (Date.now() - lastProgress.at > 60_000) throw new Error(`no progress for 60 s at ${worker.sent} of ${EVENTS}`);
    await new Promise((r) => setTimeout(r, 5));
  }
  const seconds = (performance.now() - t0) / 1000;
  await relay.stop();
  await worker.stop();

  const states = await ctx.db.query<{ state: string; n: number }>('select state, count(*)::int as n from integration_deliveries group by state');
  const byState = Object.fromEntries(states.rows.map((r) => [r.state, r.n]));
  const attempts = await ctx.db.query<{ outcome: string; n: number }>('select outcome, count(*)::int as n from integration_delivery_attempts group by outcome');
  const byOutcome = Object.fromEntries(attempts.rows.map((r) => [r.outcome, r.n]));
  // Read the queue back: one message per delivery by message id.
  const ch = await admin.createChannel();
  const ids = new Set<string>();
  let messages = 0;
  const expected = (await ch.checkQueue(queue)).messageCount;
  await new Promise<void>((resolve, reject) => {
    if (expected === 0) return resolve();
    ch.consume(
      queue,
      (m) => {
        if (!m) return;
        messages++;
        ids.add(String(m.properties.messageId));
        if (messages === expected) resolve();
      },
      { noAck: true },
    ).catch(reject);
  });
  await ch.close();
  const keys = await ctx.db.query<{ n: number }>(
    `select count(*)::int as n from integration_deliveries where state = 'succeeded' and idempotency_key = any($1::text[])`,
    [[...ids]],
  );
  const rate = EVENTS / seconds;
  const allDelivered = byState.succeeded === EVENTS && messages === EVENTS && ids.size === EVENTS && keys.rows[0]!.n === EVENTS;
  return {
    mode: 'outbox → Relay → DeliveryWorker → AMQP driver sendBatch (confirms, persistent, quorum queue)',
    events: EVENTS,
    documents: DOCS,
    batch: BATCH,
    maxConcurrency: CONCURRENCY,
    seconds: round(seconds, 2),
    eventsPerSecond: round(rate),
    deliveries: byState,
    attempts: byOutcome,
    inQueue: messages,
    distinctMessageIds: ids.size,
    allDelivered,
    workerMs: Object.fromEntries(Object.entries(worker.timings).map(([k, v]) => [k, round(v)])),
    target: { eventsPerSecond: `>= ${TARGET}` },
    targetsMet: allDelivered && rate >= TARGET,
  };
});
