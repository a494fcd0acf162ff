import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishApp } from '../src/server/modeling/index.ts';
import { DEMO_PASSWORD, systemActor } from '../src/server/platform/index.ts';
import { recordsTestApp } from './helpers/records-app.ts';
import { testTarget } from './helpers/db.ts';
import { createTestTrellis, loginAs, type TestSession, type TestTrellis } from './helpers/trellis.ts';

const DOCS = '/api/v1/apps/rl/entities/doc/records';
const REPORTS = '/api/v1/apps/rl/entities/report/records';
const enc = (v: unknown) => encodeURIComponent(JSON.stringify(v));

describe(`records listing, search and row scope (${testTarget})`, () => {
  let t: TestTrellis;
  let admin: TestSession;
  let wang: TestSession; // operator, machining team 1
  let yang: TestSession; // operator, machining team 2
  let lin: TestSession; // operator, assembly team 1
  let zhao: TestSession; // workshop director, machining (subtree)
  const reportIds: Record<string, string[]> = { wang: [], yang: [], lin: [] };

  beforeAll(async () => {
    t = await createTestTrellis({ seedDemo: true });
    await publishApp(t.ctx, systemActor, recordsTestApp('rl'));
    admin = await loginAs(t);
    const sessions = await Promise.all(['wang.operator', 'yang.operator', 'lin.operator', 'zhao.director'].map((u) => loginAs(t, u, DEMO_PASSWORD)));
    [wang, yang, lin, zhao] = sessions as [TestSession, TestSession, TestSession, TestSession];
    for (let i = 1; i <= 25; i++) {
      const r = await admin.inject({
        method: 'POST',
        url: DOCS,
        payload: { values: { title: i % 5 === 0 ? `齿轮 gear ${i}` : `bolt ${i}`, qty: i, price: `${i}.50`, color: i % 2 ? 'red' : 'green', reason: i % 2 ? 'odd' : null, tags: i % 3 ? ['a'] : ['b'] } },
      });
      expect(r.statusCode, r.body).toBe(201);
    }
    const make = async (s: TestSession, key: string, n: number) => {
      for (let i = 0; i < n; i++) {
        const r = await s.inject({ method: 'POST', url: REPORTS, payload: { values: { title: `${key} report ${i}`, qty: i } } });
        expect(r.statusCode, r.body).toBe(201);
        reportIds[key]!.push(r.json().id);
      }
    };
    await make(wang, 'wang', 3);
    await make(yang, 'yang', 2);
    await make(lin, 'lin', 2);
  }, 180_000); // the demo plant and its catalog apps take a while on a busy machine
  afterAll(async () => {
    await t?.destroy();
  });

  it('filters, sorts and pages with an opaque keyset cursor', async () => {
    const seen: number[] = [];
    let url = `${DOCS}?filter=${enc({ field: 'qty', op: 'gte', value: 10 })}&sort=-qty&limit=5`;
    for (let page = 0; page < 10; page++) {
      const r = await admin.inject(url);
      expect(r.statusCode, r.body).toBe(200);
      const body = r.json();
      seen.push(...body.items.map((i: { values: { qty: number } }) => i.values.qty));
      if (!body.nextCursor) break;
      url = `${DOCS}?filter=${enc({ field: 'qty', op: 'gte', value: 10 })}&sort=-qty&limit=5&after=${encodeURIComponent(body.nextCursor)}`;
    }
    expect(seen).toEqual(Array.from({ length: 16 }, (_, i) => 25 - i));
  });

  it('takes the filter AST in the body of POST …/query, with decimals compared exactly', async () => {
    const r = await admin.inject({
      method: 'POST',
      url: `${DOCS}/query`,
      payload: { filter: { and: [{ field: 'price', op: 'gt', value: '20.5' }, { field: 'color', op: 'eq', value: 'red' }] }, sort: [{ field: 'qty', dir: 'asc' }], fields: ['qty', 'price'] },
    });
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json().items.map((i: { values: Record<string, unknown> }) => i.values)).toEqual([
      { qty: 21, price: '21.50' },
      { qty: 23, price: '23.50' },
      { qty: 25, price: '25.50' },
    ]);
    expect(r.json().nextCursor).toBeNull();
  });

  it('searches the searchable text, Chinese included', async () => {
    const r = await admin.inject(`${DOCS}?q=${encodeURIComponent('齿轮')}&sort=qty`);
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json().items.map((i: { values: { qty: number } }) => i.values.qty)).toEqual([5, 10, 15, 20, 25]);
    const both = await admin.inject(`${DOCS}?q=${encodeURIComponent('GEAR 1')}&sort=qty`);
    expect(both.json().items.map((i: { values: { qty: number } }) => i.values.qty)).toEqual([10, 15]);
    const byName = await admin.inject(`${DOCS}?q=DOC-&limit=1`);
    expect(byName.json().items).toHaveLength(1);
  });

  it('refuses bad list parameters with 400 problems', async () => {
    for (const q of [
      `limit=201`,
      `limit=0`,
      `filter=${encodeURIComponent('{not json')}`,
      `filter=${enc({ field: 'nope', op: 'eq', value: 1 })}`,
      `filter=${enc({ field: 'qty', op: 'regex', value: 1 })}`,
      `sort=nope`,
      `after=garbage`,
      `fields=qty,nope`,
      `unknown=1`,
    ]) {
      const r = await admin.inject(`${DOCS}?${q}`);
      expect(r.statusCode, `${q}: ${r.body}`).toBe(400);
      expect(r.headers['content-type']).toContain('application/problem+json');
    }
  });

  it('treats injection attempts in field names and values as data or refuses them; tables stay intact', async () => {
    const evil = [
      { field: 'qty; drop table x_rl__doc', op: 'eq', value: 1 },
      { field: 'qty"--', op: 'eq', value: 1 },
      { field: 'title', op: 'eq', value: "x'); drop table x_rl__doc; --" },
      { field: 'title', op: 'like', value: "%' or 1=1 --" },
      { field: 'qty', op: 'in', value: ['1) or (1=1'] },
    ];
    const statuses: number[] = [];
    for (const f of evil) {
      const r = await admin.inject(`${DOCS}?filter=${enc(f)}`);
      statuses.push(r.statusCode);
      if (r.statusCode === 200) expect(r.json().items).toEqual([]);
    }
    expect(statuses.slice(0, 2)).toEqual([400, 400]);
    expect(statuses.slice(2, 4)).toEqual([200, 200]);
    expect(statuses[4]).toBe(400);
    for (const s of ['qty desc; drop table x_rl__doc', 'qty"', '-qty,"id']) {
      expect((await admin.inject(`${DOCS}?sort=${encodeURIComponent(s)}`)).statusCode).toBe(400);
    }
    const search = await admin.inject(`${DOCS}?q=${encodeURIComponent("'; drop table x_rl__doc; -- %_\\")}`);
    expect(search.statusCode).toBe(200);
    expect(search.json().items).toEqual([]);
    const bad = await admin.inject({ method: 'POST', url: DOCS, payload: { values: { title: "Robert'); DROP TABLE x_rl__doc;--", "qty; drop": 1 } } });
    expect(bad.statusCode).toBe(400);
    // NUL bytes and other values the database cannot store are 4xx, never 500
    for (const u of [`${DOCS}?filter=${enc({ field: 'title', op: 'eq', value: 'a\u0000b' })}`, `${DOCS}?q=${encodeURIComponent('a\u0000b')}`]) {
      const r = await admin.inject(u);
      expect(r.statusCode, r.body).toBeLessThan(500);
      expect(r.statusCode).not.toBe(200);
    }
    const nul = await admin.inject({ method: 'POST', url: DOCS, payload: { values: { title: 'a\u0000b' } } });
    expect(nul.statusCode).toBe(400);
    const nulJson = await admin.inject({ method: 'POST', url: DOCS, payload: { values: { title: 'ok', file: { id: 'x', name: 'a\u0000b' } } } });
    expect(nulJson.statusCode).toBe(400);
    const count = await t.ctx.db.query<{ n: number }>('select count(*)::int as n from x_rl__doc');
    expect(count.rows[0]!.n).toBe(25);
  });

  it('shows each user only the rows of their scope, and hides hidden fields', async () => {
    const names = async (s: TestSession) => {
      const r = await s.inject(`${REPORTS}?sort=title&limit=50`);
      expect(r.statusCode, r.body).toBe(200);
      return r.json().items as Array<{ id: string; values: Record<string, unknown> }>;
    };
    const w = await names(wang);
    expect(w.map((i) => i.values.title)).toEqual(['wang report 0', 'wang report 1', 'wang report 2']);
    expect(w.every((i) => !('cost' in i.values))).toBe(true);
    expect((await names(yang)).map((i) => i.values.title)).toEqual(['yang report 0', 'yang report 1']);
    const z = await names(zhao);
    expect(z.map((i) => i.values.title).sort()).toEqual(['wang report 0', 'wang report 1', 'wang report 2', 'yang report 0', 'yang report 1']);
    expect('cost' in z[0]!.values).toBe(true);
    expect((await names(admin)).length).toBe(7);
  });

  it('answers 404 (not 403) for a record outside the row scope, on read, update and history', async () => {
    const other = reportIds.yang![0]!;
    expect((await wang.inject(`${REPORTS}/${other}`)).statusCode).toBe(404);
    expect((await wang.inject(`${REPORTS}/${other}/history`)).statusCode).toBe(404);
    expect((await wang.inject({ method: 'PATCH', url: `${REPORTS}/${other}`, headers: { 'if-match': 'W/"1"' }, payload: { values: { qty: 9 } } })).statusCode).toBe(404);
    // operators may not delete reports at all: 403 whatever the record (nothing about it is revealed)
    expect((await wang.inject({ method: 'DELETE', url: `${REPORTS}/${other}` })).statusCode).toBe(403);
    expect((await wang.inject({ method: 'DELETE', url: `${REPORTS}/00000000-0000-4000-8000-000000000000` })).statusCode).toBe(403);
    const own = reportIds.wang![0]!;
    const g = await wang.inject(`${REPORTS}/${own}`);
    expect(g.statusCode).toBe(200);
    expect('cost' in g.json().values).toBe(false);
    // a hidden field cannot be written
    const p = await wang.inject({ method: 'PATCH', url: `${REPORTS}/${own}`, headers: { 'if-match': 'W/"1"' }, payload: { values: { cost: '1.00' } } });
    expect(p.statusCode).toBe(403);
    // the director may read but not write
    const zp = await zhao.inject({ method: 'PATCH', url: `${REPORTS}/${own}`, headers: { 'if-match': 'W/"1"' }, payload: { values: { qty: 9 } } });
    expect(zp.statusCode).toBe(403);
    expect((await zhao.inject(`${REPORTS}/${own}`)).statusCode).toBe(200);
    // no permission at all on the entity for an operator's peer in another department: lists only their own
    expect((await lin.inject(`${REPORTS}/${own}`)).statusCode).toBe(404);
  });

  it('needs the records scopes on API keys', async () => {
    const r = await t.app.inject({ url: DOCS, headers: { authorization: 'Bearer trk_nope_nope' } });
    expect(r.statusCode).toBe(401);
  });
});
