// Permissions enforced in SQL: roles × actions × row scopes (own, own_department,
// department_subtree, all, filter) against a real table whose rows belong to users in a small
// department tree; field-level hidden/read/write; API-key scopes. The row filter is run as SQL
// and the visible rows are asserted exactly.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import type { Database } from '../src/server/db/index.ts';
import {
  assertAllowed,
  assertFieldsWritable,
  compileCondition,
  Params,
  resolveAccess,
  type Access,
  type QueryScope,
} from '../src/server/records/query/index.ts';
import { AppError } from '../src/server/platform/errors.ts';
import type { Principal } from '../src/server/platform/context.ts';
import { ACTIONS, entityTable, type Action, type AppDef, type EntityDef } from '../src/shared/definition.ts';
import { createEntityTable, createOrgTables, ctxOf, insertRow, label, principal, uuid } from './query-fixtures.ts';

// department tree: P (plant) ─┬─ A (workshop A) ── A1 (line A1)
//                             └─ B (workshop B)
const P = uuid(101);
const A = uuid(102);
const A1 = uuid(103);
const B = uuid(104);
const uP = uuid(1);
const uA = uuid(2);
const uA1 = uuid(3);
const uB = uuid(4);
const uX = uuid(5); // in no department
const V_ACME = uuid(201);
const V_HIDDEN = uuid(202);

const vendor: EntityDef = {
  name: 'vendor',
  label: label('供应商'),
  fields: [
    { name: 'title', type: 'text', label: label('名称') },
    { name: 'bank', type: 'text', label: label('银行账号') },
  ],
  permissions: [
    { role: '*', actions: ['read'], scope: { filter: { field: 'title', op: 'ne', value: 'Hidden Co' } }, fields: { bank: 'hidden' } },
  ],
};

const order: EntityDef = {
  name: 'order',
  label: label('订单'),
  fields: [
    { name: 'title', type: 'text', label: label('标题') },
    { name: 'amount', type: 'decimal', label: label('金额') },
    { name: 'secret', type: 'text', label: label('内部价') },
    { name: 'note', type: 'text', label: label('备注') },
    { name: 'vendor', type: 'link', target: 'vendor', label: label('供应商') },
    { name: 'code', type: 'auto_number', autoNumber: 'PO-{####}', label: label('编号') },
    { name: 'total', type: 'formula', formula: 'amount * 2', resultType: 'decimal', label: label('合计') },
  ],
  permissions: [
    { role: 'clerk', actions: ['read', 'create', 'write'], scope: 'own' },
    { role: 'dept_viewer', actions: ['read'], scope: 'own_department' },
    { role: 'manager', actions: ['read', 'write', 'submit', 'export'], scope: 'department_subtree', fields: { secret: 'hidden', amount: 'read' } },
    { role: 'auditor', actions: ['read', 'export'], scope: 'all', fields: { secret: 'read' } },
    { role: 'big', actions: ['read'], scope: { filter: { field: 'amount', op: 'gt', value: '100' } } },
    { role: '*', actions: ['create'], fields: { secret: 'hidden', note: 'write' } },
    { role: 'editor', actions: ['write'], scope: 'own_department', fields: { secret: 'write', title: 'read' } },
    { role: 'vendor_watch', actions: ['read'], scope: { filter: { field: 'vendor.title', op: 'like', value: 'acme' } } },
    {
      role: 'mine',
      actions: ['read', 'delete'],
      scope: { filter: { or: [{ field: 'created_by', op: 'eq', value: { $ctx: 'user' } }, { field: 'owner_department_id', op: 'in', value: { $ctx: 'user_departments' } }] } },
    },
  ],
};

const unguarded: EntityDef = { name: 'memo', label: label('备忘'), fields: [{ name: 'text', type: 'text', label: label('内容') }] };

const app: AppDef = { name: 'perm', label: label('权限'), entities: [order, vendor, unguarded] };

let tdb: TestDatabase;
let db: Database;
const rowName = new Map<string, string>();

beforeAll(async () => {
  tdb = await createTestDatabase();
  db = tdb.db;
  await createOrgTables(db);
  for (const e of app.entities) await createEntityTable(db, app, e);
  await db.query(`insert into departments (id, code, name, parent_id) values ($1, 'P', '工厂', null), ($2, 'A', '一车间', $1), ($3, 'A1', '一线', $2), ($4, 'B', '二车间', $1)`, [P, A, A1, B]);
  const closure: Array<[string, string, number]> = [
    [P, P, 0], [A, A, 0], [A1, A1, 0], [B, B, 0],
    [P, A, 1], [P, B, 1], [A, A1, 1], [P, A1, 2],
  ];
  for (const [a, d, depth] of closure) await db.query('insert into department_closure values ($1, $2, $3)', [a, d, depth]);
  await insertRow(db, app, vendor, { id: V_ACME, title: 'ACME 精密' });
  await insertRow(db, app, vendor, { id: V_HIDDEN, title: 'Hidden Co' });
  const rows = [
    { name: 'oP', created_by: uP, owner_department_id: P, amount: '50', vendor: V_HIDDEN },
    { name: 'oA', created_by: uA, owner_department_id: A, amount: '150', vendor: V_ACME },
    { name: 'oA1', created_by: uA1, owner_department_id: A1, amount: '300.00' },
    { name: 'oB', created_by: uB, owner_department_id: B, amount: '80', vendor: V_ACME },
    { name: 'oX', created_by: uX, owner_department_id: null, amount: '500', vendor: V_HIDDEN },
  ];
  for (const r of rows) rowName.set(await insertRow(db, app, order, { title: r.name, ...r }), r.name);
});

afterAll(async () => {
  await tdb?.drop();
});

const ALL_ROWS = ['oA', 'oA1', 'oB', 'oP', 'oX'];
const NOW = new Date('2024-06-15T03:30:00Z');

/** The rows of `order` the access lets through, by running its row filter as SQL. */
async function visibleRows(access: Access, alias = 't'): Promise<string[]> {
  const params = new Params();
  const filter = access.rowFilter(params, alias);
  const r = await db.query<{ name: string }>(`select ${alias}.name from "${entityTable('perm', 'order')}" ${alias} where ${filter ?? 'true'} order by ${alias}.name`, params.values);
  return r.rows.map((x) => x.name);
}

interface Case {
  who: string;
  p: Principal;
  /** per action: the visible rows, or false when the action is refused; actions not listed are refused. */
  expect: Partial<Record<Action, string[] | true>>;
}

const u = (userId: string, roles: string[], departmentIds: string[], scopes: string[] | null = null) => principal({ userId, roles, departmentIds, scopes });

const matrix: Case[] = [
  { who: 'clerk on line A1 (own)', p: u(uA1, ['clerk'], [A1]), expect: { read: ['oA1'], write: ['oA1'], create: true } },
  { who: 'department viewer of A (own_department, not the subtree)', p: u(uA, ['dept_viewer'], [A]), expect: { read: ['oA'], create: true } },
  { who: 'viewer in two departments', p: u(uA1, ['dept_viewer'], [A1, B]), expect: { read: ['oA1', 'oB'], create: true } },
  { who: 'manager of A (department_subtree)', p: u(uA, ['manager'], [A]), expect: { read: ['oA', 'oA1'], write: ['oA', 'oA1'], submit: ['oA', 'oA1'], export: ['oA', 'oA1'], create: true } },
  { who: 'manager of the plant (whole tree; not rows without a department)', p: u(uP, ['manager'], [P]), expect: { read: ['oA', 'oA1', 'oB', 'oP'], write: ['oA', 'oA1', 'oB', 'oP'], submit: ['oA', 'oA1', 'oB', 'oP'], export: ['oA', 'oA1', 'oB', 'oP'], create: true } },
  { who: 'manager without a department', p: u(uX, ['manager'], []), expect: { read: [], write: [], submit: [], export: [], create: true } },
  { who: 'auditor (all)', p: u(uB, ['auditor'], [B]), expect: { read: ALL_ROWS, export: ALL_ROWS, create: true } },
  { who: 'filter scope amount > 100', p: u(uB, ['big'], [B]), expect: { read: ['oA', 'oA1', 'oX'], create: true } },
  { who: 'clerk + big: scopes are OR-ed', p: u(uB, ['clerk', 'big'], [B]), expect: { read: ['oA', 'oA1', 'oB', 'oX'], write: ['oB'], create: true } },
  { who: 'editor: write without read', p: u(uA, ['editor'], [A]), expect: { write: ['oA'], create: true } },
  { who: 'filter over a link path', p: u(uX, ['vendor_watch'], []), expect: { read: ['oA', 'oB'], create: true } },
  { who: 'filter with $ctx user and user_departments', p: u(uB, ['mine'], [A1]), expect: { read: ['oA1', 'oB'], delete: ['oA1', 'oB'], create: true } },
  { who: 'no roles: only what * grants', p: u(uX, [], []), expect: { create: true } },
  { who: 'unknown role', p: u(uX, ['janitor'], [A]), expect: { create: true } },
  { who: 'admin: every action on every row', p: u(uX, ['admin'], []), expect: Object.fromEntries(ACTIONS.map((a) => [a, ALL_ROWS])) },
  // API keys: the key's user's roles, narrowed to the key's scopes
  { who: 'auditor key records:read', p: u(uB, ['auditor'], [B], ['records:read']), expect: { read: ALL_ROWS, export: ALL_ROWS } },
  { who: 'clerk key records:read cannot write', p: u(uA1, ['clerk'], [A1], ['records:read']), expect: { read: ['oA1'] } },
  { who: 'clerk key records:write (covers read)', p: u(uA1, ['clerk'], [A1], ['records:write']), expect: { read: ['oA1'], write: ['oA1'], create: true } },
  { who: 'clerk key *', p: u(uA1, ['clerk'], [A1], ['*']), expect: { read: ['oA1'], write: ['oA1'], create: true } },
  { who: 'key without records scopes', p: u(uA1, ['clerk'], [A1], ['org:read']), expect: {} },
  { who: 'key with no scopes', p: u(uA1, ['clerk'], [A1], []), expect: {} },
  { who: 'admin key records:read', p: u(uX, ['admin'], [], ['records:read']), expect: { read: ALL_ROWS, export: ALL_ROWS } },
];

describe('permissions matrix: roles × actions × scopes', () => {
  it.each(matrix)('$who', async ({ p, expect: want }) => {
    for (const action of ACTIONS) {
      const access = resolveAccess(p, app, order, action, { now: () => NOW });
      const w = want[action];
      expect(access.allowed, `${action} allowed`).toBe(w !== undefined);
      if (!access.allowed) {
        expect(access.reason, `${action} reason`).toMatch(/\S/);
        expect(access.rowFilter(new Params(), 't')).toBe('false');
        expect(await visibleRows(access)).toEqual([]);
        expect(() => assertAllowed(access)).toThrow(AppError);
        continue;
      }
      expect(() => assertAllowed(access)).not.toThrow();
      if (w !== true && w !== undefined) expect(await visibleRows(access), `${action} rows`).toEqual(w);
    }
  });

  it('works under any table alias', async () => {
    const access = resolveAccess(u(uA, ['manager'], [A]), app, order, 'read');
    expect(await visibleRows(access, 'o')).toEqual(['oA', 'oA1']);
    expect(access.rowFilter(new Params(), 'o')).toContain('o."owner_department_id"');
    expect(() => access.rowFilter(new Params(), 'o; drop')).toThrow(/unsafe SQL alias/);
  });

  it('puts ids into parameters, never into the SQL text', () => {
    const params = new Params();
    const sql = resolveAccess(u(uB, ['clerk', 'dept_viewer', 'manager'], [B]), app, order, 'read').rowFilter(params, 't')!;
    expect(sql).not.toContain(uB);
    expect(sql).not.toContain(B);
    expect(sql).toMatch(/t\."created_by" = \$1::uuid/);
    expect(sql).toMatch(/= any\(\$2::uuid\[\]\)/);
    expect(sql).toMatch(/department_closure dc where dc\.ancestor_id = any\(\$3::uuid\[\]\)/);
    expect(params.values).toEqual([uB, [B], [B]]);
  });

  it('explains refusals in words a person can act on', () => {
    expect(resolveAccess(u(uX, ['janitor'], []), app, order, 'delete').reason).toMatch(/None of your roles \(janitor\) may delete 订单 \(order\)/);
    expect(resolveAccess(u(uX, ['clerk'], [], ['records:read']), app, order, 'write').reason).toMatch(/scope "records:write"/);
    expect(resolveAccess(u(uX, ['clerk'], []), app, unguarded, 'read').reason).toMatch(/no permissions defined yet, so only administrators/);
    expect(resolveAccess(u(uX, ['admin'], []), app, unguarded, 'read').allowed).toBe(true);
    try {
      assertAllowed(resolveAccess(u(uX, [], []), app, order, 'read'));
      throw new Error('expected 403');
    } catch (err) {
      expect((err as AppError).status).toBe(403);
      expect((err as AppError).message).toMatch(/None of your roles \(none\)/);
    }
  });

  it('refuses an invalid row filter in the definition as a definition error', () => {
    const broken: EntityDef = { ...order, permissions: [{ role: 'x', actions: ['read'], scope: { filter: { field: 'nope', op: 'eq', value: 1 } } }] };
    try {
      resolveAccess(u(uX, ['x'], []), { ...app, entities: [broken, vendor] }, broken, 'read');
      throw new Error('expected an AppError');
    } catch (err) {
      expect((err as AppError).slug).toBe('invalid-definition');
      expect((err as AppError).errors?.[0]?.path).toBe('order.permissions.0.scope.filter.field');
    }
  });
});

describe('field-level rights', () => {
  const sorted = (s: Set<string>, only = order.fields.map((f) => f.name)) => [...s].filter((x) => only.includes(x)).sort();

  it('hidden / read / write, and fields not mentioned follow the permission', () => {
    const mgrRead = resolveAccess(u(uA, ['manager'], [A]), app, order, 'read');
    expect(sorted(mgrRead.readable)).toEqual(['amount', 'code', 'note', 'title', 'total', 'vendor']);
    expect(mgrRead.readable.has('id') && mgrRead.readable.has('created_by') && mgrRead.readable.has('status')).toBe(true);
    expect(mgrRead.readable.has('search_text')).toBe(false);
    const mgrWrite = resolveAccess(u(uA, ['manager'], [A]), app, order, 'write');
    expect(sorted(mgrWrite.writable)).toEqual(['note', 'title', 'vendor']); // amount is read, secret hidden, code/total computed
    const auditor = resolveAccess(u(uB, ['auditor'], [B]), app, order, 'read');
    expect(sorted(auditor.readable)).toEqual(['amount', 'code', 'note', 'secret', 'title', 'total', 'vendor']);
    expect(sorted(auditor.writable)).toEqual([]); // a read-only permission grants no writing
    const clerk = resolveAccess(u(uA1, ['clerk'], [A1]), app, order, 'write');
    expect(sorted(clerk.writable)).toEqual(['amount', 'note', 'secret', 'title', 'vendor']);
    const editor = resolveAccess(u(uA, ['editor'], [A]), app, order, 'write');
    expect(sorted(editor.writable)).toEqual(['amount', 'note', 'secret', 'vendor']);
    expect(editor.readable.has('title')).toBe(true);
    const creator = resolveAccess(u(uX, [], []), app, order, 'create');
    expect(sorted(creator.writable)).toEqual(['amount', 'note', 'title', 'vendor']);
    expect(creator.readable.has('secret')).toBe(false);
  });

  it('the most permissive right wins across roles', () => {
    const both = resolveAccess(u(uA, ['manager', 'auditor'], [A]), app, order, 'read');
    expect(both.readable.has('secret')).toBe(true);
    const w = resolveAccess(u(uA, ['manager', 'editor'], [A]), app, order, 'write');
    expect(sorted(w.writable)).toEqual(['amount', 'note', 'secret', 'title', 'vendor']);
  });

  it('admin reads and writes every field but never computed ones', () => {
    const admin = resolveAccess(u(uX, ['admin'], []), app, order, 'write');
    expect(sorted(admin.readable)).toEqual(['amount', 'code', 'note', 'secret', 'title', 'total', 'vendor']);
    expect(sorted(admin.writable)).toEqual(['amount', 'note', 'secret', 'title', 'vendor']);
  });

  it('assertFieldsWritable: 403 naming exactly the refused fields', () => {
    const creator = resolveAccess(u(uX, [], []), app, order, 'create');
    expect(() => assertFieldsWritable(creator, ['title', 'note'])).not.toThrow();
    try {
      assertFieldsWritable(creator, ['title', 'secret', 'code', 'secret']);
      throw new Error('expected 403');
    } catch (err) {
      const e = err as AppError;
      expect(e.status).toBe(403);
      expect(e.extra?.fields).toEqual(['code', 'secret']);
      expect(e.errors?.map((x) => x.path)).toEqual(['code', 'secret']);
      expect(e.message).toMatch(/"code", "secret"/);
    }
    const denied = resolveAccess(u(uX, [], []), app, order, 'write');
    expect(() => assertFieldsWritable(denied, [])).toThrow(/None of your roles/);
  });
});

describe('filters under permissions', () => {
  function scopeFor(p: Principal): QueryScope {
    return { app, entity: order, alias: 't', ctx: ctxOf(p, NOW), access: (e) => resolveAccess(p, app, e, 'read', { now: () => NOW }) };
  }
  async function run(p: Principal, filter: unknown): Promise<string[]> {
    const params = new Params();
    const access = resolveAccess(p, app, order, 'read', { now: () => NOW });
    const where = [access.rowFilter(params, 't'), compileCondition(filter, scopeFor(p), params)].filter(Boolean).join(' and ');
    const r = await db.query<{ name: string }>(`select name from "${entityTable('perm', 'order')}" t where ${where} order by name`, params.values);
    return r.rows.map((x) => x.name);
  }

  it('a user filter narrows the row scope, never widens it', async () => {
    const mgr = u(uA, ['manager'], [A]);
    expect(await run(mgr, { field: 'amount', op: 'gte', value: 0 })).toEqual(['oA', 'oA1']);
    expect(await run(mgr, { or: [{ field: 'amount', op: 'gte', value: 0 }, { not: { field: 'amount', op: 'gte', value: 0 } }] })).toEqual(['oA', 'oA1']);
  });

  it('hidden fields cannot be probed by filters', () => {
    const mgr = u(uA, ['manager'], [A]);
    try {
      compileCondition({ field: 'secret', op: 'eq', value: 'x' }, scopeFor(mgr), new Params());
      throw new Error('expected 400');
    } catch (err) {
      expect((err as AppError).status).toBe(400);
      expect((err as AppError).errors?.[0]?.message).toMatch(/unknown field "secret"/);
    }
    const auditor = u(uB, ['auditor'], [B]);
    expect(compileCondition({ field: 'secret', op: 'eq', value: 'x' }, scopeFor(auditor), new Params())).toContain('"secret"');
    // nor through a link into a hidden field of the target
    expect(() => compileCondition({ field: 'vendor.bank', op: 'empty' }, scopeFor(auditor), new Params())).toThrow(/not valid/);
  });

  it('paths only see linked rows the principal may read', async () => {
    const auditor = u(uB, ['auditor'], [B]);
    expect(await run(auditor, { field: 'vendor.title', op: 'eq', value: 'ACME 精密' })).toEqual(['oA', 'oB']);
    expect(await run(auditor, { field: 'vendor.title', op: 'eq', value: 'Hidden Co' })).toEqual([]);
    expect(await run(auditor, { field: 'vendor', op: 'eq', value: V_HIDDEN })).toEqual(['oP', 'oX']); // the id itself is a readable column
  });
});
