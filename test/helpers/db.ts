// Test databases: PGlite in memory by default; a fresh real PostgreSQL database per call
// when TRELLIS_TEST_PG is set (e.g. postgres://postgres@127.0.0.1:5432/postgres).
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openDatabase, type Database } from '../../src/server/db/index.ts';

export const testTarget: 'postgres' | 'pglite' = process.env.TRELLIS_TEST_PG ? 'postgres' : 'pglite';

export interface TestDatabase {
  db: Database;
  /** Connection string of the fresh database (postgres only), for a second process or pool. */
  url: string | undefined;
  drop(): Promise<void>;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const adminUrl = process.env.TRELLIS_TEST_PG;
  if (!adminUrl) {
    const db = await openDatabase({});
    return { db, url: undefined, drop: () => db.close() };
  }
  const name = `trellis_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const db = await openDatabase({ databaseUrl: url.toString(), poolSize: 8 });
  return {
    db,
    url: url.toString(),
    async drop() {
      await db.close();
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}
