import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishApp } from '../src/server/modeling/index.ts';
import { systemActor, type Actor } from '../src/server/platform/index.ts';
import { readOutbox } from '../src/server/platform/events/index.ts';
import { createRecord, recordHooks, submitRecord, updateRecord } from '../src/server/records/index.ts';
import { AppError } from '../src/server/platform/errors.ts';
import { recordsTestApp } from './helpers/records-app.ts';
import { testTarget } from './helpers/db.ts';
import { createTestTrellis, loginAs, type TestSession, type TestTrellis } from './helpers/trellis.ts';

const BASE = '/api/v1/apps/rt/entities/doc/records';

describe(`records engine (${testTarget})`, () => {
  let t: TestTrellis;
  let admin: TestSession;
  let adminActor: Actor;
  let itemId: string;
  let deptId: string;

  beforeAll(async () => {
    t = await createTestTrellis({ seedDemo: false });
    await publishApp(t.ctx, systemActor, recordsTestApp('rt'));
    admin = await loginAs(t);
    adminActor = { ...systemActor, principal: { ...systemActor.principal, userId: admin.userId, username: 'admin' } };
    const item = await admin.inject({ method: 'POST', url: '/api/v1/apps/rt/entities/item/records', payload: { values: { code: 'IT-1', title: 'Bolt' } } });
    expect(item.statusCode).toBe(201);
    itemId = item.json().id;
    deptId = (await t.ctx.db.query<{ id: string }>(`insert into departments (code, name) values ('rt_dept', '测试部') returning id`)).rows[0]!.id;
  }, 120_000);
  afterAll(async () => {
    await t?.destroy();
  });

  async function counts() {
    const q = async (sql: string) => Number((await t.ctx.db.query<{ n: number | string }>(sql)).rows[0]!.n);
    return {
      docs: await q('select count(*)::int as n from x_rt__doc'),
      lines: await q('select count(*)::int as n from x_rt__doc_line'),
      history: await q('select count(*)::int as n from record_history'),
      outbox: await q('select count(*)::int as n from outbox'),
      audit: await q('select count(*)::int as n from audit_log'),
      counters: await q('select coalesce(sum(last), 0)::int as n from naming_counters'),
    };
  }

  const create = (values: Record<string, unknown>) => admin.inject({ method: 'POST', url: BASE, payload: { values } });

  it('round-trips every field type exactly (decimals as strings)', async () => {
    const values = {
      title: '齿轮箱 ECN',
      notes: 'line one\nline two — 中文',
      qty: 42,
      price: '19999.99',
      big: '12345678901234567890.12',
      ratio: '12.5',
      due: '2026-02-28',
      happened_at: '2026-03-01T08:30:00.000Z',
      dur: 3600,
      ok: true,
      color: 'green',
      tags: ['a', 'c'],
      assignee: admin.userId,
      dept: deptId,
      item: itemId,
      material: 'MAT-0001',
      file: [{ id: 'f1', name: 'drawing.pdf', size: 1234 }],
      photo: { url: '/files/p.jpg', name: 'p.jpg' },
      sign: { by: 'admin', png: 'data:image/png;base64,AAAA' },
      geo: { lat: 31.2304, lng: 121.4737, accuracy: 5 },
      qr: 'EQ-0001',
      code: 'AB12',
      reason: null,
      lines: [
        { part: 'P-1', qty: 3, unit_price: '2.50' },
        { part: 'P-2', qty: 1, unit_price: '10.00' },
      ],
    };
    const c = await create(values);
    expect(c.statusCode, c.body).toBe(201);
    const created = c.json();
    expect(c.headers.location).toBe(`${BASE}/${created.id}`);
    expect(c.headers.etag).toBe('W/"1"');
    const g = await admin.inject(`${BASE}/${created.id}`);
    expect(g.statusCode).toBe(200);
    const rec = g.json();
    expect(g.headers.etag).toBe('W/"1"');
    const { lines, ...scalar } = values;
    for (const [k, v] of Object.entries(scalar)) expect(rec.values[k], k).toEqual(v);
    expect(rec.values.lines.map(({ id: _id, ...rest }: Record<string, unknown>) => rest)).toEqual(
      lines.map((l) => ({ ...l, amount: (Number(l.unit_price) * l.qty).toFixed(2) })),
    );
    expect(rec.values.total).toBe('17.50');
    expect(rec.values.serial).toMatch(/^SN-\d{5}$/);
    expect(rec.name).toMatch(/^DOC-\d{4}-\d{4}$/);
    expect(rec).toMatchObject({ status: 'draft', version: 1, created_by: admin.userId, amended_from: null });
    expect(created.values).toEqual(rec.values);
    // GET with the current ETag: 304
    const again = await admin.inject({ url: `${BASE}/${created.id}`, headers: { 'if-none-match': 'W/"1"' } });
    expect(again.statusCode).toBe(304);
  });

  it('normalises decimals to their scale and refuses floats for them', async () => {
    const ok = await create({ title: 'dec', price: '7', big: '0003.1', ratio: '-0.0' });
    expect(ok.statusCode, ok.body).toBe(201);
    expect(ok.json().values).toMatchObject({ price: '7.00', big: '3.10', ratio: '0.0' });
    const bad = await create({ title: 'dec', price: 12.5, big: '1.234', ratio: '1e5', qty: 1.5 });
    expect(bad.statusCode).toBe(400);
    const errs = bad.json().errors as Array<{ path: string; message: string }>;
    expect(errs.find((e) => e.path === 'values.price')?.message).toMatch(/strings/);
    expect(errs.find((e) => e.path === 'values.big')?.message).toMatch(/at most 2 digits/);
    expect(errs.find((e) => e.path === 'values.ratio')?.message).toMatch(/not a decimal/);
    expect(errs.find((e) => e.path === 'values.qty')?.message).toMatch(/whole number/);
  });

  it('refuses bad values with every problem named and writes nothing', async () => {
    const before = await counts();
    const r = await create({
      title: 'x'.repeat(51),
      qty: -1,
      due: '2026-02-30',
      happened_at: '2026-03-01 08:30',
      ok: 'yes',
      color: 'blue',
      tags: ['a', 'z'],
      assignee: '00000000-0000-4000-8000-000000000001',
      dept: 'not-a-uuid',
      geo: { lat: 91, lng: 0 },
      code: 'lower1',
      lines: [{ qty: 0 }],
      bogus: 1,
      also_bogus: 2,
      status: 'submitted',
      total: '1.00',
    });
    expect(r.statusCode).toBe(400);
    expect(r.headers['content-type']).toContain('application/problem+json');
    const body = r.json();
    expect(body.type).toMatch(/validation-failed/);
    const paths = (body.errors as Array<{ path: string }>).map((e) => e.path).sort();
    expect(paths).toEqual(
      [
        'values.title',
        'values.qty',
        'values.due',
        'values.happened_at',
        'values.ok',
        'values.color',
        'values.tags',
        'values.dept',
        'values.geo',
        'values.code',
        'values.lines.0.part',
        'values.lines.0.qty',
        'values.bogus',
        'values.also_bogus',
        'values.status',
        'values.total',
      ].sort(),
    );
    expect(body.errors.find((e: { path: string }) => e.path === 'values.bogus').message).toMatch(/unknown field/);
    expect(body.errors.find((e: { path: string }) => e.path === 'values.status').message).toMatch(/system field/);
    expect(await counts()).toEqual(before);
  });

  it('checks that referenced users, departments and linked records exist (400 naming the field)', async () => {
    const before = await counts();
    const r = await create({ title: 'refs', assignee: '00000000-0000-4000-8000-000000000001', item: '00000000-0000-4000-8000-000000000002' });
    expect(r.statusCode).toBe(400);
    expect(r.json().errors.map((e: { path: string }) => e.path).sort()).toEqual(['values.assignee', 'values.item']);
    expect(await counts()).toEqual(before);
  });

  it('applies required and required-if rules', async () => {
    const r1 = await create({ color: 'red' });
    expect(r1.statusCode).toBe(400);
    expect(r1.json().errors.map((e: { path: string }) => e.path).sort()).toEqual(['values.reason', 'values.title']);
    const r2 = await create({ title: 'red one', color: 'red', reason: 'because' });
    expect(r2.statusCode).toBe(201);
  });

  it('answers a unique violation with 409 naming the field, and writes nothing', async () => {
    expect((await create({ title: 'u1', code: 'UQ1' })).statusCode).toBe(201);
    const before = await counts();
    const r = await create({ title: 'u2', code: 'UQ1' });
    expect(r.statusCode).toBe(409);
    expect(r.json()).toMatchObject({ field: 'code', errors: [{ path: 'values.code' }] });
    expect(await counts()).toEqual(before);
  });

  it('uses optimistic concurrency: If-Match / version, 428 without, 409 with both versions when stale', async () => {
    const id = (await create({ title: 'v1', qty: 1 })).json().id;
    const noVersion = await admin.inject({ method: 'PATCH', url: `${BASE}/${id}`, payload: { values: { qty: 2 } } });
    expect(noVersion.statusCode).toBe(428);
    const p1 = await admin.inject({ method: 'PATCH', url: `${BASE}/${id}`, headers: { 'if-match': 'W/"1"' }, payload: { values: { qty: 2 } } });
    expect(p1.statusCode, p1.body).toBe(200);
    expect(p1.headers.etag).toBe('W/"2"');
    expect(p1.json()).toMatchObject({ version: 2, values: { qty: 2 } });
    const p2 = await admin.inject({ method: 'PATCH', url: `${BASE}/${id}`, payload: { version: 2, values: { qty: 3, title: 'v3' } } });
    expect(p2.json().version).toBe(3);
    const before = await counts();
    const stale = await admin.inject({ method: 'PATCH', url: `${BASE}/${id}`, headers: { 'if-match': 'W/"2"' }, payload: { values: { qty: 99 } } });
    expect(stale.statusCode).toBe(409);
    expect(stale.json()).toMatchObject({ currentVersion: 3, yourVersion: 2, current: { id, version: 3, values: { qty: 3, title: 'v3' } }, yours: { qty: 99 } });
    expect(await counts()).toEqual(before);
    const mismatch = await admin.inject({ method: 'PATCH', url: `${BASE}/${id}`, headers: { 'if-match': 'W/"3"' }, payload: { version: 2, values: { qty: 4 } } });
    expect(mismatch.statusCode).toBe(400);
    // a no-op update keeps the version
    const same = await admin.inject({ method: 'PATCH', url: `${BASE}/${id}`, headers: { 'if-match': 'W/"3"' }, payload: { values: { qty: 3 } } });
    expect(same.json().version).toBe(3);
  });

  it('records field-level history with who, when and from where', async () => {
    const id = (await create({ title: 'hist', qty: 1, tags: ['a'] })).json().id;
    await admin.inject({ method: 'PATCH', url: `${BASE}/${id}`, headers: { 'if-match': 'W/"1"', 'user-agent': 'trellis-test/1' }, payload: { values: { qty: 5, tags: ['a', 'b'], notes: 'n' } } });
    await admin.inject({ method: 'POST', url: `${BASE}/${id}/submit` });
    const h = await admin.inject(`${BASE}/${id}/history`);
    expect(h.statusCode).toBe(200);
    const items = h.json().items;
    expect(items.map((i: { action: string; version: number }) => [i.action, i.version])).toEqual([
      ['submit', 3],
      ['update', 2],
      ['create', 1],
    ]);
    expect(items[1]).toMatchObject({ changed_by: admin.userId, changed_by_name: expect.any(String), user_agent: 'trellis-test/1', ip: expect.any(String) });
    expect(items[1].changes).toEqual(
      expect.arrayContaining([
        { field: 'qty', before: 1, after: 5 },
        { field: 'tags', before: ['a'], after: ['a', 'b'] },
        { field: 'notes', before: null, after: 'n' },
      ]),
    );
    expect(items[1].changes).toHaveLength(3);
    expect(items[0].changes).toEqual([{ field: 'status', before: 'draft', after: 'submitted' }]);
  });

  it('enforces draft → submitted → cancelled and amends into a linked draft copy', async () => {
    const c = (await create({ title: 'ecn', qty: 1, lines: [{ part: 'A', qty: 1, unit_price: '1.00' }] })).json();
    const sub = await admin.inject({ method: 'POST', url: `${BASE}/${c.id}/submit`, headers: { 'if-match': 'W/"1"' } });
    expect(sub.statusCode, sub.body).toBe(200);
    expect(sub.json()).toMatchObject({ status: 'submitted', version: 2, submitted_at: expect.any(String) });
    const edit = await admin.inject({ method: 'PATCH', url: `${BASE}/${c.id}`, headers: { 'if-match': 'W/"2"' }, payload: { values: { qty: 2 } } });
    expect(edit.statusCode).toBe(409);
    expect((await admin.inject({ method: 'DELETE', url: `${BASE}/${c.id}` })).statusCode).toBe(409);
    expect((await admin.inject({ method: 'POST', url: `${BASE}/${c.id}/submit` })).statusCode).toBe(409);
    expect((await admin.inject({ method: 'POST', url: `${BASE}/${c.id}/amend` })).statusCode).toBe(409);
    const can = await admin.inject({ method: 'POST', url: `${BASE}/${c.id}/cancel` });
    expect(can.json()).toMatchObject({ status: 'cancelled', version: 3, cancelled_at: expect.any(String) });
    const am = await admin.inject({ method: 'POST', url: `${BASE}/${c.id}/amend` });
    expect(am.statusCode, am.body).toBe(201);
    const a1 = am.json();
    expect(a1).toMatchObject({ name: `${c.name}-1`, status: 'draft', version: 1, amended_from: c.id, values: { title: 'ecn', qty: 1, total: '1.00' } });
    expect(a1.values.lines).toHaveLength(1);
    expect(a1.values.lines[0].id).not.toBe(c.values.lines[0].id);
    expect(a1.values.serial).not.toBe(c.values.serial);
    expect((await admin.inject({ method: 'POST', url: `${BASE}/${c.id}/amend` })).statusCode).toBe(409); // already amended
    await admin.inject({ method: 'POST', url: `${BASE}/${a1.id}/submit` });
    await admin.inject({ method: 'POST', url: `${BASE}/${a1.id}/cancel` });
    const a2 = (await admin.inject({ method: 'POST', url: `${BASE}/${a1.id}/amend` })).json();
    expect(a2).toMatchObject({ name: `${c.name}-2`, amended_from: a1.id });
    // drafts can be deleted; the history stays
    const del = await admin.inject({ method: 'DELETE', url: `${BASE}/${a2.id}`, headers: { 'if-match': 'W/"1"' } });
    expect(del.statusCode).toBe(204);
    expect((await admin.inject(`${BASE}/${a2.id}`)).statusCode).toBe(404);
    const h = (await admin.inject(`${BASE}/${a2.id}/history`)).json();
    expect(h.items.map((i: { action: string }) => i.action)).toEqual(['delete', 'amend']);
  });

  it('saves child rows with their parent and replaces them as a set', async () => {
    const c = (await create({ title: 'lines', lines: [{ part: 'A', qty: 1, unit_price: '1.00' }, { part: 'B', qty: 2, unit_price: '2.00' }] })).json();
    const [a, b] = c.values.lines;
    const up = await admin.inject({
      method: 'PATCH',
      url: `${BASE}/${c.id}`,
      headers: { 'if-match': 'W/"1"' },
      payload: { values: { lines: [{ id: b.id, part: 'B2', qty: 3, unit_price: '2.00' }, { part: 'C', qty: 1, unit_price: '0.50' }] } },
    });
    expect(up.statusCode, up.body).toBe(200);
    const lines = up.json().values.lines;
    expect(lines.map((l: { part: string }) => l.part)).toEqual(['B2', 'C']);
    expect(lines[0].id).toBe(b.id);
    expect(up.json().values.total).toBe('6.50');
    const stored = await t.ctx.db.query(`select id, part, idx from x_rt__doc_line where parent_id = $1 order by idx`, [c.id]);
    expect(stored.rows.map((r) => [r.part, r.idx])).toEqual([
      ['B2', 0],
      ['C', 1],
    ]);
    expect(stored.rows.some((r) => r.id === a.id)).toBe(false);
    // a row id from another record is refused, nothing changes
    const other = (await create({ title: 'other', lines: [{ part: 'X' }] })).json();
    const steal = await admin.inject({ method: 'PATCH', url: `${BASE}/${c.id}`, headers: { 'if-match': 'W/"2"' }, payload: { values: { lines: [{ id: other.values.lines[0].id, part: 'Y' }] } } });
    expect(steal.statusCode).toBe(400);
    expect((await admin.inject(`${BASE}/${c.id}`)).json().values.lines).toHaveLength(2);
    // untouched children survive a parent-only update
    const p = await admin.inject({ method: 'PATCH', url: `${BASE}/${c.id}`, headers: { 'if-match': 'W/"2"' }, payload: { values: { title: 'lines2' } } });
    expect(p.json().values.lines).toHaveLength(2);
  });

  it('computes formulas; a failing formula leaves its field null with a warning and never blocks the save', async () => {
    // An empty unit price makes an empty amount (no error), and a sum over no amounts is empty too.
    const r = await create({ title: 'formula', notes: '12.345', lines: [{ part: 'A', qty: 2 }] });
    expect(r.statusCode, r.body).toBe(201);
    expect(r.json().values).toMatchObject({ total: null, notes_num: '12.35' });
    expect(r.json().values.lines[0].amount).toBeNull();
    expect(r.json().warnings).toBeUndefined();
    // $number("not a number") throws inside JSONata
    const p = await admin.inject({ method: 'PATCH', url: `${BASE}/${r.json().id}`, headers: { 'if-match': 'W/"1"' }, payload: { values: { notes: 'abc' } } });
    expect(p.statusCode, p.body).toBe(200);
    expect(p.json().values.notes_num).toBeNull();
    expect(p.json().warnings).toEqual([{ path: 'values.notes_num', message: expect.stringMatching(/formula failed/) }]);
    expect((await admin.inject(`${BASE}/${r.json().id}`)).json().values).toMatchObject({ notes: 'abc', notes_num: null });
  });

  it('numbers documents gap-free under concurrent creates; failed creates consume nothing', async () => {
    const app = recordsTestApp('rtn');
    await publishApp(t.ctx, systemActor, app);
    const N = 50;
    const results = await Promise.allSettled(
      Array.from({ length: N + 5 }, (_, i) =>
        createRecord(t.ctx, adminActor, 'rtn', 'doc', i % 11 === 5 ? { title: 'bad', qty: -5 } : { title: `c${i}` }),
      ),
    );
    const ok = results.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<{ name: string }>).value.name);
    expect(results.filter((r) => r.status === 'rejected')).toHaveLength(5);
    expect(ok).toHaveLength(N);
    const numbers = ok.map((n) => Number(n.split('-').at(-1))).sort((a, b) => a - b);
    expect(numbers).toEqual(Array.from({ length: N }, (_, i) => i + 1));
    const next = await createRecord(t.ctx, adminActor, 'rtn', 'doc', { title: 'next' });
    expect(Number(next.name!.split('-').at(-1))).toBe(N + 1);
  });

  it('writes one outbox event and one audit entry per action, in the same transaction', async () => {
    const start = Number((await t.ctx.db.query('select coalesce(max(id), 0)::int as m from outbox')).rows[0]!.m);
    const auditStart = Number((await t.ctx.db.query('select coalesce(max(seq), 0)::int as m from audit_log')).rows[0]!.m);
    const c = (await create({ title: 'events' })).json();
    await admin.inject({ method: 'PATCH', url: `${BASE}/${c.id}`, headers: { 'if-match': 'W/"1"' }, payload: { values: { qty: 7 } } });
    await admin.inject({ method: 'POST', url: `${BASE}/${c.id}/submit` });
    await admin.inject({ method: 'POST', url: `${BASE}/${c.id}/cancel` });
    const am = (await admin.inject({ method: 'POST', url: `${BASE}/${c.id}/amend` })).json();
    await admin.inject({ method: 'DELETE', url: `${BASE}/${am.id}` });
    const events = await readOutbox(t.ctx.db, start, 100);
    expect(events.map((e) => e.type)).toEqual([
      'trellis.record.created',
      'trellis.record.updated',
      'trellis.record.submitted',
      'trellis.record.cancelled',
      'trellis.record.amended',
      'trellis.record.deleted',
    ]);
    expect(events[1]).toMatchObject({ source: '/trellis/apps/rt/doc', subject: c.id, partition_key: c.id });
    expect(events[1]!.data).toMatchObject({ app: 'rt', entity: 'doc', id: c.id, version: 2, actor: admin.userId, changed: ['qty'], record: { values: { qty: 7 } } });
    const audit = await t.ctx.db.query<{ action: string; target_id: string }>('select action, target_id from audit_log where seq > $1 order by seq', [auditStart]);
    expect(audit.rows.map((a) => a.action)).toEqual(['record.create', 'record.update', 'record.submit', 'record.cancel', 'record.amend', 'record.delete']);
    expect(audit.rows[0]!.target_id).toBe(c.id);
  });

  it('a plain numbered create (one statement: counter, row, trail) writes a trail that matches the record as it reads back', async () => {
    await publishApp(t.ctx, systemActor, {
      name: 'rtp',
      label: { zh: '简单单据' },
      entities: [
        {
          name: 'slip',
          label: { zh: '单' },
          namingSeries: 'SL-{YYYY}-{###}',
          fields: [
            { name: 'title', type: 'text', label: { zh: '标题' }, required: true },
            { name: 'qty', type: 'integer', label: { zh: '数量' } },
            { name: 'cost', type: 'money', label: { zh: '金额' } },
            { name: 'at', type: 'datetime', label: { zh: '时间' } },
            { name: 'total', type: 'formula', label: { zh: '合计' }, formula: 'qty * cost', resultType: 'decimal', scale: 2 },
          ],
          permissions: [{ role: '*', actions: ['read', 'create'] }],
        },
      ],
    });
    const start = Number((await t.ctx.db.query('select coalesce(max(id), 0)::int as m from outbox')).rows[0]!.m);
    const a = await createRecord(t.ctx, adminActor, 'rtp', 'slip', { title: '焊接 weld', qty: 3, cost: '7.5', at: '2026-03-01T08:30:00+08:00' });
    const b = await createRecord(t.ctx, adminActor, 'rtp', 'slip', { title: 'second' });
    // the same columns as a: the create's statement text is reused, the names still filled in
    const c = await createRecord(t.ctx, adminActor, 'rtp', 'slip', { title: 'third', qty: 1, cost: '2', at: '2026-03-02T08:30:00+08:00' });
    expect(a.name).toMatch(/^SL-\d{4}-001$/);
    expect(b.name).toMatch(/^SL-\d{4}-002$/);
    expect(c.name).toMatch(/^SL-\d{4}-003$/);
    const read = await admin.inject(`/api/v1/apps/rtp/entities/slip/records/${a.id}`);
    const asRead = read.json();
    expect(asRead).toMatchObject({ name: a.name, values: { qty: 3, cost: '7.50', total: '22.50', at: '2026-03-01T00:30:00.000Z' } });
    const events = (await readOutbox(t.ctx.db, start, 10)).filter((e) => e.type === 'trellis.record.created');
    expect(events.map((e) => (e.data as { name: string }).name)).toEqual([a.name, b.name, c.name]);
    expect((events[2]!.data as { record: { name: string } }).record.name).toBe(c.name);
    const auditC = await t.ctx.db.query<{ detail: { name: string } }>(`select detail from audit_log where action = 'record.create' and target_id = $1`, [c.id]);
    expect(auditC.rows[0]!.detail.name).toBe(c.name);
    expect((events[0]!.data as { record: unknown }).record).toEqual(asRead);
    const row = await t.ctx.db.query<{ search_text: string }>('select search_text from x_rtp__slip where id = $1', [a.id]);
    expect(row.rows[0]!.search_text).toBe(`${a.name} 焊接 weld`);
    const audit = await t.ctx.db.query<{ detail: { name: string } }>(`select detail from audit_log where action = 'record.create' and target_id = $1`, [a.id]);
    expect(audit.rows[0]!.detail.name).toBe(a.name);
    const history = await t.ctx.db.query<{ changes: Array<{ field: string }> }>(`select changes from record_history where record_id = $1`, [a.id]);
    expect(history.rows[0]!.changes.map((c) => c.field)).toEqual(['title', 'qty', 'cost', 'at', 'total']);
  });

  it('creates keep working across a publish that adds a field (the create statement may be prepared)', async () => {
    const def = (fields: unknown[]) => ({
      name: 'rtq',
      label: { zh: '预备' },
      entities: [{ name: 'note', label: { zh: '便签' }, fields, permissions: [{ role: '*', actions: ['read', 'create'] }] }],
    });
    const title = { name: 'title', type: 'text', label: { zh: '标题' }, required: true };
    await publishApp(t.ctx, systemActor, def([title]) as never);
    for (let i = 0; i < 5; i++) expect((await createRecord(t.ctx, adminActor, 'rtq', 'note', { title: `before ${i}` })).values).toEqual({ title: `before ${i}` });
    await publishApp(t.ctx, systemActor, def([title, { name: 'qty', type: 'integer', label: { zh: '数量' } }]) as never);
    for (let i = 0; i < 5; i++) {
      expect((await createRecord(t.ctx, adminActor, 'rtq', 'note', { title: `after ${i}` })).values).toEqual({ title: `after ${i}`, qty: null });
    }
    expect((await createRecord(t.ctx, adminActor, 'rtq', 'note', { title: 'with qty', qty: 4 })).values).toEqual({ title: 'with qty', qty: 4 });
    const n = await t.ctx.db.query<{ n: number }>('select count(*)::int as n from x_rtq__note');
    expect(n.rows[0]!.n).toBe(11);
  });

  it('rolls back the whole action when a hook fails: no status change, history, event or audit', async () => {
    const c = await createRecord(t.ctx, adminActor, 'rt', 'doc', { title: 'hooked' });
    const off = recordHooks.onAfterSubmit(async () => {
      throw new AppError(422, 'refused', 'Refused', 'the approval tree says no');
    });
    const before = await counts();
    try {
      await expect(submitRecord(t.ctx, adminActor, 'rt', 'doc', c.id)).rejects.toThrow('the approval tree says no');
    } finally {
      off();
    }
    expect(await counts()).toEqual(before);
    const r = await admin.inject(`${BASE}/${c.id}`);
    expect(r.json()).toMatchObject({ status: 'draft', version: 1 });
    // an intercepting before-submit hook (an approval tree) keeps the draft and answers 202
    const off2 = recordHooks.onBeforeSubmit(async (tx, e) => {
      await tx.query('select 1');
      return { intercept: { approval: 'started', record: e.record.id } };
    });
    try {
      const s = await admin.inject({ method: 'POST', url: `${BASE}/${c.id}/submit` });
      expect(s.statusCode).toBe(202);
      expect(s.json()).toMatchObject({ status: 'draft', intercepted: { approval: 'started', record: c.id } });
    } finally {
      off2();
    }
    // the workflow engine finishes it later, skipping the hooks
    const done = await submitRecord(t.ctx, adminActor, 'rt', 'doc', c.id, { skipHooks: true });
    expect(done.record.status).toBe('submitted');
    // and may still change a submitted document through the service
    const up = await updateRecord(t.ctx, adminActor, 'rt', 'doc', c.id, { notes: 'by workflow' }, { expectedVersion: 2, allowSubmitted: true });
    expect(up.values.notes).toBe('by workflow');
  });

  it('answers unknown apps, entities, ids and child entities with 404 problems', async () => {
    expect((await admin.inject('/api/v1/apps/nope/entities/doc/records')).statusCode).toBe(404);
    expect((await admin.inject('/api/v1/apps/rt/entities/nope/records')).statusCode).toBe(404);
    expect((await admin.inject('/api/v1/apps/rt/entities/doc_line/records')).statusCode).toBe(404);
    expect((await admin.inject(`${BASE}/not-a-uuid`)).statusCode).toBe(404);
    expect((await admin.inject(`${BASE}/00000000-0000-4000-8000-000000000009`)).statusCode).toBe(404);
    const bad = await admin.inject({ method: 'POST', url: BASE, payload: { values: {}, extra: 1 } });
    expect(bad.statusCode).toBe(400);
    const notObj = await admin.inject({ method: 'POST', url: BASE, payload: { values: [1] } });
    expect(notObj.statusCode).toBe(400);
    expect((await t.app.inject(BASE)).statusCode).toBe(401);
  });
});
