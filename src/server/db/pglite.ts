// Embedded PostgreSQL (WASM). One connection: PGlite itself queues queries and transactions,
// so a transaction is never interleaved with another statement.
import { PGlite } from '@electric-sql/pglite';
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';
import type { Database, QueryResult } from './types.ts';
import { afterCommit, makeTx, wakeNotifier, type MadeTx } from './tx.ts';
import { lockDataDir } from './lock.ts';

const DATE_OID = 1082;

export async function openPglite(dataDir: string | undefined, onHookError: (e: unknown) => void): Promise<Database> {
  const release = dataDir ? lockDataDir(dataDir) : () => {};
  let pg: PGlite;
  try {
    // Options go in one object: `new PGlite(undefined, opts)` silently ignores `opts`.
    // pg_trgm backs the substring search indexes on entity tables (decision 0004).
    pg = new PGlite({
      ...(dataDir ? { dataDir: `${dataDir}/pg` } : {}),
      parsers: { [DATE_OID]: (v: string) => v },
      relaxedDurability: false,
      extensions: { pg_trgm },
    });
    await pg.waitReady;
  } catch (err) {
    release();
    throw err;
  }
  const query = async <R,>(text: string, params?: readonly unknown[]): Promise<QueryResult<R>> => {
    const r = await pg.query<R>(text, params as unknown[] | undefined);
    return { rows: r.rows, rowCount: r.affectedRows || r.rows.length };
  };
  // The embedded database lives in this process alone: wake-ups are in-process calls, no NOTIFY.
  const handlers = new Map<string, Set<(payload: string) => void>>();
  const notifier = wakeNotifier({
    send: null,
    local: (channel) => {
      for (const h of handlers.get(channel) ?? []) h('');
    },
    onError: onHookError,
  });
  const database: Database = {
    kind: 'pglite',
    query,
    async exec(script) {
      await pg.exec(script);
    },
    async tx(fn) {
      const box: { made?: MadeTx } = {};
      const result = await pg.transaction(async (t) => {
        const made = (box.made = makeTx({
          query: async <R,>(text: string, params?: readonly unknown[]) => {
            const r = await t.query<R>(text, params as unknown[] | undefined);
            return { rows: r.rows, rowCount: r.affectedRows || r.rows.length };
          },
          exec: async (script: string) => {
            await t.exec(script);
          },
        }));
        (made.tx as { database?: Database }).database = database;
        const r = await fn(made.tx);
        await made.flush();
        return r;
      });
      if (box.made) await afterCommit(box.made, notifier.notify, onHookError);
      return result;
    },
    async listen(channel, onNotify) {
      let set = handlers.get(channel);
      if (!set) handlers.set(channel, (set = new Set()));
      set.add(onNotify);
      return async () => {
        set.delete(onNotify);
      };
    },
    async close() {
      try {
        await notifier.drain();
        await pg.close();
      } finally {
        release();
      }
    },
  };
  return database;
}
