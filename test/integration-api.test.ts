// Integration hub API: validation (4xx with paths), secrets never returned and encrypted at rest,
// access rules, alerts, the HTTP driver's pagination styles and error classification.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emitEvent } from '../src/server/platform/events/index.ts';
import { evaluateAlerts, relayOnce, connectorService, getDriver } from '../src/server/integration/index.ts';
import { classify, nextLink, retryAfterMs } from '../src/server/integration/drivers/http.ts';
import { createTestTrellis, loginAs, type TestSession, type TestTrellis } from './helpers/trellis.ts';
import { testTarget } from './helpers/db.ts';
import { startReceiver, type Receiver } from './helpers/receiver.ts';

const SECRET = 'Very-Secret-Password-4711';
const TOKEN = 'bearer-token-0815-secret';

describe(`integration API (${testTarget})`, () => {
  let t: TestTrellis;
  let s: TestSession;
  let rx: Receiver;

  beforeAll(async () => {
    t = await createTestTrellis({ env: { TRELLIS_SECRET_KEY: 'integration-api-test-key' } });
    s = await loginAs(t);
    rx = await startReceiver();
  });
  afterAll(async () => {
    await rx?.close();
    await t?.destroy();
  });

  const post = (url: string, payload: unknown) => s.inject({ method: 'POST', url, payload: payload as object });

  it('refuses bad connectors and flows with a 4xx that says where', async () => {
    const unknownKind = await post('/api/v1/integration/connectors', { name: 'x', kind: 'carrier-pigeon', config: {} });
    expect(unknownKind.statusCode).toBe(400);
    expect(unknownKind.json().detail).toMatch(/Unknown connector kind "carrier-pigeon".*http/);

    const badUrl = await post('/api/v1/integration/connectors', { name: 'x', kind: 'http', config: { url: 'ftp://nope' } });
    expect(badUrl.statusCode).toBe(400);
    expect(badUrl.json().errors[0].path).toBe('body.config.url');

    const extra = await post('/api/v1/integration/connectors', { name: 'x', kind: 'http', config: { url: `${rx.url}/in`, colour: 'red' } });
    expect(extra.statusCode).toBe(400);

    const badSecret = await post('/api/v1/integration/connectors', { name: 'x', kind: 'http', config: { url: `${rx.url}/in` }, secrets: { password: 42 } });
    expect(badSecret.statusCode).toBe(400);
    expect(badSecret.json().errors[0].path).toBe('body.secrets.password');

    const badMapping = await post('/api/v1/integration/connectors', { name: 'x', kind: 'http', config: { url: `${rx.url}/in`, responseMapping: 'body.(' } });
    expect(badMapping.statusCode).toBe(400);

    const ok = await post('/api/v1/integration/connectors', { name: 'rest-1', kind: 'http', config: { url: `${rx.url}/in` } });
    expect(ok.statusCode).toBe(201);
    const dup = await post('/api/v1/integration/connectors', { name: 'rest-1', kind: 'http', config: { url: `${rx.url}/in` } });
    expect(dup.statusCode).toBe(409);

    const flowJsonata = await post('/api/v1/integration/flows', { name: 'f1', connector: 'rest-1', eventTypes: ['trellis.record.*'], mapping: '{ "a": data.( }' });
    expect(flowJsonata.statusCode).toBe(400);
    expect(flowJsonata.json().detail).toMatch(/JSONata/);
    const flowBatch = await post('/api/v1/integration/flows', { name: 'f1', connector: 'rest-1', eventTypes: ['trellis.record.*'], batchSize: 0 });
    expect(flowBatch.statusCode).toBe(400);
    const flowNoConn = await post('/api/v1/integration/flows', { name: 'f1', connector: 'nope', eventTypes: ['trellis.record.*'] });
    expect(flowNoConn.statusCode).toBe(400);
    expect(flowNoConn.json().errors[0].path).toBe('body.connector');
    const flowPattern = await post('/api/v1/integration/flows', { name: 'f1', connector: 'rest-1', eventTypes: ['trellis record'] });
    expect(flowPattern.statusCode).toBe(400);
    const flowWindow = await post('/api/v1/integration/flows', { name: 'f1', connector: 'rest-1', eventTypes: ['a.b'], window: { start: '25:00', end: '04:00' } });
    expect(flowWindow.statusCode).toBe(400);
    const flowBackoff = await post('/api/v1/integration/flows', { name: 'f1', connector: 'rest-1', eventTypes: ['a.b'], backoffBaseMs: 5000, backoffCapMs: 100 });
    expect(flowBackoff.statusCode).toBe(400);

    const good = await post('/api/v1/integration/flows', { name: 'f1', connector: 'rest-1', eventTypes: ['trellis.record.*'], condition: { app: 'purchase' }, window: { start: '02:00', end: '04:00' } });
    expect(good.statusCode, good.body).toBe(201);
    expect(good.json()).toMatchObject({ name: 'f1', window: { start: '02:00', end: '04:00' }, maxAttempts: 10 });
    const inUse = await s.inject({ method: 'DELETE', url: '/api/v1/integration/connectors/rest-1' });
    expect(inUse.statusCode).toBe(409);
    const badDelivery = await s.inject('/api/v1/integration/deliveries?state=lost');
    expect(badDelivery.statusCode).toBe(400);
    const missing = await s.inject('/api/v1/integration/deliveries/999999');
    expect(missing.statusCode).toBe(404);
  });

  it('never returns secrets, keeps them encrypted at rest, and keeps them on a patch without secrets', async () => {
    const c = await post('/api/v1/integration/connectors', {
      name: 'rest-secret',
      kind: 'http',
      config: { url: `${rx.url}/in`, auth: 'basic' },
      secrets: { username: 'erp-user', password: SECRET, headers: { 'X-Api-Key': TOKEN } },
    });
    expect(c.statusCode, c.body).toBe(201);
    expect(c.body).not.toContain(SECRET);
    expect(c.json().hasSecrets).toBe(true);
    for (const url of ['/api/v1/integration/connectors', `/api/v1/integration/connectors/${c.json().id}`, '/api/v1/integration/connectors/rest-secret']) {
      const r = await s.inject(url);
      expect(r.statusCode).toBe(200);
      expect(r.body).not.toContain(SECRET);
      expect(r.body).not.toContain(TOKEN);
    }
    const p = await s.inject({ method: 'PATCH', url: '/api/v1/integration/connectors/rest-secret', payload: { description: 'ERP test' } });
    expect(p.statusCode, p.body).toBe(200);
    expect(p.body).not.toContain(SECRET);
    const row = await t.ctx.db.query<{ secrets_enc: string }>(`select secrets_enc from integration_connectors where name = 'rest-secret'`);
    expect(row.rows[0]!.secrets_enc).toMatch(/^v1\./);
    expect(row.rows[0]!.secrets_enc).not.toContain(SECRET);
    const audit = await t.ctx.db.query<{ detail: unknown }>(`select detail from audit_log where action like 'integration.connector.%'`);
    expect(JSON.stringify(audit.rows)).not.toContain(SECRET);

    // the secrets still work after the patch: the destination gets the basic credentials
    const conn = await connectorService.getConnector(t.ctx.db, 'rest-secret');
    const handle = await connectorService.openDestinationOf(t.ctx, conn);
    const before = rx.requests.length;
    const out = await handle.send({ deliveryId: '1', idempotencyKey: 'k-secret-1', partitionKey: null, event: { specversion: '1.0', id: 'e1', source: '/t', type: 't', time: new Date().toISOString(), datacontenttype: 'application/json', data: {} }, payload: { a: 1 }, attempt: 1 });
    await handle.close();
    expect(out.ok).toBe(true);
    const req = rx.requests[before]!;
    expect(req.headers.authorization).toBe(`Basic ${Buffer.from(`erp-user:${SECRET}`).toString('base64')}`);
    expect(req.headers['x-api-key']).toBe(TOKEN);
    expect(req.headers['idempotency-key']).toBe('k-secret-1');

    const test = await post('/api/v1/integration/connectors/rest-secret/test', {});
    expect(test.statusCode).toBe(200);
    expect(test.json().ok).toBe(true);
    const down = await post('/api/v1/integration/connectors', { name: 'rest-down', kind: 'http', config: { url: 'http://127.0.0.1:1/in', timeoutMs: 500 } });
    const downTest = await post(`/api/v1/integration/connectors/${down.json().id}/test`, {});
    expect(downTest.json().ok).toBe(false);
  });

  it('needs the integration role or admin', async () => {
    await t.ctx.db.query(`insert into users (username, display_name, password_hash) select 'plain', 'Plain', password_hash from users where username = 'admin'`);
    const plain = await loginAs(t, 'plain');
    expect((await plain.inject('/api/v1/integration/connectors')).statusCode).toBe(403);
    expect((await t.app.inject('/api/v1/integration/connectors')).statusCode).toBe(401);
  });

  it('opens and resolves alerts on a backlog threshold', async () => {
    await post('/api/v1/integration/connectors', { name: 'rest-alert', kind: 'http', config: { url: `${rx.url}/in` } });
    const f = await post('/api/v1/integration/flows', { name: 'f-alert', connector: 'rest-alert', eventTypes: ['ta.*'], alerts: { backlog: 2 } });
    expect(f.statusCode, f.body).toBe(201);
    await t.ctx.db.tx(async (tx) => {
      for (let i = 0; i < 3; i++) await emitEvent(tx, { type: 'ta.x', source: '/t', data: { i } });
    });
    await relayOnce(t.ctx.db); // no worker runs in this file: the backlog stays
    expect(await evaluateAlerts(t.ctx)).toMatchObject({ opened: 1 });
    expect(await evaluateAlerts(t.ctx)).toMatchObject({ opened: 0 }); // still the same open alert
    const open = await s.inject('/api/v1/integration/alerts?state=open');
    expect(open.json().items).toHaveLength(1);
    expect(open.json().items[0]).toMatchObject({ flowName: 'f-alert', kind: 'backlog', value: 3, threshold: 2 });
    await t.ctx.db.query(`update integration_deliveries set state = 'cancelled' where flow_id = $1`, [f.json().id]);
    expect(await evaluateAlerts(t.ctx)).toMatchObject({ resolved: 1 });
    expect((await s.inject('/api/v1/integration/alerts?state=open')).json().items).toHaveLength(0);
    const metrics = await t.app.inject('/metrics');
    expect(metrics.body).toContain('trellis_integration_backlog');
  });

  it('HTTP driver: classifies answers, reads Retry-After and Link, pulls with every pagination style', async () => {
    expect([200, 201, 204].map(classify)).toEqual(['ok', 'ok', 'ok']);
    expect([408, 425, 429, 500, 503].map(classify)).toEqual(Array(5).fill('retryable'));
    expect([400, 401, 404, 409, 422].map(classify)).toEqual(Array(5).fill('permanent'));
    expect(retryAfterMs('3')).toBe(3000);
    expect(retryAfterMs(new Date(Date.now() + 10_000).toUTCString())).toBeGreaterThan(8000);
    expect(nextLink('<https://a/x?p=2>; rel="next", <https://a/x?p=9>; rel="last"')).toBe('https://a/x?p=2');
    expect(nextLink('<https://a/x?p=9>; rel="last"')).toBeNull();

    rx.items = Array.from({ length: 11 }, (_, i) => ({ id: i + 1, name: `item ${i + 1}`, write_date: `2026-01-${String(i + 1).padStart(2, '0')}` }));
    const driver = getDriver('http')!;
    const styles: Array<[string, unknown]> = [
      ['page', { style: 'page', pageSize: 4 }],
      ['offset', { style: 'offset', pageSize: 5 }],
      ['cursor', { style: 'cursor', nextCursor: 'next' }],
      ['link', { style: 'link' }],
    ];
    for (const [style, pagination] of styles) {
      const config = driver.configSchema.parse({
        url: `${rx.url}/in`,
        source: { url: `${rx.url}/items?style=${style}`, items: style === 'link' ? undefined : 'data', watermark: 'write_date', pagination },
      });
      const src = await driver.openSource!(config, undefined, { ctx: t.ctx, connectorId: 'x', connectorName: 'x' });
      const r = await src.pull({ object: 'items', since: null, limit: 1000 });
      await src.close();
      expect(r.rows.map((x) => x.key), style).toEqual(rx.items.map((x) => String(x.id)));
      expect(r.nextWatermark).toBe('2026-01-11');
      expect(r.more).toBe(false);
    }
  });
});
