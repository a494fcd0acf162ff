import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishApp, validateApp } from '../src/server/modeling/index.ts';
import { DEMO_PASSWORD, systemActor } from '../src/server/platform/index.ts';
import type { AppDef } from '../src/shared/definition.ts';
import { dashboardsTestApp } from './dashboards-app.ts';
import { testTarget } from './helpers/db.ts';
import { createTestTrellis, loginAs, type TestSession, type TestTrellis } from './helpers/trellis.ts';

const BASE = '/api/v1/apps/dsh/dashboards';
const data = (w: string, q = '') => `${BASE}/board/widgets/${w}/data${q}`;
const enc = (v: unknown) => encodeURIComponent(JSON.stringify(v));
const H = 3600_000;

interface Row {
  keys: Array<string | null>;
  labels: Array<{ zh: string; en?: string } | null>;
  values: Record<string, string | null>;
  cumulativePercent?: string | null;
}

describe(`dashboards (${testTarget})`, () => {
  let t: TestTrellis;
  let admin: TestSession;
  let wang: TestSession; // operator, machining team 1 (own department)
  let zhao: TestSession; // workshop director, machining (subtree)
  let lin: TestSession; // operator, assembly team 1
  const dept: Record<string, string> = {};

  const get = async (s: TestSession, url: string) => {
    const r = await s.inject(url);
    expect(r.statusCode, r.body).toBe(200);
    return r.json() as { rows: Row[]; truncated: boolean; groups: unknown[]; measures: unknown[] };
  };
  const pairs = (rows: Row[], m = 'm1') => rows.map((r) => [...r.keys, r.values[m]]);

  beforeAll(async () => {
    t = await createTestTrellis({ seedDemo: true });
    await publishApp(t.ctx, systemActor, dashboardsTestApp());
    admin = await loginAs(t);
    [wang, zhao, lin] = (await Promise.all(['wang.operator', 'zhao.director', 'lin.operator'].map((u) => loginAs(t, u, DEMO_PASSWORD)))) as [TestSession, TestSession, TestSession];
    for (const r of (await t.ctx.db.query<{ id: string; code: string }>('select id, code from departments')).rows) dept[r.code] = r.id;
    const m = await t.ctx.db.query<{ id: string }>(`insert into "x_dsh__machine" (name, label) values ('MC-1', '车床 A'), ('MC-2', '铣床 B') returning id`);
    const [mA, mB] = m.rows.map((r) => r.id);
    // Six tickets; times in UTC. Plant time is UTC+8, so some fall on another local day/week/month.
    const at = (iso: string) => new Date(iso);
    const plus = (d: Date, h: number | null) => (h === null ? null : new Date(d.getTime() + h * H));
    const rows: Array<[string, string, string, string, string, string | null, number | null, string, string, number | null, number | null, string | null]> = [
      // line, severity, cause, owner dept, reporter, machine, downtime, cost, occurred (UTC), contained +h, closed +h, due
      ['l1', 'minor', 'machine', 'machining_t1', wang.userId, mA!, 10, '10.10', '2026-03-02T01:00:00Z', 2, 5, '2026-03-31'],
      ['l1', 'major', 'machine', 'machining_t1', wang.userId, mA!, 20, '20.20', '2026-03-02T17:00:00Z', 1, null, '2026-04-01'],
      ['l2', 'major', 'material', 'machining_t2', zhao.userId, mB!, 30, '0.05', '2026-03-08T15:30:00Z', 3, 10, null],
      ['l2', 'urgent', 'machine', 'machining_t2', zhao.userId, null, null, '5.00', '2026-03-08T16:30:00Z', null, null, null],
      ['l3', 'minor', 'method', 'assembly_t1', lin.userId, null, 40, '1.11', '2026-03-10T02:00:00Z', 0.5, 1.5, null],
      ['l1', 'urgent', 'machine', 'assembly_t1', lin.userId, null, 5, '2.22', '2026-03-31T20:00:00Z', 4, 6, null],
    ];
    for (const [line, severity, cause, d, reporter, machine, downtime, cost, occurred, contained, closed, due] of rows) {
      const o = at(occurred);
      await t.ctx.db.query(
        `insert into "x_dsh__ticket" (status, owner_department_id, line, severity, cause, team, reporter, machine, downtime, cost, occurred_at, contained_at, closed_at, due)
         values ('submitted', $1, $2, $3, $4, $1, $5, $6, $7, $8, $9, $10, $11, $12)`,
        [dept[d], line, severity, cause, reporter, machine, downtime, cost, o, plus(o, contained), plus(o, closed), due],
      );
    }
  }, 240_000);
  afterAll(async () => {
    await t?.destroy();
  });

  it('kpi: count, count with a measure filter, exact money sum', async () => {
    expect((await get(admin, data('total'))).rows).toEqual([{ keys: [], labels: [], values: { m1: '6' } }]);
    expect((await get(admin, data('open'))).rows[0]!.values).toEqual({ m1: '2' });
    expect((await get(admin, data('cost_total'))).rows[0]!.values).toEqual({ m1: '38.68' });
    const d = await get(admin, data('downtime'));
    expect(d.rows[0]!.values).toEqual({ sum: '105', avg: '21.00', min: '5', max: '40' });
  });

  it('bar, stacked bar and pie group by select fields with their labels', async () => {
    const bar = await get(admin, data('by_line'));
    expect(pairs(bar.rows)).toEqual([['l1', '3'], ['l2', '2'], ['l3', '1']]);
    expect(bar.rows[0]!.labels).toEqual([{ zh: 'l1中', en: 'L1' }]);
    const stacked = await get(admin, data('line_severity'));
    expect(pairs(stacked.rows)).toEqual([
      ['l1', 'major', '1'],
      ['l1', 'minor', '1'],
      ['l1', 'urgent', '1'],
      ['l2', 'major', '1'],
      ['l2', 'urgent', '1'],
      ['l3', 'minor', '1'],
    ]);
    const pie = await get(admin, data('causes_pie'));
    expect(pairs(pie.rows)).toEqual([['machine', '4'], ['material', '1'], ['method', '1']]);
    const status = await get(admin, data('by_status'));
    expect(status.rows).toEqual([{ keys: ['submitted'], labels: [{ zh: '已提交', en: 'Submitted' }], values: { m1: '6' } }]);
  });

  it('line: day, week (Monday) and month buckets in the plant time zone, not UTC', async () => {
    expect(pairs((await get(admin, data('per_day'))).rows)).toEqual([
      ['2026-03-02', '1'],
      ['2026-03-03', '1'], // 17:00 UTC on the 2nd is 01:00 on the 3rd in Shanghai
      ['2026-03-08', '1'],
      ['2026-03-09', '1'], // 16:30 UTC Sunday is Monday 00:30 in Shanghai
      ['2026-03-10', '1'],
      ['2026-04-01', '1'],
    ]);
    expect(pairs((await get(admin, data('per_week'))).rows)).toEqual([['2026-03-02', '3'], ['2026-03-09', '2'], ['2026-03-30', '1']]);
    expect(pairs((await get(admin, data('per_month'))).rows)).toEqual([['2026-03-01', '5'], ['2026-04-01', '1']]);
    expect(pairs((await get(admin, data('weekly_by_line'))).rows)).toEqual([
      ['2026-03-02', 'l1', '2'],
      ['2026-03-02', 'l2', '1'],
      ['2026-03-09', 'l2', '1'],
      ['2026-03-09', 'l3', '1'],
      ['2026-03-30', 'l1', '1'],
    ]);
    // date fields bucket without a time zone; empty dates form their own group
    expect(pairs((await get(admin, data('due_month'))).rows)).toEqual([['2026-03-01', '1'], ['2026-04-01', '1'], [null, '4']]);
  });

  it('pareto: sorted by value with the cumulative percentage over all groups', async () => {
    const p = await get(admin, data('causes'));
    expect(p.rows.map((r) => [r.keys[0], r.values.m1, r.cumulativePercent])).toEqual([
      ['machine', '4', '66.67'],
      ['material', '1', '83.33'],
      ['method', '1', '100.00'],
    ]);
  });

  it('duration between two datetime fields: average hours per stage and overall, sum in minutes', async () => {
    const h = await get(admin, data('handling'));
    // contain: 2, 1, 3, 0.5, 4 h → 2.10; close: 3, 7, 1, 2 h → 3.25; overall: 5, 10, 1.5, 6 h → 5.625 → 5.63
    expect(h.rows[0]!.values).toEqual({ contain: '2.10', close: '3.25', overall: '5.63', overall_min_sum: '1350' });
  });

  it('table, user, department and link groups carry display labels', async () => {
    const team = await get(admin, data('by_team'));
    expect(team.rows.map((r) => [r.labels[0]?.zh, r.values.n, r.values.cost]).sort()).toEqual([
      ['机加一班', '2', '30.30'],
      ['机加二班', '2', '5.05'],
      ['装配一班', '2', '3.33'],
    ]);
    const rep = await get(admin, data('by_reporter'));
    expect(rep.rows.map((r) => [r.labels[0]?.zh, r.values.m1]).sort()).toEqual([['林峰', '2'], ['王强', '2'], ['赵刚', '2']]);
    const mach = await get(admin, data('by_machine'));
    expect(mach.rows.map((r) => [r.labels[0]?.zh ?? null, r.values.m1])).toEqual([[null, '3'], ['车床 A', '2'], ['铣床 B', '1']]);
    const top = await get(admin, data('top1'));
    expect(pairs(top.rows)).toEqual([['l1', '3']]);
    expect(top.truncated).toBe(true);
  });

  it("honours the reader's row scope in SQL: an operator counts only their department", async () => {
    expect((await get(wang, data('total'))).rows[0]!.values.m1).toBe('2');
    expect(pairs((await get(wang, data('by_line'))).rows)).toEqual([['l1', '2']]);
    expect(pairs((await get(wang, data('by_dept'))).rows)).toEqual([[dept.machining_t1, '2']]);
    expect((await get(lin, data('total'))).rows[0]!.values.m1).toBe('2');
    expect(pairs((await get(lin, data('causes'))).rows)).toEqual([['machine', '1'], ['method', '1']]);
    // the director sees the machining subtree (teams 1 and 2)
    expect((await get(zhao, data('total'))).rows[0]!.values.m1).toBe('4');
    expect(pairs((await get(zhao, data('per_week'))).rows)).toEqual([['2026-03-02', '3'], ['2026-03-09', '1']]);
  });

  it('refuses widgets over hidden fields and dashboards for other roles', async () => {
    const list = await wang.inject(BASE);
    expect(list.statusCode, list.body).toBe(200);
    const boards = list.json().dashboards as Array<{ name: string; widgets: Array<{ id: string; available: boolean; reason?: string }> }>;
    expect(boards.map((b) => b.name)).toEqual(['board']);
    const cost = boards[0]!.widgets.find((w) => w.id === 'cost_total')!;
    expect(cost.available).toBe(false);
    expect(cost.reason).toContain('"cost"');
    expect(boards[0]!.widgets.find((w) => w.id === 'total')!.available).toBe(true);
    const r = await wang.inject(data('cost_total'));
    expect(r.statusCode).toBe(403);
    expect(r.headers['content-type']).toContain('application/problem+json');
    expect((await wang.inject(`${BASE}/directors/widgets/total/data`)).statusCode).toBe(403);
    const z = await zhao.inject(BASE);
    expect((z.json().dashboards as Array<{ name: string }>).map((b) => b.name)).toEqual(['board', 'directors']);
    expect((await zhao.inject(`${BASE}/directors/widgets/total/data`)).json().rows[0].values.m1).toBe('4');
  });

  it('narrows by an extra filter and a date range in plant days', async () => {
    const f = await get(admin, data('by_line', `?filter=${enc({ field: 'severity', op: 'in', value: ['major', 'urgent'] })}`));
    expect(pairs(f.rows)).toEqual([['l1', '2'], ['l2', '2']]);
    // 2026-03-03..2026-03-09 Shanghai days: tickets 2, 3 and 4
    expect((await get(admin, data('total', '?from=2026-03-03&to=2026-03-09'))).rows[0]!.values.m1).toBe('3');
    expect(pairs((await get(admin, data('per_day', '?from=2026-03-03&to=2026-03-09'))).rows)).toEqual([['2026-03-03', '1'], ['2026-03-08', '1'], ['2026-03-09', '1']]);
    // a widget without a time group narrows on created_at by default: the rows were inserted now, not in 2020
    expect((await get(admin, data('by_line', '?from=2020-01-01&to=2020-12-31'))).rows).toEqual([]);
  });

  it('refuses bad parameters, unknown widgets and injection attempts with 4xx problems', async () => {
    const bad = [
      data('by_line', `?filter=${enc({ field: 'line"; drop table users; --', op: 'eq', value: 'x' })}`),
      data('by_line', `?filter=${enc({ field: 'cost', op: 'gt', value: 1 })}`),
      data('by_line', '?filter=not-json'),
      data('by_line', '?from=2026-13-45'),
      data('by_line', '?from=03/01/2026'),
      data('by_line', '?from=2026-03-09&to=2026-03-01'),
      data('by_line', '?group=line'),
    ];
    for (const url of bad) {
      const s = url.includes('cost') ? wang : admin;
      const r = await s.inject(url);
      expect(r.statusCode, url).toBe(400);
      expect(r.headers['content-type']).toContain('application/problem+json');
    }
    expect((await admin.inject(`${BASE}/board/widgets/nope/data`)).statusCode).toBe(404);
    expect((await admin.inject(`${BASE}/nope/widgets/total/data`)).statusCode).toBe(404);
    expect((await admin.inject('/api/v1/apps/nope/dashboards')).statusCode).toBe(404);
    expect((await admin.inject(`${BASE}/board/widgets/${encodeURIComponent('x;drop')}/data`)).statusCode).toBe(400);
    // the users table is still there
    expect((await t.ctx.db.query('select count(*)::int as n from users')).rows[0]).toMatchObject({ n: expect.any(Number) });
  });
});

describe('dashboard definitions are validated with exact paths', () => {
  const withBoard = (widgets: unknown[], extra: Record<string, unknown> = {}): unknown => {
    const app = dashboardsTestApp() as AppDef & { dashboards: unknown[] };
    return { ...app, dashboards: [{ name: 'b', title: { zh: '看板' }, widgets, ...extra }] };
  };
  const problems = (def: unknown) => {
    const v = validateApp(def);
    expect(v.ok).toBe(false);
    return v.ok ? [] : v.errors;
  };
  const w = (o: Record<string, unknown>) => ({ id: 'w1', kind: 'bar', title: { zh: '图' }, entity: 'ticket', measure: { op: 'count' }, ...o });

  it('accepts the test app', () => {
    const v = validateApp(dashboardsTestApp());
    expect(v.ok ? [] : v.errors).toEqual([]);
  });

  it.each([
    [{ measure: { op: 'sum', field: 'nope' } }, 'dashboards.b.widgets.w1.measure.field', /not a field of "ticket"/],
    [{ measure: { op: 'avg', field: 'line' } }, 'dashboards.b.widgets.w1.measure.field', /not a number field/],
    [{ measure: { op: 'sum' } }, 'dashboards.b.widgets.w1.measure.field', /needs a number field/],
    [{ groupBy: [{ field: 'line"; drop table users; --' }] }, 'dashboards.b.widgets.w1.groupBy.0.field', /lower-case letters/],
    [{ groupBy: [{ field: 'Line' }] }, 'dashboards.b.widgets.w1.groupBy.0.field', /lower-case letters/],
    [{ groupBy: [{ field: 'search_text' }] }, 'dashboards.b.widgets.w1.groupBy.0.field', /not a field/],
    [{ groupBy: [{ field: 'note' }] }, 'dashboards.b.widgets.w1.groupBy.0.field', /cannot group by/],
    [{ groupBy: [{ field: 'occurred_at' }] }, 'dashboards.b.widgets.w1.groupBy.0.bucket', /give a bucket/],
    [{ groupBy: [{ field: 'line', bucket: 'week' }] }, 'dashboards.b.widgets.w1.groupBy.0.bucket', /only date and datetime/],
    [{ groupBy: [{ field: 'occurred_at', bucket: 'hour' }] }, 'dashboards.b.widgets.w1.groupBy.0.bucket', /day, week, month/],
    [{ measure: undefined, measures: [{ id: 'h', op: 'duration', from: 'line', to: 'closed_at' }] }, 'dashboards.b.widgets.w1.measures.h.from', /not a datetime/],
    [{ measure: { op: 'duration', from: 'occurred_at' } }, 'dashboards.b.widgets.w1.measure.to', /needs "to"/],
    [{ measure: { op: 'count', field: 'line' } }, 'dashboards.b.widgets.w1.measure.field', /only for sum\/avg\/min\/max/],
    [{ kind: 'pie', groupBy: [{ field: 'line' }, { field: 'severity' }] }, 'dashboards.b.widgets.w1.groupBy', /exactly one field/],
    [{ kind: 'kpi', groupBy: [{ field: 'line' }] }, 'dashboards.b.widgets.w1.groupBy', /one number/],
    [{ kind: 'line', groupBy: [{ field: 'line' }] }, 'dashboards.b.widgets.w1.groupBy', /date or datetime/],
    [{ kind: 'gauge' }, 'dashboards.b.widgets.w1.kind', /kpi, bar/],
    [{ entity: 'nope' }, 'dashboards.b.widgets.w1.entity', /not an entity/],
    [{ filter: { field: 'nope', op: 'eq', value: 1 } }, 'dashboards.b.widgets.w1.filter', /nope/],
    [{ filter: { field: 'downtime', op: 'like', value: 'x' } }, 'dashboards.b.widgets.w1.filter', /like/],
    [{ measure: { op: 'count', filter: { field: 'downtime', op: 'gt', value: 'many' } } }, 'dashboards.b.widgets.w1.measure.filter', /number|integer/],
    [{ measure: undefined }, 'dashboards.b.widgets.w1.measure', /needs a measure/],
    [{ dateField: 'line' }, 'dashboards.b.widgets.w1.dateField', /not a date/],
    [{ colour: 'red' }, 'dashboards.b.widgets.w1.colour', /unknown property/],
  ])('refuses %j', (patch, path, message) => {
    const errs = problems(withBoard([w(patch)]));
    const hit = errs.find((e) => e.path.startsWith(path));
    expect(hit, JSON.stringify(errs)).toBeDefined();
    expect(hit!.message).toMatch(message);
  });

  it('refuses duplicate widget ids and dashboard names, and bad role codes', () => {
    const errs = problems(withBoard([w({}), w({})]));
    expect(errs).toContainEqual({ path: 'dashboards.b.widgets.w1.id', message: expect.stringMatching(/more than once/) });
    const roles = problems(withBoard([w({})], { roles: ['Plant Manager'] }));
    expect(roles[0]!.path).toBe('dashboards.b.roles.0');
    const app = dashboardsTestApp() as AppDef & { dashboards: unknown[] };
    const twice = problems({ ...app, dashboards: [app.dashboards[0], app.dashboards[0]] });
    expect(twice).toContainEqual({ path: 'dashboards.board.name', message: expect.stringMatching(/more than once/) });
  });
});
