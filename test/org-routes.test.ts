// The organisation API: who may read and write, what comes back, and that bad input is a 4xx
// with nothing written, including for random bodies (fast-check).
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestTrellis, loginAs, type TestSession, type TestTrellis } from './helpers/trellis.ts';
import { DEMO_PASSWORD } from '../src/server/platform/org/index.ts';

let t: TestTrellis;
let admin: TestSession;
let itAdmin: TestSession;
let operator: TestSession;
const dept = new Map<string, string>();
const user = new Map<string, string>();
const D = (code: string) => dept.get(code)!;
const U = (username: string) => user.get(username)!;

/** Row counts of everything an org write can touch, plus the audit trail. */
async function snapshot(): Promise<Record<string, number>> {
  const r = await t.ctx.db.query<Record<string, number>>(
    `select (select count(*)::int from departments) as departments, (select count(*)::int from department_closure) as closure,
            (select count(*)::int from users) as users, (select count(*)::int from user_departments) as memberships,
            (select count(*)::int from roles) as roles, (select count(*)::int from user_roles) as grants,
            (select count(*)::int from positions) as positions, (select count(*)::int from audit_log) as audit,
            (select count(*)::int from users where active) as active,
            (select md5(string_agg(id::text || code || name || coalesce(parent_id::text, '') || coalesce(head_user_id::text, '') || sort, ',' order by id)) from departments)::text as dept_hash`,
  );
  return r.rows[0]!;
}

beforeAll(async () => {
  t = await createTestTrellis({ seedDemo: true });
  for (const d of (await t.ctx.db.query<{ id: string; code: string }>('select id, code from departments')).rows) dept.set(d.code, d.id);
  for (const u of (await t.ctx.db.query<{ id: string; username: string }>('select id, username from users')).rows) user.set(u.username, u.id);
  admin = await loginAs(t);
  itAdmin = await loginAs(t, 'zheng.it', DEMO_PASSWORD);
  operator = await loginAs(t, 'wang.operator', DEMO_PASSWORD);
});
afterAll(async () => {
  await t?.destroy();
});

describe('access', () => {
  it('needs a signed-in person to read and admin or it_admin to write', async () => {
    const anon = await t.app.inject({ url: '/api/v1/org/departments' });
    expect(anon.statusCode).toBe(401);
    expect(anon.headers['content-type']).toContain('application/problem+json');
    expect((await operator.inject('/api/v1/org/departments')).statusCode).toBe(200);
    expect((await operator.inject('/api/v1/org/users?q=wang')).statusCode).toBe(200);
    const before = await snapshot();
    const denied = await operator.inject({ method: 'POST', url: '/api/v1/org/departments', payload: { code: 'rogue', name: '私设部门' } });
    expect(denied.statusCode).toBe(403);
    expect(denied.json().detail).toContain('it_admin');
    expect(await snapshot()).toEqual(before);
    const ok = await itAdmin.inject({ method: 'POST', url: '/api/v1/org/departments', payload: { code: 'paint', name: '涂装车间', parentId: D('production') } });
    expect(ok.statusCode).toBe(201);
    dept.set('paint', ok.json().id);
  });

  it('lets only an administrator grant the admin role', async () => {
    const r = await itAdmin.inject({ method: 'POST', url: '/api/v1/org/roles/admin/members', payload: { userIds: [U('zheng.it')] } });
    expect(r.statusCode).toBe(403);
    const ok = await admin.inject({ method: 'POST', url: '/api/v1/org/roles/auditor/members', payload: { userIds: [U('xie.it')] } });
    expect(ok.json()).toEqual({ added: ['xie.it'] });
  });
});

describe('departments', () => {
  it('returns the nested tree with heads', async () => {
    const r = await operator.inject('/api/v1/org/departments');
    const body = r.json();
    expect(body.company.name).toBe('华东精机零部件有限公司');
    expect(body.items.map((d: { code: string }) => d.code)).toEqual(['plant']);
    const plant = body.items[0];
    expect(plant.head.username).toBe('chen.plant');
    const production = plant.children.find((c: { code: string }) => c.code === 'production');
    const machining = production.children.find((c: { code: string }) => c.code === 'machining');
    expect(machining.head.username).toBe('zhao.director');
    expect(machining.children.map((c: { code: string }) => c.code)).toEqual(['machining_t1', 'machining_t2']);
    expect(machining.children[0]).toMatchObject({ memberCount: 3, head: { username: 'li.teamlead' } });
  });

  it('renames, moves and deletes through the API, refusing a cycle', async () => {
    const moved = await itAdmin.inject({ method: 'PATCH', url: `/api/v1/org/departments/${D('paint')}`, payload: { parentId: D('assembly'), nameEn: 'Paint shop' } });
    expect(moved.statusCode).toBe(200);
    expect(moved.json()).toMatchObject({ parentId: D('assembly'), nameEn: 'Paint shop' });
    const before = await snapshot();
    const cycle = await itAdmin.inject({ method: 'PATCH', url: `/api/v1/org/departments/${D('production')}`, payload: { parentId: D('paint') } });
    expect(cycle.statusCode).toBe(422);
    expect(cycle.json().errors[0].path).toBe('body.parentId');
    const busy = await itAdmin.inject({ method: 'DELETE', url: `/api/v1/org/departments/${D('assembly')}` });
    expect(busy.statusCode).toBe(409);
    expect(await snapshot()).toEqual(before);
    const del = await itAdmin.inject({ method: 'DELETE', url: `/api/v1/org/departments/${D('paint')}` });
    expect(del.statusCode).toBe(204);
    expect((await itAdmin.inject(`/api/v1/org/departments/${D('paint')}`)).statusCode).toBe(404);
  });
});

describe('people', () => {
  it('lists with search, department subtree, role filter and paging', async () => {
    const machining = (await operator.inject(`/api/v1/org/users?departmentId=${D('machining')}&limit=100`)).json();
    expect(machining.items.map((u: { username: string }) => u.username)).toEqual([
      'li.teamlead',
      'ma.teamlead',
      'wang.operator',
      'yang.operator',
      'zhang.operator',
      'zhao.director',
      'zhu.operator',
    ]);
    const only = (await operator.inject(`/api/v1/org/users?departmentId=${D('machining')}&includeSubdepartments=false`)).json();
    expect(only.items.map((u: { username: string }) => u.username)).toEqual(['zhao.director']);
    const search = (await operator.inject(`/api/v1/org/users?q=${encodeURIComponent('王')}`)).json();
    expect(search.items.map((u: { username: string }) => u.username)).toEqual(['wang.operator']);
    expect((await operator.inject('/api/v1/org/users?q=QIANG')).json().total).toBe(1);
    const ops = (await operator.inject('/api/v1/org/users?role=operator&limit=3&offset=3')).json();
    expect(ops).toMatchObject({ total: 7, limit: 3, offset: 3 });
    expect(ops.items).toHaveLength(3);
    const page = (await operator.inject('/api/v1/org/users?limit=5')).json();
    expect(page.total).toBeGreaterThanOrEqual(31);
    expect(page.items[0].username).toBe('admin');
  });

  it('creates, updates, deactivates and reactivates a person; the new person can sign in', async () => {
    const created = await itAdmin.inject({
      method: 'POST',
      url: '/api/v1/org/users',
      payload: {
        username: 'fang.operator',
        displayName: '方亮',
        displayNameEn: 'Fang Liang',
        password: 'Shop-Floor-2026',
        departmentIds: [D('machining_t2')],
        managerId: U('ma.teamlead'),
        roles: ['operator'],
        title: '数控车工',
      },
    });
    expect(created.statusCode).toBe(201);
    const u = created.json();
    expect(u).toMatchObject({ username: 'fang.operator', hasPassword: true, roles: ['employee', 'operator'], manager: { username: 'ma.teamlead' } });
    expect(JSON.stringify(u)).not.toContain('Shop-Floor');
    const fang = await loginAs(t, 'fang.operator', 'Shop-Floor-2026');
    expect((await fang.inject('/api/v1/org/departments')).statusCode).toBe(200);

    const chain = await operator.inject(`/api/v1/org/users/${u.id}/manager-chain`);
    expect(chain.json().items.map((m: { username: string }) => m.username)).toEqual(['ma.teamlead', 'zhao.director', 'chen.plant']);

    const upd = await itAdmin.inject({ method: 'PATCH', url: `/api/v1/org/users/${u.id}`, payload: { title: '加工中心操作工', phone: '+86 138-0000-0000' } });
    expect(upd.statusCode).toBe(200);
    expect(upd.json()).toMatchObject({ title: '加工中心操作工', phone: '+86 138-0000-0000' });

    const off = await itAdmin.inject({ method: 'POST', url: `/api/v1/org/users/${u.id}/deactivate` });
    expect(off.json().active).toBe(false);
    // Their session stops working at once.
    expect((await fang.inject('/api/v1/org/departments')).statusCode).toBe(401);
    const on = await itAdmin.inject({ method: 'POST', url: `/api/v1/org/users/${u.id}/reactivate` });
    expect(on.json().active).toBe(true);

    const audit = await t.ctx.db.query<{ action: string }>(`select action from audit_log where target_type = 'user' and target_id = $1 order by seq`, [u.id]);
    expect(audit.rows.map((r) => r.action)).toEqual(['org.user.create', 'auth.login', 'org.user.update', 'org.user.deactivate', 'org.user.reactivate']);
    const secrets = await t.ctx.db.query(`select 1 from audit_log where detail::text like '%Shop-Floor%'`);
    expect(secrets.rows.length).toBe(0);
  });

  it('refuses bad input with a 4xx and writes nothing', async () => {
    const before = await snapshot();
    const cases: Array<[string, string, unknown, number]> = [
      ['POST', '/api/v1/org/users', { username: 'x', displayName: '短' }, 400],
      ['POST', '/api/v1/org/users', { username: 'ok.name', displayName: '名', departmentIds: [] }, 400],
      ['POST', '/api/v1/org/users', { username: 'ok.name', displayName: '名', departmentIds: [D('it')], password: 'weak' }, 400],
      ['POST', '/api/v1/org/users', { username: 'ok.name', displayName: '名', departmentIds: [D('it')], extra: 1 }, 400],
      ['POST', '/api/v1/org/users', { username: 'ok.name', displayName: '名', departmentIds: [D('it')], managerId: '3b241101-e2bb-4255-8caf-4136c566a962' }, 422],
      ['POST', '/api/v1/org/users', { username: 'wang.operator', displayName: '重名', departmentIds: [D('it')] }, 409],
      ['POST', '/api/v1/org/users', { username: 'ok.name', displayName: 'a\u0000b', departmentIds: [D('it')] }, 400],
      ['PATCH', `/api/v1/org/users/${U('chen.plant')}`, { managerId: U('wang.operator') }, 422],
      ['PATCH', `/api/v1/org/users/${U('chen.plant')}`, {}, 400],
      ['PATCH', '/api/v1/org/users/not-a-uuid', { title: 'x' }, 400],
      ['PATCH', '/api/v1/org/users/3b241101-e2bb-4255-8caf-4136c566a962', { title: 'x' }, 404],
      ['POST', '/api/v1/org/departments', { code: 'quality', name: '重复' }, 409],
      ['POST', '/api/v1/org/departments', { code: 'ok_code', name: 'x', sort: 1e12 }, 400],
      ['POST', '/api/v1/org/departments', { code: 'ok_code', name: 'x', headUserId: U('system') }, 422],
      ['PATCH', `/api/v1/org/departments/${D('plant')}`, { parentId: D('it') }, 422],
      ['POST', '/api/v1/org/roles', { code: 'admin', name: '又一个' }, 409],
      ['DELETE', '/api/v1/org/roles/employee', undefined, 409],
      ['POST', '/api/v1/org/roles/no_such_role/members', { userIds: [U('wang.operator')] }, 404],
      ['POST', '/api/v1/org/roles/operator/members', { userIds: ['3b241101-e2bb-4255-8caf-4136c566a962'] }, 422],
      ['DELETE', `/api/v1/org/roles/employee/members/${U('wang.operator')}`, undefined, 409],
      ['POST', '/api/v1/org/positions', { code: 'operator', name: '重复' }, 409],
      ['POST', '/api/v1/org/positions', { code: 'boss', name: '老板', level: -1 }, 400],
      ['DELETE', `/api/v1/org/positions/${(await t.ctx.db.query<{ id: string }>(`select id from positions where code = 'operator'`)).rows[0]!.id}`, undefined, 409],
      ['POST', `/api/v1/org/users/${U('admin')}/deactivate`, undefined, 409],
    ];
    for (const [method, url, payload, status] of cases) {
      const r = await admin.inject({ method: method as 'POST', url, ...(payload === undefined ? {} : { payload: payload as object }) });
      expect({ method, url, payload, status: r.statusCode }).toEqual({ method, url, payload, status });
      expect(r.headers['content-type']).toContain('application/problem+json');
      expect(typeof r.json().detail).toBe('string');
    }
    expect(await snapshot()).toEqual(before);
  });
});

describe('roles and positions', () => {
  it('creates, assigns, lists and deletes a role', async () => {
    const c = await itAdmin.inject({ method: 'POST', url: '/api/v1/org/roles', payload: { code: 'safety_officer', name: '安全员', nameEn: 'Safety officer' } });
    expect(c.statusCode).toBe(201);
    expect(c.json()).toMatchObject({ code: 'safety_officer', builtin: false, memberCount: 0 });
    const a = await itAdmin.inject({ method: 'POST', url: '/api/v1/org/roles/safety_officer/members', payload: { userIds: [U('deng.equipment'), U('he.equipment')] } });
    expect(a.json().added).toEqual(['deng.equipment', 'he.equipment']);
    const m = await operator.inject('/api/v1/org/roles/safety_officer/members');
    expect(m.json().items.map((u: { username: string }) => u.username)).toEqual(['deng.equipment', 'he.equipment']);
    const un = await itAdmin.inject({ method: 'DELETE', url: `/api/v1/org/roles/safety_officer/members/${U('he.equipment')}` });
    expect(un.json()).toEqual({ removed: true });
    const list = (await operator.inject('/api/v1/org/roles')).json().items;
    expect(list.find((r: { code: string }) => r.code === 'safety_officer').memberCount).toBe(1);
    const builtin = list.filter((r: { builtin: boolean }) => r.builtin).map((r: { code: string }) => r.code);
    expect(builtin).toEqual(expect.arrayContaining(['admin', 'auditor', 'employee', 'it_admin']));
    expect(builtin).not.toContain('operator');
    expect((await itAdmin.inject({ method: 'PATCH', url: '/api/v1/org/roles/safety_officer', payload: { description: 'EHS' } })).json().description).toBe('EHS');
    expect((await itAdmin.inject({ method: 'DELETE', url: '/api/v1/org/roles/safety_officer' })).statusCode).toBe(204);
  });

  it('manages positions', async () => {
    const list = (await operator.inject('/api/v1/org/positions')).json().items;
    expect(list[0].level).toBe(9);
    const c = await itAdmin.inject({ method: 'POST', url: '/api/v1/org/positions', payload: { code: 'intern', name: '实习生', level: 0 } });
    expect(c.statusCode).toBe(201);
    const p = await itAdmin.inject({ method: 'PATCH', url: `/api/v1/org/positions/${c.json().id}`, payload: { nameEn: 'Intern' } });
    expect(p.json()).toMatchObject({ code: 'intern', nameEn: 'Intern', userCount: 0 });
    expect((await itAdmin.inject({ method: 'DELETE', url: `/api/v1/org/positions/${c.json().id}` })).statusCode).toBe(204);
  });
});

describe('random input never breaks the server', () => {
  const anyJson = fc.jsonValue({ maxDepth: 3 });
  const text = fc.string({ unit: 'binary', maxLength: 120 });
  const maybe = <T,>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
  const idLike = fc.oneof(fc.uuid(), text, fc.constant(''), fc.constant(null));
  // Bodies shaped like the real ones, with wrong, odd or missing values, plus arbitrary JSON.
  const departmentBody = fc.oneof(
    fc.record({ code: maybe(fc.oneof(text, fc.stringMatching(/^[a-z][a-z0-9_]{0,70}$/))), name: maybe(text), nameEn: maybe(fc.oneof(text, fc.constant(null))), parentId: maybe(idLike), headUserId: maybe(idLike), sort: maybe(fc.oneof(fc.integer(), fc.double(), text)) }, { requiredKeys: [] }),
    anyJson,
  );
  const userBody = fc.oneof(
    fc.record(
      {
        username: maybe(fc.oneof(text, fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,70}$/))),
        displayName: maybe(text),
        email: maybe(fc.oneof(text, fc.emailAddress())),
        phone: maybe(text),
        password: maybe(text),
        departmentIds: maybe(fc.array(idLike, { maxLength: 4 })),
        primaryDepartmentId: maybe(idLike),
        managerId: maybe(idLike),
        positionId: maybe(idLike),
        title: maybe(text),
        locale: maybe(text),
        roles: maybe(fc.array(text, { maxLength: 3 })),
      },
      { requiredKeys: [] },
    ),
    anyJson,
  );

  it('POST/PATCH bodies on org routes answer 2xx or 4xx, never 5xx', async () => {
    const before = (await snapshot()).audit!;
    let writes = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('POST /org/departments', 'PATCH /org/departments/:d', 'POST /org/users', 'PATCH /org/users/:u', 'POST /org/roles', 'POST /org/positions', 'POST /org/roles/operator/members'),
        fc.oneof(departmentBody, userBody),
        async (route, body) => {
          const [method, path] = route.split(' ') as ['POST' | 'PATCH', string];
          const url = `/api/v1${path.replace(':d', D('purchasing')).replace(':u', U('sun.purchase'))}`;
          const r = await admin.inject({ method, url, payload: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
          if (r.statusCode < 300) writes++;
          expect(r.statusCode, `${route} ${JSON.stringify(body)} → ${r.body}`).toBeLessThan(500);
          if (r.statusCode >= 400) expect(r.headers['content-type']).toContain('application/problem+json');
        },
      ),
      { numRuns: 250 },
    );
    // Each successful write added one audit entry at most; refused ones none.
    expect((await snapshot()).audit! - before).toBeLessThanOrEqual(writes);
    const closure = await t.ctx.db.query<{ n: number }>(
      `select count(*)::int as n from departments d where not exists (select 1 from department_closure c where c.ancestor_id = d.id and c.descendant_id = d.id and c.depth = 0)`,
    );
    expect(closure.rows[0]!.n).toBe(0);
  });

  it('query strings on the user list answer 200 or 400', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.dictionary(fc.constantFrom('q', 'departmentId', 'includeSubdepartments', 'role', 'status', 'limit', 'offset', 'other'), fc.oneof(text, fc.integer().map(String), fc.uuid()), { maxKeys: 4 }),
        async (query) => {
          const r = await operator.inject({ url: '/api/v1/org/users', query });
          expect([200, 400], `${JSON.stringify(query)} → ${r.body}`).toContain(r.statusCode);
        },
      ),
      { numRuns: 150 },
    );
  });
});
