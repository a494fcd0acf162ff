// Property tests: the SQL compiler and the JS reference evaluator agree. Random rows (NULLs,
// unicode and Chinese text, LIKE metacharacters, decimals with many digits, dates, datetimes,
// multi-selects, booleans, links) go into a real table; random conditions (nested and/or/not,
// every op, $ctx values, paths over links) are compiled and run, and the matched ids must be
// exactly those evaluateCondition accepts. Keyset paging must walk every row exactly once, in
// the order of the unpaged query, for random sorts over columns with NULLs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createTestDatabase, type TestDatabase } from './helpers/db.ts';
import type { Database } from '../src/server/db/index.ts';
import { compileCondition, compilePage, Params, type EvalContext, type LinkTarget, type QueryScope } from '../src/server/records/query/index.ts';
import { AppError } from '../src/server/platform/errors.ts';
import { analyzeCondition, evaluateNorm, lookupColumn, OPS_BY_KIND, type ColumnInfo, type Kind } from '../src/shared/condition-eval.ts';
import { entityTable, type Condition } from '../src/shared/definition.ts';
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
const S3 = uuid(23);
const C1 = uuid(31);
const C2 = uuid(32);
const DANGLING = uuid(99);
const linked = new Map<string, Record<string, unknown>>();

beforeAll(async () => {
  tdb = await createTestDatabase();
  db = tdb.db;
  await createOrgTables(db);
  const textCollation = await linguisticCollation(db);
  for (const e of [item, supplier, country]) await createEntityTable(db, app, e, { textCollation });
  await db.query(`insert into users values ($1, 'alice', '爱丽丝'), ($2, 'Bob', 'b%_\\')`, [U1, U2]);
  await db.query(`insert into departments values ($1, 'WS1', '一车间', null), ($2, 'qa', '', null)`, [D1, D2]);
  await insertRow(db, app, country, { id: C1, code: 'CN', name_zh: '中国' });
  await insertRow(db, app, country, { id: C2, code: null, name_zh: 'É' });
  await insertRow(db, app, supplier, { id: S1, title: 'a', rating: 2, country: C1 });
  await insertRow(db, app, supplier, { id: S2, title: null, rating: null, country: C2 });
  await insertRow(db, app, supplier, { id: S3, title: '中文', rating: -1, country: DANGLING });
  for (const [kind, t] of [
    ['supplier', entityTable('qa', 'supplier')],
    ['country', entityTable('qa', 'country')],
    ['users', 'users'],
    ['departments', 'departments'],
  ] as const)
    for (const r of (await db.query(`select * from "${t}"`)).rows) linked.set(`${kind}:${r.id}`, r);
});

afterAll(async () => {
  await tdb?.drop();
});

const resolve = (target: LinkTarget, id: string) => linked.get(`${target.kind === 'entity' ? target.entity.name : target.kind}:${id}`) ?? null;

// ---- value pools: data and condition values are drawn from overlapping pools so that matches happen

const UNITS = ['a', 'A', 'b', 'B', 'z', '中', '文', '%', '_', '\\', 'é', 'É', 'ß', '😀', "'", '"', ' ', '\uffff', ',', '{'];
const textArb = fc.oneof(
  fc.constantFrom('', 'a', 'A', 'ab', 'Ab', 'é', 'É', '中', '中文', '%', '_', '\\', "'; drop table x_qa__item; --", 'a b', '😀', '\uffff'),
  fc.string({ unit: fc.constantFrom(...UNITS), maxLength: 5 }),
);
const likeArb = fc.string({ unit: fc.constantFrom(...UNITS), maxLength: 2 });
const smallInt = fc.integer({ min: -3, max: 3 });
const intArb = fc.oneof(smallInt, smallInt, fc.maxSafeInteger());
const decimalArb = fc.oneof(
  fc.constantFrom('0', '1.5', '1.50', '-1.5', '10', '0.1', '-0', '0.000000000000000000001', '99999999999999999999999999.99999999999'),
  fc.tuple(fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }), fc.integer({ min: 0, max: 15 })).map(([n, scale]) => {
    const neg = n < 0n;
    const digits = (neg ? -n : n).toString().padStart(scale + 1, '0');
    return `${neg ? '-' : ''}${scale ? `${digits.slice(0, -scale)}.${digits.slice(-scale)}` : digits}`;
  }),
);
const dateArb = fc.oneof(
  fc.constantFrom('2024-06-15', '2024-06-14', '2024-06-16', '2024-02-29', '0001-01-01', '9999-12-31'),
  fc.date({ min: new Date('1950-01-01T00:00:00Z'), max: new Date('2050-01-01T00:00:00Z'), noInvalidDate: true }).map((d) => d.toISOString().slice(0, 10)),
);
const NOW_POOL = ['2024-06-15T03:30:00Z', '2024-06-14T16:00:00Z', '2024-06-14T15:59:59.999Z', '2024-03-10T07:00:00Z'];
const datetimeArb = fc.oneof(
  fc.constantFrom(...NOW_POOL),
  fc.date({ min: new Date('1950-01-01T00:00:00Z'), max: new Date('2050-01-01T00:00:00Z'), noInvalidDate: true }).map((d) => d.toISOString()),
);
const TAGS = ['红', 'green', 'Blue', 'a,b', '"q"', 'x y', '\\', 'NULL'];
const jsonArb = fc.constantFrom<unknown>([], {}, [{ f: 1 }], { a: 1 }, 'str', 0, false);

const rowArb = fc.record({
  name: fc.option(textArb, { nil: null }),
  title: fc.option(textArb, { nil: null }),
  note: fc.option(textArb, { nil: null }),
  kind: fc.option(fc.constantFrom('a', 'b'), { nil: null }),
  qty: fc.option(intArb, { nil: null }),
  price: fc.option(decimalArb, { nil: null }),
  ratio: fc.option(decimalArb, { nil: null }),
  due: fc.option(dateArb, { nil: null }),
  at: fc.option(datetimeArb, { nil: null }),
  active: fc.option(fc.boolean(), { nil: null }),
  tags: fc.option(fc.subarray(TAGS), { nil: null }),
  supplier: fc.option(fc.constantFrom(S1, S2, S3, DANGLING), { nil: null }),
  owner: fc.option(fc.constantFrom(U1, U2), { nil: null }),
  dept: fc.option(fc.constantFrom(D1, D2), { nil: null }),
  photo: fc.option(jsonArb, { nil: null }),
  dur: fc.option(smallInt, { nil: null }),
  created_by: fc.option(fc.constantFrom(U1, U2), { nil: null }),
  owner_department_id: fc.option(fc.constantFrom(D1, D2), { nil: null }),
  submitted_at: fc.option(datetimeArb, { nil: null }),
});

// ---- random conditions

const ctxRef = (name: 'user' | 'user_departments' | 'now' | 'today') => ({ $ctx: name });
const FIELDS = [
  'title', 'note', 'kind', 'qty', 'price', 'ratio', 'due', 'at', 'active', 'tags', 'supplier', 'owner', 'dept', 'photo', 'dur',
  'name', 'created_by', 'owner_department_id', 'submitted_at', 'id',
  'supplier.title', 'supplier.rating', 'supplier.country.code', 'supplier.country.name_zh', 'owner.username', 'dept.name', 'created_by.display_name',
  'owner_department_id.code',
];

function kindOf(path: string): Kind {
  let target: LinkTarget = { kind: 'entity', entity: item };
  const segs = path.split('.');
  for (let i = 0; i < segs.length; i++) {
    const col: ColumnInfo = lookupColumn(app, target, segs[i]!)!;
    if (i === segs.length - 1) return col.kind;
    target = col.target!;
  }
  throw new Error('unreachable');
}

function scalarArb(kind: Kind, field: string): fc.Arbitrary<unknown> {
  switch (kind) {
    case 'text':
    case 'multi':
      return kind === 'multi' ? fc.constantFrom(...TAGS, 'zz') : textArb;
    case 'integer':
      return fc.oneof(intArb, smallInt.map(String));
    case 'decimal':
      return fc.oneof(decimalArb, fc.constantFrom(1.5, 0.1, -0, 10, 1e-21), fc.constantFrom('1.5e0', '-15E-1', '1E1', '.1'));
    case 'date':
      return fc.oneof(dateArb, fc.constant(ctxRef('today')), fc.constant(ctxRef('now')));
    case 'datetime':
      return fc.oneof(
        datetimeArb,
        fc.constantFrom('2024-06-15T00:00:00+08:00', '2024-06-14T23:59:59.999-00:00', '2024-06-15 11:30:00+0800'),
        fc.constant(ctxRef('now')),
        fc.constant(ctxRef('today')),
      );
    case 'boolean':
      return fc.boolean();
    case 'uuid': {
      const pool = [U1, U2, D1, D2, S1, S2, DANGLING, U1.toUpperCase()];
      return field === 'owner' || field === 'created_by' ? fc.oneof(fc.constantFrom(...pool), fc.constant(ctxRef('user'))) : fc.constantFrom(...pool);
    }
    case 'json':
      return fc.constant(null);
  }
}

function leafArb(field: string): fc.Arbitrary<Condition> {
  const kind = kindOf(field);
  const scalar = scalarArb(kind, field);
  return fc.constantFrom(...OPS_BY_KIND[kind]).chain((op): fc.Arbitrary<Condition> => {
    switch (op) {
      case 'empty':
      case 'not_empty':
        return fc.constant({ field, op });
      case 'eq':
      case 'ne':
        return fc
          .oneof({ weight: 8, arbitrary: kind === 'multi' ? fc.oneof(scalar, fc.array(scalar, { maxLength: 3 })) : scalar }, { weight: 1, arbitrary: fc.constant(null) })
          .map((value) => ({ field, op, value }));
      case 'in':
      case 'nin':
        return (
          kind === 'uuid' && (field === 'dept' || field === 'owner_department_id')
            ? fc.oneof(fc.array(scalar, { maxLength: 3 }), fc.constant(ctxRef('user_departments')))
            : fc.array(scalar, { maxLength: 3 })
        ).map((value) => ({ field, op, value }));
      case 'between':
        return fc.tuple(scalar, scalar).map((value) => ({ field, op, value }));
      case 'like':
        return likeArb.map((value) => ({ field, op, value }));
      default:
        return scalar.map((value) => ({ field, op, value }));
    }
  });
}

const { cond: condArb } = fc.letrec<{ cond: Condition }>((tie) => ({
  cond: fc.oneof(
    { maxDepth: 4, depthIdentifier: 'cond' },
    fc.constantFrom(...FIELDS).chain(leafArb),
    fc.array(tie('cond'), { minLength: 1, maxLength: 4 }).map((and) => ({ and })),
    fc.array(tie('cond'), { minLength: 1, maxLength: 4 }).map((or) => ({ or })),
    tie('cond').map((not) => ({ not })),
  ),
}));

const ctxArb: fc.Arbitrary<EvalContext> = fc.record({
  userId: fc.constantFrom(U1, U2),
  departmentIds: fc.subarray([D1, D2]),
  now: fc.constantFrom(...NOW_POOL).map((s) => new Date(s)),
  timezone: fc.constantFrom('Asia/Shanghai', 'UTC', 'America/New_York'),
});

async function loadRows(rows: Array<Record<string, unknown>>): Promise<Array<Record<string, unknown>>> {
  await db.query(`delete from "${TABLE}"`);
  for (const r of rows) await insertRow(db, app, item, r);
  return (await db.query(`select * from "${TABLE}"`)).rows;
}

describe('SQL compiler ≡ JS evaluator', () => {
  it('random rows × random conditions match the same ids', async () => {
    let compared = 0;
    let nonTrivial = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(rowArb, { minLength: 1, maxLength: 25 }), fc.array(condArb, { minLength: 1, maxLength: 6 }), ctxArb, async (rows, conds, ctx) => {
        const stored = await loadRows(rows);
        const scope: QueryScope = { app, entity: item, alias: 't', ctx };
        for (const cond of conds) {
          const params = new Params();
          const where = compileCondition(cond, scope, params);
          const got = (await db.query<{ id: string }>(`select id from "${TABLE}" t where ${where}`, params.values)).rows.map((r) => r.id).sort();
          const norm = analyzeCondition(cond, scope);
          const want = stored.filter((r) => evaluateNorm(norm, r, resolve)).map((r) => r.id as string).sort();
          expect(got, JSON.stringify(cond)).toEqual(want);
          compared++;
          if (want.length > 0 && want.length < stored.length) nonTrivial++;
        }
      }),
      { numRuns: 120 },
    );
    // the generators must actually discriminate rows, or the property says little
    expect(nonTrivial).toBeGreaterThan(compared / 4);
  }, 180_000);

  it('arbitrary field names and values are refused with 400 or treated as plain values', async () => {
    await loadRows([{ title: 'keep' }, { title: "'; drop table x_qa__item; --" }]);
    const scope: QueryScope = { app, entity: item, alias: 't', ctx: { userId: U1, departmentIds: [], now: new Date(), timezone: 'UTC' } };
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.string(), fc.constantFrom('title"; drop table users; --', "title' or '1'='1", 'title;', 'TITLE', 'supplier.title"', 'title--', 'pg_sleep(1)')),
        fc.oneof(fc.string(), fc.constantFrom("'; drop table x_qa__item; --", "' or 1=1 --", '$1', '\\', '%')),
        async (field, value) => {
          let where: string;
          const params = new Params();
          try {
            where = compileCondition({ field, op: 'eq', value }, scope, params);
          } catch (err) {
            expect(err).toBeInstanceOf(AppError);
            expect((err as AppError).status).toBe(400);
            return;
          }
          expect(FIELDS).toContain(field); // only a real field gets through
          if (field === 'title') expect(params.values).toEqual([value]); // the value travels as a parameter
          await db.query(`select id from "${TABLE}" t where ${where}`, params.values);
        },
      ),
      { numRuns: 200 },
    );
    expect((await db.query(`select title from "${TABLE}" order by title`)).rows.map((r) => r.title)).toEqual(["'; drop table x_qa__item; --", 'keep']);
    expect((await db.query('select count(*)::int as n from users')).rows[0]!.n).toBe(2);
  }, 180_000);
});

describe('keyset paging', () => {
  const SORTABLE = ['title', 'note', 'qty', 'price', 'due', 'at', 'active', 'owner', 'kind', 'submitted_at', 'created_by', 'dur'];
  const sortArb = fc
    .uniqueArray(fc.constantFrom(...SORTABLE), { minLength: 1, maxLength: 3 })
    .chain((fields) => fc.tuple(...fields.map((field) => fc.constantFrom('asc' as const, 'desc' as const).map((dir) => ({ field, dir })))));

  it('walks every row exactly once, in the order of the unpaged query, NULLs included', async () => {
    const scope: QueryScope = { app, entity: item, alias: 't', ctx: { userId: U1, departmentIds: [], now: new Date(), timezone: 'UTC' } };
    await fc.assert(
      fc.asyncProperty(fc.array(rowArb, { minLength: 0, maxLength: 20 }), sortArb, fc.integer({ min: 1, max: 6 }), async (rows, sort, limit) => {
        await loadRows(rows);
        const first = compilePage({ sort, limit }, scope, new Params());
        const all = (await db.query<{ id: string }>(`select id from "${TABLE}" t order by ${first.orderBy}`)).rows.map((r) => r.id);
        const walked: string[] = [];
        let after: string | null = null;
        for (let pages = 0; pages <= rows.length + 1; pages++) {
          const params = new Params();
          const page = compilePage({ sort, after, limit }, scope, params);
          const r = await db.query<Record<string, unknown>>(
            `select t.id, ${page.select} from "${TABLE}" t ${page.where ? `where ${page.where}` : ''} order by ${page.orderBy} limit ${page.limit + 1}`,
            params.values,
          );
          const got = r.rows.slice(0, limit);
          walked.push(...got.map((x) => x.id as string));
          if (r.rows.length <= limit) break;
          after = page.cursorFor(got.at(-1)!);
        }
        expect(walked).toEqual(all);
        expect(new Set(walked).size).toBe(rows.length);
      }),
      { numRuns: 80 },
    );
  }, 180_000);
});
