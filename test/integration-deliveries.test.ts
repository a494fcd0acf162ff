// Delivery engine end to end against a real local HTTP receiver: relay → deliveries → worker →
// HTTP driver, with 503 / 429 / timeouts / permanent errors, ordering per document, deduplication by
// idempotency key, counters, manual intervention, compensation, subscribers, windows, rate limits,
// batching, OAuth2. PGlite by default, PostgreSQL with TRELLIS_TEST_PG.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emitEvent } from '../src/server/platform/events/index.ts';
import { runCompensation, startIntegration, subscribe, PermanentSubscriberError } from '../src/server/integration/index.ts';
import { createTestTrellis, loginAs, type TestSession, type TestTrellis } from './helpers/trellis.ts';
import { testTarget } from './helpers/db.ts';
import { startReceiver, type Receiver } from './helpers/receiver.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function waitFor<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`gave up waiting for: ${what}`);
    await sleep(25);
  }
}

const subEffects: string[] = [];
let subFailOnce = true;
subscribe('test.audit_trail', 'ts.sub.*', async (tx, event) => {
  if (subFailOnce) {
    subFailOnce = false;
    throw new Error('first call fails');
  }
  await tx.query('insert into test_sub_effects (event_id) values ($1)', [event.id]);
  subEffects.push(event.id);
});
subscribe('test.never', 'ts.subperm.*', async () => {
  throw new PermanentSubscriberError('cannot process this');
});

describe(`integration deliveries over HTTP (${testTarget})`, () => {
  let t: TestTrellis;
  let s: TestSession;
  let rx: Receiver;
  let stop: () => Promise<void>;

  beforeAll(async () => {
    t = await createTestTrellis({ env: { TRELLIS_SECRET_KEY: 'integration-test-key' } });
    await t.ctx.db.exec('create table test_sub_effects (event_id uuid primary key)');
    s = await loginAs(t);
    rx = await startReceiver();
    stop = await startIntegration(t.ctx, { leaseMs: 4000, compensationIntervalMs: 3_600_000, healthIntervalMs: 3_600_000, relayPollMs: 200 });
  });
  afterAll(async () => {
    await stop?.();
    await rx?.close();
    await t?.destroy();
  });

  async function connector(name: string, config: Record<string, unknown> = {}, secrets?: unknown): Promise<string> {
    const r = await s.inject({ method: 'POST', url: '/api/v1/integration/connectors', payload: { name, kind: 'http', config: { url: `${rx.url}/in`, timeoutMs: 1500, ...config }, ...(secrets ? { secrets } : {}) } });
    expect(r.statusCode, r.body).toBe(201);
    return r.json().id as string;
  }
  async function flow(name: string, conn: string, body: Record<string, unknown> = {}): Promise<string> {
    const r = await s.inject({
      method: 'POST',
      url: '/api/v1/integration/flows',
      payload: { name, connector: conn, eventTypes: [`ts.${name}.*`], mapping: 'data', backoffBaseMs: 20, backoffCapMs: 200, maxAttempts: 20, ...body },
    });
    expect(r.statusCode, r.body).toBe(201);
    return r.json().id as string;
  }
  async function emit(type: string, doc: string | null, data: Record<string, unknown>): Promise<void> {
    await t.ctx.db.tx((tx) => emitEvent(tx, { type, source: '/trellis/test', subject: doc, partitionKey: doc, data }));
  }
  async function deliveries(flowId: string) {
    const r = await t.ctx.db.query<{ id: number; state: string; attempts: number; external_ref: string | null }>(
      'select id, state, attempts, external_ref from integration_deliveries where flow_id = $1 order by outbox_id',
      [flowId],
    );
    return r.rows;
  }
  const allIn = (flowId: string, state: string, n: number) => async () => {
    const d = await deliveries(flowId);
    return d.length === n && d.every((x) => x.state === state) ? d : null;
  };

  it('delivers every event once, in order per document, through 503s, a 429 with Retry-After and timeouts; counters match', async () => {
    await connector('erp-a');
    const flowId = await flow('fa', 'erp-a', { maxConcurrency: 4 });
    const docs = ['d1', 'd2', 'd3', 'd4'];
    const before = rx.requests.length;
    rx.next({ status: 503 }, { status: 503 }, { status: 429, retryAfter: 1 }, { hang: true }, { status: 502 }, { hang: true }, { status: 503 });
    const injected = 7;
    for (let seq = 1; seq <= 6; seq++) for (const doc of docs) await emit('ts.fa.changed', doc, { doc, seq });
    const rows = await waitFor('all 24 deliveries succeeded', allIn(flowId, 'succeeded', 24));

    const mine = rx.requests.slice(before);
    const keys = new Set(mine.map((r) => r.key));
    expect(keys.size).toBe(24); // one idempotency key per event × flow
    for (const doc of docs) expect(rx.orderOf(doc)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(mine.length).toBe(24 + injected); // every raw request: one per event plus one per injected failure
    expect(rows.reduce((n, r) => n + r.attempts, 0)).toBe(24 + injected);
    expect(rows.every((r) => r.external_ref?.startsWith('ext-') || r.external_ref === null)).toBe(true);

    const a = await t.ctx.db.query<{ outcome: string; n: number }>(
      'select outcome, count(*)::int as n from integration_delivery_attempts where flow_id = $1 group by outcome order by outcome',
      [flowId],
    );
    expect(Object.fromEntries(a.rows.map((x) => [x.outcome, x.n]))).toEqual({ ok: 24, retryable: injected });
    const dead = await t.ctx.db.query(`select 1 from integration_deliveries where flow_id = $1 and state = 'dead'`, [flowId]);
    expect(dead.rowCount).toBe(0);

    // Retry-After honoured: the same key came back no sooner than 1 s after the 429
    const r429 = mine.find((r) => r.answered === 429)!;
    const again = mine.find((r) => r.key === r429.key && r.at > r429.at)!;
    expect(again.at - r429.at).toBeGreaterThanOrEqual(950);

    // health counts what happened
    const h = await s.inject('/api/v1/integration/health');
    const fh = (h.json().flows as Array<{ id: string; today: { successes: number; failures: number; retries: number } }>).find((f) => f.id === flowId)!;
    expect(fh.today).toMatchObject({ successes: 24, failures: injected, retries: injected });
  });

  it('sends a permanent 4xx straight to dead, holds that document, and lets a person edit + retry and skip', async () => {
    await connector('erp-b');
    const flowId = await flow('fb', 'erp-b');
    rx.next({ status: 422 });
    await emit('ts.fb.changed', 'x1', { doc: 'x1', seq: 1, qty: 'bad' });
    await emit('ts.fb.changed', 'x1', { doc: 'x1', seq: 2 });
    await emit('ts.fb.changed', 'x2', { doc: 'x2', seq: 1 });
    const d = await waitFor('x1#1 dead, x2 delivered', async () => {
      const ds = await deliveries(flowId);
      return ds.length === 3 && ds[0]!.state === 'dead' && ds[2]!.state === 'succeeded' ? ds : null;
    });
    expect(d[0]!.attempts).toBe(1);
    await sleep(300);
    expect((await deliveries(flowId))[1]!.state).toBe('pending'); // x1#2 waits behind the dead x1#1

    const list = await s.inject('/api/v1/integration/deliveries?state=dead&flow=fb');
    expect(list.statusCode).toBe(200);
    expect(list.json().items.map((x: { id: number }) => x.id)).toEqual([d[0]!.id]);
    const one = await s.inject(`/api/v1/integration/deliveries/${d[0]!.id}`);
    expect(one.json()).toMatchObject({ state: 'dead', payload: { doc: 'x1', seq: 1, qty: 'bad' }, lastStatus: 422 });
    expect(one.json().attemptLog).toHaveLength(1);

    const edit = await s.inject({ method: 'PATCH', url: `/api/v1/integration/deliveries/${d[0]!.id}`, payload: { payload: { doc: 'x1', seq: 1, qty: '5.000' } } });
    expect(edit.statusCode, edit.body).toBe(200);
    const retry = await s.inject({ method: 'POST', url: `/api/v1/integration/deliveries/${d[0]!.id}/retry` });
    expect(retry.statusCode, retry.body).toBe(200);
    await waitFor('x1 delivered after the edit', allIn(flowId, 'succeeded', 3));
    expect(rx.orderOf('x1')).toEqual([1, 2]);
    expect(rx.applied.find((e) => (e.body as { doc?: string }).doc === 'x1')!.body).toEqual({ doc: 'x1', seq: 1, qty: '5.000' });

    // skip: a dead delivery cancelled lets the next one of its document go
    rx.next({ status: 400 });
    await emit('ts.fb.changed', 'x3', { doc: 'x3', seq: 1 });
    await emit('ts.fb.changed', 'x3', { doc: 'x3', seq: 2 });
    const x3 = await waitFor('x3#1 dead', async () => {
      const ds = (await deliveries(flowId)).slice(3);
      return ds.length === 2 && ds[0]!.state === 'dead' ? ds : null;
    });
    const skip = await s.inject({ method: 'POST', url: `/api/v1/integration/deliveries/${x3[0]!.id}/skip`, payload: { reason: 'entered by hand in the ERP' } });
    expect(skip.statusCode, skip.body).toBe(200);
    expect(skip.json().state).toBe('cancelled');
    await waitFor('x3#2 delivered', async () => (await deliveries(flowId))[4]!.state === 'succeeded');
    expect(rx.orderOf('x3')).toEqual([2]);
    const again = await s.inject({ method: 'POST', url: `/api/v1/integration/deliveries/${x3[0]!.id}/skip` });
    expect(again.statusCode).toBe(409);

    const audit = await t.ctx.db.query<{ action: string }>(`select action from audit_log where action like 'integration.delivery.%' order by seq`);
    expect(audit.rows.map((r) => r.action)).toEqual(['integration.delivery.edit_payload', 'integration.delivery.retry', 'integration.delivery.skip']);
  });

  it('gives up after maxAttempts (dead), and bulk retry sends them again', async () => {
    await connector('erp-c');
    const flowId = await flow('fc', 'erp-c', { maxAttempts: 2 });
    rx.next({ status: 500 }, { status: 500 });
    await emit('ts.fc.changed', null, { doc: 'c', seq: 1 });
    const [d] = await waitFor('dead after 2 attempts', allIn(flowId, 'dead', 1));
    expect(d!.attempts).toBe(2);
    const r = await s.inject({ method: 'POST', url: '/api/v1/integration/deliveries/retry', payload: { state: 'dead', flow: 'fc' } });
    expect(r.json()).toEqual({ retried: 1 });
    const [ok] = await waitFor('delivered after bulk retry', allIn(flowId, 'succeeded', 1));
    expect(ok!.attempts).toBe(3);
  });

  it('compensation: a document the destination already holds is marked succeeded; a missing one is re-driven', async () => {
    await connector('erp-d', { lookup: { urlTemplate: `${rx.url}/lookup?key={idempotencyKey}`, externalRef: 'body.id' }, responseMapping: 'body.id' });
    const flowId = await flow('fd', 'erp-d', { maxAttempts: 1 });
    rx.next({ storeThen: 400 }, { status: 400 });
    await emit('ts.fd.changed', 'k1', { doc: 'k1', seq: 1 });
    await emit('ts.fd.changed', 'k2', { doc: 'k2', seq: 1 });
    const ds = await waitFor('both dead', allIn(flowId, 'dead', 2));
    const stored = [...rx.effects.values()].find((e) => (e.body as { doc?: string }).doc === 'k1')!;
    expect(stored).toBeDefined();
    const report = await runCompensation(t.ctx);
    expect(report).toMatchObject({ compensated: 1, redriven: 1 });
    const after = await waitFor('both succeeded', allIn(flowId, 'succeeded', 2));
    expect(after.find((d) => d.id === ds[0]!.id)!.external_ref).toBe(stored.id);
    expect(rx.orderOf('k1')).toEqual([1]);
    expect(rx.orderOf('k2')).toEqual([1]);
    const audit = await t.ctx.db.query<{ action: string }>(`select action from audit_log where action in ('integration.delivery.compensated', 'integration.delivery.redriven') order by action`);
    expect(audit.rows.map((r) => r.action)).toEqual(['integration.delivery.compensated', 'integration.delivery.redriven']);
  });

  it('in-process subscribers get each event exactly once through the same reliable path', async () => {
    await emit('ts.sub.a', 'p', { n: 1 });
    await emit('ts.sub.b', 'p', { n: 2 });
    await emit('ts.subperm.x', null, {});
    await waitFor('subscriber deliveries done', async () => {
      const r = await t.ctx.db.query<{ subscriber: string; state: string }>(`select subscriber, state from integration_deliveries where subscriber is not null order by outbox_id`);
      return r.rows.length === 3 && r.rows[0]!.state === 'succeeded' && r.rows[1]!.state === 'succeeded' && r.rows[2]!.state === 'dead' ? r.rows : null;
    });
    const effects = await t.ctx.db.query('select event_id from test_sub_effects');
    expect(effects.rowCount).toBe(2);
    expect(subEffects).toHaveLength(2);
    const attempts = await t.ctx.db.query<{ n: number }>(`select count(*)::int as n from integration_delivery_attempts where route = 'sub:test.audit_trail'`);
    expect(attempts.rows[0]!.n).toBe(3); // one failure, two successes
  });

  it('keeps deliveries outside their window pending, caps concurrency, and batches when the destination takes batches', async () => {
    await connector('erp-e');
    const hour = Number(new Intl.DateTimeFormat('en-GB', { timeZone: t.ctx.config.timezone, hour: '2-digit', hourCycle: 'h23' }).format(new Date()));
    const hh = (h: number) => `${String(h % 24).padStart(2, '0')}:00`;
    const flowId = await flow('fe', 'erp-e', { window: { start: hh(hour + 2), end: hh(hour + 3) } });
    await emit('ts.fe.changed', 'w', { doc: 'w', seq: 1 });
    await waitFor('relayed', async () => (await deliveries(flowId)).length === 1);
    await sleep(600);
    expect((await deliveries(flowId))[0]!.state).toBe('pending');
    const p = await s.inject({ method: 'PATCH', url: '/api/v1/integration/flows/fe', payload: { window: null } });
    expect(p.statusCode, p.body).toBe(200);
    await waitFor('delivered once the window is lifted', allIn(flowId, 'succeeded', 1));

    // concurrency cap 2 with a slow destination
    await connector('erp-f');
    const f2 = await flow('ff', 'erp-f', { maxConcurrency: 2 });
    rx.delayMs = 60;
    rx.maxInFlight = 0;
    for (let i = 0; i < 10; i++) await emit('ts.ff.changed', null, { i });
    await waitFor('ff delivered', allIn(f2, 'succeeded', 10));
    rx.delayMs = 0;
    expect(rx.maxInFlight).toBeLessThanOrEqual(2);

    // rate limit 20/s, burst 1: ten deliveries cannot take less than ~9 intervals of 50 ms
    await connector('erp-r');
    const fr = await flow('fr', 'erp-r', { ratePerSecond: 20, burst: 1 });
    for (let i = 0; i < 10; i++) await emit('ts.fr.changed', null, { i });
    await waitFor('fr delivered', allIn(fr, 'succeeded', 10));
    const frKeys = new Set((await t.ctx.db.query<{ idempotency_key: string }>('select idempotency_key from integration_deliveries where flow_id = $1', [fr])).rows.map((r) => r.idempotency_key));
    const times = rx.requests.filter((r) => frKeys.has(r.key!)).map((r) => r.at);
    expect(Math.max(...times) - Math.min(...times)).toBeGreaterThanOrEqual(400);

    // batches
    await connector('erp-g', { batchUrl: `${rx.url}/batch`, responseMapping: 'body.id' });
    const f3 = await flow('fg', 'erp-g', { batchSize: 5, maxConcurrency: 1 });
    const batchesBefore = rx.requests.filter((r) => r.path === '/batch').length;
    await t.ctx.db.tx(async (tx) => {
      for (let i = 0; i < 10; i++) await emitEvent(tx, { type: 'ts.fg.changed', source: '/trellis/test', data: { i } });
    });
    const rows = await waitFor('fg delivered', allIn(f3, 'succeeded', 10));
    const batches = rx.requests.filter((r) => r.path === '/batch').slice(batchesBefore);
    expect(batches.length).toBeLessThan(10);
    expect(batches.every((b) => Array.isArray(b.body) && (b.body as unknown[]).length <= 5)).toBe(true);
    expect(rows.every((r) => r.external_ref?.startsWith('ext-'))).toBe(true);
  });

  it('OAuth2 client credentials: one token for many deliveries', async () => {
    await connector('erp-o', { auth: 'oauth2', oauth2: { tokenUrl: `${rx.url}/token`, clientAuth: 'body' } }, { clientId: 'trellis', clientSecret: 's3cret-oauth' });
    const flowId = await flow('fo', 'erp-o');
    rx.requireToken = true;
    const tokensBefore = rx.tokensIssued;
    try {
      for (let i = 0; i < 5; i++) await emit('ts.fo.changed', null, { i });
      await waitFor('fo delivered', allIn(flowId, 'succeeded', 5));
    } finally {
      rx.requireToken = false;
    }
    expect(rx.tokensIssued - tokensBefore).toBe(1);
  });
});
