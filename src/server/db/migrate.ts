// Versioned migrations for system tables. Each engine owns a list of migrations; the
// composition root hands them over in order. Each migration runs in its own transaction,
// under an advisory lock so that several Trellis processes starting at once apply it once.
import type { Database } from './types.ts';

export interface Migration {
  /** Unique and never renamed, e.g. `platform.001-initial`. */
  id: string;
  up: string | ((sql: import('./types.ts').Tx) => Promise<void>);
}

const MIGRATION_LOCK = 74_201_001;

export async function migrate(db: Database, migrations: readonly Migration[]): Promise<string[]> {
  const ids = new Set<string>();
  for (const m of migrations) {
    if (ids.has(m.id)) throw new Error(`Duplicate migration id ${m.id}`);
    ids.add(m.id);
  }
  await db.query(`create table if not exists trellis_migrations (
    id text primary key, applied_at timestamptz not null default now())`);
  const applied: string[] = [];
  for (const m of migrations) {
    const done = await db.tx(async (tx) => {
      await tx.query('select pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      const exists = await tx.query('select 1 from trellis_migrations where id = $1', [m.id]);
      if (exists.rowCount > 0) return false;
      if (typeof m.up === 'string') await tx.exec(m.up);
      else await m.up(tx);
      await tx.query('insert into trellis_migrations (id) values ($1)', [m.id]);
      return true;
    });
    if (done) applied.push(m.id);
  }
  return applied;
}

export async function pendingMigrations(db: Database, migrations: readonly Migration[]): Promise<string[]> {
  try {
    const r = await db.query<{ id: string }>('select id from trellis_migrations');
    const have = new Set(r.rows.map((x) => x.id));
    return migrations.filter((m) => !have.has(m.id)).map((m) => m.id);
  } catch {
    return migrations.map((m) => m.id);
  }
}
