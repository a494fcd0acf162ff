// Trellis is killed with SIGKILL in the middle of deliveries and started again: every event still
// reaches the destination exactly once per idempotency key, in order per document. Runs the real
// server (`node src/server/cli.ts start`) as a child process: on a fresh PostgreSQL database when
// TRELLIS_TEST_PG is set, else on PGlite in a temp data folder.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testTarget } from './helpers/db.ts';
import { startReceiver, type Receiver } from './helpers/receiver.ts';

const PASSWORD = 'Sigkill-Admin-Pass-2026!';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

interface Child {
  proc: ChildProcess;
  base: string;
  exited: Promise<void>;
}

describe(`SIGKILL mid-delivery (${testTarget})`, () => {
  let rx: Receiver;
  let dir: string;
  let dbUrl: string | undefined;
  let dbName: string | undefined;
  const children: Child[] = [];

  beforeAll(async () => {
    rx = await startReceiver();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trellis-sigkill-'));
    if (process.env.TRELLIS_TEST_PG) {
      dbName = `trellis_test_${randomBytes(6).toString('hex')}`;
      const c = new pg.Client({ connectionString: process.env.TRELLIS_TEST_PG });
      await c.connect();
      await c.query(`create database ${dbName}`);
      await c.end();
      const u = new URL(process.env.TRELLIS_TEST_PG);
      u.pathname = `/${dbName}`;
      dbUrl = u.toString();
    }
  });
  afterAll(async () => {
    for (const c of children) {
      c.proc.kill('SIGKILL');
      await c.exited;
    }
    await rx?.close();
    fs.rmSync(dir, { recursive: true, force: true });
    if (dbName) {
      const c = new pg.Client({ connectionString: process.env.TRELLIS_TEST_PG });
      await c.connect();
      await c.query(`drop database if exists ${dbName} with (force)`);
      await c.end();
    }
  });

  async function start(): Promise<Child> {
    const port = await freePort();
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      TRELLIS_ADMIN_PASSWORD: PASSWORD,
      TRELLIS_SKIP_DEMO: '1',
      TRELLIS_LOG_LEVEL: 'warn',
      TRELLIS_SECRET_KEY: 'sigkill-test-key',
      TRELLIS_DELIVERY_LEASE_S: '3',
      TRELLIS_DATA_DIR: path.join(dir, 'data'),
    };
    delete env.DATABASE_URL;
    if (dbUrl) env.DATABASE_URL = dbUrl;
    const log = fs.openSync(path.join(dir, `server-${children.length}.log`), 'a');
    const proc = spawn(process.execPath, [path.resolve('src/server/cli.ts'), 'start'], { env, stdio: ['ignore', log, log] });
    fs.closeSync(log);
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    const child = { proc, base: `http://127.0.0.1:${port}`, exited };
    children.push(child);
    const end = Date.now() + 90_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`server exited early: ${fs.readFileSync(path.join(dir, `server-${children.length - 1}.log`), 'utf8').slice(-2000)}`);
      try {
        const r = await fetch(`${child.base}/readyz`);
        if (r.status === 200) return child;
      } catch {
        /* not yet */
      }
      if (Date.now() > end) throw new Error('server not ready in 90 s');
      await sleep(50);
    }
  }

  async function session(base: string) {
    const r = await fetch(`${base}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: PASSWORD }) });
    expect(r.status).toBe(200);
    const csrf = ((await r.json()) as { csrfToken: string }).csrfToken;
    const cookie = r.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
    return async (method: string, url: string, body?: unknown) => {
      const res = await fetch(`${base}${url}`, {
        method,
        headers: { cookie, 'x-csrf-token': csrf, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      return { status: res.status, body: text ? (JSON.parse(text) as any) : null };
    };
  }

  it('delivers every event exactly once, in order, after a kill -9 and a restart', { timeout: 180_000 }, async () => {
    const first = await start();
    const api = await session(first.base);
    expect((await api('POST', '/api/v1/integration/connectors', { name: 'erp', kind: 'http', config: { url: `${rx.url}/in`, timeoutMs: 2000 } })).status).toBe(201);
    const f = await api('POST', '/api/v1/integration/flows', { name: 'orders', connector: 'erp', eventTypes: ['plant.order.*'], mapping: 'data', maxConcurrency: 4, backoffBaseMs: 50, backoffCapMs: 500 });
    expect(f.status).toBe(201);
    rx.delayMs = 120; // documents are applied 120 ms after they arrive: the kill lands mid-request
    const docs = ['PO-1', 'PO-2', 'PO-3', 'PO-4'];
    const perDoc = 10;
    for (let seq = 1; seq <= perDoc; seq++) {
      for (const doc of docs) {
        const r = await api('POST', '/api/v1/integration/events', { type: 'plant.order.changed', subject: doc, partitionKey: doc, data: { doc, seq } });
        expect(r.status).toBe(201);
      }
    }
    const end = Date.now() + 60_000;
    while (rx.requests.length < 8 && Date.now() < end) await sleep(5);
    expect(rx.requests.length).toBeGreaterThanOrEqual(8);
    // from now on the destination holds requests without answering: at least one is surely in flight
    rx.outage = { until: Number.MAX_SAFE_INTEGER, behaviour: { hang: true } };
    while (!rx.requests.some((r) => r.answered === 'hang') && Date.now() < end) await sleep(5);
    first.proc.kill('SIGKILL');
    await first.exited;
    rx.outage = null;
    const atKill = rx.applied.length;
    expect(atKill).toBeLessThan(docs.length * perDoc); // really mid-stream

    const second = await start();
    const api2 = await session(second.base);
    const total = docs.length * perDoc;
    const until = Date.now() + 90_000;
    let succeeded = 0;
    while (Date.now() < until) {
      const r = await api2('GET', '/api/v1/integration/deliveries?flow=orders&state=succeeded&limit=1');
      succeeded = r.body.total as number;
      if (succeeded === total) break;
      await sleep(200);
    }
    expect(succeeded).toBe(total);
    expect(rx.effects.size).toBe(total); // exactly once per idempotency key
    for (const doc of docs) expect(rx.orderOf(doc)).toEqual(Array.from({ length: perDoc }, (_, i) => i + 1));
    // the raw requests beyond one per event are the re-sends of what was in flight at the kill
    const resent = rx.requests.length - total;
    expect(resent).toBeGreaterThanOrEqual(1);
    const dead = await api2('GET', '/api/v1/integration/deliveries?flow=orders&state=dead');
    expect(dead.body.total).toBe(0);
    second.proc.kill('SIGTERM');
    await second.exited;
  });
});
