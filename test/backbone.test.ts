import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestTrellis, type TestTrellis } from './helpers/trellis.ts';
import { migrate } from '../src/server/db/index.ts';
import { allMigrations } from '../src/server/main.ts';

describe('HTTP backbone', () => {
  let t: TestTrellis;
  beforeAll(async () => {
    t = await createTestTrellis();
  });
  afterAll(async () => {
    await t.destroy();
  });

  it('answers /healthz and /readyz', async () => {
    expect((await t.app.inject({ url: '/healthz' })).json()).toEqual({ status: 'ok' });
    const ready = await t.app.inject({ url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json().status).toBe('ready');
  });

  it('reports not ready when a migration is pending', async () => {
    await t.ctx.db.query(`delete from trellis_migrations where id = 'platform.001-initial'`);
    try {
      const r = await t.app.inject({ url: '/readyz' });
      expect(r.statusCode).toBe(503);
      expect(r.json().detail).toContain('platform.001-initial');
    } finally {
      await t.ctx.db.query(`insert into trellis_migrations (id) values ('platform.001-initial')`);
    }
  });

  it('applies each migration once: a second run finds nothing to do', async () => {
    expect(await migrate(t.ctx.db, allMigrations())).toEqual([]);
    const r = await t.ctx.db.query<{ n: number }>('select count(*)::int as n from trellis_migrations');
    expect(r.rows[0]!.n).toBe(allMigrations().length);
  });

  it('answers unknown API paths with a 404 problem+json', async () => {
    const r = await t.app.inject({ url: '/api/v1/does-not-exist' });
    expect(r.statusCode).toBe(404);
    expect(r.headers['content-type']).toContain('application/problem+json');
    expect(r.json()).toMatchObject({ status: 404, title: 'Not found' });
    expect(r.json().requestId).toBe(r.headers['x-request-id']);
  });

  it('keeps a valid caller-supplied request id and replaces an unsafe one', async () => {
    const ok = await t.app.inject({ url: '/healthz', headers: { 'x-request-id': 'abc-123' } });
    expect(ok.headers['x-request-id']).toBe('abc-123');
    const bad = await t.app.inject({ url: '/healthz', headers: { 'x-request-id': 'a b<script>' } });
    expect(bad.headers['x-request-id']).not.toContain('<');
  });

  it('publishes OpenAPI and Prometheus metrics', async () => {
    const spec = (await t.app.inject({ url: '/api/v1/openapi.json' })).json();
    expect(spec.openapi).toBe('3.1.0');
    const metrics = await t.app.inject({ url: '/metrics' });
    expect(metrics.body).toContain('trellis_http_request_duration_seconds');
    const docs = await t.app.inject({ url: '/api/v1/docs/' });
    expect(docs.statusCode).toBe(200);
  });
});
