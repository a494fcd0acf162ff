// Public face of the database layer.
import type { Database } from './types.ts';
import { openPglite } from './pglite.ts';
import { openPostgres } from './postgres.ts';

export type { Database, Sql, Statement, Tx, QueryResult, DatabaseKind } from './types.ts';
export { combineStatements, deferWrite, sendWrite } from './tx.ts';
export { migrate, pendingMigrations, type Migration } from './migrate.ts';
export { DataDirLockedError } from './lock.ts';

export interface OpenOptions {
  /** PostgreSQL connection string; when absent the embedded PGlite is used. */
  databaseUrl?: string | undefined;
  /** PGlite data folder; undefined = in memory (tests). */
  dataDir?: string | undefined;
  poolSize?: number;
  onBackgroundError?: (err: unknown) => void;
}

export async function openDatabase(opts: OpenOptions): Promise<Database> {
  const onErr = opts.onBackgroundError ?? ((e: unknown) => console.error(e));
  if (opts.databaseUrl) return openPostgres(opts.databaseUrl, onErr, opts.poolSize);
  return openPglite(opts.dataDir, onErr);
}

/** Quotes an identifier that has already been validated (invariant 4: never user text). */
export function ident(name: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`Refusing unsafe SQL identifier: ${JSON.stringify(name)}`);
  return `"${name}"`;
}
