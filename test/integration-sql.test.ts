// Direct SQL source against the real PostgreSQL and MariaDB: a throw-away database each, a table
// with several rows sharing a watermark, paged incremental pulls that neither lose nor repeat a
// row, read-only sessions, introspection, and identifiers checked against the schema.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../src/server/integration/drivers/index.ts';
import { getDriver } from '../src/server/integration/drivers/index.ts';
import { openSqlSource, sqlConfigSchema, type SqlSource } from '../src/server/integration/drivers/sql.ts';

const dbName = `trellis_sqlsrc_${randomBytes(4).toString('hex')}`;

interface Target {
  dialect: 'postgres' | 'mysql';
  port: number;
  user: string;
  setup(): Promise<void>;
  exec(sql: string): Promise<void>;
  drop(): Promise<void>;
}

const pgAdmin = 'postgres://postgres@127.0.0.1:5432/postgres';
const targets: Target[] = [
  {
    dialect: 'postgres',
    port: 5432,
    user: 'postgres',
    async setup() {
      const c = new pg.Client({ connectionString: pgAdmin });
      await c.connect();
      await c.query(`create database ${dbName}`);
      await c.end();
      await this.exec(`create table erp_item (id integer primary key, code text not null, qty numeric(14,3), updated_at timestamptz not null)`);
    },
    async exec(sql) {
      const c = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:5432/${dbName}` });
      await c.connect();
      await c.query(sql);
      await c.end();
    },
    async drop() {
      const c = new pg.Client({ connectionString: pgAdmin });
      await c.connect();
      await c.query(`drop database if exists ${dbName} with (force)`);
      await c.end();
    },
  },
  {
    dialect: 'mysql',
    port: 3306,
    user: 'root',
    async setup() {
      const c = await mysql.createConnection({ host: '127.0.0.1', user: 'root' });
      await c.query(`create database ${dbName}`);
      await c.end();
      await this.exec(`create table erp_item (id integer primary key, code varchar(40) not null, qty decimal(14,3), updated_at datetime(3) not null)`);
    },
    async exec(sql) {
      const c = await mysql.createConnection({ host: '127.0.0.1', user: 'root', database: dbName });
      await c.query(sql);
      await c.end();
    },
    async drop() {
      const c = await mysql.createConnection({ host: '127.0.0.1', user: 'root' });
      await c.query(`drop database if exists ${dbName}`);
      await c.end();
    },
  },
];

it('the sql driver is registered; SQL Server answers "not available" clearly', async () => {
  const d = getDriver('sql')!;
  expect(d.openSource).toBeDefined();
  const cfg = sqlConfigSchema.parse({ dialect: 'mssql', host: '127.0.0.1', database: 'erp', objects: {} });
  const src = await openSqlSource(cfg, { user: 'sa', password: 'x' });
  const t = await src.test();
  expect(t.ok).toBe(false);
  expect(t.message).toMatch(/SQL Server is not available/);
  await expect(src.pull({ object: 'material', since: null, limit: 10 })).rejects.toThrow(/SQL Server is not available/);
});

for (const target of targets) {
  describe(`SQL source: ${target.dialect}`, () => {
    let src: SqlSource;
    beforeAll(async () => {
      await target.setup();
      // Rows 1..5: three share the same watermark, so a page boundary falls inside the tie.
      await target.exec(`insert into erp_item (id, code, qty, updated_at) values
        (1, 'M-001', 10.500, '2026-03-01 08:00:00'), (2, 'M-002', 1.000, '2026-03-01 09:00:00'),
        (3, 'M-003', 2.250, '2026-03-01 09:00:00'), (4, 'M-004', 3.000, '2026-03-01 09:00:00'),
        (5, 'M-005', 12345678901.125, '2026-03-01 10:00:00')`);
      const config = sqlConfigSchema.parse({
        dialect: target.dialect,
        host: '127.0.0.1',
        port: target.port,
        database: dbName,
        objects: { material: { table: 'erp_item', watermark: 'updated_at', columns: ['id', 'code', 'qty'] }, ghost: { table: 'erp_item', watermark: 'nope' } },
      });
      src = await openSqlSource(config, { user: target.user, password: '' });
    });
    afterAll(async () => {
      await src?.close();
      await target.drop();
    });

    it('introspects tables, columns, types and primary keys', async () => {
      const tables = await src.schema();
      const item = tables.find((t) => t.name === 'erp_item')!;
      expect(item.primaryKey).toEqual(['id']);
      expect(item.columns.map((c) => c.name)).toEqual(['id', 'code', 'qty', 'updated_at']);
      expect(item.columns.find((c) => c.name === 'qty')!.type).toMatch(/numeric|decimal/);
    });

    it('pages through equal watermarks without losing or repeating a row, then picks up only changes', async () => {
      const seen: string[] = [];
      let since: string | null = null;
      let pages = 0;
      for (;;) {
        const r = await src.pull({ object: 'material', since, limit: 2 });
        seen.push(...r.rows.map((x) => x.key));
        since = r.nextWatermark ?? since;
        pages++;
        if (!r.more) break;
      }
      expect(seen).toEqual(['1', '2', '3', '4', '5']);
      expect(pages).toBe(3);
      const first = await src.pull({ object: 'material', since: null, limit: 1 });
      expect(first.rows[0]!.data).toEqual({ id: 1, code: 'M-001', qty: '10.500' });
      const big = await src.pull({ object: 'material', since: JSON.stringify({ w: '2026-03-01 09:30:00', k: '0' }), limit: 10 });
      expect(big.rows.map((r) => r.data.qty)).toEqual(['12345678901.125']); // exact decimal
      // Nothing new: an empty page, the watermark kept by the caller.
      expect(await src.pull({ object: 'material', since, limit: 2 })).toEqual({ rows: [], nextWatermark: null, more: false });
      await target.exec(`update erp_item set code = 'M-003b', updated_at = '2026-03-02 00:00:00' where id = 3`);
      await target.exec(`insert into erp_item (id, code, qty, updated_at) values (6, 'M-006', 1, '2026-03-02 00:00:00')`);
      const next = await src.pull({ object: 'material', since, limit: 10 });
      expect(next.rows.map((r) => [r.key, r.data.code])).toEqual([['3', 'M-003b'], ['6', 'M-006']]);
    });

    it('reads in a read-only session and refuses unknown objects and columns', async () => {
      const t = await src.test();
      expect(t.ok).toBe(false); // the "ghost" object names a column that does not exist
      expect(t.message).toMatch(/Column "nope" does not exist/);
      await expect(src.pull({ object: 'erp_item; drop table erp_item', since: null, limit: 1 })).rejects.toThrow(/Unknown object/);
      await expect(src.pull({ object: 'ghost', since: null, limit: 1 })).rejects.toThrow(/Column "nope"/);
      await expect(src.pull({ object: 'constructor', since: null, limit: 1 })).rejects.toThrow(/Unknown object/);
      const ok = await openSqlSource(
        sqlConfigSchema.parse({ dialect: target.dialect, host: '127.0.0.1', port: target.port, database: dbName, objects: { material: { table: 'erp_item', watermark: 'updated_at' } } }),
        { user: target.user, password: '' },
      );
      const res = await ok.test();
      expect(res.message).toMatch(/read-only session: yes/);
      expect(res.ok).toBe(true);
      await ok.close();
    });
  });
}
