// db/pg-driver.ts changes how node-postgres builds result rows (a plain-object row template,
// kept per prepared statement) and how a query is handed to a connection. These check that the
// rows are exactly what PostgreSQL answered, on the first answer of a statement and on the
// cached ones, for every type Trellis reads, and that a failing statement still fails cleanly.
import { createRequire } from 'node:module';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { submitQuery } from '../src/server/db/pg-driver.ts';
import { createTestDatabase, testTarget, type TestDatabase } from './helpers/db.ts';

// real PostgreSQL in the postgres run; the row building alone (no server) runs in both
const onPostgres = testTarget === 'postgres' ? describe : () => {};

describe('result rows built from a row description (db/pg-driver.ts)', () => {
  const Result = createRequire(import.meta.url)('pg/lib/result.js') as new () => {
    addFields(f: unknown[]): void;
    parseRow(values: Array<string | null>): Record<string, unknown>;
  };
  it('gives every column its parsed value, nulls as null, and a __proto__ column as an own property', () => {
    const r = new Result();
    r.addFields([
      { name: 'n', dataTypeID: 23, format: 'text' },
      { name: 'doc', dataTypeID: 3802, format: 'text' },
      { name: 't.at', dataTypeID: 1184, format: 'text' },
      { name: 'gone', dataTypeID: 25, format: 'text' },
    ]);
    const row = r.parseRow(['5', '{"k":"v"}', '2026-11-25 10:00:00+00', null]);
    expect(row).toEqual({ n: 5, doc: { k: 'v' }, 't.at': new Date('2026-11-25T10:00:00Z'), gone: null });
    expect(Object.getPrototypeOf(row)).toBe(Object.prototype);
    const odd = new Result();
    odd.addFields([{ name: '__proto__', dataTypeID: 25, format: 'text' }, { name: 'x', dataTypeID: 25, format: 'text' }]);
    const o = odd.parseRow(['p', 'y']);
    expect(Object.getOwnPropertyDescriptor(o, '__proto__')?.value).toBe('p');
    expect(o.x).toBe('y');
    expect(({} as Record<string, unknown>).x).toBeUndefined(); // nothing leaked onto Object.prototype
  });
});

onPostgres('node-postgres fast paths (db/pg-driver.ts)', () => {
  let t: TestDatabase;
  let pool: pg.Pool;
  beforeAll(async () => {
    t = await createTestDatabase(); // its pool has installed the int8/date parsers Trellis uses
    pool = new pg.Pool({ connectionString: t.url, max: 2, pipeline: true } as pg.PoolConfig);
  });
  afterAll(async () => {
    await pool?.end();
    await t?.drop();
  });

  const wide = `select $1::uuid as id, 42::int8 as big, 7::int as small, '12.50'::numeric as money, '2026-11-25'::date as day,
      '2026-11-25T10:00:00Z'::timestamptz as at, '{"a":[1,2]}'::jsonb as doc, null::text as nothing, true as flag,
      'x' as "t.name", 'proto' as "__proto__", 'b' as b`;
  const expected = (id: string) => ({
    id,
    big: 42,
    small: 7,
    money: '12.50',
    day: '2026-11-25',
    at: new Date('2026-11-25T10:00:00Z'),
    doc: { a: [1, 2] },
    nothing: null,
    flag: true,
    't.name': 'x',
    b: 'b',
  });

  it('answers the same rows on a prepared statement’s first and later executions, with the driver’s own types', async () => {
    const client = await pool.connect();
    try {
      const id = '7f1c3a52-2a6e-4b8e-9a55-0d3c2f4a9b10';
      for (let i = 0; i < 4; i++) {
        const r = await submitQuery(client, wide, [id], 'pg_driver_test_wide');
        expect(r.rows).toHaveLength(1);
        const row = r.rows[0] as Record<string, unknown>;
        // a column literally named __proto__ is an own property, as node-postgres makes it
        expect(Object.getOwnPropertyDescriptor(row, '__proto__')?.value).toBe('proto');
        const { ['__proto__']: _proto, ...rest } = Object.fromEntries(Object.entries(row));
        expect(rest).toEqual(expected(id));
        expect(r.fields.map((f) => f.name)).toEqual(['id', 'big', 'small', 'money', 'day', 'at', 'doc', 'nothing', 'flag', 't.name', '__proto__', 'b']);
      }
      // the same through the driver's stock entry point
      const stock = await client.query({ name: 'pg_driver_test_stock', text: 'select 1::int as one, $1::text as two', values: ['2'] });
      expect(stock.rows).toEqual([{ one: 1, two: '2' }]);
    } finally {
      client.release();
    }
  });

  it('keeps a statement’s shapes apart from another statement’s and answers many rows', async () => {
    const client = await pool.connect();
    try {
      const many = await submitQuery(client, 'select g as n, g::text as s from generate_series(1, $1::int) g', [500], 'pg_driver_test_many');
      expect(many.rows).toHaveLength(500);
      expect(many.rows[499]).toEqual({ n: 500, s: '500' });
      const again = await submitQuery(client, 'select g as n, g::text as s from generate_series(1, $1::int) g', [3], 'pg_driver_test_many');
      expect(again.rows).toEqual([{ n: 1, s: '1' }, { n: 2, s: '2' }, { n: 3, s: '3' }]);
      const other = await submitQuery(client, 'select $1::text as s, 1 as n', ['z'], 'pg_driver_test_other');
      expect(other.rows).toEqual([{ s: 'z', n: 1 }]);
      const unnamed = await submitQuery(client, 'select $1::int + 1 as n', [1], undefined);
      expect(unnamed.rows).toEqual([{ n: 2 }]);
    } finally {
      client.release();
    }
  });

  it('rejects with PostgreSQL’s error and leaves the connection usable', async () => {
    const client = await pool.connect();
    try {
      await expect(submitQuery(client, 'select 1 / $1::int as n', [0], 'pg_driver_test_div')).rejects.toMatchObject({ code: '22012' });
      const after = await submitQuery(client, 'select 1 / $1::int as n', [1], 'pg_driver_test_div');
      expect(after.rows).toEqual([{ n: 1 }]);
    } finally {
      client.release();
    }
  });
});
