// Commit → destination acknowledgement, over HTTP, at a steady 200 events/s for ~15 s, on real
// PostgreSQL. Events are emitted through the API (each its own transaction); the latency of one
// event is the time from its CloudEvent `time` (stamped just before the commit) to the moment the
// local receiver applied the document. Target: p99 ≤ 1 s (the seeds' after-figure is 30 s).
import { BENCH_ADMIN_PASSWORD, freshPgDatabase, login, round, runBench, startServer } from './lib.ts';
import { startReceiver } from '../test/helpers/receiver.ts';

const RATE = Number(process.env.BENCH_RATE ?? 200);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 15);
const DOCS = 50;

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

runBench('deliveries-http', async () => {
  const rx = await startReceiver();
  const db = await freshPgDatabase();
  const server = await startServer({
    databaseUrl: db.url,
    env: { TRELLIS_SKIP_DEMO: '1', TRELLIS_SECRET_KEY: 'bench-key', TRELLIS_LOG_LEVEL: 'warn', TRELLIS_ADMIN_PASSWORD: BENCH_ADMIN_PASSWORD },
  });
  const { cookie, csrf } = await login(server.baseUrl);
  const call = async (method: string, url: string, body: unknown) => {
    const r = await fetch(`${server.baseUrl}${url}`, { method, headers: { cookie, 'x-csrf-token': csrf, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const text = await r.text();
    if (r.status >= 300) throw new Error(`${method} ${url} answered ${r.status}: ${text.slice(0, 300)}`);
    return JSON.parse(text) as unknown;
  };
  await call('POST', '/api/v1/integration/connectors', { name: 'bench-erp', kind: 'http', config: { url: `${rx.url}/in`, timeoutMs: 5000 } });
  await call('POST', '/api/v1/integration/flows', { name: 'bench-orders', connector: 'bench-erp', eventTypes: ['bench.order.*'], maxConcurrency: 32 });

  const total = RATE * SECONDS;
  const t0 = performance.now();
  const inflight = new Set<Promise<unknown>>();
  let failures = 0;
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const doc = `SO-${i % DOCS}`;
    const p = call('POST', '/api/v1/integration/events', { type: 'bench.order.changed', subject: doc, partitionKey: doc, data: { doc, seq: Math.floor(i / DOCS) + 1 } })
      .catch(() => {
        failures++;
      })
      .finally(() => inflight.delete(p));
    inflight.add(p);
  }
  await Promise.all(inflight);
  const emitSeconds = (performance.now() - t0) / 1000;
  const deadline = Date.now() + 120_000;
  while (rx.effects.size < total - failures && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));

  const lat = rx.applied.map((e) => e.at - Date.parse((e.body as { time: string }).time)).sort((a, b) => a - b);
  let ordered = true;
  for (let d = 0; d < DOCS; d++) {
    const seqs = rx.orderOf(`SO-${d}`) as number[];
    if (seqs.some((v, i) => i > 0 && v <= seqs[i - 1]!)) ordered = false;
  }
  await server.stop();
  await rx.close();
  const p50 = pct(lat, 50);
  const p99 = pct(lat, 99);
  const delivered = rx.effects.size;
  return {
    events: total,
    emitFailures: failures,
    delivered,
    rawRequests: rx.requests.length,
    ratePerSecond: round(total / emitSeconds, 1),
    p50Ms: p50,
    p99Ms: p99,
    maxMs: lat.at(-1) ?? null,
    orderedPerDocument: ordered,
    targetsMet: failures === 0 && delivered === total && ordered && p99 <= 1000,
  };
});
