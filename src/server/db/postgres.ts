// Real PostgreSQL through a pg pool. Types are parsed the same way as on PGlite:
// int8 → number, numeric → exact string, date → 'YYYY-MM-DD' string.
import pg from 'pg';
import type { Database, QueryResult } from './types.ts';
import { afterCommit, coalescedNotifier, makeTx } from './tx.ts';

const INT8_OID = 20;
const DATE_OID = 1082;
pg.types.setTypeParser(INT8_OID, (v: string) => Number(v));
pg.types.setTypeParser(DATE_OID, (v: string) => v);

export async function openPostgres(url: string, onHookError: (e: unknown) => void, poolSize = 16): Promise<Database> {
  const pool = new pg.Pool({ connectionString: url, max: poolSize });
  pool.on('error', onHookError); // an idle client lost its connection: the pool replaces it
  await pool.query('select 1');
  const query = async <R,>(text: string, params?: readonly unknown[]): Promise<QueryResult<R>> => {
    const r = await pool.query(text, params as unknown[] | undefined);
    return { rows: r.rows as R[], rowCount: r.rowCount ?? r.rows.length };
  };
  let listener: pg.Client | undefined;
  const handlers = new Map<string, Set<(payload: string) => void>>();
  const notifier = coalescedNotifier((channel) => pool.query(`select pg_notify($1, '')`, [channel]), onHookError);
  return {
    kind: 'postgres',
    query,
    async exec(script) {
      await pool.query(script);
    },
    async tx(fn) {
      const client = await pool.connect();
      const made = makeTx({
        query: async <R,>(text: string, params?: readonly unknown[]) => {
          const r = await client.query(text, params as unknown[] | undefined);
          return { rows: r.rows as R[], rowCount: r.rowCount ?? r.rows.length };
        },
        exec: async (script: string) => {
          await client.query(script);
        },
      });
      let result;
      try {
        await client.query('begin');
        result = await fn(made.tx);
        await made.flush();
        await client.query('commit');
      } catch (err) {
        await client.query('rollback').catch(() => {});
        client.release();
        throw err;
      }
      client.release();
      await afterCommit(made, notifier.notify, onHookError);
      return result;
    },
    async listen(channel, onNotify) {
      if (!listener) {
        listener = new pg.Client({ connectionString: url });
        await listener.connect();
        listener.on('notification', (n) => {
          for (const h of handlers.get(n.channel) ?? []) h(n.payload ?? '');
        });
        listener.on('error', onHookError);
      }
      let set = handlers.get(channel);
      if (!set) {
        set = new Set();
        handlers.set(channel, set);
        await listener.query(`listen "${channel.replaceAll('"', '""')}"`);
      }
      set.add(onNotify);
      return async () => {
        set.delete(onNotify);
      };
    },
    async close() {
      await notifier.drain();
      await listener?.end().catch(() => {});
      await pool.end();
    },
  };
}
