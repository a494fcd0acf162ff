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
      // `begin` is sent with the first statement (a transaction that fails its checks before
      // touching the database costs nothing); a transaction whose only statement is its final
      // one (`finalQuery`) runs it alone: one statement is atomic by itself.
      let begun = false;
      let finished = false;
      const run = async (text: string, params?: readonly unknown[]) => {
        if (finished) throw new Error('This transaction already ran its final statement (finalQuery); nothing may follow it.');
        if (!begun) {
          begun = true;
          await client.query('begin');
        }
        return client.query(text, params as unknown[] | undefined);
      };
      const made = makeTx({
        query: async <R,>(text: string, params?: readonly unknown[]) => {
          const r = await run(text, params);
          return { rows: r.rows as R[], rowCount: r.rowCount ?? r.rows.length };
        },
        exec: async (script: string) => {
          await run(script);
        },
      });
      const queue = made.tx.beforeCommit!;
      made.tx.beforeCommit = (statement) => {
        if (finished) throw new Error('This transaction already ran its final statement (finalQuery); queue writes before it.');
        queue(statement);
      };
      made.tx.finalQuery = async <R,>(text: string, params?: readonly unknown[]) => {
        if (begun || made.queued() > 0) return made.tx.query<R>(text, params);
        finished = true;
        const r = await client.query(text, params as unknown[] | undefined);
        return { rows: r.rows as R[], rowCount: r.rowCount ?? r.rows.length };
      };
      let result;
      try {
        result = await fn(made.tx);
        if (!finished) await made.flush();
        if (begun) await client.query('commit');
      } catch (err) {
        if (begun) await client.query('rollback').catch(() => {});
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
