// Fault tests of the integration hub through the whole engine: connectors and flows configured
// through the API, events produced the way the product produces them (records created, updated and
// submitted through the records API → outbox → relay → deliveries → worker → driver), and the real
// services misbehaving on loopback:
//   - Tryton (a real trytond) stopped and restarted mid-stream: every event delivered, no document
//     created twice (counted in Tryton itself), order per document held (checked in Tryton), retry
//     counters in the attempt log and in health match what happened;
//   - RabbitMQ restarted mid-stream (`rabbitmqctl stop_app` / `start_app`): every event in the
//     quorum queue by message id, none dead-lettered, order per document held;
//   - mutual TLS: a throw-away CA, server and client certificates made with the openssl CLI; the
//     connector with the client certificate delivers, the one without is refused with a clear error.
// 503/429/timeouts are in integration-deliveries.test.ts, SIGKILL in integration-sigkill.test.ts.
// PGlite by default, PostgreSQL with TRELLIS_TEST_PG.
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishApp } from '../src/server/modeling/index.ts';
import { systemActor } from '../src/server/platform/index.ts';
import { integrationEngine, startIntegration } from '../src/server/integration/index.ts';
import type { AppDef } from '../src/shared/definition.ts';
import { testTarget } from './helpers/db.ts';
import { createTestTrellis, loginAs, type TestSession, type TestTrellis } from './helpers/trellis.ts';
import { TRYTON_DB, TRYTON_PASSWORD, TRYTON_USER, seedTryton, startTryton, type TestTryton, type TrytonSeed } from './helpers/tryton.ts';

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function waitFor<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`gave up waiting for: ${what}`);
    await sleep(50);
  }
}

const L = (zh: string, en: string) => ({ zh, en });
const ALL = ['read', 'create', 'write', 'submit', 'cancel', 'delete'] as const;
/** Work orders (→ Tryton) and lots (→ RabbitMQ), each with a naming series, qty and a submit. */
const faultApp: AppDef = {
  name: 'fx',
  label: L('集成故障测试', 'Integration faults'),
  entities: [
    {
      name: 'wo',
      label: L('生产报工', 'Work order report'),
      submittable: true,
      namingSeries: 'WO-{####}',
      titleField: 'product',
      fields: [
        { name: 'product', type: 'text', label: L('产品编码', 'Product code'), required: true },
        { name: 'qty', type: 'integer', label: L('数量', 'Quantity'), min: 1 },
      ],
      permissions: [{ role: '*', actions: [...ALL] }],
    },
    {
      name: 'lot',
      label: L('批次', 'Lot'),
      submittable: true,
      namingSeries: 'LOT-{####}',
      titleField: 'product',
      fields: [
        { name: 'product', type: 'text', label: L('产品编码', 'Product code'), required: true },
        { name: 'qty', type: 'integer', label: L('数量', 'Quantity'), min: 1 },
      ],
      permissions: [{ role: '*', actions: [...ALL] }],
    },
  ],
} as unknown as AppDef;

describe(`integration faults through the engine (${testTarget})`, () => {
  let t: TestTrellis;
  let s: TestSession;
  let stop: () => Promise<void>;

  beforeAll(async () => {
    t = await createTestTrellis({ env: { TRELLIS_SECRET_KEY: 'integration-faults-key' } });
    await publishApp(t.ctx, systemActor, faultApp);
    s = await loginAs(t);
    stop = await startIntegration(t.ctx, { leaseMs: 15_000, compensationIntervalMs: 3_600_000, healthIntervalMs: 3_600_000, relayPollMs: 200 });
  }, 120_000);
  afterAll(async () => {
    await stop?.();
    await t?.destroy();
  });

  async function post(url: string, payload: unknown): Promise<Record<string, unknown>> {
    const r = await s.inject({ method: 'POST', url, payload: payload as Record<string, unknown> });
    expect(r.statusCode, `${url}: ${r.body}`).toBeLessThan(300);
    return r.json() as Record<string, unknown>;
  }

  /** A document whose changes go through the records API, like a person using the app. */
  async function newDoc(entity: string, product: string, qty: number) {
    const base = `/api/v1/apps/fx/entities/${entity}/records`;
    const r = await post(base, { values: { product, qty } });
    const doc = { id: r.id as string, name: r.name as string, version: r.version as number, qtys: [qty] };
    return {
      doc,
      async setQty(q: number) {
        const u = await s.inject({ method: 'PATCH', url: `${base}/${doc.id}`, payload: { version: doc.version, values: { qty: q } } });
        expect(u.statusCode, u.body).toBe(200);
        doc.version = u.json().version as number;
        doc.qtys.push(q);
      },
      async submit() {
        const u = await s.inject({ method: 'POST', url: `${base}/${doc.id}/submit` });
        expect(u.statusCode, u.body).toBe(200);
      },
    };
  }

  async function deliveries(flowId: string) {
    return (
      await t.ctx.db.query<{ id: number; state: string; attempts: number; idempotency_key: string; partition_key: string; event_type: string; last_error: string | null }>(
        'select id, state, attempts, idempotency_key, partition_key, event_type, last_error from integration_deliveries where flow_id = $1 order by outbox_id',
        [flowId],
      )
    ).rows;
  }
  const allSucceeded = (flowId: string, n: number) => async () => {
    const d = await deliveries(flowId);
    return d.length === n && d.every((x) => x.state === 'succeeded') ? d : null;
  };
  async function attemptCounts(flowId: string): Promise<Record<string, number>> {
    const a = await t.ctx.db.query<{ outcome: string; n: number }>(
      'select outcome, count(*)::int as n from integration_delivery_attempts where flow_id = $1 group by outcome',
      [flowId],
    );
    return Object.fromEntries(a.rows.map((x) => [x.outcome, x.n]));
  }
  async function flowHealth(flowId: string) {
    const h = await s.inject('/api/v1/integration/health');
    expect(h.statusCode).toBe(200);
    return (h.json().flows as Array<{ id: string; today: { successes: number; failures: number; retries: number; dead: number } }>).find((f) => f.id === flowId)!;
  }
  /** Every delivery of a document (partition) succeeded after the one before it, in outbox order. */
  async function succeededInOrder(flowId: string): Promise<boolean> {
    const r = await t.ctx.db.query<{ partition_key: string; outbox_id: number; ok_at: Date }>(
      `select d.partition_key, d.outbox_id, min(a.finished_at) as ok_at
         from integration_deliveries d join integration_delivery_attempts a on a.delivery_id = d.id and a.outcome = 'ok'
        where d.flow_id = $1 group by d.partition_key, d.outbox_id order by d.partition_key, d.outbox_id`,
      [flowId],
    );
    for (let i = 1; i < r.rows.length; i++) {
      const a = r.rows[i - 1]!;
      const b = r.rows[i]!;
      if (a.partition_key === b.partition_key && new Date(b.ok_at).getTime() < new Date(a.ok_at).getTime()) return false;
    }
    return true;
  }

  describe('Tryton stopped and restarted mid-stream', () => {
    let tryton: TestTryton;
    let seed: TrytonSeed;
    beforeAll(async () => {
      tryton = await startTryton();
      seed = await seedTryton(tryton.client);
    }, 180_000);
    afterAll(async () => {
      await tryton?.destroy();
    });

    it('delivers every record event once, in order per document, with no document created twice in Tryton', async () => {
      await post('/api/v1/integration/connectors', {
        name: 'tryton-faults',
        kind: 'tryton',
        config: { url: tryton.url, database: TRYTON_DB, username: TRYTON_USER, timeoutMs: 5000 },
        secrets: { password: TRYTON_PASSWORD },
      });
      const test = await post('/api/v1/integration/connectors/tryton-faults/test', {});
      expect(test.ok, String(test.message)).toBe(true);
      // created → a production order; updated → a note on it (qty and version); submitted → its "wait" button.
      const production = `[["reference", "like", data.name & " [trellis:%"]]`;
      const mapping = `type = "trellis.record.created" ? {
          "model": "production", "method": "create",
          "values": {
            "reference": data.name,
            "product": {"$ref": {"model": "product.product", "domain": [["code", "=", data.record.values.product]]}},
            "quantity": $string(data.record.values.qty),
            "uom": ${seed.uom.unit}, "planned_start_date": "2026-12-10", "planned_date": "2026-12-12",
            "warehouse": ${seed.warehouseId}, "location": ${seed.productionLocationId}, "company": ${seed.companyId}
          }
        } : type = "trellis.record.updated" ? {
          "model": "ir.note", "method": "create",
          "values": {
            "resource": {"$ref": {"model": "production", "domain": ${production}, "reference": true}},
            "message": "qty " & $string(data.record.values.qty) & " v" & $string(data.version)
          }
        } : {
          "model": "production", "method": "button", "button": "wait", "search": ${production}
        }`;
      const flow = await post('/api/v1/integration/flows', {
        name: 'wo-to-tryton',
        connector: 'tryton-faults',
        eventTypes: ['trellis.record.created', 'trellis.record.updated', 'trellis.record.submitted'],
        condition: { app: 'fx', entity: 'wo' },
        mapping,
        maxConcurrency: 4,
        maxAttempts: 500,
        backoffBaseMs: 100,
        backoffCapMs: 800,
      });
      const flowId = flow.id as string;

      const docs = [];
      for (const [i, q] of [10, 20, 30, 40].entries()) docs.push(await newDoc('wo', 'SH-100', q + i));
      await waitFor('the first write-backs reached Tryton', async () => (await deliveries(flowId)).some((d) => d.state === 'succeeded'));
      for (const d of docs) await d.setQty(d.doc.qtys[0]! + 1);
      await tryton.stop(); // mid-stream: some deliveries are in flight, most are still to come
      let restarted = false;
      try {
        for (const d of docs) await d.setQty(d.doc.qtys[0]! + 2);
        for (const d of docs) await d.setQty(d.doc.qtys[0]! + 3);
        for (const d of docs) await d.submit();
        await waitFor('retries while Tryton is down', async () => ((await attemptCounts(flowId)).retryable ?? 0) >= 6, 30_000);
        await tryton.start();
        restarted = true;
      } finally {
        if (!restarted) await tryton.start();
      }
      const total = docs.length * 5;
      const rows = await waitFor(`all ${total} deliveries succeeded`, allSucceeded(flowId, total), 90_000);

      // In Tryton itself: one production per document, one note per update, in the order of the updates.
      const c = tryton.client;
      expect(await c.model<number>('production', 'search_count', [[['reference', 'like', '%[trellis:%']]])).toBe(docs.length);
      expect(await c.model<number>('ir.note', 'search_count', [[['message', 'like', '%[trellis:%']]])).toBe(docs.length * 3);
      for (const { doc } of docs) {
        const prods = await c.searchRead('production', [['reference', 'like', `${doc.name} [trellis:%`]], 0, null, null, ['state', 'quantity']);
        expect(prods, doc.name).toHaveLength(1);
        expect(prods[0]).toMatchObject({ state: 'waiting', quantity: doc.qtys[0] });
        const notes = await c.searchRead('ir.note', [['resource', '=', `production,${String(prods[0]!.id)}`]], 0, null, [['id', 'ASC']], ['message']);
        expect(notes.map((n) => String(n.message).replace(/ \[trellis:.*$/, ''))).toEqual(doc.qtys.slice(1).map((q, i) => `qty ${q} v${i + 2}`));
      }

      // Counters: every attempt is in the log, each failure was retried once, none died.
      const a = await attemptCounts(flowId);
      const attempts = rows.reduce((n, r) => n + r.attempts, 0);
      expect(a.ok).toBe(total);
      expect(a.permanent ?? 0).toBe(0);
      expect(a.retryable).toBeGreaterThanOrEqual(6);
      expect(attempts).toBe(total + a.retryable!);
      expect(await succeededInOrder(flowId)).toBe(true);
      const h = await flowHealth(flowId);
      expect(h.today).toMatchObject({ successes: total, failures: a.retryable, retries: a.retryable, dead: 0 });
    }, 240_000);
  });

  describe('RabbitMQ restarted mid-stream', () => {
    const suffix = randomBytes(4).toString('hex');
    const exchange = `trellis.faults.${suffix}`;
    const queue = `${exchange}.q`;
    const names = { exchanges: [exchange, `${exchange}.dlx`], queues: [queue, `${queue}.dlq`] };

    async function brokerAnswers(): Promise<boolean> {
      return new Promise((resolve) => {
        const sock = net.connect(5672, '127.0.0.1');
        sock.once('connect', () => {
          sock.destroy();
          resolve(true);
        });
        sock.once('error', () => resolve(false));
      });
    }
    async function brokerUsable(): Promise<boolean> {
      if (!(await brokerAnswers())) return false;
      try {
        const conn = await amqp.connect('amqp://guest:guest@127.0.0.1:5672/');
        conn.on('error', () => {});
        await conn.close();
        return true;
      } catch {
        return false;
      }
    }
    afterAll(async () => {
      if (!(await brokerUsable())) return;
      const conn = await amqp.connect('amqp://guest:guest@127.0.0.1:5672/');
      conn.on('error', () => {});
      const ch = await conn.createChannel();
      ch.on('error', () => {});
      for (const q of names.queues) await ch.deleteQueue(q).catch(() => {});
      for (const e of names.exchanges) await ch.deleteExchange(e).catch(() => {});
      await conn.close().catch(() => {});
    });

    it('publishes every event to the quorum queue (by message id), none dead, in order per document', async () => {
      expect(await brokerUsable()).toBe(true);
      await post('/api/v1/integration/connectors', {
        name: 'rabbit-faults',
        kind: 'amqp',
        config: { url: 'amqp://127.0.0.1:5672/', exchange, queue, confirmTimeoutMs: 3000, heartbeatSeconds: 5 },
        secrets: { username: 'guest', password: 'guest' },
      });
      const flow = await post('/api/v1/integration/flows', {
        name: 'lots-to-rabbit',
        connector: 'rabbit-faults',
        eventTypes: ['trellis.record.*'],
        condition: { app: 'fx', entity: 'lot' },
        mapping: '{"lot": data.name, "version": data.version, "qty": data.record.values.qty, "status": data.status}',
        maxConcurrency: 4,
        batchSize: 10,
        maxAttempts: 1000,
        backoffBaseMs: 100,
        backoffCapMs: 1000,
      });
      const flowId = flow.id as string;

      const docs = [];
      for (let i = 0; i < 6; i++) docs.push(await newDoc('lot', `P-${i}`, 100 + i));
      for (const d of docs) await d.setQty(d.doc.qtys[0]! + 1);
      await waitFor('the first messages confirmed', async () => (await deliveries(flowId)).some((d) => d.state === 'succeeded'));
      await run('rabbitmqctl', ['stop_app'], { timeout: 120_000 });
      try {
        for (const d of docs) await d.setQty(d.doc.qtys[0]! + 2);
        for (const d of docs) await d.setQty(d.doc.qtys[0]! + 3);
        await waitFor('publishes failing while the broker is down', async () => ((await attemptCounts(flowId)).retryable ?? 0) >= 2, 30_000);
        for (const d of docs) await d.submit();
      } finally {
        await run('rabbitmqctl', ['start_app'], { timeout: 120_000 });
        await waitFor('RabbitMQ answers on 5672 again', brokerUsable, 120_000);
      }
      const total = docs.length * 5;
      const rows = await waitFor(`all ${total} deliveries confirmed`, allSucceeded(flowId, total), 120_000);

      // Read the queue back: every delivery's idempotency key is there as a message id.
      const conn = await amqp.connect('amqp://guest:guest@127.0.0.1:5672/');
      conn.on('error', () => {});
      const seen = new Map<string, number>();
      const firstOrder: Array<{ id: string; lot: string; version: number }> = [];
      try {
        const ch = await conn.createChannel();
        for (;;) {
          const m = await ch.get(queue, { noAck: true });
          if (!m) break;
          const id = String(m.properties.messageId);
          const body = JSON.parse(m.content.toString('utf8')) as { lot: string; version: number };
          if (!seen.has(id)) firstOrder.push({ id, lot: body.lot, version: body.version });
          seen.set(id, (seen.get(id) ?? 0) + 1);
        }
        expect((await ch.checkQueue(`${queue}.dlq`)).messageCount).toBe(0);
      } finally {
        await conn.close().catch(() => {});
      }
      const keys = rows.map((r) => r.idempotency_key).sort();
      expect([...seen.keys()].sort()).toEqual(keys); // every event, nothing else
      const a = await attemptCounts(flowId);
      expect(a.ok).toBe(total);
      expect(a.permanent ?? 0).toBe(0);
      expect(a.retryable).toBeGreaterThanOrEqual(2);
      expect(rows.reduce((n, r) => n + r.attempts, 0)).toBe(total + a.retryable!);
      // A confirm lost with the connection makes a re-send the broker may already hold: at most one
      // extra copy per failed attempt, and the message id lets a consumer drop it.
      const extra = [...seen.values()].reduce((n, v) => n + v - 1, 0);
      expect(extra).toBeLessThanOrEqual(a.retryable!);
      for (const { doc } of docs) {
        const versions = firstOrder.filter((m) => m.lot === doc.name).map((m) => m.version);
        expect(versions, doc.name).toEqual([1, 2, 3, 4, 5]);
      }
      const h = await flowHealth(flowId);
      expect(h.today).toMatchObject({ successes: total, failures: a.retryable, retries: a.retryable, dead: 0 });
    }, 300_000);
  });

  describe('mutual TLS for the HTTP driver', () => {
    let dir: string;
    let server: https.Server;
    let url: string;
    const seen: Array<{ cn: string | undefined; key: string | undefined; method: string }> = [];
    const pem = (f: string) => fs.readFileSync(path.join(dir, f), 'utf8');

    beforeAll(async () => {
      expect(execFileSync('openssl', ['version'], { encoding: 'utf8' })).toMatch(/SSL/);
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trellis-mtls-'));
      const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
      ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=Trellis test CA');
      ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
      fs.writeFileSync(path.join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1\n');
      ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'server.ext');
      ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'client.key', '-out', 'client.csr', '-subj', '/CN=trellis-erp-client');
      ssl('x509', '-req', '-in', 'client.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'client.pem', '-days', '2');
      server = https.createServer({ key: pem('server.key'), cert: pem('server.pem'), ca: pem('ca.pem'), requestCert: true, rejectUnauthorized: true }, (req, res) => {
        req.resume();
        req.on('end', () => {
          const cert = (req.socket as TLSSocket).getPeerCertificate();
          const key = req.headers['idempotency-key'];
          seen.push({ cn: typeof cert.subject?.CN === 'string' ? cert.subject.CN : undefined, key: typeof key === 'string' ? key : undefined, method: req.method ?? '' });
          res.writeHead(201, { 'content-type': 'application/json' });
          res.end('{"id":"MT-1"}');
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `https://127.0.0.1:${(server.address() as net.AddressInfo).port}/in`;
    });
    afterAll(async () => {
      await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it('delivers with the client certificate and refuses, with a clear error, without it', async () => {
      await post('/api/v1/integration/connectors', {
        name: 'mtls-with-cert',
        kind: 'http',
        config: { url, timeoutMs: 3000 },
        secrets: { clientCertPem: pem('client.pem'), clientKeyPem: pem('client.key'), caPem: pem('ca.pem') },
      });
      await post('/api/v1/integration/connectors', { name: 'mtls-no-cert', kind: 'http', config: { url, timeoutMs: 3000 }, secrets: { caPem: pem('ca.pem') } });
      const shown = await s.inject('/api/v1/integration/connectors/mtls-with-cert');
      expect(shown.body).not.toContain('PRIVATE KEY');
      expect(shown.body).not.toContain('BEGIN CERTIFICATE');

      const good = await post('/api/v1/integration/connectors/mtls-with-cert/test', {});
      expect(good, JSON.stringify(good)).toMatchObject({ ok: true });
      const bad = await post('/api/v1/integration/connectors/mtls-no-cert/test', {});
      expect(bad.ok).toBe(false);
      expect(String(bad.message)).toMatch(/client certificate/);
      expect(seen.every((r) => r.cn === 'trellis-erp-client')).toBe(true); // the refused one never got to HTTP

      const fa = await post('/api/v1/integration/flows', { name: 'mtls-a', connector: 'mtls-with-cert', eventTypes: ['fx.tls.a'], mapping: 'data' });
      const fb = await post('/api/v1/integration/flows', {
        name: 'mtls-b',
        connector: 'mtls-no-cert',
        eventTypes: ['fx.tls.b'],
        mapping: 'data',
        maxAttempts: 2,
        backoffBaseMs: 20,
        backoffCapMs: 50,
      });
      await post('/api/v1/integration/events', { type: 'fx.tls.a', subject: 'PO-1', data: { po: 'PO-1', amount: '1280.50' } });
      await post('/api/v1/integration/events', { type: 'fx.tls.b', subject: 'PO-2', data: { po: 'PO-2', amount: '99.00' } });
      const [da] = await waitFor('the mTLS delivery succeeded', allSucceeded(fa.id as string, 1));
      expect(seen.filter((r) => r.method === 'POST')).toEqual([{ cn: 'trellis-erp-client', key: da!.idempotency_key, method: 'POST' }]);
      const [db] = await waitFor('the delivery without a client certificate is dead', async () => {
        const d = await deliveries(fb.id as string);
        return d.length === 1 && d[0]!.state === 'dead' ? d : null;
      });
      expect(db!.attempts).toBe(2);
      expect(db!.last_error).toMatch(/^Gave up after 2 attempts: .*client certificate \(mutual TLS\).*clientCertPem and clientKeyPem/);
      expect(seen.filter((r) => r.method === 'POST')).toHaveLength(1);
    }, 60_000);
  });
});

describe(`demo plant: the sample ERP connector (${testTarget})`, () => {
  let t: TestTrellis;
  let s: TestSession;
  beforeAll(async () => {
    t = await createTestTrellis({ seedDemo: true, env: { TRELLIS_SECRET_KEY: 'integration-faults-key' } });
    s = await loginAs(t);
  }, 120_000);
  afterAll(async () => {
    await t?.destroy();
  });

  it('exists once after (repeated) bootstrap, and a flow writes back to it out of the box', async () => {
    await integrationEngine.bootstrap!(t.ctx, { seedDemo: true, announce: () => {} });
    const list = await s.inject('/api/v1/integration/connectors');
    expect(list.statusCode).toBe(200);
    const body = list.json() as { items?: Array<{ name: string; kind: string }> } | Array<{ name: string; kind: string }>;
    const items = Array.isArray(body) ? body : body.items!;
    expect(items.filter((c) => c.name === 'sample-erp').map((c) => c.kind)).toEqual(['sample_erp']);
    const test = await s.inject({ method: 'POST', url: '/api/v1/integration/connectors/sample-erp/test' });
    expect(test.json(), test.body).toMatchObject({ ok: true });

    const wo = await t.ctx.db.query<{ id: number; code: string }>(`select id, code from erp_sample_productions order by id limit 1`);
    const flow = await s.inject({
      method: 'POST',
      url: '/api/v1/integration/flows',
      payload: {
        name: 'demo-inspection-note',
        connector: 'sample-erp',
        eventTypes: ['fx.demo.inspected'],
        mapping: '{"model": "ir.note", "method": "create", "values": {"resource": "production," & $string(data.wo), "message": "首检合格 " & data.result}}',
      },
    });
    expect(flow.statusCode, flow.body).toBe(201);
    const stop = await startIntegration(t.ctx, { leaseMs: 10_000, compensationIntervalMs: 3_600_000, healthIntervalMs: 3_600_000, relayPollMs: 200 });
    try {
      const ev = await s.inject({ method: 'POST', url: '/api/v1/integration/events', payload: { type: 'fx.demo.inspected', subject: wo.rows[0]!.code, data: { wo: wo.rows[0]!.id, result: 'Φ59.98' } } });
      expect(ev.statusCode, ev.body).toBe(201);
      const d = await waitFor('delivered to the sample ERP', async () => {
        const r = await t.ctx.db.query<{ state: string; idempotency_key: string; external_ref: string | null }>(
          `select state, idempotency_key, external_ref from integration_deliveries where flow_id = $1`,
          [flow.json().id],
        );
        return r.rows[0]?.state === 'succeeded' ? r.rows[0] : null;
      });
      expect(d.external_ref).toMatch(/^ir\.note,\d+$/);
      const notes = await t.ctx.db.query<{ message: string }>(`select data->>'message' as message from erp_sample_notes where idempotency_key = $1`, [d.idempotency_key]);
      expect(notes.rows).toEqual([{ message: `首检合格 Φ59.98 [trellis:${d.idempotency_key}]` }]);
    } finally {
      await stop();
    }
  }, 120_000);
});
