// The filter language on a real table: every op and kind, NULL semantics, like escaping,
// multi-select, decimals, $ctx, paths over links, validation errors, search, keyset paging and
// injection attempts. Each case runs the compiled SQL and the JS evaluator and expects both to
// give the same, hand-checked rows.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import type { Database } from '../src/server/db/index.ts';
import {
  compileCondition,
  compilePage,
  compileSearch,
  compileSort,
  evaluateCondition,
  Params,
  type EvalContext,
  type LinkTarget,
  type QueryScope,
  type ReadGuard,
} from '../src/server/records/query/index.ts';
import { AppError } from '../src/server/platform/errors.ts';
import { entityTable, type Condition, type EntityDef } from '../src/shared/definition.ts';
import { canonDecimal, compareCodePoints, compareDecimal, parseDateTime, plantDate, startOfPlantDay } from '../src/shared/condition-eval.ts';
import { matchesSearch } from '../src/server/records/query/search.ts';
import { app, country, item, supplier } from './query-app.ts';
import { createEntityTable, createOrgTables, insertRow, linguisticCollation, uuid } from './query-fixtures.ts';

let tdb: TestDatabase;
let db: Database;
const TABLE = entityTable('qa', 'item');
const U1 = uuid(1);
const U2 = uuid(2);
const D1 = uuid(11);
const D2 = uuid(12);
const S1 = uuid(21);
const S2 = uuid(22);
const C1 = uuid(31);
const DANGLING = uuid(99);
const ctx: EvalContext = { userId: U1, departmentIds: [D1], now: new Date('2024-06-15T03:30:00Z'), timezone: 'Asia/Shanghai' };
const scope: QueryScope = { app, entity: item, alias: 't', ctx };
const ids: Record<string, string> = {};
let allRows: Array<Record<string, unknown>> = [];
const linked = new Map<string, Record<string, unknown>>();

beforeAll(async () => {
  tdb = await createTestDatabase();
  db = tdb.db;
  await createOrgTables(db);
  const textCollation = await linguisticCollation(db);
  for (const e of [item, supplier, country]) await createEntityTable(db, app, e, { textCollation });
  await db.query(`insert into users values ($1, 'alice', '爱丽丝'), ($2, 'bob', 'Bob')`, [U1, U2]);
  await db.query(`insert into departments values ($1, 'WS1', '一车间', null), ($2, 'QA', '质量部', null)`, [D1, D2]);
  await insertRow(db, app, country, { id: C1, code: 'CN', name_zh: '中国' });
  await insertRow(db, app, supplier, { id: S1, title: 'S1', rating: 5, country: C1, secret_note: 'x' });
  await insertRow(db, app, supplier, { id: S2, title: 'S2', rating: null, country: null });
  const rows: Array<Record<string, unknown>> = [
    {
      name: 'r1', title: 'Alpha 阀门', note: '100%_done\\', qty: 5, price: '10.50', ratio: '0.125', due: '2024-06-15',
      at: '2024-06-15T00:30:00+08:00', active: true, tags: ['红', 'blue'], supplier: S1, owner: U1, dept: D1,
      photo: [{ f: 1 }], dur: 3600, created_by: U1, owner_department_id: D1, search_text: 'Alpha 阀门 100%_done',
    },
    { name: 'r2', title: 'beta', note: '', qty: null, price: '10.5', due: null, active: false, tags: [], supplier: null, photo: [], created_by: U2, search_text: 'beta 不锈钢阀门' },
    { name: 'r3' },
    { name: 'r4', title: '', qty: -3, price: '-0.000000000000000000001', due: '2023-01-01', active: null, tags: null, supplier: S2, photo: {}, owner: U2, dept: D2 },
    {
      name: 'r5', title: "'; drop table x_qa__item; --", price: '123456789012345678901234567890.123456789',
      at: '2024-06-14T16:00:00Z', supplier: DANGLING, tags: ['a,b', '"q"'], search_text: "'; drop table x_qa__item; --",
    },
    { name: 'r6', title: 'ÉTÉ straße', qty: 0, price: '0', at: '2024-06-14T15:59:59.999Z', search_text: 'ÉTÉ straße 中文' },
  ];
  for (const r of rows) ids[r.name as string] = await insertRow(db, app, item, r);
  allRows = (await db.query(`select * from "${TABLE}"`)).rows;
  for (const r of (await db.query(`select * from "${entityTable('qa', 'supplier')}"`)).rows) linked.set(`supplier:${r.id}`, r);
  for (const r of (await db.query(`select * from "${entityTable('qa', 'country')}"`)).rows) linked.set(`country:${r.id}`, r);
  for (const r of (await db.query(`select * from users`)).rows) linked.set(`users:${r.id}`, r);
  for (const r of (await db.query(`select * from departments`)).rows) linked.set(`departments:${r.id}`, r);
});

afterAll(async () => {
  await tdb?.drop();
});

const resolve = (target: LinkTarget, id: string) => linked.get(`${target.kind === 'entity' ? target.entity.name : target.kind}:${id}`) ?? null;

async function sqlMatch(cond: unknown, s: QueryScope = scope): Promise<string[]> {
  const params = new Params();
  const where = compileCondition(cond, s, params);
  const r = await db.query<{ name: string }>(`select name from "${TABLE}" t where ${where} order by name`, params.values);
  return r.rows.map((x) => x.name);
}

function jsMatch(cond: Condition, c: EvalContext = ctx): string[] {
  return allRows
    .filter((r) => evaluateCondition(cond, r, { app, entity: item, ctx: c }, resolve))
    .map((r) => r.name as string)
    .sort();
}

/** Runs both back ends and checks they agree with the expectation. */
async function expectMatch(cond: Condition, expected: string[], c: EvalContext = ctx): Promise<void> {
  const s = { ...scope, ctx: c };
  expect(await sqlMatch(cond, s), 'SQL').toEqual([...expected].sort());
  expect(jsMatch(cond, c), 'JS').toEqual([...expected].sort());
}

function problem(fn: () => unknown): AppError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    return err as AppError;
  }
  throw new Error('expected an AppError');
}

const ALL = ['r1', 'r2', 'r3', 'r4', 'r5', 'r6'];
const except = (...xs: string[]) => ALL.filter((x) => !xs.includes(x));

describe('operators and NULL semantics', () => {
  it('eq / ne on text: ne is true on NULL; eq null means IS NULL', async () => {
    await expectMatch({ field: 'title', op: 'eq', value: 'beta' }, ['r2']);
    await expectMatch({ field: 'title', op: 'ne', value: 'beta' }, except('r2'));
    await expectMatch({ field: 'title', op: 'eq', value: null }, ['r3']);
    await expectMatch({ field: 'title', op: 'ne', value: null }, except('r3'));
    await expectMatch({ field: 'title', op: 'empty' }, ['r3', 'r4']);
    await expectMatch({ field: 'title', op: 'not_empty' }, except('r3', 'r4'));
  });

  it('like: plain contains, ASCII-only case folding, % _ \\ match themselves', async () => {
    await expectMatch({ field: 'title', op: 'like', value: 'ALPHA' }, ['r1']);
    await expectMatch({ field: 'title', op: 'like', value: '阀' }, ['r1']);
    await expectMatch({ field: 'note', op: 'like', value: '0%_' }, ['r1']);
    await expectMatch({ field: 'note', op: 'like', value: '%' }, ['r1']);
    await expectMatch({ field: 'note', op: 'like', value: 'e\\' }, ['r1']);
    await expectMatch({ field: 'note', op: 'like', value: 'o%' }, []);
    await expectMatch({ field: 'note', op: 'like', value: '1_0' }, []); // `_` is not a wildcard
    await expectMatch({ field: 'note', op: 'like', value: '' }, ['r1', 'r2']);
    await expectMatch({ field: 'title', op: 'like', value: 'été' }, []); // É is not ASCII
    await expectMatch({ field: 'title', op: 'like', value: 'été STRAßE' }, []);
    await expectMatch({ field: 'title', op: 'like', value: 'ÉTÉ STRAßE' }, ['r6']);
    await expectMatch({ field: 'title', op: 'like', value: "'; DROP" }, ['r5']);
  });

  it('text order is by code point, not locale', async () => {
    await expectMatch({ field: 'title', op: 'gt', value: 'Z' }, ['r2', 'r6']); // 'beta' and 'É…' > 'Z' > 'Alpha'
    await expectMatch({ field: 'title', op: 'between', value: ['A', 'b'] }, ['r1']);
    await expectMatch({ field: 'title', op: 'lt', value: 'A' }, ['r4', 'r5']); // '' and "'"
  });

  it('integers: comparisons, in/nin, between; NULL only matches ne/nin', async () => {
    await expectMatch({ field: 'qty', op: 'gt', value: 0 }, ['r1']);
    await expectMatch({ field: 'qty', op: 'lte', value: '0' }, ['r4', 'r6']);
    await expectMatch({ field: 'qty', op: 'between', value: [-3, 5] }, ['r1', 'r4', 'r6']);
    await expectMatch({ field: 'qty', op: 'between', value: [5, -3] }, []);
    await expectMatch({ field: 'qty', op: 'in', value: [5, -3] }, ['r1', 'r4']);
    await expectMatch({ field: 'qty', op: 'in', value: [] }, []);
    await expectMatch({ field: 'qty', op: 'nin', value: [5] }, except('r1'));
    await expectMatch({ field: 'qty', op: 'nin', value: [] }, ALL);
    await expectMatch({ not: { field: 'qty', op: 'gt', value: 0 } }, except('r1'));
    await expectMatch({ field: 'dur', op: 'eq', value: 3600 }, ['r1']);
  });

  it('decimals compare exactly, with many digits', async () => {
    await expectMatch({ field: 'price', op: 'eq', value: '10.5' }, ['r1', 'r2']);
    await expectMatch({ field: 'price', op: 'eq', value: 10.5 }, ['r1', 'r2']);
    await expectMatch({ field: 'price', op: 'gt', value: '123456789012345678901234567890.123456788' }, ['r5']);
    await expectMatch({ field: 'price', op: 'gt', value: '123456789012345678901234567890.123456789' }, []);
    await expectMatch({ field: 'price', op: 'lt', value: 0 }, ['r4']);
    await expectMatch({ field: 'price', op: 'gte', value: '-1e-21' }, except('r3'));
    await expectMatch({ field: 'price', op: 'gt', value: '-1e-21' }, except('r3', 'r4'));
    await expectMatch({ field: 'ratio', op: 'eq', value: '0.1250' }, ['r1']);
  });

  it('dates, datetimes and $ctx today/now in the plant time zone', async () => {
    await expectMatch({ field: 'due', op: 'eq', value: { $ctx: 'today' } }, ['r1']);
    await expectMatch({ field: 'due', op: 'lt', value: { $ctx: 'now' } }, ['r4']);
    // 2024-06-15 starts at 2024-06-14T16:00Z in Shanghai
    await expectMatch({ field: 'at', op: 'gte', value: { $ctx: 'today' } }, ['r1', 'r5']);
    await expectMatch({ field: 'at', op: 'lt', value: { $ctx: 'today' } }, ['r6']);
    const utc = { ...ctx, timezone: 'UTC' };
    await expectMatch({ field: 'at', op: 'gte', value: { $ctx: 'today' } }, [], utc);
    await expectMatch({ field: 'at', op: 'eq', value: '2024-06-15T00:00:00+08:00' }, ['r5']);
    await expectMatch({ field: 'at', op: 'between', value: ['2024-06-14T15:59:59.999Z', '2024-06-14T16:00:00Z'] }, ['r5', 'r6']);
    await expectMatch({ field: 'at', op: 'lt', value: { $ctx: 'now' } }, ['r1', 'r5', 'r6']);
  });

  it('booleans, uuids and $ctx user / user_departments', async () => {
    await expectMatch({ field: 'active', op: 'eq', value: false }, ['r2']);
    await expectMatch({ field: 'active', op: 'ne', value: true }, except('r1'));
    await expectMatch({ field: 'active', op: 'empty' }, except('r1', 'r2'));
    await expectMatch({ field: 'owner', op: 'eq', value: { $ctx: 'user' } }, ['r1']);
    await expectMatch({ field: 'created_by', op: 'in', value: [{ $ctx: 'user' }, U2.toUpperCase()] }, ['r1', 'r2']);
    await expectMatch({ field: 'dept', op: 'in', value: { $ctx: 'user_departments' } }, ['r1']);
    await expectMatch({ field: 'dept', op: 'nin', value: { $ctx: 'user_departments' } }, except('r1'));
    await expectMatch({ field: 'id', op: 'eq', value: ids.r4 }, ['r4']);
  });

  it('multi_select: eq/in mean contains any; empty is NULL or {}', async () => {
    await expectMatch({ field: 'tags', op: 'eq', value: '红' }, ['r1']);
    await expectMatch({ field: 'tags', op: 'eq', value: ['x', 'blue'] }, ['r1']);
    await expectMatch({ field: 'tags', op: 'in', value: ['a,b', 'zz'] }, ['r5']);
    await expectMatch({ field: 'tags', op: 'in', value: ['"q"'] }, ['r5']);
    await expectMatch({ field: 'tags', op: 'in', value: ['a'] }, []);
    await expectMatch({ field: 'tags', op: 'nin', value: ['红'] }, except('r1'));
    await expectMatch({ field: 'tags', op: 'ne', value: 'blue' }, except('r1'));
    await expectMatch({ field: 'tags', op: 'empty' }, except('r1', 'r5'));
    await expectMatch({ field: 'tags', op: 'eq', value: null }, except('r1', 'r2', 'r5'));
  });

  it('JSON fields: empty is NULL, [] or {}', async () => {
    await expectMatch({ field: 'photo', op: 'empty' }, except('r1'));
    await expectMatch({ field: 'photo', op: 'not_empty' }, ['r1']);
  });

  it('and / or / not combine as boolean logic', async () => {
    await expectMatch({ or: [{ field: 'qty', op: 'gt', value: 0 }, { field: 'title', op: 'eq', value: 'beta' }] }, ['r1', 'r2']);
    await expectMatch({ and: [{ field: 'price', op: 'eq', value: '10.5' }, { not: { field: 'active', op: 'eq', value: true } }] }, ['r2']);
    await expectMatch({ not: { or: [{ field: 'qty', op: 'empty' }, { field: 'qty', op: 'lt', value: 1 }] } }, ['r1']);
  });
});

describe('paths over links', () => {
  it('follow link, user and department fields, up to three hops', async () => {
    await expectMatch({ field: 'supplier.title', op: 'eq', value: 'S1' }, ['r1']);
    await expectMatch({ field: 'supplier.country.code', op: 'eq', value: 'CN' }, ['r1']);
    await expectMatch({ field: 'supplier.country.name_zh', op: 'like', value: '中' }, ['r1']);
    await expectMatch({ field: 'owner.username', op: 'eq', value: 'bob' }, ['r4']);
    await expectMatch({ field: 'dept.name', op: 'like', value: '车间' }, ['r1']);
    await expectMatch({ field: 'dept.code', op: 'in', value: ['WS1', 'QA'] }, ['r1', 'r4']);
    await expectMatch({ field: 'created_by.display_name', op: 'eq', value: 'Bob' }, ['r2']);
    await expectMatch({ field: 'owner_department_id.code', op: 'eq', value: 'WS1' }, ['r1']);
  });

  it('with no linked record (NULL or dangling) every path condition is false, even ne/empty', async () => {
    await expectMatch({ field: 'supplier.title', op: 'ne', value: 'zzz' }, ['r1', 'r4']);
    await expectMatch({ field: 'supplier.rating', op: 'empty' }, ['r4']);
    await expectMatch({ field: 'supplier.country.code', op: 'empty' }, []);
    await expectMatch({ not: { field: 'supplier.title', op: 'eq', value: 'S1' } }, except('r1'));
  });

  it('a read guard hides linked rows the principal may not read, and their hidden fields', async () => {
    const guard = (e: EntityDef): ReadGuard => ({
      readable: new Set(e.name === 'supplier' ? ['title', 'rating', 'country', 'id'] : [...e.fields.map((f) => f.name), 'id', 'name', 'created_by', 'owner_department_id']),
      rowFilter: (params, alias) => (e.name === 'supplier' ? `${alias}.title <> ${params.add('S1')}::text` : null),
    });
    const s: QueryScope = { ...scope, access: guard };
    expect(await sqlMatch({ field: 'supplier.title', op: 'like', value: 'S' }, s)).toEqual(['r4']);
    const e = problem(() => compileCondition({ field: 'supplier.secret_note', op: 'eq', value: 'x' }, s, new Params()));
    expect(e.status).toBe(400);
    expect(e.errors?.[0]?.message).toMatch(/unknown field "secret_note"/);
    expect(e.errors?.[0]?.message).not.toMatch(/secret_note,|, secret_note/); // not offered in the list either
  });
});

describe('validation: 400 with a path and a message a person can act on', () => {
  const cases: Array<[string, unknown, string, RegExp]> = [
    ['unknown field', { field: 'nope', op: 'eq', value: 1 }, 'filter.field', /unknown field "nope".*known fields: title/],
    ['like on integer', { and: [{ field: 'qty', op: 'eq', value: 1 }, { field: 'qty', op: 'like', value: 'x' }] }, 'filter.and.1.op', /"like" does not apply to an integer field/],
    ['text for integer', { and: [{ field: 'qty', op: 'eq', value: 1 }, { field: 'qty', op: 'eq', value: 'abc' }] }, 'filter.and.1.value', /"abc" is not a whole number/],
    ['fraction for integer', { field: 'qty', op: 'gt', value: 1.5 }, 'filter.value', /not a whole number/],
    ['between arity', { field: 'qty', op: 'between', value: [1] }, 'filter.value', /two values/],
    ['between element', { field: 'due', op: 'between', value: ['2024-01-01', 'soon'] }, 'filter.value.1', /not a valid date/],
    ['bad date', { field: 'due', op: 'eq', value: '2024-02-30' }, 'filter.value', /YYYY-MM-DD/],
    ['datetime without zone', { field: 'at', op: 'gt', value: '2024-02-01T08:00:00' }, 'filter.value', /time zone/],
    ['in needs a list', { field: 'qty', op: 'in', value: 5 }, 'filter.value', /list/],
    ['in element', { field: 'qty', op: 'in', value: [1, 'x'] }, 'filter.value.1', /whole number/],
    ['bad decimal', { field: 'price', op: 'eq', value: '1,5' }, 'filter.value', /not a number/],
    ['bad uuid', { field: 'owner', op: 'eq', value: 'alice' }, 'filter.value', /UUID/],
    ['boolean order', { field: 'active', op: 'gt', value: true }, 'filter.op', /use one of: eq, ne, in, nin, empty, not_empty/],
    ['text for boolean', { field: 'active', op: 'eq', value: 'true' }, 'filter.value', /true or false/],
    ['number for text', { field: 'title', op: 'eq', value: 5 }, 'filter.value', /not text/],
    ['like needs text', { field: 'title', op: 'like', value: null }, 'filter.value', /text to look for/],
    ['lt null', { field: 'qty', op: 'lt', value: null }, 'filter.value', /needs a value/],
    ['eq without value', { field: 'qty', op: 'eq' }, 'filter.value', /needs a value/],
    ['unknown op', { field: 'qty', op: 'regex', value: 'x' }, 'filter.op', /unknown operator/],
    ['extra key', { field: 'qty', op: 'eq', value: 1, sql: 'x' }, 'filter.sql', /unknown key/],
    ['not an object', 'qty = 1', 'filter', /condition object/],
    ['empty and', { and: [] }, 'filter.and', /non-empty/],
    ['injected field name', { field: 'qty"; drop table x; --', op: 'eq', value: 1 }, 'filter.field', /field name/],
    ['upper-case field', { field: 'QTY', op: 'eq', value: 1 }, 'filter.field', /field name/],
    ['child table', { field: 'lines', op: 'empty' }, 'filter.field', /unknown field "lines"/],
    ['search_text', { field: 'search_text', op: 'like', value: 'x' }, 'filter.field', /unknown field/],
    ['path through a non-link', { field: 'title.x', op: 'eq', value: 'a' }, 'filter.field', /not a link/],
    ['too many hops', { field: 'supplier.country.code.x.y', op: 'eq', value: 'a' }, 'filter.field', /field name/],
    ['unknown $ctx', { field: 'owner', op: 'eq', value: { $ctx: 'boss' } }, 'filter.value', /unknown context value/],
    ['$ctx user on text', { field: 'title', op: 'eq', value: { $ctx: 'user' } }, 'filter.value', /only fits user fields/],
    ['user_departments with eq', { field: 'dept', op: 'eq', value: { $ctx: 'user_departments' } }, 'filter.value', /use it with "in"/],
    ['op on JSON', { field: 'photo', op: 'eq', value: 'x' }, 'filter.op', /empty, not_empty/],
    ['NUL in text', { field: 'title', op: 'eq', value: 'a\u0000b' }, 'filter.value', /cannot be stored/],
    ['lone surrogate', { field: 'title', op: 'eq', value: 'a\ud800' }, 'filter.value', /cannot be stored/],
    ['multi element', { field: 'tags', op: 'in', value: [1] }, 'filter.value.0', /not text/],
  ];
  it.each(cases)('%s', (_name, cond, path, message) => {
    const e = problem(() => compileCondition(cond, scope, new Params()));
    expect(e.status).toBe(400);
    expect(e.slug).toBe('validation-failed');
    expect(e.errors?.[0]?.path).toBe(path);
    expect(e.errors?.[0]?.message).toMatch(message);
    // and the JS evaluator refuses it the same way
    expect(() => evaluateCondition(cond as Condition, {}, scope)).toThrow();
  });

  it('reports every problem at once', () => {
    const e = problem(() =>
      compileCondition({ or: [{ field: 'qty', op: 'eq', value: 'x' }, { field: 'nope', op: 'eq', value: 1 }, { field: 'due', op: 'eq', value: 'y' }] }, scope, new Params()),
    );
    expect(e.errors?.map((x) => x.path)).toEqual(['filter.or.0.value', 'filter.or.1.field', 'filter.or.2.value']);
    expect(e.message).toMatch(/3 problems/);
  });

  it('limits size and depth', () => {
    const leaf = { field: 'qty', op: 'eq', value: 1 };
    let deep: unknown = leaf;
    for (let i = 0; i < 10; i++) deep = { not: deep };
    expect(problem(() => compileCondition(deep, scope, new Params())).errors?.[0]?.message).toMatch(/at most 10 levels/);
    let ok: unknown = leaf;
    for (let i = 0; i < 9; i++) ok = { not: ok };
    expect(compileCondition(ok, scope, new Params())).toContain('not');
    const wide = { and: Array.from({ length: 51 }, () => leaf) };
    expect(problem(() => compileCondition(wide, scope, new Params())).errors?.[0]).toEqual({ path: 'filter.and', message: expect.stringMatching(/at most 50/) });
    const many = { or: Array.from({ length: 50 }, () => ({ and: Array.from({ length: 50 }, () => leaf) })) };
    expect(problem(() => compileCondition(many, scope, new Params())).errors?.[0]?.message).toMatch(/at most 500 parts/);
  });

  it('uses the given path prefix', () => {
    const e = problem(() => compileCondition({ field: 'x', op: 'eq', value: 1 }, scope, new Params(), 'body.filter'));
    expect(e.errors?.[0]?.path).toBe('body.filter.field');
  });
});

describe('SQL shape: values are parameters with explicit casts', () => {
  it('never puts a value into the SQL text', () => {
    const params = new Params();
    const evil = "x'); delete from users; --";
    const sql = compileCondition(
      {
        and: [
          { field: 'title', op: 'eq', value: evil },
          { field: 'price', op: 'gt', value: '1.5' },
          { field: 'due', op: 'lt', value: '2024-01-01' },
          { field: 'at', op: 'gte', value: '2024-01-01T00:00:00Z' },
          { field: 'owner', op: 'eq', value: U1 },
          { field: 'tags', op: 'in', value: ['a'] },
          { field: 'qty', op: 'in', value: [1] },
        ],
      },
      scope,
      params,
    );
    expect(sql).not.toContain(evil);
    expect(sql).not.toContain('1.5');
    expect(sql).toContain('"title" = $1::text');
    expect(sql).toContain('$2::numeric');
    expect(sql).toContain('$3::date');
    expect(sql).toContain('$4::timestamptz');
    expect(sql).toContain('$5::uuid');
    expect(sql).toContain('&& $6::text[]');
    expect(sql).toContain('any($7::bigint[])');
    expect(params.values).toEqual([evil, '1.5', '2024-01-01', '2024-01-01T00:00:00.000Z', U1, ['a'], ['1']]);
  });

  it('continues numbering after parameters already collected', () => {
    const params = new Params(['first']);
    expect(compileCondition({ field: 'qty', op: 'eq', value: 2 }, scope, params)).toContain('$2::bigint');
    expect(params.values).toEqual(['first', '2']);
  });

  it('refuses an unsafe alias (code, not user input, but still checked)', () => {
    expect(() => compileCondition({ field: 'qty', op: 'eq', value: 1 }, { ...scope, alias: 't; drop' }, new Params())).toThrow(/unsafe SQL alias/);
  });
});

describe('injection attempts are plain values or refused; the table stays intact', () => {
  it('values, field names, sort keys, search and cursors', async () => {
    const evil = ["'; drop table x_qa__item; --", 'x" or 1=1 --', "\\'; select pg_sleep(1); --", '$1', "%' or '1'='1"];
    for (const v of evil) {
      expect(await sqlMatch({ field: 'title', op: 'eq', value: v })).toEqual(v === evil[0] ? ['r5'] : []);
      expect(await sqlMatch({ field: 'title', op: 'like', value: v })).toEqual(v === evil[0] ? ['r5'] : []);
      expect(await sqlMatch({ field: 'tags', op: 'in', value: [v, '{a,b}'] })).toEqual([]);
      expect(await sqlMatch({ field: 'title', op: 'in', value: [v] })).toEqual(v === evil[0] ? ['r5'] : []);
      const params = new Params();
      const where = compileSearch(v, scope, params);
      const r = await db.query(`select name from "${TABLE}" t where ${where}`, params.values);
      expect(r.rows.length).toBe(v === evil[0] ? 1 : 0);
      expect(() => compileCondition({ field: v, op: 'eq', value: 1 }, scope, new Params())).toThrow(AppError);
      expect(() => compileSort([{ field: v, dir: 'asc' }], scope)).toThrow(AppError);
      expect(() => compileSort([{ field: 'title', dir: v as 'asc' }], scope)).toThrow(AppError);
      const cursor = Buffer.from(JSON.stringify({ s: 'item:qty.asc,id.asc', k: [v, v] })).toString('base64url');
      expect(() => compilePage({ sort: [{ field: 'qty', dir: 'asc' }], after: cursor }, scope, new Params())).toThrow(AppError);
    }
    const n = await db.query<{ n: number }>(`select count(*)::int as n from "${TABLE}"`);
    expect(n.rows[0]!.n).toBe(6);
    expect((await db.query('select count(*)::int as n from users')).rows[0]!.n).toBe(2);
  });
});

describe('full-text search', () => {
  async function search(q: string): Promise<string[]> {
    const params = new Params();
    const where = compileSearch(q, scope, params);
    const r = await db.query<{ name: string }>(`select name from "${TABLE}" t ${where ? `where ${where}` : ''} order by name`, params.values);
    const js = allRows.filter((row) => matchesSearch(q, row.search_text as string | null)).map((row) => row.name as string).sort();
    expect(r.rows.map((x) => x.name)).toEqual(js);
    return js;
  }
  it('ANDs whitespace-separated substrings, Chinese included, ASCII case-insensitive', async () => {
    expect(await search('阀门')).toEqual(['r1', 'r2']);
    expect(await search('  阀门   BETA ')).toEqual(['r2']);
    expect(await search('alpha 100%_')).toEqual(['r1']);
    expect(await search('0%')).toEqual(['r1']);
    expect(await search('1_0')).toEqual([]);
    expect(await search('中文 été')).toEqual([]);
    expect(await search('中文 ÉTÉ')).toEqual(['r6']);
    expect(compileSearch('   ', scope, new Params())).toBeNull();
  });
  it('refuses too many or too long terms', () => {
    expect(problem(() => compileSearch(Array.from({ length: 11 }, (_, i) => `t${i}`).join(' '), scope, new Params())).status).toBe(400);
    expect(problem(() => compileSearch('x'.repeat(101), scope, new Params())).status).toBe(400);
  });
});

describe('sorting and keyset paging', () => {
  async function walk(sort: Array<{ field: string; dir: 'asc' | 'desc' }>, limit: number): Promise<string[]> {
    const seen: string[] = [];
    let after: string | null = null;
    for (let guard = 0; guard < 50; guard++) {
      const params = new Params();
      const page = compilePage({ sort, after, limit }, scope, params);
      const r = await db.query<Record<string, unknown>>(
        `select t.name, ${page.select} from "${TABLE}" t ${page.where ? `where ${page.where}` : ''} order by ${page.orderBy} limit ${page.limit + 1}`,
        params.values,
      );
      const rows = r.rows.slice(0, limit);
      seen.push(...rows.map((x) => x.name as string));
      if (r.rows.length <= limit) return seen;
      after = page.cursorFor(rows.at(-1)!);
    }
    throw new Error('paging did not end');
  }

  it('NULLs last in both directions, id breaks ties, every row exactly once', async () => {
    expect(await walk([{ field: 'qty', dir: 'asc' }], 2)).toEqual(expect.arrayContaining(ALL));
    const asc = await walk([{ field: 'qty', dir: 'asc' }], 2);
    expect(asc.slice(0, 3)).toEqual(['r4', 'r6', 'r1']);
    expect(asc).toHaveLength(6);
    const desc = await walk([{ field: 'qty', dir: 'desc' }], 1);
    expect(desc.slice(0, 3)).toEqual(['r1', 'r6', 'r4']);
    expect(new Set(desc).size).toBe(6);
    const byPrice = await walk([{ field: 'price', dir: 'desc' }, { field: 'title', dir: 'asc' }], 4);
    expect(byPrice).toEqual(['r5', 'r1', 'r2', 'r6', 'r4', 'r3']);
    const byAt = await walk([{ field: 'at', dir: 'asc' }], 1);
    expect(byAt.slice(0, 3)).toEqual(['r6', 'r5', 'r1']);
    expect(new Set(byAt).size).toBe(6);
  });

  it('keeps microseconds of datetimes in the cursor', async () => {
    await db.query(`update "${TABLE}" set submitted_at = '2024-01-01T00:00:00.000001Z' where name in ('r1', 'r2')`);
    await db.query(`update "${TABLE}" set submitted_at = '2024-01-01T00:00:00.000002Z' where name in ('r3')`);
    try {
      const rows = await walk([{ field: 'submitted_at', dir: 'desc' }], 1);
      expect(rows[0]).toBe('r3');
      expect(new Set(rows).size).toBe(6);
      expect(rows).toHaveLength(6);
    } finally {
      await db.query(`update "${TABLE}" set submitted_at = null`);
    }
  });

  it('orders and refuses bad sorts', () => {
    expect(compileSort([{ field: 'qty', dir: 'desc' }], scope)).toBe('t."qty" desc nulls last, t."id" desc');
    expect(compileSort([{ field: 'id', dir: 'desc' }], scope)).toBe('t."id" desc');
    for (const bad of [
      [{ field: 'tags', dir: 'asc' }],
      [{ field: 'photo', dir: 'asc' }],
      [{ field: 'nope', dir: 'asc' }],
      [{ field: 'supplier.title', dir: 'asc' }],
      [{ field: 'qty', dir: 'up' }],
      [{ field: 'qty', dir: 'asc' }, { field: 'qty', dir: 'desc' }],
      Array.from({ length: 6 }, () => ({ field: 'qty', dir: 'asc' })),
      'qty',
    ]) {
      const e = problem(() => compileSort(bad as never, scope));
      expect(e.status).toBe(400);
    }
    const guarded: QueryScope = { ...scope, access: () => ({ readable: new Set(['title']), rowFilter: () => null }) };
    expect(problem(() => compileSort([{ field: 'qty', dir: 'asc' }], guarded)).errors?.[0]?.path).toBe('sort.0.field');
  });

  it('refuses malformed, tampered and foreign cursors with 400', () => {
    const sort = [{ field: 'qty', dir: 'asc' as const }];
    const page = compilePage({ sort, limit: 2 }, scope, new Params());
    const good = page.cursorFor({ __k0: '5', __k1: ids.r1 });
    expect(compilePage({ sort, after: good, limit: 2 }, scope, new Params()).where).toContain('$');
    const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const bad = [
      'not base64!',
      'e30', // {}
      enc({ s: 'item:qty.asc,id.asc', k: ['5'] }),
      enc({ s: 'item:qty.asc,id.asc', k: ['five', ids.r1] }),
      enc({ s: 'item:qty.asc,id.asc', k: [5, ids.r1] }),
      enc({ s: 'item:qty.asc,id.asc', k: ['5', 'not-a-uuid'] }),
      enc({ s: 'item:qty.asc,id.asc', k: ['5', null] }),
      enc({ s: 'item:qty.desc,id.asc', k: ['5', ids.r1] }),
      enc({ s: 'supplier:qty.asc,id.asc', k: ['5', ids.r1] }),
      good.slice(0, -3),
      `${good}x`,
    ];
    for (const after of bad) {
      const e = problem(() => compilePage({ sort, after, limit: 2 }, scope, new Params()));
      expect(e.status).toBe(400);
      expect(e.message).toMatch(/cursor/);
    }
    expect(problem(() => compilePage({ sort: [{ field: 'qty', dir: 'desc' }], after: good }, scope, new Params())).message).toMatch(/different sort/);
    expect(problem(() => compilePage({ sort, limit: 0 }, scope, new Params())).status).toBe(400);
    expect(problem(() => compilePage({ sort, limit: 1001 }, scope, new Params())).status).toBe(400);
  });
});

describe('value helpers', () => {
  it('canonical decimals and exact comparison', () => {
    expect(canonDecimal('0010.500')).toBe('10.5');
    expect(canonDecimal('-0.000')).toBe('0');
    expect(canonDecimal('1e-7')).toBe('0.0000001');
    expect(canonDecimal('1.5E3')).toBe('1500');
    expect(canonDecimal('.5')).toBe('0.5');
    expect(canonDecimal('1,5')).toBeNull();
    expect(canonDecimal('1e999')).toBeNull();
    expect(compareDecimal('123456789012345678901234567890.1', '123456789012345678901234567890.09')).toBe(1);
    expect(compareDecimal('-2', '-10')).toBe(1);
    expect(compareDecimal('0.1', '0.10')).toBe(0);
  });
  it('code point order puts astral characters after U+FFFF', () => {
    expect(compareCodePoints('\uffff', '😀')).toBe(-1);
    expect(compareCodePoints('a', 'ab')).toBe(-1);
  });
  it('parses ISO date-times with zones and finds the start of a plant day', () => {
    expect(parseDateTime('2024-06-15T08:00:00+08:00')).toBe(Date.UTC(2024, 5, 15, 0));
    expect(parseDateTime('2024-06-15 08:00Z')).toBe(Date.UTC(2024, 5, 15, 8));
    expect(parseDateTime('2024-06-15T08:00:00')).toBeNull();
    expect(parseDateTime('2024-06-31T08:00:00Z')).toBeNull();
    expect(plantDate(new Date('2024-06-14T16:00:00Z'), 'Asia/Shanghai')).toBe('2024-06-15');
    expect(startOfPlantDay('2024-06-15', 'Asia/Shanghai')).toBe(Date.UTC(2024, 5, 14, 16));
    expect(startOfPlantDay('2024-03-31', 'Europe/Berlin')).toBe(Date.UTC(2024, 2, 30, 23));
    expect(startOfPlantDay('2024-10-27', 'Europe/Berlin')).toBe(Date.UTC(2024, 9, 26, 22));
  });
});
