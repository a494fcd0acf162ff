// The files engine and saved views through the HTTP API, on PGlite and (TRELLIS_TEST_PG) PostgreSQL:
// upload → download round trip with SHA-256, refusals of bad input, auth, audit, and a record
// field pointing at an uploaded file.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishApp } from '../src/server/modeling/index.ts';
import { DEMO_PASSWORD, systemActor } from '../src/server/platform/index.ts';
import type { AppDef } from '../src/shared/definition.ts';
import { testTarget } from './helpers/db.ts';
import { createTestTrellis, loginAs, type TestSession, type TestTrellis } from './helpers/trellis.ts';

// The smallest valid PNG: 1×1 transparent pixel.
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=', 'base64');

const app: AppDef = {
  name: 'ft',
  label: { zh: '文件测试', en: 'Files test' },
  entities: [
    {
      name: 'report',
      label: { zh: '检验报告' },
      fields: [
        { name: 'title', type: 'text', label: { zh: '标题' } },
        { name: 'photos', type: 'image', label: { zh: '照片' } },
        { name: 'sign', type: 'signature', label: { zh: '签名' } },
      ],
      permissions: [{ role: '*', actions: ['read', 'create', 'write'] }],
    },
  ],
};

describe(`files (${testTarget})`, () => {
  let t: TestTrellis;
  let admin: TestSession;
  let op: TestSession;

  beforeAll(async () => {
    t = await createTestTrellis({ seedDemo: true });
    await publishApp(t.ctx, systemActor, app);
    admin = await loginAs(t);
    op = await loginAs(t, 'wang.operator', DEMO_PASSWORD);
  });
  afterAll(async () => {
    await t?.destroy();
  });

  const upload = (s: TestSession, body: Buffer | string, type: string, name?: string) =>
    s.inject({ method: 'POST', url: `/api/v1/files${name ? `?name=${encodeURIComponent(name)}` : ''}`, headers: { 'content-type': type }, payload: body });

  it('stores an upload with its SHA-256 and uploader, serves the same bytes back, audits it', async () => {
    const r = await upload(op, PNG, 'image/png', '现场照片.png');
    expect(r.statusCode, r.body).toBe(201);
    const meta = r.json() as { id: string; name: string; size: number; sha256: string; contentType: string; createdBy: string };
    expect(meta).toMatchObject({ name: '现场照片.png', size: PNG.length, contentType: 'image/png', createdBy: op.userId });
    expect(meta.sha256).toBe(createHash('sha256').update(PNG).digest('hex'));
    expect(r.headers.location).toBe(`/api/v1/files/${meta.id}`);

    const d = await admin.inject(`/api/v1/files/${meta.id}`);
    expect(d.statusCode).toBe(200);
    expect(d.headers['content-type']).toBe('image/png');
    expect(d.headers['x-content-type-options']).toBe('nosniff');
    expect(String(d.headers['content-disposition'])).toContain(`filename*=UTF-8''${encodeURIComponent('现场照片.png')}`);
    expect(Buffer.compare(d.rawPayload, PNG)).toBe(0);

    const again = await admin.inject({ url: `/api/v1/files/${meta.id}`, headers: { 'if-none-match': `"${meta.sha256}"` } });
    expect(again.statusCode).toBe(304);

    const m = await admin.inject(`/api/v1/files/${meta.id}/meta`);
    expect(m.json()).toMatchObject({ id: meta.id, createdByName: expect.any(String), sha256: meta.sha256 });

    const audit = await t.ctx.db.query<{ action: string; actor_id: string }>(`select action, actor_id from audit_log where target_type = 'file' and target_id = $1`, [meta.id]);
    expect(audit.rows).toEqual([{ action: 'file.upload', actor_id: op.userId }]);
  });

  it('non-images download as attachments, path parts are stripped from names', async () => {
    const r = await upload(op, 'a,b\n1,2\n', 'text/csv; charset=utf-8', '../../etc/清单.csv');
    expect(r.statusCode, r.body).toBe(201);
    expect(r.json().name).toBe('清单.csv');
    const d = await op.inject(`/api/v1/files/${r.json().id as string}`);
    expect(String(d.headers['content-disposition'])).toMatch(/^attachment;/);
    expect(d.body).toBe('a,b\n1,2\n');
  });

  it('refuses bad uploads with 4xx problem+json and writes nothing', async () => {
    const before = Number((await t.ctx.db.query<{ n: number }>('select count(*)::int as n from files')).rows[0]!.n);
    const html = await upload(op, '<script>alert(1)</script>', 'text/html', 'x.html');
    expect(html.statusCode).toBe(415);
    expect(html.headers['content-type']).toContain('application/problem+json');
    expect(html.json().detail).toContain('image/png');

    const fakePng = await upload(op, '<html>not a picture</html>', 'image/png', 'fake.png');
    expect(fakePng.statusCode).toBe(400);
    expect(fakePng.json().detail).toContain('does not look like image/png');

    const empty = await upload(op, Buffer.alloc(0), 'image/png');
    expect(empty.statusCode).toBe(400);

    const big = await upload(op, Buffer.concat([PNG, Buffer.alloc(10 * 1024 * 1024)]), 'image/png');
    expect(big.statusCode).toBe(413);

    const noType = await op.inject({ method: 'POST', url: '/api/v1/files', payload: PNG });
    expect(noType.statusCode).toBeGreaterThanOrEqual(400);
    expect(noType.statusCode).toBeLessThan(500);

    const after = Number((await t.ctx.db.query<{ n: number }>('select count(*)::int as n from files')).rows[0]!.n);
    expect(after).toBe(before);
  });

  it('needs a session (and the CSRF token) to upload or download; unknown ids are 404', async () => {
    const ok = await upload(op, PNG, 'image/png');
    const id = ok.json().id as string;
    expect((await t.app.inject(`/api/v1/files/${id}`)).statusCode).toBe(401);
    expect((await t.app.inject({ method: 'POST', url: '/api/v1/files', headers: { 'content-type': 'image/png' }, payload: PNG })).statusCode).toBe(401);
    const noCsrf = await t.app.inject({ method: 'POST', url: '/api/v1/files', cookies: op.cookies, headers: { 'content-type': 'image/png' }, payload: PNG });
    expect(noCsrf.statusCode).toBe(403);
    expect((await op.inject('/api/v1/files/00000000-0000-4000-8000-000000000000')).statusCode).toBe(404);
    expect((await op.inject('/api/v1/files/not-an-id')).statusCode).toBe(404);
  });

  it('a record keeps references to uploaded files', async () => {
    const photo = (await upload(op, PNG, 'image/png', 'p.png')).json() as { id: string; name: string; size: number; contentType: string };
    const sign = (await upload(op, PNG, 'image/png', 'signature.png')).json() as { id: string };
    const ref = { id: photo.id, name: photo.name, size: photo.size, contentType: photo.contentType };
    const c = await op.inject({ method: 'POST', url: '/api/v1/apps/ft/entities/report/records', payload: { values: { title: '首件', photos: [ref], sign: { id: sign.id, name: 'signature.png' } } } });
    expect(c.statusCode, c.body).toBe(201);
    const rec = await op.inject(`/api/v1/apps/ft/entities/report/records/${c.json().id as string}`);
    expect(rec.json().values.photos).toEqual([ref]);
    const d = await op.inject(`/api/v1/files/${(rec.json().values.photos as Array<{ id: string }>)[0]!.id}`);
    expect(Buffer.compare(d.rawPayload, PNG)).toBe(0);
  });
});

describe(`saved views (${testTarget})`, () => {
  let t: TestTrellis;
  let a: TestSession;
  let b: TestSession;
  beforeAll(async () => {
    t = await createTestTrellis({ seedDemo: true });
    a = await loginAs(t, 'wang.operator', DEMO_PASSWORD);
    b = await loginAs(t, 'yang.operator', DEMO_PASSWORD);
  });
  afterAll(async () => {
    await t?.destroy();
  });

  it('saves, replaces by name, lists only my own, deletes', async () => {
    const config = { filter: { field: 'status', op: 'eq', value: 'draft' }, sort: [{ field: 'created_at', dir: 'desc' }], columns: ['name', 'status'], q: '齿轮' };
    const put = await a.inject({ method: 'PUT', url: '/api/v1/views', payload: { app: 'quality', entity: 'ncr', name: '我的草稿', config } });
    expect(put.statusCode, put.body).toBe(200);
    const again = await a.inject({ method: 'PUT', url: '/api/v1/views', payload: { app: 'quality', entity: 'ncr', name: '我的草稿', config: { ...config, q: '轴承' } } });
    expect(again.json().id).toBe(put.json().id);
    const mine = await a.inject('/api/v1/views?app=quality&entity=ncr');
    expect(mine.json().items).toHaveLength(1);
    expect(mine.json().items[0].config.q).toBe('轴承');
    expect((await b.inject('/api/v1/views?app=quality&entity=ncr')).json().items).toEqual([]);
    expect((await b.inject({ method: 'DELETE', url: `/api/v1/views/${put.json().id as string}` })).statusCode).toBe(404);
    expect((await a.inject({ method: 'DELETE', url: `/api/v1/views/${put.json().id as string}` })).statusCode).toBe(204);
    expect((await a.inject('/api/v1/views?app=quality&entity=ncr')).json().items).toEqual([]);
  });

  it('refuses a malformed view with the path of the problem', async () => {
    const bad = await a.inject({ method: 'PUT', url: '/api/v1/views', payload: { app: 'quality', entity: 'ncr', name: 'x', config: { filter: { field: 'a', op: 'nope' } } } });
    expect(bad.statusCode).toBe(400);
    expect(JSON.stringify(bad.json().errors)).toContain('filter');
    const noName = await a.inject({ method: 'PUT', url: '/api/v1/views', payload: { app: 'quality', entity: 'ncr', name: ' ', config: {} } });
    expect(noName.statusCode).toBe(400);
  });
});
