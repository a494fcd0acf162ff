// Throughput and latency of an authenticated read: GET /api/v1/me with a session cookie.
// Server on a fresh PostgreSQL database; autocannon runs in this process on the same machine
// (2 cores shared by load generator and server), 32 connections, a short warm-up, then ~10 s.
// Targets: ≥ 8000 requests/s and p99 ≤ 10 ms.
// Env: BENCH_DURATION_S (10), BENCH_CONNECTIONS (32), TRELLIS_LOG_LEVEL (server log level, info).
import autocannon from 'autocannon';
import { freshPgDatabase, login, round, runBench, startServer } from './lib.ts';

const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const TARGETS = { requestsPerSec: 8000, p99Ms: 10 };

function load(url: string, cookie: string, duration: number): Promise<autocannon.Result> {
  return autocannon({ url, connections: CONNECTIONS, duration, headers: { cookie } });
}

runBench('me', async () => {
  const db = await freshPgDatabase();
  const server = await startServer({ databaseUrl: db.url, env: { TRELLIS_SKIP_DEMO: '1' } });
  const { cookie } = await login(server.baseUrl);
  const url = `${server.baseUrl}/api/v1/me`;

  const probe = await fetch(url, { headers: { cookie } });
  const probeBody = await probe.text();
  if (probe.status !== 200) throw new Error(`GET /api/v1/me with the session cookie answered ${probe.status}: ${probeBody.slice(0, 300)}`);
  const anonymous = await fetch(url);
  await anonymous.arrayBuffer();
  if (anonymous.status === 200) throw new Error('GET /api/v1/me answered 200 without a session: the bench would not measure an authenticated read');

  await load(url, cookie, 2); // warm-up: JIT, connection pool, caches
  const r = await load(url, cookie, DURATION_S);
  const requestsPerSec = round(r.requests.average);
  const p99Ms = r.latency.p99;
  const errors = r.errors + r.timeouts;
  return {
    requestsPerSec,
    p50Ms: r.latency.p50,
    p99Ms,
    avgLatencyMs: round(r.latency.average, 2),
    maxLatencyMs: r.latency.max,
    totalRequests: r.requests.total,
    errors,
    non2xx: r.non2xx,
    connections: CONNECTIONS,
    durationS: DURATION_S,
    serverLogLevel: process.env.TRELLIS_LOG_LEVEL || 'info',
    targets: { requestsPerSec: `>= ${TARGETS.requestsPerSec}`, p99Ms: `<= ${TARGETS.p99Ms}` },
    targetsMet: requestsPerSec >= TARGETS.requestsPerSec && p99Ms <= TARGETS.p99Ms && errors === 0 && r.non2xx === 0,
  };
});
